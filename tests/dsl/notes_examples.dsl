// notes_examples.dsl — the snippets of docs/dsl-design-notes.md completed into one program (the
// notes elide bodies with "..."), so that every construct the notes show is parsed and checked.
const vocab = 50
const V = vocab + 1
const D = 32
const heads = 4
const layers = 2
const seq_len = 16
const mask_id = vocab
const eps = 1e-5
const scale = 1 / sqrt(D / heads)
const cube = 2 ** 3 % 5 - -1
sym B

struct Other {
  w: f32[D] = ones
}

struct DiTBlock {
  norm1: f32[D] = ones                                   @ "norm1.weight"
  qkv:   f32[3*D, D] = uniform(-1/sqrt(D), 1/sqrt(D))    @ "attn_qkv.weight"
  w1:    f32[4*D, D] = normal(0, 0.02)                   @ "mlp.0.weight"
  ada_w: f32[6*D, D] = zeros                             @ "adaLN_modulation.1.weight"
  ada_b: f32[6*D]                                        @ "adaLN_modulation.1.bias"
  sub:   Other                                           @ "sub"
}

struct DiT {
  embed:  f32[V, D] = uniform(-1/sqrt(D), 1/sqrt(D))    @ "vocab_embed.embedding"
  blocks: DiTBlock[layers]                               @ "blocks"
}

param net: DiT @ "backbone"

mask bidirectional(q, k) = true
mask block_causal(q, k; BS) = k / BS <= q / BS

fn linear(x: f32[..., I], w: f32[O, I], b: f32[O]) -> f32[..., O] {
  return matmul(x, w, transpose_b = true) + b
}

fn split_heads(x: f32[B, L, E]) -> f32[B, heads, L, E / heads] {
  return transpose(reshape(x, [B, L, heads, E / heads]), [0, 2, 1, 3])
}

fn block(x: f32[B, L, D], c: f32[B, C], p: DiTBlock) -> f32[B, L, D] {
  sh1, sc1, g1, sh2, sc2, g2 = chunk(linear(c, p.ada_w, p.ada_b), 6, axis = -1)
  h: f32[B, L, D] = layer_norm(x) * p.norm1 * p.sub.w
  qkv = matmul(h, p.qkv, transpose_b = true)
  q = split_heads(qkv[..., 0:D])
  k = split_heads(qkv[..., D:2*D])
  v = split_heads(qkv[:, :, 2*D:])
  a = attention(q, k, v, mask = block_causal(4), scale = scale)
  a = attention(q, k, a, mask = bidirectional())
  x = x + reshape(transpose(a, [0, 2, 1, 3]), [B, L, D]) * reshape(g1, [B, 1, D])
  for j in 0..2 {
    x = x + 0.5 * reshape(sh1 * sc1 + sh2 * sc2 + g2, [B, 1, D])
  }
  return x
}

fn two(x: f32[B], s: f32 = 1.0) -> (f32[B], f32[B]) {
  return x * s, -x
}

export fn denoise(z: i32[B, seq_len], sigma: f32[B]) -> f32[B, seq_len, V] {
  c = broadcast_to(reshape(sigma, [B, 1]), [B, D])
  x = gather(net.embed, z)
  for k in 0..layers {
    x = block(x, c, net.blocks[k])
  }
  a, b = two(sigma)
  a2, b2 = two(x = sigma, s = 2)
  a = a + a2 - b2
  x = x + reshape(a + b, [B, 1, 1])
  return matmul(x, net.embed, transpose_b = true)
}

export fn many(x: f32[B, seq_len]) -> (f32[B, seq_len], i32[B], f32[B, 1], f64[B, seq_len]) {
  y = where(x > 0, x, 0.0) + maximum(x, 1) - minimum(x, 2) + abs(floor(x)) + expm1(log1p(exp(x)))
  y = y + sqrt(rsqrt(sin(cos(tanh(sigmoid(silu(gelu_tanh(y)))))))) + log(y)
  s = sum(x, axis = -1, keepdim = true) + mean(x, axis = 1, keepdim = true) + max(x, -1, true) + logsumexp(x, keepdim = true)
  y = softmax(y) + log_softmax(y, axis = 1) + cumsum(y, 1) + sort_desc(y) + slice(pad(y, 1, 2, 3), 1, 2, 2 + seq_len)
  y = y + concat(x[:, 0:8], x[:, 8:16], axis = 1) + take_along(x, iota([B, seq_len], 1, i32))
  y = y + cast(one_hot(argmax(x), seq_len, bool), f32) + full([B, seq_len], 2.5, f32) + ones([seq_len], f32)
  y = y + rand_uniform(7, 0, [B, seq_len], f32) * reshape(cast(x[:, 3] > 0 || !(x[:, 4] < 0) && true, f32), [B, 1]) * 0
  return y, argmax(x, axis = 1), s, cast(y, f64) ** 2
}

fn mdlm_step(x: i32[B, L], i: i64, steps: i64, seed: i64) -> i32[B, L] {
  t = cast(steps - i, f32) / cast(steps, f32)
  logits = denoise(x, broadcast_to(reshape(t, [1]), [B]))
  u = rand_uniform(seed, i, [B, L], f32)
  return where(x == mask_id && u < 1 - t, argmax(logits, axis = -1), x)
}

sampler ancestral(steps: i64 = 128, seed: i64 = 1) -> i32[B, seq_len] {
  state x: i32[B, seq_len] = full([B, seq_len], mask_id, i32)
  loop i in 0..steps {
    x = mdlm_step(x, i, steps, seed)
  }
  return argmax(denoise(x, zeros([B], f32)), axis = -1)
}

sampler blocks(T: i64 = 8, seed: i64 = 0) -> i32[B, seq_len] {
  state x: i32[B, seq_len] = full([B, seq_len], mask_id, i32); loop b in 0..seq_len / 4 cache(exact) {
    loop i in 0..T {
      x = mdlm_step(x, i, T, seed)
      break if sum(sum(cast(x == mask_id, i32), axis = -1), axis = -1) == 0
    }
  }
  return x
}
