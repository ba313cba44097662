// mdlm.dsl — MDLM, masked diffusion language model (Sahoo et al. 2024; mdlm-remdm.md): the DDiT
// backbone with SUBS outputs, the continuous-time NELBO (§5), the cached ancestral sampler and the
// semi-autoregressive sampler (§9), both with optional nucleus filtering (§10.6).
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

// p_x0 = x_theta(x) = exp(SUBS(x)) (§9). MDLM is not time-conditioned, so it depends on x only and
// the samplers call it with `memo`: the network runs again only when some token of the batch
// changed (`ddpm_cache`). The nucleus filter (§10.6) follows it before caching, also memoized, and
// only when top_p < 1: `loop k in 0..nucleus` runs 0 or 1 times (a sort over V is not free).
fn probs(x: i32[B, seq_len]) -> f32[B, seq_len, V] {
  return exp(denoise(x, zeros([B], f32)))
}

// The final greedy denoise (noise_removal): argmax of SUBS; decoded tokens stay (one-hot rows).
fn greedy(x: i32[B, seq_len]) -> i32[B, seq_len] {
  return argmax(denoise(x, zeros([B], f32)), axis = -1)
}

// One update of the cached ancestral sampler (`ddpm_cache`, §9) from time t to s = t - dt with
// alpha = 1 - t: weights w_v = p_x0(v) (t - s) for v != mask, w_mask = s, drawn in float64 by the
// exponential race (uniforms from stream `step`); positions already decoded are carried over.
fn ancestral_update(x: i32[B, seq_len], p_x0: f32[B, seq_len, V], t: f64, s: f64, seed: i64, step: i64) -> i32[B, seq_len] {
  col = iota([V], 0, i32)
  w = where(col == mask_id, s, cast(p_x0, f64) * (t - s))
  drawn = sample_categorical(w, rand_uniform(seed, step, [B, seq_len, V], f64))
  return where(x == mask_id, drawn, x)
}

// Ancestral sampling (§9 `ddpm_cache`): start from all-mask, t runs over linspace(1, 1e-5, steps + 1),
// then one greedy SUBS denoise fills any position still masked. top_p < 1 turns on the nucleus filter.
sampler ancestral(steps: i64 = 128, seed: i64 = 1, top_p: f32 = 1.0) -> i32[B, seq_len] {
  state x: i32[B, seq_len] = full([B, seq_len], mask_id, i32)
  nucleus = cast(top_p < 1.0, i64)
  loop i in 0..steps {
    p_x0 = memo probs(x)
    loop k in 0..nucleus {
      p_x0 = memo top_p_filter(p_x0, top_p)
    }
    dt = (1.0 - 1e-5) / cast(steps, f64)
    t = 1.0 - cast(i, f64) * dt
    x = ancestral_update(x, p_x0, t, t - dt, seed, i)
  }
  y = memo greedy(x)
  return y
}

// Semi-autoregressive generation beyond seq_len (§9 `sample_subs_guidance`): semi_ar_strides + 1
// windows of seq_len tokens, each started from all-mask with the previous window's last
// seq_len - semi_ar_stride tokens clamped as its prefix (carry-over never resamples them), sampled
// by steps + 1 cached ancestral updates at t = 1 - i/steps (the last, t = 0, unmasks everything),
// then greedily denoised. Window j is written at offset j * semi_ar_stride, so the output is the
// first semi_ar_stride tokens of every window plus the last window's tail:
// (semi_ar_strides + 1) * semi_ar_stride + (seq_len - semi_ar_stride) tokens.
const semi_ar_stride = seq_len / 2
const semi_ar_strides = 2
const semi_ar_len = semi_ar_strides * semi_ar_stride + seq_len

// The tail x[:, S:] shifted to the front, followed by S masks (the next window's start).
fn shift_window(x: i32[B, seq_len]) -> i32[B, seq_len] {
  pos = iota([seq_len], 0, i32)
  idx = broadcast_to(minimum(pos + semi_ar_stride, seq_len - 1), [shape(x, 0), seq_len])
  return where(pos < seq_len - semi_ar_stride, take_along(x, idx), mask_id)
}

// out with window x written at positions [j S, j S + seq_len).
fn emit_window(out: i32[B, semi_ar_len], x: i32[B, seq_len], j: i64) -> i32[B, semi_ar_len] {
  rel = iota([semi_ar_len], 0, i64) - j * semi_ar_stride
  inside = (rel >= 0) && (rel < seq_len)
  idx = broadcast_to(cast(minimum(maximum(rel, 0), seq_len - 1), i32), [shape(x, 0), semi_ar_len])
  return where(inside, take_along(x, idx), out)
}

sampler semi_ar(steps: i64 = 128, seed: i64 = 1, top_p: f32 = 1.0) -> i32[B, semi_ar_len] {
  state x: i32[B, seq_len] = full([B, seq_len], mask_id, i32)
  state out: i32[B, semi_ar_len] = full([B, semi_ar_len], mask_id, i32)
  nucleus = cast(top_p < 1.0, i64)
  loop j in 0..semi_ar_strides + 1 {
    x = shift_window(x)
    updates = steps + 1
    loop i in 0..updates {
      p_x0 = memo probs(x)
      loop k in 0..nucleus {
        p_x0 = memo top_p_filter(p_x0, top_p)
      }
      dt = 1.0 / cast(steps, f64)
      t = 1.0 - cast(i, f64) * dt
      x = ancestral_update(x, p_x0, t, t - dt, seed, j * updates + i)
    }
    x = memo greedy(x)
    out = emit_window(out, x, j)
  }
  return out
}
