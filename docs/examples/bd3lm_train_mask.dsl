// docs/examples/bd3lm_train_mask.dsl — BD3-LM's vectorized training mask (bd3lm-esolm.md §2.3):
// the input is the 2L tokens [x_t ; x0], both halves use the RoPE positions 0..L-1, and one
// forward pass yields the logits of every noisy block given the clean blocks before it. With
// half(i) = i >= L and blk(i) = (i mod L) / L':
//   M_BD : same half and same block          (bidirectional inside a block, in each half)
//   M_OBC: noisy query, clean key, blk(k) <  blk(q)   (a noisy block sees the clean prefix)
//   M_BC : clean query, clean key, blk(k) <= blk(q)   (the clean half is block-causal)
// A clean row never sees a noisy column, and noisy block b never sees its own clean block.

import "std/nn.dsl"
import "std/rotary.dsl"
import "std/subs.dsl"

const vocab = 64
const seq_len = 32                // L
const block = 8                   // L'
const width = 32
const V = vocab + 1
const mask_id = vocab

sym B

mask bd3_train(q, k; L, BS) = (q / L == k / L && (q % L) / BS == (k % L) / BS) || (q < L && k >= L && (k % L) / BS < q / BS) || (q >= L && k >= L && (k % L) / BS <= (q % L) / BS)

struct TinyNet {
  embed: f32[V, width]       = normal(0, 0.02)    @ "embed.weight"
  qkv:   f32[3*width, width] = normal(0, 0.02)    @ "qkv.weight"
  out:   f32[V, width]       = zeros              @ "out.weight"
}
param net: TinyNet @ "net"

// SUBS log-probabilities for the noisy half x_t, conditioned block by block on the clean x0.
export fn denoise_train(xt: i32[B, seq_len], x0: i32[B, seq_len]) -> f32[B, seq_len, V] {
  h = gather(net.embed, concat(xt, x0, axis = 1))                       // [B, 2L, width]
  pos = iota([seq_len], 0, f32)
  cos_t, sin_t = rotary_tables(concat(pos, pos, axis = 0), exp(iota([width/2], 0, f32) * (-2.0 * log(10000.0) / width)))
  q, k, v = chunk(linear_nobias(h, net.qkv), 3, axis = -1)
  qh = rotary(reshape(q, [B, 1, 2*seq_len, width]), cos_t, sin_t)      // one head
  kh = rotary(reshape(k, [B, 1, 2*seq_len, width]), cos_t, sin_t)
  a = attention(qh, kh, reshape(v, [B, 1, 2*seq_len, width]), mask = bd3_train(seq_len, block), scale = 1/sqrt(width))
  out = linear_nobias(layer_norm(h + reshape(a, [B, 2*seq_len, width])), net.out)
  return subs(out[:, 0:seq_len, :], xt)                                 // keep the x_t rows
}
