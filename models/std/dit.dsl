// std/dit.dsl — the DDiT backbone shared by MDLM, Duo, BD3-LM and Eso-LM (mdlm-remdm.md §6-§7,
// duo-udlm.md §8): parameters under the released checkpoints' tensor names and the forward pass
// (token ids, sigma) -> raw logits. Attention takes its mask as a bool[L, L] tensor, so the same
// blocks serve bidirectional (MDLM, Duo) and block-structured (BD3-LM) models.
//
// The importing model defines these consts before importing this file:
//   V           rows of the input embedding and of the output layer (vocab, plus a mask row for MDLM)
//   dim  hidden size D             heads     attention heads H
//   head_dim    dim / heads (even) cond_dim  conditioning width C
//   layers      number of blocks
// Dropout (0.1 in the reference, train mode only) is not applied: this is the eval-mode network.

import "nn.dsl"
import "rotary.dsl"
import "timestep.dsl"

const rope_base = 10000.0
const ln_rope_base = log(rope_base)

// One DDiT block: blocks.k.* in the checkpoint. Linear layers use PyTorch's default init
// U(+-1/sqrt(fan_in)); adaLN-Zero: the modulation starts at zero, so each block starts as identity.
struct DiTBlock {
  norm1: f32[dim]                  = ones     @ "norm1.weight"
  qkv:   f32[3*dim, dim]    = uniform(-1/sqrt(dim), 1/sqrt(dim))     @ "attn_qkv.weight"
  out:   f32[dim, dim]      = uniform(-1/sqrt(dim), 1/sqrt(dim))     @ "attn_out.weight"
  norm2: f32[dim]                  = ones     @ "norm2.weight"
  w1:    f32[4*dim, dim]    = uniform(-1/sqrt(dim), 1/sqrt(dim))     @ "mlp.0.weight"
  b1:    f32[4*dim]                = uniform(-1/sqrt(dim), 1/sqrt(dim))     @ "mlp.0.bias"
  w2:    f32[dim, 4*dim]    = uniform(-1/sqrt(4*dim), 1/sqrt(4*dim)) @ "mlp.2.weight"
  b2:    f32[dim]                  = uniform(-1/sqrt(4*dim), 1/sqrt(4*dim)) @ "mlp.2.bias"
  ada_w: f32[6*dim, cond_dim]      = zeros    @ "adaLN_modulation.weight"
  ada_b: f32[6*dim]                = zeros    @ "adaLN_modulation.bias"
}

// The final layer output_layer.*: the output linear is zero-initialized and untied from the input
// embedding; its adaLN rows are [shift; scale].
struct FinalLayer {
  norm:  f32[dim]                  = ones     @ "norm_final.weight"
  w:     f32[V, dim]               = zeros    @ "linear.weight"
  b:     f32[V]                           = zeros    @ "linear.bias"
  ada_w: f32[2*dim, cond_dim]      = zeros    @ "adaLN_modulation.weight"
  ada_b: f32[2*dim]                = zeros    @ "adaLN_modulation.bias"
}

// The whole backbone, in the reference's parameter registration order (also the order of the EMA
// `shadow_params` list in the Lightning checkpoints). The embedding is a raw Parameter
// (kaiming-uniform with a = sqrt(5), i.e. U(+-1/sqrt(D))); its name has no ".weight".
struct DiT {
  embed:  f32[V, dim] = uniform(-1/sqrt(dim), 1/sqrt(dim)) @ "vocab_embed.embedding"
  sigma:  TimestepEmbedder   @ "sigma_map"
  blocks: DiTBlock[layers]   @ "blocks"
  final:  FinalLayer         @ "output_layer"
}

// RoPE tables for positions 0..L-1: inv_freq_j = rope_base^(-2j/Dh), j = 0..Dh/2-1.
fn dit_rotary(pos: f32[L]) -> (f32[L, head_dim], f32[L, head_dim]) {
  j = iota([head_dim/2], 0, f32)
  inv_freq = exp(j * (-2.0 * ln_rope_base / head_dim))
  return rotary_tables(pos, inv_freq)
}

// [B, L, D] -> [B, H, L, Dh]: the feature axis is (heads, head_dim), heads major.
fn split_heads(x: f32[B, L, dim]) -> f32[B, heads, L, head_dim] {
  return transpose(reshape(x, [B, L, heads, head_dim]), [0, 2, 1, 3])
}

// [B, H, L, Dh] -> [B, L, D].
fn merge_heads(x: f32[B, heads, L, head_dim]) -> f32[B, L, dim] {
  return reshape(transpose(x, [0, 2, 1, 3]), [B, L, dim])
}

// Self-attention of one block: the qkv rows are laid out (3, heads, head_dim); RoPE on q and k
// only; softmax(q k^T / sqrt(Dh)) v over the keys that m allows (m[i, j]: query i may see key j);
// the output projection has no bias.
fn dit_attention(h: f32[B, L, dim], cos_t: f32[L, head_dim], sin_t: f32[L, head_dim], m: bool[L, L], p: DiTBlock) -> f32[B, L, dim] {
  q, k, v = chunk(linear_nobias(h, p.qkv), 3, axis = -1)
  qh = rotary(split_heads(q), cos_t, sin_t)
  kh = rotary(split_heads(k), cos_t, sin_t)
  o = attention(qh, kh, split_heads(v), mask = m, scale = 1/sqrt(head_dim))
  return linear_nobias(merge_heads(o), p.out)
}

// One block (mdlm-remdm.md §6): adaLN chunks in the order (shift, scale, gate) x (attn, mlp);
// the gates multiply the branch outputs before the residual adds.
fn dit_block(x: f32[B, L, dim], c: f32[B, cond_dim], cos_t: f32[L, head_dim], sin_t: f32[L, head_dim], m: bool[L, L], p: DiTBlock) -> f32[B, L, dim] {
  ada = reshape(linear(c, p.ada_w, p.ada_b), [B, 1, 6*dim])
  shift1, scale1, gate1, shift2, scale2, gate2 = chunk(ada, 6, axis = -1)
  h1 = modulate(layer_norm_w(x, p.norm1), shift1, scale1)
  x1 = x + gate1 * dit_attention(h1, cos_t, sin_t, m, p)
  h2 = modulate(layer_norm_w(x1, p.norm2), shift2, scale2)
  return x1 + gate2 * mlp_gelu(h2, p.w1, p.b1, p.w2, p.b2)
}

// Final layer: adaLN (shift, scale), then the output linear with bias.
fn dit_final(x: f32[B, L, dim], c: f32[B, cond_dim], p: FinalLayer) -> f32[B, L, V] {
  ada = reshape(linear(c, p.ada_w, p.ada_b), [B, 1, 2*dim])
  shift, scale = chunk(ada, 2, axis = -1)
  return linear(modulate(layer_norm_w(x, p.norm), shift, scale), p.w, p.b)
}

// The network after the input embedding h [B, L, D], for any attention mask m [L, L] and RoPE
// positions pos [L]: the form BD3-LM's 2L training input needs (block masks, positions 0..L-1
// twice). c = silu(sigma_map(sigma)).
fn dit_trunk_masked(h: f32[B, L, dim], sigma: f32[B], pos: f32[L], m: bool[L, L], p: DiT) -> f32[B, L, V] {
  c = silu(timestep_embed(sigma, p.sigma))
  cos_t, sin_t = dit_rotary(pos)
  x = h
  for k in 0..layers {
    x = dit_block(x, c, cos_t, sin_t, m, p.blocks[k])
  }
  return dit_final(x, c, p.final)
}

// The MDLM/Duo network: bidirectional attention over positions 0..L-1. h is E[z] for token ids,
// or a soft lookup softmax(y) E (Duo's curriculum input).
fn dit_trunk(h: f32[B, L, dim], sigma: f32[B], p: DiT) -> f32[B, L, V] {
  return dit_trunk_masked(h, sigma, iota([L], 0, f32), full([L, L], true, bool), p)
}

// Raw logits for token ids z [B, L]: E[z] is a plain row gather (no sqrt(D) scale, no position
// embedding: positions enter through RoPE only).
fn dit_logits(z: i32[B, L], sigma: f32[B], p: DiT) -> f32[B, L, V] {
  return dit_trunk(gather(p.embed, z), sigma, p)
}
