// std/dit_perm.dsl — the DDiT backbone (std/dit.dsl) with RoPE positions given per sequence, for
// models that run the tokens of each sequence in their own order (Eso-LM, bd3lm-esolm.md §3.2:
// every token keeps the rotary phase of its original position). Sigma is 0 (time-agnostic);
// the attention mask is shared by the batch. Needs the consts of std/dit.dsl.

import "dit.dsl"

// cos/sin tables [B, 1, L, head_dim] for positions pos[B, L] (broadcast over the heads).
fn dit_rotary_batched(pos: f32[B, L]) -> (f32[B, 1, L, head_dim], f32[B, 1, L, head_dim]) {
  j = iota([head_dim/2], 0, f32)
  ang = reshape(pos, [B, L, 1]) * exp(j * (-2.0 * ln_rope_base / head_dim))
  full_ang = reshape(concat(ang, ang, axis = 2), [B, 1, L, head_dim])
  return cos(full_ang), sin(full_ang)
}

// Rotate-half RoPE (std/rotary.dsl) with per-sequence tables.
fn rotary_batched(x: f32[B, H, L, Dh], cos_t: f32[B, 1, L, Dh], sin_t: f32[B, 1, L, Dh]) -> f32[B, H, L, Dh] {
  x1, x2 = chunk(x, 2, axis = -1)
  return x * cos_t + concat(-x2, x1, axis = -1) * sin_t
}

// dit_attention with per-sequence tables.
fn dit_attention_batched(h: f32[B, L, dim], cos_t: f32[B, 1, L, head_dim], sin_t: f32[B, 1, L, head_dim], m: bool[L, L], p: DiTBlock) -> f32[B, L, dim] {
  q, k, v = chunk(linear_nobias(h, p.qkv), 3, axis = -1)
  qh = rotary_batched(split_heads(q), cos_t, sin_t)
  kh = rotary_batched(split_heads(k), cos_t, sin_t)
  o = attention(qh, kh, split_heads(v), mask = m, scale = 1/sqrt(head_dim))
  return linear_nobias(merge_heads(o), p.out)
}

// dit_block with per-sequence tables.
fn dit_block_batched(x: f32[B, L, dim], c: f32[B, cond_dim], cos_t: f32[B, 1, L, head_dim], sin_t: f32[B, 1, L, head_dim], m: bool[L, L], p: DiTBlock) -> f32[B, L, dim] {
  ada = reshape(linear(c, p.ada_w, p.ada_b), [B, 1, 6*dim])
  shift1, scale1, gate1, shift2, scale2, gate2 = chunk(ada, 6, axis = -1)
  h1 = modulate(layer_norm_w(x, p.norm1), shift1, scale1)
  x1 = x + gate1 * dit_attention_batched(h1, cos_t, sin_t, m, p)
  h2 = modulate(layer_norm_w(x1, p.norm2), shift2, scale2)
  return x1 + gate2 * mlp_gelu(h2, p.w1, p.b1, p.w2, p.b2)
}

// Raw logits of the time-agnostic network (sigma = 0) for token ids z [B, L] at RoPE positions
// pos [B, L], rows attending as m [L, L] allows.
fn dit_logits_at(z: i32[B, L], pos: f32[B, L], m: bool[L, L], p: DiT) -> f32[B, L, V] {
  c = silu(timestep_embed(zeros([B], f32), p.sigma))
  cos_t, sin_t = dit_rotary_batched(pos)
  x = gather(p.embed, z)
  for k in 0..layers {
    x = dit_block_batched(x, c, cos_t, sin_t, m, p.blocks[k])
  }
  return dit_final(x, c, p.final)
}
