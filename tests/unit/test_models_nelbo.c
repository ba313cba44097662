/* test_models_nelbo.c — Duo's per-token Rao-Blackwellized NELBO (`usdm_nelbo` in models/duo.dsl,
 * written in the stable log1p form of duo-udlm.md §3.2) against the UDLM form of §3.1 computed here
 * in C from its definition with the one-hot x̄ vectors, for both cases z == x and z != x, plus the
 * zero-loss property at x_theta = onehot(x). A probe program imports duo.dsl and exports the helper. */
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

int main(void) {
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
