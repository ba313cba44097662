// std/nucleus.dsl — standard top-p (nucleus) filtering as MDLM and Eso-LM sample
// (bd3lm-esolm.md §5 pitfall 12): sort descending and keep every entry whose preceding
// cumulative mass is below top_p, i.e. the smallest prefix whose mass reaches top_p, including the
// entry that crosses it (std/sampling.dsl's top_p_filter is BD3-LM's variant, which excludes it);
// renormalize. top_p >= 1 returns p unchanged. Entries tied with the smallest kept value are all
// kept (the kept set is "every entry >= that value").

fn top_p_inclusive(p: f32[B, L, V], top_p: f32) -> f32[B, L, V] {
  sorted = sort_desc(p)
  keep = cumsum(sorted, axis = -1) - sorted < top_p
  smallest = -max(where(keep, -sorted, -2.0), axis = -1, keepdim = true)
  kept = where(p >= smallest, p, 0.0)
  return where(top_p >= 1.0, p, kept / sum(kept, axis = -1, keepdim = true))
}
