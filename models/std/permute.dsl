// std/permute.dsl — permutations as data (Eso-LM's decoding orders, bd3lm-esolm.md §3): a
// permutation of the L positions of each sequence is an i32[B, L] tensor, built from sort keys
// by counting (there is no argsort op) and applied with take_along.

// slot[b, i] = the place of position i when the keys of row b are sorted in decreasing order
// (ties broken by position): #{j : key_j > key_i or (key_j == key_i and j < i)}.
fn descending_slots(key: f32[B, L]) -> i32[B, L] {
  ki = reshape(key, [B, L, 1])
  kj = reshape(key, [B, 1, L])
  earlier = iota([L, L], 1, i32) < iota([L, L], 0, i32)
  return sum(cast(kj > ki || (kj == ki && earlier), i32), axis = -1)
}

// The inverse of a permutation slot (position -> slot): order[b, r] = the position in slot r.
fn slot_order(slot: i32[B, L]) -> i32[B, L] {
  hit = reshape(slot, [B, 1, L]) == reshape(iota([L], 0, i32), [L, 1])
  return argmax(cast(hit, i32), axis = -1)
}
