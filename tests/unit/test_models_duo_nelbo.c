/* test_models_duo_nelbo.c — Duo's per-token NELBO `usdm_nelbo` (models/duo.dsl, the stable log1p
 * form of duo-udlm.md §3.2) run through the interpreter on random inputs, against the textbook UDLM
 * form of §3.1 evaluated here in float64 with the explicit K-vectors:
 *   f = (-alpha')/(K alpha) [K/xt_i - K/xb_i + sum_j xb_j/xb_i log(xt_i xb_j / (xt_j xb_i))],
 *   xb = K alpha onehot(x) + (1 - alpha), xt = K alpha x_theta + (1 - alpha), alpha' = -(1 - 1e-3).
 * Vocabularies 5, 64 and 1000; alpha log-uniform in [1e-3, 0.999]; x_theta a softmax of Gaussian
 * logits with a random temperature (from near-uniform to near one-hot); z = x for half the tokens.
 * Differences are measured in units of the bracket's absolute size (see textbook()): float64 mode must
 * agree to 1e-12 of it, float32 mode to 1e-5 (measured: ~1e-15 and ~2e-7); f >= 0 up to rounding. */
#include "check.h"
#include "frontend.h"
#include "interp.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NB = 4, NL = 16 };
#define TOL64 1e-12
#define TOL32 1e-5

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double unif(void) {  /* xorshift64*, in (0, 1) */
  rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
  return ((rng * 2685821657736338717ull) >> 11) * 0x1.0p-53 + 0x1.0p-54;
}
static double gauss(void) { return sqrt(-2 * log(unif())) * cos(6.28318530717958647693 * unif()); }

/* Returns f; *scale = the prefactor times the sum of the bracket's absolute terms and of the
 * weights xb_j/xb_i of its logs (the rounding error of either form is a multiple of scale times the
 * machine epsilon, not of |f|, which cancels to 0 at x_theta = onehot(x)). */
static double textbook(int k, int i, int m, const double *p, double alpha, double *scale) {
  double *xb = malloc(sizeof(double) * (size_t)k), *xt = malloc(sizeof(double) * (size_t)k), s = 0;
  for (int j = 0; j < k; j++) {
    xb[j] = k * alpha * (j == m) + (1 - alpha);
    xt[j] = k * alpha * p[j] + (1 - alpha);
  }
  double sa = 0;
  for (int j = 0; j < k; j++) {
    double t = xb[j] / xb[i] * log(xt[i] * xb[j] / (xt[j] * xb[i]));
    s += t;
    sa += fabs(t) + xb[j] / xb[i];  /* a log's absolute rounding error is ~eps whatever its size */
  }
  double w = (1 - 1e-3) / (k * alpha), f = w * (k / xt[i] - k / xb[i] + s);
  *scale = w * (k / xt[i] + k / xb[i] + sa);
  free(xb);
  free(xt);
  return f;
}

static const char probe_src[] =
  "import \"duo.dsl\"\n"
  "export fn nelbo_probe(x: i32[B, L], z: i32[B, L], p: f32[B, L, V], alpha: f32[B]) -> f32[B, L] {\n"
  "  return usdm_nelbo(x, z, p, alpha)\n"
  "}\n";

static void check_vocab(int k) {
  char ks[16];
  snprintf(ks, sizeof ks, "%d", k);
  const DslDefine d[] = {{"vocab", ks}};
  Module *m = dsl_compile_string("models/nelbo_probe.dsl", probe_src, strlen(probe_src), d, 1, stderr);
  CHECK(m != NULL);
  if (!m) return;
  Tensor *tx = tensor_new(DT_I32, 2, (int64_t[]){NB, NL}), *tz = tensor_new(DT_I32, 2, (int64_t[]){NB, NL});
  Tensor *tp = tensor_new(DT_F32, 3, (int64_t[]){NB, NL, k}), *ta = tensor_new(DT_F32, 1, (int64_t[]){NB});
  double *p = malloc(sizeof(double) * NB * NL * (size_t)k), alpha[NB];
  for (int b = 0; b < NB; b++) tensor_set(ta, b, alpha[b] = (float)exp(log(1e-3) + unif() * (log(0.999) - log(1e-3))));
  for (int r = 0; r < NB * NL; r++) {
    int x = (int)(unif() * k), z = unif() < 0.5 ? x : (int)(unif() * k);
    tensor_set(tx, r, x);
    tensor_set(tz, r, z);
    double temp = exp(unif() * log(200.0)) / 20, tot = 0, *pr = p + (size_t)r * k;
    for (int j = 0; j < k; j++) tot += pr[j] = exp((gauss() + 3 * (j == x)) / temp);
    double ftot = 0;
    for (int j = 0; j < k; j++) ftot += pr[j] = (float)(pr[j] / tot);
    for (int j = 0; j < k; j++) tensor_set(tp, (int64_t)r * k + j, pr[j] = (float)(pr[j] / ftot));
  }
  Tensor *args[4] = {tx, tz, tp, ta};
  for (int mode = 0; mode < 2; mode++) {
    Tensor *out = NULL;
    DlmErr e;
    memset(&e, 0, sizeof e);
    int ok = interp_run(m, ir_func_find(m, "nelbo_probe"), NULL, args, &out, mode ? DT_F32 : DT_F64, &e);
    CHECK_MSG(ok, "nelbo_probe: %s", e.msg);
    if (!ok) continue;
    double worst = 0, tol = mode ? TOL32 : TOL64;
    int nonneg = 1, within = 1;
    for (int r = 0; r < NB * NL; r++) {
      double scale, want = textbook(k, (int)tensor_get(tz, r), (int)tensor_get(tx, r), p + (size_t)r * k, alpha[r / NL], &scale);
      double got = tensor_get(out, r), err = fabs(got - want) / scale;
      worst = fmax(worst, err);
      within &= err <= tol;
      double dev = -1;  /* the f32 rows sum to 1 only to ~1e-8, and f >= 0 holds for probability vectors */
      for (int j = 0; j < k; j++) dev += p[(size_t)r * k + j];
      double slack = (1e-13 + 4 * fabs(dev)) * scale;
      nonneg &= want >= -slack && got >= -slack - tol * scale;
      if (err > tol) fprintf(stderr, "  K %d token %d alpha %g z==x %d: %.17g vs textbook %.17g (scale %g)\n", k, r, alpha[r / NL], tensor_get(tz, r) == tensor_get(tx, r), got, want, scale);
    }
    printf("K = %d, %s: largest difference to the textbook form %.2g x scale\n", k, mode ? "f32" : "f64", worst);
    CHECK_MSG(within, "K = %d %s: usdm_nelbo matches the textbook NELBO", k, mode ? "f32" : "f64");
    CHECK_MSG(nonneg, "K = %d %s: the NELBO is nonnegative", k, mode ? "f32" : "f64");
    tensor_free(out);
  }
  for (int i = 0; i < 4; i++) tensor_free(args[i]);
  free(p);
  ir_module_free(m);
}

int main(void) {
  check_vocab(5);
  check_vocab(64);
  check_vocab(1000);
  return check_summary("test_models_duo_nelbo");
}
