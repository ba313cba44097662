// std/nn.dsl — generic neural-network layers shared by every model: dense layers, adaLN
// modulation, weight-only LayerNorm and the GELU(tanh) MLP. Every function is generic over its
// shapes (shape variables are bound at each call) and needs no model constants.

// y = x W^T + b  (PyTorch nn.Linear layout: W is [out, in]).
fn linear(x: f32[..., I], w: f32[O, I], b: f32[O]) -> f32[..., O] {
  return matmul(x, w, transpose_b = true) + b
}

// y = x W^T  (nn.Linear with bias=False).
fn linear_nobias(x: f32[..., I], w: f32[O, I]) -> f32[..., O] {
  return matmul(x, w, transpose_b = true)
}

// LayerNorm over the last axis with a weight and no bias (the DDiT LayerNorm, eps 1e-5).
fn layer_norm_w(x: f32[..., D], w: f32[D]) -> f32[..., D] {
  return layer_norm(x, eps = 1e-5) * w
}

// adaLN modulation x * (1 + scale) + shift; shift and scale broadcast against x.
fn modulate(x: f32[B, L, D], shift: f32[B, 1, D], scale: f32[B, 1, D]) -> f32[B, L, D] {
  return x * (1.0 + scale) + shift
}

// Two-layer MLP with the tanh approximation of GELU: W2 gelu_tanh(W1 x + b1) + b2.
fn mlp_gelu(x: f32[..., D], w1: f32[H, D], b1: f32[H], w2: f32[D, H], b2: f32[D]) -> f32[..., D] {
  return linear(gelu_tanh(linear(x, w1, b1)), w2, b2)
}
