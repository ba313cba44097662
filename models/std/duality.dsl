// std/duality.dsl — the Diffusion Transformation operator of Duo (duo-udlm.md §4): the argmax of a
// Gaussian-diffused one-hot vector w = a x + s eps (a = sqrt(sigmoid(-gamma)), s = sqrt(sigmoid(gamma)),
// eps ~ N(0, I_K)) is distributed as a uniform-state latent with alpha = T(gamma):
//   mu = a / s = exp(-gamma / 2),  P(mu) = ∫ phi(z - mu) Phi(z)^(K-1) dz,  T = (K P - 1) / (K - 1),
//   dT/dgamma = K / (K - 1) ∫ -(mu / 2) (z - mu) phi(z - mu) Phi(z)^(K-1) dz   (dmu/dgamma = -mu/2).
// Quadrature: the trapezoid rule in float64 on duality_points nodes z = mu + u, u uniform in [-12, 12],
// the integrand exp(log phi(u) + (K-1) log_ndtr(mu + u)) (log_ndtr: a log Phi stable in both tails).
// The integrand is below phi(12) ~ 1e-32 at both ends, so the end nodes' half weights are immaterial
// and the rule is the plain sum times the spacing. With 1024 nodes the §4.3 test vectors (K = 50257
// and 30522) are reproduced to their printed 6 decimals (tests/unit/test_models_duality.c).
// The spec's reference code uses a table with nearest-index lookup and a forward difference for
// alpha'; this evaluates the integrals directly for each gamma (a [G, duality_points] grid).

const duality_points = 1024
const duality_halfwidth = 12.0

// (T(gamma), dT/dgamma) for a vocabulary of k states.
fn duality_t(gamma: f64[G], k: f64) -> (f64[G], f64[G]) {
  h = 2.0 * duality_halfwidth / (duality_points - 1)
  u = iota([duality_points], 0, f64) * h - duality_halfwidth
  mu = reshape(exp(-0.5 * gamma), [G, 1])
  f = exp(-0.5 * u * u - 0.91893853320467274178 + (k - 1.0) * log_ndtr(mu + u))
  p = h * sum(f, axis = -1)
  dp = h * sum(-0.5 * mu * u * f, axis = -1)
  return (k * p - 1.0) / (k - 1.0), k / (k - 1.0) * dp
}

// The Gaussian log-SNR schedule of the curriculum and of distillation (§2.2 schedule 2):
// gamma = gamma_min + t (gamma_max - gamma_min), the mean coefficient sqrt(sigmoid(-gamma)) and
// the noise scale sqrt(sigmoid(gamma)) of w = a x + s eps.
fn gamma_of_t(t: f64[G], gamma_min: f64, gamma_max: f64) -> f64[G] {
  return gamma_min + t * (gamma_max - gamma_min)
}

fn gauss_mean_coeff(gamma: f64[G]) -> f64[G] {
  return sqrt(sigmoid(-gamma))
}

fn gauss_noise_scale(gamma: f64[G]) -> f64[G] {
  return sqrt(sigmoid(gamma))
}
