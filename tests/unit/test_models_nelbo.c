/* test_models_nelbo.c — Duo's per-token Rao-Blackwellized NELBO (`usdm_nelbo` in models/duo.dsl,
 * written in the stable log1p form of duo-udlm.md §3.2) against the UDLM form of §3.1 computed here
 * in C from its definition with the one-hot x̄ vectors, for both cases z == x and z != x, plus the
 * zero-loss property at x_theta = onehot(x). A probe program imports duo.dsl and exports the helper.
 * Then Duo's whole `loss` (corruption included) at a zero output layer, where x_theta is uniform:
 * its mean over seeds must match E_t[P(z=x) f_same + P(z!=x) f_diff] integrated here. */
#include "check.h"
#include "frontend.h"
#include "interp.h"
#include <stdlib.h>
#include <string.h>

enum { K = 7, NB = 2, NL = 3 };

/* §3.1: f = (-alpha')/(K alpha) [K/xt_i - K/xb_i + sum_j xb_j/xb_i log(xt_i xb_j / (xt_j xb_i))],
 * xb = K alpha onehot(x) + (1 - alpha), xt = K alpha p + (1 - alpha), alpha' = -(1 - 1e-3). */
static double udlm_f(int i, int m, const double *p, double alpha) {
  double xb[K], xt[K], s = 0;
  for (int j = 0; j < K; j++) {
    xb[j] = K * alpha * (j == m) + (1 - alpha);
    xt[j] = K * alpha * p[j] + (1 - alpha);
  }
  for (int j = 0; j < K; j++) s += xb[j] / xb[i] * log(xt[i] * xb[j] / (xt[j] * xb[i]));
  return (1 - 1e-3) / (K * alpha) * (K / xt[i] - K / xb[i] + s);
}

static const char probe_src[] =
  "import \"duo.dsl\"\n"
  "export fn nelbo_probe(x: i32[B, L], z: i32[B, L], p: f32[B, L, V], alpha: f32[B]) -> f32[B, L] {\n"
  "  return usdm_nelbo(x, z, p, alpha)\n"
  "}\n";

static Tensor *run_probe(const Module *m, const int *x, const int *z, const double *p, const double *alpha) {
  Tensor *tx = tensor_new(DT_I32, 2, (int64_t[]){NB, NL}), *tz = tensor_new(DT_I32, 2, (int64_t[]){NB, NL});
  Tensor *tp = tensor_new(DT_F32, 3, (int64_t[]){NB, NL, K}), *ta = tensor_new(DT_F32, 1, (int64_t[]){NB});
  for (int i = 0; i < NB * NL; i++) { tensor_set(tx, i, x[i]); tensor_set(tz, i, z[i]); }
  for (int i = 0; i < NB * NL * K; i++) tensor_set(tp, i, p[i]);
  for (int i = 0; i < NB; i++) tensor_set(ta, i, alpha[i]);
  Tensor *args[4] = {tx, tz, tp, ta}, *out = NULL;
  DlmErr e;
  memset(&e, 0, sizeof e);
  int ok = interp_run(m, ir_func_find(m, "nelbo_probe"), NULL, args, &out, DT_F64, &e);
  CHECK_MSG(ok, "nelbo_probe: %s", e.msg);
  for (int i = 0; i < 4; i++) tensor_free(args[i]);
  return ok ? out : NULL;
}

/* §3.1 for a uniform x_theta (so every xt_j = 1): f = w [K - K/xb_i + sum_j xb_j/xb_i log(xb_j/xb_i)]
 * with xb = K alpha onehot(x) + 1 - alpha, i = z; the two cases z == x and z != x. */
static double uniform_f(int same, double alpha, int k) {
  double w = (1 - 1e-3) / (k * alpha), big = k * alpha + 1 - alpha, small = 1 - alpha;
  if (same) return w * (k - k / big + (k - 1) * (small / big) * log(small / big));
  return w * (k - k / small + (big / small) * log(big / small));
}

static void check_duo_loss(void) {
  enum { KV = 64, B = 16, L = 64, SEEDS = 32 };
  const DslDefine d[] = {{"vocab", "64"}, {"seq_len", "64"}, {"layers", "1"}, {"dim", "8"}, {"heads", "2"}, {"cond_dim", "4"}};
  Module *m = dsl_compile_file("models/duo.dsl", d, 6, stderr);
  CHECK(m != NULL);
  if (!m) return;
  ParamStore *ps = pstore_init(m, 1);  /* the output linear starts at zero: x_theta uniform */
  Tensor *x0 = tensor_new(DT_I32, 2, (int64_t[]){B, L});
  for (int64_t i = 0; i < x0->numel; i++) tensor_set(x0, i, (double)(i * 11 % KV));
  double total = 0;
  for (int s = 0; s < SEEDS; s++) {
    Tensor *seed = tensor_new(DT_I64, 0, NULL), *step = tensor_new(DT_I64, 0, NULL), *out = NULL;
    tensor_set(seed, 0, 77 + s);
    tensor_set(step, 0, s);
    Tensor *args[3] = {x0, seed, step};
    DlmErr e;
    memset(&e, 0, sizeof e);
    int ok = interp_run(m, ir_func_find(m, "loss"), ps, args, &out, DT_F64, &e);
    CHECK_MSG(ok, "duo loss: %s", e.msg);
    if (ok) { total += tensor_get(out, 0); tensor_free(out); }
    tensor_free(seed);
    tensor_free(step);
  }
  double expect = 0;  /* t ~ U[1e-3, 1), alpha = 1 - (1 - 1e-3) t, midpoint rule */
  const int n = 100000;
  for (int k = 0; k < n; k++) {
    double t = 1e-3 + (1 - 1e-3) * (k + 0.5) / n, a = 1 - (1 - 1e-3) * t, p_same = a + (1 - a) / KV;
    expect += (p_same * uniform_f(1, a, KV) + (1 - p_same) * uniform_f(0, a, KV)) / n;
  }
  CHECK_NEAR(total / SEEDS, expect, 0.1);
  tensor_free(x0);
  pstore_free(ps);
  ir_module_free(m);
}

int main(void) {
  check_duo_loss();
  const DslDefine d[] = {{"vocab", "7"}};
  Module *m = dsl_compile_string("models/nelbo_probe.dsl", probe_src, strlen(probe_src), d, 1, stderr);
  CHECK(m != NULL);
  if (!m) return check_summary("test_models_nelbo");
  /* alpha values exactly representable in f32; p rows are normalized f32-exact dyadic fractions. */
  int x[NB * NL] = {2, 5, 0, 6, 1, 3}, z[NB * NL] = {2, 1, 0, 4, 1, 6};
  double alpha[NB] = {0.75, 0.125}, p[NB * NL * K];
  for (int r = 0; r < NB * NL; r++) {
    double tot = 0;
    for (int j = 0; j < K; j++) tot += p[r * K + j] = (double)(1 + (r * 5 + j * 3) % 8);
    for (int j = 0; j < K; j++) p[r * K + j] = (float)(p[r * K + j] / tot);
  }
  Tensor *out = run_probe(m, x, z, p, alpha);
  if (out) {
    for (int r = 0; r < NB * NL; r++) {
      double want = udlm_f(z[r], x[r], &p[r * K], alpha[r / NL]);
      CHECK_NEAR(tensor_get(out, r), want, 1e-9);
      CHECK(want > 0);
    }
    tensor_free(out);
  }
  /* x_theta = onehot(x) and z == x: the loss is exactly the bound's minimum, 0. */
  for (int i = 0; i < NB * NL * K; i++) p[i] = (i % K) == x[i / K];
  out = run_probe(m, x, x, p, alpha);
  if (out) {
    for (int r = 0; r < NB * NL; r++) CHECK_NEAR(tensor_get(out, r), 0.0, 1e-9);
    tensor_free(out);
  }
  ir_module_free(m);
  return check_summary("test_models_nelbo");
}
