// docs/examples/block_causal.dsl — a block-causal attention mask (BD3-LM's M_BC, bd3lm-esolm.md
// §2.3) used by a one-layer attention network: query i sees every key whose block index is at
// most its own, i.e. bidirectional inside a block and causal across blocks.

import "std/nn.dsl"

const vocab = 64
const seq_len = 32
const block = 8                   // block size L'
const width = 32
const V = vocab + 1               // plus a mask token
const mask_id = vocab

sym B

// q and k are the query and key positions (i32); BS is a compile-time parameter given at the use.
mask block_causal(q, k; BS) = k / BS <= q / BS

struct TinyNet {
  embed: f32[V, width]       = normal(0, 0.02)    @ "embed.weight"
  qkv:   f32[3*width, width] = normal(0, 0.02)    @ "qkv.weight"
  out:   f32[V, width]       = zeros              @ "out.weight"
}
param net: TinyNet @ "net"

// Logits of a single-head attention layer with a residual connection.
export fn logits(z: i32[B, seq_len]) -> f32[B, seq_len, V] {
  h = gather(net.embed, z)
  q, k, v = chunk(linear_nobias(h, net.qkv), 3, axis = -1)
  a = attention(q, k, v, mask = block_causal(block), scale = 1/sqrt(width))
  return linear_nobias(layer_norm(h + a), net.out)
}
