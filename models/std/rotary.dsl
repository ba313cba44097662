// std/rotary.dsl — rotary position embeddings, non-interleaved ("rotate-half", GPT-NeoX style)
// over the full head dimension, as in the DDiT backbone (mdlm-remdm.md §6 "RoPE"; duo-udlm.md §8.1).
// The reference's `rotary_emb.inv_freq` buffer is not a parameter here: it is recomputed.

// cos/sin tables [L, 2R] for positions pos[L] and inverse frequencies inv_freq[R] = base^(-2j/Dh):
// angle(p, j) = pos[p] * inv_freq[j mod R]; both halves of the head use the same R frequencies.
fn rotary_tables(pos: f32[L], inv_freq: f32[R]) -> (f32[L, 2*R], f32[L, 2*R]) {
  ang = reshape(pos, [L, 1]) * inv_freq
  full_ang = concat(ang, ang, axis = 1)
  return cos(full_ang), sin(full_ang)
}

// Rotate-half: with x1 = x[..., :Dh/2], x2 = x[..., Dh/2:],
// out = [x1 cos - x2 sin, x2 cos + x1 sin]. x is [B, H, L, Dh]; the tables are [L, Dh].
fn rotary(x: f32[B, H, L, Dh], cos_t: f32[L, Dh], sin_t: f32[L, Dh]) -> f32[B, H, L, Dh] {
  x1, x2 = chunk(x, 2, axis = -1)
  rotated = concat(-x2, x1, axis = -1)
  return x * cos_t + rotated * sin_t
}
