// std/schedules.dsl — noise schedules and training-time sampling of t.
//   loglinear (mdlm-remdm.md §3, duo-udlm.md §2.2 schedule 1), eps = 1e-3:
//     sigma(t) = -log1p(-(1-eps) t),  dsigma/dt = (1-eps) / (1 - (1-eps) t),
//     alpha_t = exp(-sigma) = 1 - (1-eps) t,  move_chance = 1 - alpha_t = (1-eps) t.
//   stratified t (mdlm-remdm.md §5, duo-udlm.md §2.3): one independent uniform per stratum
//     [i/n, (i+1)/n) of the batch, then t = (1-eps) u + eps, so t is in [eps, 1).

const loglinear_eps = 1e-3

fn loglinear_sigma(t: f32[N]) -> f32[N] {
  return -log1p(-(1.0 - loglinear_eps) * t)
}

fn loglinear_dsigma(t: f32[N]) -> f32[N] {
  return (1.0 - loglinear_eps) / (1.0 - (1.0 - loglinear_eps) * t)
}

// alpha_t = 1 - (1-eps) t (the clean-token probability).
fn loglinear_alpha(t: f32[N]) -> f32[N] {
  return 1.0 - (1.0 - loglinear_eps) * t
}

// t[i] = (1-eps) ((u[i] + i) / n mod 1) + eps for u ~ U[0,1)^n. The batch size n is read as a
// value by summing ones (a symbolic dim cannot be used as a number).
fn stratified_t(u: f32[N]) -> f32[N] {
  n = sum(ones([N], f32), axis = 0)
  strat = (u / n + iota([N], 0, f32) / n) % 1.0
  return (1.0 - loglinear_eps) * strat + loglinear_eps
}
