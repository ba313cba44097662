// kv_blocks.dsl — a two-layer block-causal network and a BD3-style block sampler for the KV-cache
// tests (tests/unit/test_kvcache.c): learned positions (a row-indexed constant), two attention
// layers (the second layer's keys read the first layer's attention), the network call returning
// only block b's rows (a gather by b*block + j) and an update call that writes only block b.

import "std/nn.dsl"
import "std/subs.dsl"
import "std/sampling.dsl"

const vocab = 16
const seq_len = 32
const block = 8
const n_blocks = seq_len / block
const width = 16
const V = vocab + 1
const mask_id = vocab

sym B

mask block_causal(q, k; BS) = k / BS <= q / BS

struct Layer {
  qkv: f32[3*width, width] = normal(0, 0.4) @ "qkv.weight"
  mlp: f32[width, width]   = normal(0, 0.4) @ "mlp.weight"
}

struct Net {
  embed:  f32[V, width]       = normal(0, 1)   @ "embed.weight"
  pos:    f32[seq_len, width] = normal(0, 1)   @ "pos.weight"
  layers: Layer[2]                             @ "layers"
  out:    f32[V, width]       = normal(0, 0.4) @ "out.weight"
}
param net: Net @ "net"

fn layer(h: f32[B, seq_len, width], p: Layer) -> f32[B, seq_len, width] {
  q, k, v = chunk(linear_nobias(layer_norm(h), p.qkv), 3, axis = -1)
  h2 = h + attention(q, k, v, mask = block_causal(block), scale = 1/sqrt(width))
  return h2 + tanh(linear_nobias(layer_norm(h2), p.mlp))
}

export fn logits(x: i32[B, seq_len]) -> f32[B, seq_len, V] {
  h = gather(net.embed, x) + net.pos
  for k in 0..2 {
    h = layer(h, net.layers[k])
  }
  return linear_nobias(layer_norm(h), net.out)
}

// exp(SUBS) of block b's rows: f32[B, block, V].
fn block_probs(x: i32[B, seq_len], b: i64) -> f32[B, block, V] {
  p = exp(subs(logits(x), x))
  rows = cast(b * block, i32) + iota([block], 0, i32)
  return transpose(gather(transpose(p, [1, 0, 2]), rows), [1, 0, 2])
}

// x with block b replaced by xb.
fn put_block(x: i32[B, seq_len], xb: i32[B, block], b: i64) -> i32[B, seq_len] {
  rel = iota([B, seq_len], 1, i32) - cast(b * block, i32)
  inside = rel >= 0 && rel < block
  return where(inside, take_along(xb, minimum(maximum(rel, 0), block - 1)), x)
}

// One ancestral step (t = 1 - i/steps to s = t - 1/steps) of block b's masked positions.
fn block_step(x: i32[B, seq_len], p: f32[B, block, V], b: i64, i: i64, steps: i64, seed: i64) -> i32[B, seq_len] {
  xb = take_along(x, cast(b * block, i32) + iota([B, block], 1, i32))
  t = 1.0 - cast(i, f64) / cast(steps, f64)
  s = maximum(t - 1.0 / cast(steps, f64), 0.0)
  w = where(iota([V], 0, i32) == mask_id, s, cast(p, f64) * (t - s))
  drawn = sample_categorical(w, rand_uniform(seed, b * 1000 + i, [B, block, V], f64))
  return put_block(x, where(xb == mask_id, drawn, xb), b)
}

sampler blocks(steps: i64 = 4, seed: i64 = 1) -> i32[B, seq_len] {
  state x: i32[B, seq_len] = full([B, seq_len], mask_id, i32)
  loop b in 0..n_blocks cache(exact) {
    loop i in 0..steps {
      p = memo block_probs(x, b)
      x = block_step(x, p, b, i, steps, seed)
    }
  }
  return x
}
