// tiny.dsl — one attention layer over token ids
import "std/nn.dsl"                 // linear_nobias and the other std layers

const vocab = 64                    // override with: dlmc compile tiny.dsl -D vocab=128
const seq_len = 32
const width = 32
sym B                               // the batch size, known only at run time

mask bidirectional(q, k) = true

struct Net {
  embed: f32[vocab, width]   = normal(0, 0.02)  @ "embed.weight"
  qkv:   f32[3*width, width] = normal(0, 0.02)  @ "qkv.weight"
  out:   f32[vocab, width]   = zeros            @ "out.weight"
}
param net: Net @ "model"            // parameters model.embed.weight, model.qkv.weight, model.out.weight

export fn logits(z: i32[B, seq_len]) -> f32[B, seq_len, vocab] {
  h = gather(net.embed, z)                                   // f32[B, seq_len, width]
  q, k, v = chunk(linear_nobias(h, net.qkv), 3, axis = -1)   // three f32[B, seq_len, width]
  a = attention(q, k, v, mask = bidirectional(), scale = 1/sqrt(width))
  return linear_nobias(layer_norm(h + a), net.out)
}
