/* test_models_duo_curriculum.c — Duo's curriculum objective (curriculum_loss in models/duo.dsl,
 * duo-udlm.md §5.1) on a tiny model through the interpreter:
 *   - the artifact preparation adds a gradient for it beside loss.grad (an objective `*_loss`);
 *   - at tau -> 0 (the paper's tau = 1e-3) with a uniform x_theta (zero output layer) its mean over
 *     seeds matches E_t[P(z=x) f_same + P(z!=x) f_diff] with alpha = T(gamma(t)) and
 *     alpha' = (gamma_max - gamma_min) dT/dgamma computed here independently (quadrature in C);
 *   - the variance of the gradient estimator at fixed random weights and a fixed batch over many
 *     seeds, with (curriculum_loss) and without (loss) the curriculum: both are printed (total
 *     variance summed over every weight, and of the loss), both finite and positive, and the
 *     curriculum's lower (the paper's Table 4 claim; note the windows differ: alpha in
 *     [0.85, 0.10] for the curriculum, [1, 0] for the discrete loss, as in the paper). */
#include "check.h"
#include "artifact.h"
#include "frontend.h"
#include "interp.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KV = 64, B = 4, L = 16, SEEDS = 48 };
#define GMIN (-2.5)
#define GMAX 0.0

static const DslDefine defs[] = {{"vocab", "64"}, {"seq_len", "16"}, {"layers", "1"}, {"dim", "16"}, {"heads", "2"},
                                 {"cond_dim", "8"}, {"curriculum_gamma_min", "-2.5"}, {"curriculum_gamma_max", "0.0"}};

/* P(mu) and dP/dgamma by the trapezoid rule on z in [-12, mu + 12], log Phi from erfc */
static void t_op(double gamma, double *t, double *dt) {
  const int n = 20001;
  double mu = exp(-gamma / 2), h = (mu + 24) / (n - 1), p = 0, dp = 0;
  for (int j = 0; j < n; j++) {
    double z = -12 + j * h, ph = 0.5 * erfc(-z / sqrt(2.0));
    double f = ph > 0 ? exp(-0.5 * (z - mu) * (z - mu) + (KV - 1) * log(ph)) / sqrt(2 * 3.14159265358979323846) : 0;
    p += h * f;
    dp += h * -(mu / 2) * (z - mu) * f;
  }
  *t = (KV * p - 1.0) / (KV - 1);
  *dt = KV / (KV - 1.0) * dp;
}

/* §3.1 at a uniform x_theta: f = w [K - K/xb_i + sum_j xb_j/xb_i log(xb_j/xb_i)], w = -alpha'/(K alpha) */
static double uniform_f(int same, double a, double da) {
  double w = -da / (KV * a), big = KV * a + 1 - a, small = 1 - a;
  if (same) return w * (KV - KV / big + (KV - 1) * (small / big) * log(small / big));
  return w * (KV - KV / small + (big / small) * log(big / small));
}

static int run1(const Module *m, const char *fn, const ParamStore *ps, Tensor *x0, int64_t seed, Tensor **outs) {
  Tensor *ts = tensor_new(DT_I64, 0, NULL), *tp = tensor_new(DT_I64, 0, NULL);
  tensor_set(ts, 0, (double)seed);
  tensor_set(tp, 0, 3);
  Tensor *args[3] = {x0, ts, tp};
  DlmErr e;
  memset(&e, 0, sizeof e);
  int ok = interp_run(m, ir_func_find(m, fn), ps, args, outs, DT_F32, &e);
  CHECK_MSG(ok, "%s: %s", fn, e.msg);
  tensor_free(ts);
  tensor_free(tp);
  return ok;
}

static void check_expectation(const Module *m, Tensor *x0) {
  ParamStore *ps = pstore_init(m, 1);  /* the output linear starts at zero: x_theta uniform */
  double total = 0, sq = 0;
  for (int s = 0; s < SEEDS; s++) {
    Tensor *out = NULL;
    if (!run1(m, "curriculum_loss", ps, x0, 500 + s, &out)) break;
    total += tensor_get(out, 0);
    sq += tensor_get(out, 0) * tensor_get(out, 0);
    tensor_free(out);
  }
  double expect = 0;
  const int n = 2000;  /* t uniform in [1e-3, 1) (stratified), midpoint rule */
  for (int k = 0; k < n; k++) {
    double t = 1e-3 + (1 - 1e-3) * (k + 0.5) / n, g = GMIN + t * (GMAX - GMIN), a, da;
    t_op(g, &a, &da);
    da *= GMAX - GMIN;
    double p_same = a + (1 - a) / KV;
    expect += (p_same * uniform_f(1, a, da) + (1 - p_same) * uniform_f(0, a, da)) / n;
  }
  double mean = total / SEEDS, se = sqrt(fmax(sq / SEEDS - mean * mean, 0) / SEEDS);
  printf("curriculum_loss at a uniform x_theta: mean %.4f over %d seeds (s.e. %.4f), expectation %.4f\n", mean, SEEDS, se, expect);
  CHECK_NEAR(mean, expect, 4 * se + 1e-3 * expect);
  pstore_free(ps);
}

/* total variance over seeds of the gradient (summed over every weight) and of the loss */
static void grad_variance(const Module *m, const char *fn, const ParamStore *ps, Tensor *x0, double *gvar, double *lvar) {
  const Func *g = ir_func_find(m, fn);
  int64_t n = 0;
  double *sum = NULL, *sq = NULL, ls = 0, lq = 0;
  Tensor **outs = calloc((size_t)g->nout, sizeof *outs);
  for (int s = 0; s < SEEDS; s++) {
    if (!run1(m, fn, ps, x0, 1000 + s, outs)) break;
    if (!sum) {
      for (int k = 1; k < g->nout; k++) n += outs[k]->numel;
      sum = calloc((size_t)n, sizeof *sum);
      sq = calloc((size_t)n, sizeof *sq);
    }
    int64_t j = 0;
    for (int k = 1; k < g->nout; k++)
      for (int64_t i = 0; i < outs[k]->numel; i++, j++) {
        double v = tensor_get(outs[k], i);
        sum[j] += v;
        sq[j] += v * v;
      }
    ls += tensor_get(outs[0], 0);
    lq += tensor_get(outs[0], 0) * tensor_get(outs[0], 0);
    for (int k = 0; k < g->nout; k++) tensor_free(outs[k]);
  }
  *gvar = 0;
  for (int64_t j = 0; j < n; j++) *gvar += (sq[j] - sum[j] * sum[j] / SEEDS) / (SEEDS - 1);
  *lvar = (lq - ls * ls / SEEDS) / (SEEDS - 1);
  free(sum);
  free(sq);
  free(outs);
}

int main(void) {
  Module *m = dsl_compile_file("models/duo.dsl", defs, 8, stderr);
  CHECK(m != NULL);
  if (!m) return check_summary("test_models_duo_curriculum");
  DlmErr e;
  memset(&e, 0, sizeof e);
  CHECK_MSG(artifact_prepare(m, &e), "artifact_prepare: %s", e.msg);
  CHECK(ir_func_find(m, "loss.grad") != NULL);
  CHECK(ir_func_find(m, "curriculum_loss.grad") != NULL);
  Tensor *x0 = tensor_new(DT_I32, 2, (int64_t[]){B, L});
  for (int64_t i = 0; i < x0->numel; i++) tensor_set(x0, i, (double)((i * 37 + i / 5) % KV));
  check_expectation(m, x0);
  if (ir_func_find(m, "curriculum_loss.grad")) {
    ParamStore *ps = pstore_init(m, 7);  /* then every weight perturbed, so every gradient is nonzero */
    uint64_t st = 12345;
    for (int k = 0; k < ps->n; k++)
      for (int64_t i = 0; i < ps->tensors[k]->numel; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        tensor_set(ps->tensors[k], i, tensor_get(ps->tensors[k], i) + 0.1 * (((double)(st >> 11) * 0x1.0p-53) - 0.5));
      }
    double gv[2], lv[2];
    grad_variance(m, "curriculum_loss.grad", ps, x0, &gv[0], &lv[0]);
    grad_variance(m, "loss.grad", ps, x0, &gv[1], &lv[1]);
    printf("gradient variance over %d seeds (fixed weights and batch, K = %d, gamma in [%g, %g], tau = 1e-3):\n"
           "  with the curriculum:    total gradient variance %.4g, loss variance %.4g\n"
           "  without (discrete):     total gradient variance %.4g, loss variance %.4g\n",
           SEEDS, KV, GMIN, GMAX, gv[0], lv[0], gv[1], lv[1]);
    for (int i = 0; i < 2; i++) CHECK(isfinite(gv[i]) && gv[i] > 0 && isfinite(lv[i]) && lv[i] > 0);
    CHECK_MSG(gv[0] < gv[1], "the curriculum lowers the gradient variance (duo-udlm.md §5.2, Table 4)");
    pstore_free(ps);
  }
  tensor_free(x0);
  ir_module_free(m);
  return check_summary("test_models_duo_curriculum");
}
