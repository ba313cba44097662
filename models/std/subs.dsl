// std/subs.dsl — the SUBS parameterization of masked diffusion (mdlm-remdm.md §4), shared by MDLM,
// BD3-LM and Eso-LM. Requires the importing model to define the const `mask_id`.
//   1. zero masking probability: add -1e6 to the mask logit (finite, so no NaN later);
//   2. normalize: log_softmax over the vocabulary;
//   3. carry-over: at every position whose input is not the mask token, the row becomes -1e6
//      everywhere and exactly 0 at the input token (after normalization).
// The overwrite is a select over a one-hot comparison with an iota (no scatter).

fn subs(logits: f32[B, L, V], z: i32[B, L]) -> f32[B, L, V] {
  col = iota([V], 0, i32)
  logp = log_softmax(where(col == mask_id, logits - 1e6, logits), axis = -1)
  carried = where(reshape(z, [B, L, 1]) == col, zeros([V], f32), full([V], -1e6, f32))
  return where(reshape(z != mask_id, [B, L, 1]), carried, logp)
}
