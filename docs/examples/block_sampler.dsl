// docs/examples/block_sampler.dsl — a semi-autoregressive sampler that decodes a sequence block by
// block (BD3-LM style, bd3lm-esolm.md §2.4): the outer run-time loop walks over the blocks and
// declares `cache(exact)`, the inner loop runs masked-diffusion steps inside the current block.
// Because the network's mask is block-causal, the keys and values of finished blocks never change
// inside the inner loop, which is what the KV-cache planning pass exploits.

import "std/nn.dsl"
import "std/subs.dsl"
import "std/sampling.dsl"

const vocab = 64
const seq_len = 32
const block = 8
const n_blocks = seq_len / block
const width = 32
const V = vocab + 1
const mask_id = vocab

sym B

mask block_causal(q, k; BS) = k / BS <= q / BS

struct TinyNet {
  embed: f32[V, width]       = normal(0, 0.02)    @ "embed.weight"
  qkv:   f32[3*width, width] = normal(0, 0.02)    @ "qkv.weight"
  out:   f32[V, width]       = zeros              @ "out.weight"
}
param net: TinyNet @ "net"

export fn denoise(z: i32[B, seq_len]) -> f32[B, seq_len, V] {
  h = gather(net.embed, z)
  q, k, v = chunk(linear_nobias(h, net.qkv), 3, axis = -1)
  a = attention(q, k, v, mask = block_causal(block), scale = 1/sqrt(width))
  return subs(linear_nobias(layer_norm(h + a), net.out), z)
}

// Step i of `steps` inside block b: alpha = 1 - t with t = 1 - i/steps and s = t - 1/steps (the
// last step has s = 0, so every remaining mask is drawn). Only masked positions of block b change.
fn block_step(x: i32[B, seq_len], b: i64, i: i64, steps: i64, seed: i64) -> i32[B, seq_len] {
  t = 1.0 - cast(i, f64) / cast(steps, f64)
  s = t - 1.0 / cast(steps, f64)
  p_x0 = cast(exp(denoise(x)), f64)
  w = where(iota([V], 0, i32) == mask_id, s, p_x0 * (t - s))
  drawn = sample_categorical(w, rand_uniform(seed, b * steps + i, [B, seq_len, V], f64))
  return where(in_block(b) && x == mask_id, drawn, x)
}

// The positions of block b.
fn in_block(b: i64) -> bool[B, seq_len] {
  return iota([B, seq_len], 1, i64) / block == b
}

// True when no position of block b is masked in any sequence (the block is finished early).
fn block_done(x: i32[B, seq_len], b: i64) -> bool {
  return sum(sum(cast(in_block(b) && x == mask_id, i32), axis = 1), axis = 0) == 0
}

sampler blockwise(steps: i64 = 8, seed: i64 = 1) -> i32[B, seq_len] {
  state x: i32[B, seq_len] = full([B, seq_len], mask_id, i32)
  loop b in 0..n_blocks cache(exact) {
    loop i in 0..steps {
      x = block_step(x, b, i, steps, seed)
      break if block_done(x, b)
    }
  }
  return x
}
