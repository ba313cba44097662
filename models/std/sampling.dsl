// std/sampling.dsl — the sampling primitives of the reference samplers (mdlm-remdm.md §9, §10.6,
// duo-udlm.md §7.1).
//
// sample_categorical: for nonnegative, unnormalized weights w over the last axis and uniforms
// u ~ U[0,1), sample = argmax_v w_v / E_v with E_v = 1e-10 - log(u_v + 1e-10), an exponential race
// (equivalent to Gumbel-max on log w). Zero weights never win. Use f64 weights and f64 uniforms
// (fp32 noise acts as a lowered temperature).
//
// top_p_filter: ReMDM's nucleus filter: sort descending, cumulative sum c, keep the entries with
// c <= top_p and always the top-1, renormalize; top_p >= 1 returns p unchanged. The kept set is a
// prefix of the sorted order, so it is "every entry >= the smallest kept value": the one difference
// from the reference's sort-and-scatter is that entries tied with that smallest kept value are all
// kept, where the reference keeps only those its sort happened to place first.

fn sample_categorical(w: f64[B, L, V], u: f64[B, L, V]) -> i32[B, L] {
  race = w / (1e-10 - log(u + 1e-10))
  return argmax(race, axis = -1)
}

fn top_p_filter(p: f32[B, L, V], top_p: f32) -> f32[B, L, V] {
  sorted = sort_desc(p)
  keep = (cumsum(sorted, axis = -1) <= top_p) || (iota([V], 0, i32) == 0)
  smallest = -max(where(keep, -sorted, -2.0), axis = -1, keepdim = true)
  kept = where(p >= smallest, p, 0.0)
  return where(top_p >= 1.0, p, kept / sum(kept, axis = -1, keepdim = true))
}
