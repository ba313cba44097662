// mdlm.dsl — MDLM, masked diffusion language model (Sahoo et al. 2024; mdlm-remdm.md): the DDiT
// backbone with SUBS outputs, the continuous-time NELBO (§5) and the cached ancestral sampler (§9).
// The released OWT checkpoint `kuleshov-group/mdlm-owt` is
//   -D vocab=50257 -D seq_len=1024 -D layers=12 -D dim=768 -D heads=12 -D cond_dim=128
// (169,627,218 parameters). The defaults below are a small model for tests.

const vocab = 256                 // tokenizer size; the mask token is appended after it
const seq_len = 128
const layers = 2
const dim = 128
const heads = 4
const cond_dim = 64
const time_conditioning = 0       // MDLM is time-agnostic: sigma is replaced by 0 (§5)

const V = vocab + 1               // embedding / output rows: the vocabulary plus the mask row
const mask_id = vocab
const head_dim = dim / heads

import "std/dit.dsl"
import "std/subs.dsl"
import "std/schedules.dsl"
import "std/sampling.dsl"

sym B

param net: DiT @ "backbone"

// Raw backbone logits (what the HF `MDLM.forward` returns; SUBS is not applied).
export fn logits(z: i32[B, seq_len], sigma: f32[B]) -> f32[B, seq_len, V] {
  return dit_logits(z, sigma * time_conditioning, net)
}

// SUBS log-probabilities log x_theta(z) (§4).
export fn denoise(z: i32[B, seq_len], sigma: f32[B]) -> f32[B, seq_len, V] {
  return subs(logits(z, sigma), z)
}

// The §5 continuous-time NELBO estimator for clean tokens x0 (every position counts):
//   t stratified over the batch in [1e-3, 1), sigma = loglinear(t), each token masked with
//   probability 1 - exp(-sigma) = (1-eps) t, nll = -log x_theta(z)[x0] * dsigma / expm1(sigma)
//   (= 1/t; clean positions contribute exactly 0 through SUBS), averaged over all B * seq_len tokens.
// seed and step pick the random streams (one per call site: t, then the masks).
export fn loss(x0: i32[B, seq_len], seed: i64, step: i64) -> f32 {
  t = stratified_t(rand_uniform(seed, step, [B], f32))
  sigma = loglinear_sigma(t)
  move_chance = -expm1(-sigma)
  masked = rand_uniform(seed, step, [B, seq_len], f32) < reshape(move_chance, [B, 1])
  z = where(masked, mask_id, x0)
  logp = take_along(denoise(z, sigma), reshape(x0, [B, seq_len, 1]))
  weight = loglinear_dsigma(t) / expm1(sigma)
  nll = -reshape(logp, [B, seq_len]) * reshape(weight, [B, 1])
  tokens = sum(ones([B], f32), axis = 0) * seq_len
  return sum(sum(nll, axis = 1), axis = 0) / tokens
}

// One step of the cached ancestral sampler (`ddpm_cache`, §9) from time t to s = t - dt with
// alpha = 1 - t: weights w_v = p_x0(v) (t - s) for v != mask, w_mask = s, drawn in float64 by the
// exponential race; positions already decoded are carried over.
fn ancestral_step(x: i32[B, seq_len], t: f64, s: f64, seed: i64, step: i64) -> i32[B, seq_len] {
  p_x0 = cast(exp(denoise(x, zeros([B], f32))), f64)
  col = iota([V], 0, i32)
  w = where(col == mask_id, s, p_x0 * (t - s))
  drawn = sample_categorical(w, rand_uniform(seed, step, [B, seq_len, V], f64))
  return where(x == mask_id, drawn, x)
}

// Ancestral sampling (§9): start from all-mask, t runs over linspace(1, 1e-5, steps + 1), then one
// greedy SUBS denoise fills any position still masked. The reference skips the network call when
// no token changed in the previous step (p_x0 depends only on x); that reuse is an optimization with
// identical results and is not spelled out here.
sampler ancestral(steps: i64 = 128, seed: i64 = 1) -> i32[B, seq_len] {
  state x: i32[B, seq_len] = full([B, seq_len], mask_id, i32)
  loop i in 0..steps {
    dt = (1.0 - 1e-5) / cast(steps, f64)
    t = 1.0 - cast(i, f64) * dt
    x = ancestral_step(x, t, t - dt, seed, i)
  }
  return argmax(denoise(x, zeros([B], f32)), axis = -1)
}
