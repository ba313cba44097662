// std/timestep.dsl — the DDiT timestep embedder `sigma_map` (mdlm-remdm.md §6, duo-udlm.md §8.1):
// a 256-wide sinusoidal embedding of sigma (cos first, then sin; w_j = exp(-ln(10000) j / 128))
// followed by Linear(256 -> C), SiLU, Linear(C -> C). The caller applies the outer SiLU.
// Requires the importing model to define the const `cond_dim` (C) before importing this file.

import "nn.dsl"

const time_freqs = 128                    // half the sinusoid width (256 features in all)
const ln_10000 = log(10000.0)

// Checkpoint names: sigma_map.mlp.0.{weight,bias} and sigma_map.mlp.2.{weight,bias} (index 1 is
// the SiLU). PyTorch's default Linear init: U(+-1/sqrt(fan_in)) for weight and bias.
struct TimestepEmbedder {
  w1: f32[cond_dim, 2*time_freqs] = uniform(-1/sqrt(2*time_freqs), 1/sqrt(2*time_freqs)) @ "mlp.0.weight"
  b1: f32[cond_dim]               = uniform(-1/sqrt(2*time_freqs), 1/sqrt(2*time_freqs)) @ "mlp.0.bias"
  w2: f32[cond_dim, cond_dim]     = uniform(-1/sqrt(cond_dim), 1/sqrt(cond_dim))         @ "mlp.2.weight"
  b2: f32[cond_dim]               = uniform(-1/sqrt(cond_dim), 1/sqrt(cond_dim))         @ "mlp.2.bias"
}

// [cos(sigma w_0..127), sin(sigma w_0..127)]: f32[B, 256].
fn timestep_features(sigma: f32[B]) -> f32[B, 2*time_freqs] {
  j = iota([time_freqs], 0, f32)
  freqs = exp(j * (-ln_10000 / time_freqs))
  args = reshape(sigma, [B, 1]) * freqs
  return concat(cos(args), sin(args), axis = 1)
}

// mlp(features(sigma)) = W2 silu(W1 f + b1) + b2 : f32[B, C].
fn timestep_embed(sigma: f32[B], p: TimestepEmbedder) -> f32[B, cond_dim] {
  return linear(silu(linear(timestep_features(sigma), p.w1, p.b1)), p.w2, p.b2)
}
