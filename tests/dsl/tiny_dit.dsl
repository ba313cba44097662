// tiny_dit.dsl — a tiny DiT-like denoiser with a block-causal mask and adaLN conditioning, used by
// the frontend unit tests (parameters, inlining, masks, chunk, slicing, exported functions).
const vocab = 32
const V = vocab + 1
const D = 16
const H = 2
const C = 8
const layers = 2
const seq_len = 8
const block_size = 4
const mask_id = vocab

struct Block {
  norm1: f32[D] = ones                                 @ "norm1.weight"
  qkv:   f32[3*D, D] = uniform(-1/sqrt(D), 1/sqrt(D))  @ "attn_qkv.weight"
  out:   f32[D, D] = normal(0, 0.02)                   @ "attn_out.weight"
  ada_w: f32[6*D, C] = zeros                           @ "adaLN_modulation.1.weight"
  ada_b: f32[6*D]                                      @ "adaLN_modulation.1.bias"
  w1:    f32[4*D, D] = normal(0, 0.02)                 @ "mlp.0.weight"
  w2:    f32[D, 4*D] = normal(0, 0.02)                 @ "mlp.2.weight"
}

struct Net {
  embed:  f32[V, D] = normal(0, 0.02)   @ "vocab_embed.embedding"
  sigma_w: f32[C, 1] = normal(0, 0.02)  @ "sigma_map.weight"
  blocks: Block[layers]                 @ "blocks"
  head:   f32[V, D] = zeros             @ "output_layer.linear.weight"
}

param net: Net @ "backbone"

mask block_causal(q, k; BS) = k / BS <= q / BS

fn linear(x: f32[..., I], w: f32[O, I]) -> f32[..., O] {
  return matmul(x, w, transpose_b = true)
}

fn linear_b(x: f32[..., I], w: f32[O, I], b: f32[O]) -> f32[..., O] {
  return linear(x, w) + b
}

fn modulate(x: f32[B, L, D2], shift: f32[B, D2], scale: f32[B, D2]) -> f32[B, L, D2] {
  return x * (1 + reshape(scale, [shape(scale, 0), 1, shape(scale, 1)])) + reshape(shift, [shape(shift, 0), 1, shape(shift, 1)])
}

fn heads(x: f32[B, L, E], n: f32[H]) -> f32[B, H, L, E / H] {
  return transpose(reshape(x, [B, L, H, E / H]), [0, 2, 1, 3])
}

fn block(x: f32[B, L, D], c: f32[B, C], p: Block) -> f32[B, L, D] {
  sh1, sc1, g1, sh2, sc2, g2 = chunk(linear_b(c, p.ada_w, p.ada_b), 6, axis = -1)
  h: f32[B, L, D] = modulate(layer_norm(x) * p.norm1, sh1, sc1)
  qkv = linear(h, p.qkv)
  hz = zeros([H], f32)
  q = heads(qkv[..., 0:D], hz)
  k = heads(qkv[..., D:2*D], hz)
  v = heads(qkv[..., 2*D:3*D], hz)
  a = attention(q, k, v, mask = block_causal(block_size))
  a2 = reshape(transpose(a, [0, 2, 1, 3]), [B, L, D])
  x = x + reshape(g1, [B, 1, D]) * linear(a2, p.out)
  m = linear(gelu_tanh(linear(modulate(layer_norm(x), sh2, sc2), p.w1)), p.w2)
  return x + reshape(g2, [B, 1, D]) * m
}

export fn denoise(z: i32[B, seq_len], sigma: f32[B]) -> f32[B, seq_len, V] {
  x = gather(net.embed, z)
  c = silu(linear(reshape(sigma, [B, 1]), net.sigma_w))
  for k in 0..layers {
    x = block(x, c, net.blocks[k])
  }
  logits = linear(x, net.head)
  first = logits[:, 0]
  return logits - 0 * reshape(first, [B, 1, V])
}

export fn loss(z: i32[B, seq_len], x0: i32[B, seq_len], sigma: f32[B]) -> f32 {
  logp = log_softmax(denoise(z, sigma), axis = -1)
  ll = sum(logp * one_hot(x0, V, f32), axis = -1)
  w = where(z == mask_id, 1.0, 0.0)
  return -sum(sum(ll * w, axis = 1), axis = 0) / (B_total() + 0.0)
}

fn B_total() -> f32 {
  return full([], 1.0, f32)
}
