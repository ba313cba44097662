// duo.dsl — Duo / UDLM, uniform-state discrete diffusion (Sahoo et al. 2025; duo-udlm.md): the
// time-conditioned DDiT backbone with the mean parameterization (§8), the Rao-Blackwellized
// continuous-time NELBO of the discrete (post-curriculum) training phase (§3.2), and the ancestral
// sampler with its two final steps, ancestral or Greedy-Tail (§7.1), and the curriculum loss of the
// Gaussian-relaxation phase (§5.1; `dlmrun train --loss curriculum_loss:N,loss` switches to the
// discrete `loss` after step N). The HF checkpoint `s-sahoo/duo` is
//   -D vocab=50258 -D seq_len=1024 -D layers=12 -D dim=768 -D heads=12 -D cond_dim=128
// (vocab = len(tokenizer): GPT-2 plus [PAD]; Duo has no mask token). Defaults: a small test model.

const vocab = 256
const seq_len = 128
const layers = 2
const dim = 128
const heads = 4
const cond_dim = 64

const V = vocab                   // K, the number of token states
const head_dim = dim / heads
const t_tail = 1e-5               // time of the final noise-removal step of the samplers

// The curriculum (§5): the log-SNR window gamma in [curriculum_gamma_min, curriculum_gamma_max]
// (OWT's; LM1B: -3.5, -1.75; the window is vocabulary-specific, it should map to alpha = T(gamma) of
// about [0.95, 0.05]) and the temperature tau of the relaxed input softmax(w / tau): log10 tau is
// tau_log10_start up to step tau_anneal_start, linear to tau_log10_end at step tau_anneal_end, then
// constant. The paper runs tau = 1e-3 throughout (start = end = -3).
const curriculum_gamma_min = -3.55
const curriculum_gamma_max = -1.85
const tau_log10_start = -3.0
const tau_log10_end = -3.0
const tau_anneal_start = 0
const tau_anneal_end = 1

import "std/dit.dsl"
import "std/schedules.dsl"
import "std/sampling.dsl"
import "std/nucleus.dsl"
import "std/duality.dsl"

sym B

param net: DiT @ "backbone"

// Raw logits; sigma = -log(alpha_t) is the time conditioning (always on for Duo).
export fn logits(z: i32[B, seq_len], sigma: f32[B]) -> f32[B, seq_len, V] {
  return dit_logits(z, sigma, net)
}

// log x_theta: the mean parameterization is a plain log-softmax over all K states (no mask
// suppression, no carry-over).
export fn denoise(z: i32[B, seq_len], sigma: f32[B]) -> f32[B, seq_len, V] {
  return log_softmax(logits(z, sigma), axis = -1)
}

// Logits for a relaxed input y [B, L, K] (the curriculum's tempered Gaussian latents): the input
// embedding is the soft lookup softmax(y) E instead of a row gather (§5.1).
export fn logits_soft(y: f32[B, seq_len, V], sigma: f32[B]) -> f32[B, seq_len, V] {
  return dit_trunk(matmul(softmax(y, axis = -1), net.embed), sigma, net)
}

// Per-token Rao-Blackwellized NELBO (§3.2, the stable variant), for clean ids x, noisy ids z and the
// model's probabilities p [B, L, K] at alpha [B] with the loglinear alpha' = -(1 - eps).
fn usdm_nelbo(x: i32[B, L], z: i32[B, L], p: f32[B, L, V], alpha: f32[B]) -> f32[B, L] {
  return usdm_nelbo_at(x, z, p, alpha, full([B], -(1.0 - loglinear_eps), f32))
}

// The same for any schedule: dalpha [B] = d alpha / dt (< 0). With
// r = K alpha / (1 - alpha), L_j = log1p(r p_j), S = sum_j L_j, kappa = 1 / (1 + r),
// w = -alpha' / (K alpha) and i = z, m = x:
//   z == x: w [ -kappa (S - K L_i) + (K-1) kappa log kappa - K/(1-alpha) (1/(1+r) - 1/(1+r p_i)) ]
//   z != x: w [ -(S - K L_i) - r (L_m - L_i) - (1+r) log kappa - K/(1-alpha) r p_i / (1 + r p_i) ]
fn usdm_nelbo_at(x: i32[B, L], z: i32[B, L], p: f32[B, L, V], alpha: f32[B], dalpha: f32[B]) -> f32[B, L] {
  a = reshape(alpha, [B, 1])
  r = V * a / (1.0 - a)
  kappa = 1.0 / (1.0 + r)
  w = -reshape(dalpha, [B, 1]) / (V * a)
  lj = log1p(reshape(r, [B, 1, 1]) * p)
  s = sum(lj, axis = -1)
  li = reshape(take_along(lj, reshape(z, [B, L, 1])), [B, L])
  lm = reshape(take_along(lj, reshape(x, [B, L, 1])), [B, L])
  pi = reshape(take_along(p, reshape(z, [B, L, 1])), [B, L])
  c = V / (1.0 - a)
  same = -kappa * (s - V * li) + (V - 1) * kappa * log(kappa) - c * (1.0 / (1.0 + r) - 1.0 / (1.0 + r * pi))
  diff = -(s - V * li) - r * (lm - li) - (1.0 + r) * log(kappa) - c * r * pi / (1.0 + r * pi)
  return w * where(z == x, same, diff)
}

// The training loss of the discrete phase (§2.2 schedule 1, §3): t stratified in [1e-3, 1),
// alpha = 1 - (1-eps) t, each token replaced with probability 1 - alpha by a uniform id in [0, K)
// (which may redraw the same id), x_theta = softmax(net(z, sigma = -log alpha)), the per-token NELBO
// averaged over all B * seq_len tokens.
export fn loss(x0: i32[B, seq_len], seed: i64, step: i64) -> f32 {
  t = stratified_t(rand_uniform(seed, step, [B], f32))
  alpha = loglinear_alpha(t)
  corrupt = rand_uniform(seed, step, [B, seq_len], f32) < reshape(1.0 - alpha, [B, 1])
  noise = minimum(cast(floor(rand_uniform(seed, step, [B, seq_len], f32) * V), i32), V - 1)
  z = where(corrupt, noise, x0)
  p = softmax(logits(z, -log(alpha)), axis = -1)
  nll = usdm_nelbo(x0, z, p, alpha)
  tokens = sum(ones([B], f32), axis = 0) * seq_len
  return sum(sum(nll, axis = 1), axis = 0) / tokens
}

// The curriculum's training loss (§5.1): t stratified in [1e-3, 1), gamma linear in t over the
// window, alpha = T(gamma) and alpha' = (gamma_max - gamma_min) dT/dgamma (std/duality.dsl, exact
// derivative rather than the reference's 1e-3 forward difference); the Gaussian latent
// w = sqrt(sigmoid(-gamma)) onehot(x) + sqrt(sigmoid(gamma)) eps; the network reads the tempered
// softmax(w / tau) through the soft embedding (logits_soft) at sigma = -log alpha, while the loss is
// the RB-NELBO at the hard latent z = argmax(w). The B x seq_len x K tensors exist only here.
export fn curriculum_loss(x0: i32[B, seq_len], seed: i64, step: i64) -> f32 {
  t = cast(stratified_t(rand_uniform(seed, step, [B], f32)), f64)
  gamma = gamma_of_t(t, curriculum_gamma_min, curriculum_gamma_max)
  ta, dta = duality_t(gamma, V)
  alpha = cast(ta, f32)
  dalpha = cast((curriculum_gamma_max - curriculum_gamma_min) * dta, f32)
  mean_c = reshape(cast(gauss_mean_coeff(gamma), f32), [B, 1, 1])
  noise_c = reshape(cast(gauss_noise_scale(gamma), f32), [B, 1, 1])
  w = mean_c * one_hot(x0, V, f32) + noise_c * rand_normal(seed, step, [B, seq_len, V], f32)
  z = argmax(w, axis = -1)
  p = softmax(logits_soft(w * curriculum_inv_tau(step), -log(alpha)), axis = -1)
  nll = usdm_nelbo_at(x0, z, p, alpha, dalpha)
  tokens = sum(ones([B], f32), axis = 0) * seq_len
  return sum(sum(nll, axis = 1), axis = 0) / tokens
}

// 1 / tau at a training step (0-based): log10 tau interpolated between the tau_* consts.
fn curriculum_inv_tau(step: i64) -> f32 {
  span = maximum(cast(tau_anneal_end - tau_anneal_start, f32), 1.0)
  frac = minimum(maximum((cast(step, f32) - tau_anneal_start) / span, 0.0), 1.0)
  return 10.0 ** -(tau_log10_start + frac * (tau_log10_end - tau_log10_start))
}

// alpha(t) = 1 - (1 - eps) t as a float64 scalar, for the sampler's time grid.
fn alpha_f64(t: f64) -> f64 {
  return 1.0 - (1.0 - loglinear_eps) * t
}

// x_theta = softmax(net(z, -log alpha_t)) at time t: the model's clean-token probabilities (§7.1).
fn duo_probs(z: i32[B, seq_len], t: f64) -> f32[B, seq_len, V] {
  sigma = broadcast_to(cast(-log(alpha_f64(t)), f32), [B])
  return softmax(logits(z, sigma), axis = -1)
}

// One ancestral update (§7.1) from t to s with the (possibly nucleus-filtered) x_theta p, in float64:
// the exact posterior (§2.1) with x = p, unnormalized (the exponential race is scale-free):
//   w_v = K a_t p_v [v=z] + (a_t|s - a_t) [v=z] + (a_s - a_t) p_v + (1 - a_t|s)(1 - a_s) / K.
fn ancestral_update(z: i32[B, seq_len], p32: f32[B, seq_len, V], t: f64, s: f64, seed: i64, step: i64) -> i32[B, seq_len] {
  a_t = alpha_f64(t)
  a_s = alpha_f64(s)
  a_ts = a_t / a_s
  p = cast(p32, f64)
  hit = reshape(z, [B, seq_len, 1]) == iota([V], 0, i32)
  w = (a_s - a_t) * p + (1.0 - a_ts) * (1.0 - a_s) / V + where(hit, V * a_t * p + (a_ts - a_t), zeros([V], f64))
  return sample_categorical(w, rand_uniform(seed, step, [B, seq_len, V], f64))
}

// The prior: every token uniform over the K states (float64 uniforms, as the samplers draw).
fn uniform_tokens(seed: i64) -> i32[B, seq_len] {
  return minimum(cast(floor(rand_uniform(seed, 0, [B, seq_len], f64) * V), i32), V - 1)
}

// Ancestral sampling: z starts uniform over the K states, t runs over linspace(1, 1e-5, steps + 1),
// then one final noise removal at t0 = 1e-5 (steps + 1 network evaluations in all), chosen by the
// knob `greedy_tail`:
//   0 (the paper's Table 5 setting): the same update with alpha_s = 1 (s = 0),
//     w ∝ p (K alpha_t [v=z] + 1 - alpha_t);
//   1 (Greedy-Tail): z = argmax of x_theta (not of the posterior).
// top_p < 1 applies the standard (inclusive) nucleus filter of std/nucleus.dsl to x_theta before the
// posterior is formed (§7.1, pitfall 7: filter x_theta and renormalize, not the posterior); `loop k in 0..nucleus` runs 0 or 1 times, so
// top_p = 1 costs no sort. The DSL has no run-time branch: both final candidates are formed from the
// one x_theta and `where` selects.
sampler ancestral(steps: i64 = 128, seed: i64 = 1, greedy_tail: i64 = 0, top_p: f32 = 1.0) -> i32[B, seq_len] {
  state z: i32[B, seq_len] = uniform_tokens(seed)
  nucleus = cast(top_p < 1.0, i64)
  loop i in 0..steps {
    dt = (1.0 - 1e-5) / cast(steps, f64)
    t = 1.0 - cast(i, f64) * dt
    p = duo_probs(z, t)
    loop k in 0..nucleus {
      p = top_p_inclusive(p, top_p)
    }
    z = ancestral_update(z, p, t, t - dt, seed, i)
  }
  p0 = duo_probs(z, t_tail)
  loop k in 0..nucleus {
    p0 = top_p_inclusive(p0, top_p)
  }
  return where(greedy_tail != 0, argmax(p0, axis = -1), ancestral_update(z, p0, t_tail, 0.0, seed, steps))
}

// ================================================================ Discrete Consistency Distillation
// (duo-udlm.md §6; run by `dlmrun duo.dlmc distill`). The teacher is a frozen copy of the network:
// it gets no gradient, is not stored in checkpoints, and `dlmrun distill` refreshes it from the
// student's raw weights at the start of every round. Round r uses the step size
// delta = 2^r / dcd_T (1/512, 1/256, ...: doubling each round).

import "std/duality.dsl"

const dcd_T = 512                 // T_algo of the reference (configs/algo/distillation.yaml: T = 512)
const dcd_gamma_min = -4.0        // the Gaussian log-SNR window of distillation (§2.2 schedule 2)
const dcd_gamma_max = -1.0

param teacher: DiT = frozen_copy(net) @ "teacher"

// The step size of round r.
export fn dcd_delta(round: i64) -> f64 {
  return 2.0 ** cast(round, f64) / dcd_T
}

// The discrete latent argmax(a x + s eps) of a Gaussian-diffused one-hot x at log-SNR gamma [B]:
// the point of the deterministic discrete trajectory of (x, eps) at that noise level (§6.1).
fn ddt_point(x1: f32[B, L, V], eps: f32[B, L, V], gamma: f64[B]) -> i32[B, L] {
  a = reshape(cast(gauss_mean_coeff(gamma), f32), [B, 1, 1])
  s = reshape(cast(gauss_noise_scale(gamma), f32), [B, 1, 1])
  return argmax(a * x1 + s * eps, axis = -1)
}

// The DCD loss of round `round` (§6.2, the reference's `Distillation.nll` with loss 'kl-bwd'):
// t = min(t_strat + delta, 1), s = t - delta, gamma = gamma_min + {t, s} (gamma_max - gamma_min),
// alpha = T(gamma); z_t and z_s from one Gaussian eps per token; the mean over tokens of
// KL(p_student(. | z_t, sigma_t) || p_teacher(. | z_s, sigma_s)), sigma = -log alpha.
export fn distill_loss(x0: i32[B, seq_len], seed: i64, step: i64, round: i64) -> f32 {
  delta = dcd_delta(round)
  t = minimum(cast(stratified_t(rand_uniform(seed, step, [B], f32)), f64) + delta, 1.0)
  g_t = gamma_of_t(t, dcd_gamma_min, dcd_gamma_max)
  g_s = gamma_of_t(t - delta, dcd_gamma_min, dcd_gamma_max)
  alpha_t, da_t = duality_t(g_t, V)
  alpha_s, da_s = duality_t(g_s, V)
  x1 = one_hot(x0, V, f32)
  eps = rand_normal(seed, step, [B, seq_len, V], f32)
  lp_s = log_softmax(logits(ddt_point(x1, eps, g_t), cast(-log(alpha_t), f32)), axis = -1)
  lp_t = log_softmax(dit_logits(ddt_point(x1, eps, g_s), cast(-log(alpha_s), f32), teacher), axis = -1)
  kl = sum(exp(lp_s) * (lp_s - lp_t), axis = -1)
  tokens = sum(ones([B], f32), axis = 0) * seq_len
  return sum(sum(kl, axis = 1), axis = 0) / tokens
}
