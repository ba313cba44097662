/* test_models_ar.c — models/ar.dsl, the autoregressive reference model, at a tiny size with random
 * weights (the zero-initialized output layer would hide everything), run by the interpreter in
 * float64:
 *   causality: changing token k changes no logit row <= k (row l predicts x[l] from BOS, x[0..l-1])
 *   and does change row k + 1;
 *   the BOS column of the logits is -1e9; loss = the mean over all B * seq_len tokens of
 *   -log softmax(logits)[x] over the vocabulary, recomputed here in C from the logits;
 *   the gradient of loss against finite differences on a sample of every parameter. */
#include "check.h"
#include "frontend.h"
#include "test_autodiff_fd.h"
#include <math.h>

#define T(...) ((int64_t[]){__VA_ARGS__})
enum { NB = 2, L = 6, K = 5, W = K + 1 };   /* logits have a BOS column (id K) */

static const DslDefine tiny[] = {{"vocab", "5"}, {"seq_len", "6"}, {"layers", "1"},
                                 {"dim", "8"}, {"heads", "2"}, {"cond_dim", "4"}};

static Tensor *tokens(const int32_t *x) {
  Tensor *t = tensor_new(DT_I32, 2, T(NB, L));
  for (int i = 0; i < NB * L; i++) tensor_set(t, i, x[i]);
  return t;
}

static Tensor *run_logits(const Module *m, const ParamStore *ps, const int32_t *x) {
  Tensor *args[1] = {tokens(x)}, *out = NULL;
  DlmErr e = {0};
  int ok = interp_run(m, ir_func_find(m, "logits"), ps, args, &out, DT_F64, &e);
  CHECK_MSG(ok, "logits: %s", e.msg);
  tensor_free(args[0]);
  return ok ? out : NULL;
}

/* max |a - b| over the logit rows of position l (both batch rows) */
static double row_diff(const Tensor *a, const Tensor *b, int l) {
  double d = 0;
  for (int r = 0; r < NB; r++)
    for (int v = 0; v < W; v++) {
      int64_t i = ((int64_t)r * L + l) * W + v;
      d = fmax(d, fabs(tensor_get(a, i) - tensor_get(b, i)));
    }
  return d;
}

int main(void) {
  Module *m = dsl_compile_file("models/ar.dsl", tiny, 6, stderr);
  CHECK(m != NULL);
  if (!m) return check_summary("test_models_ar");
  ParamStore *ps = fd_random_params(m);
  const int32_t x[NB * L] = {0, 4, 2, 2, 1, 3, 3, 0, 1, 4, 4, 2};
  for (int k = 0; k < L; k++) {
    int32_t y[NB * L];
    memcpy(y, x, sizeof y);
    y[k] = (y[k] + 1) % K;
    y[L + k] = (y[L + k] + 2) % K;
    Tensor *a = run_logits(m, ps, x), *b = run_logits(m, ps, y);
    if (a && b) {
      for (int l = 0; l <= k; l++) CHECK_MSG(row_diff(a, b, l) == 0, "changing token %d changed logit row %d", k, l);
      if (k + 1 < L) CHECK_MSG(row_diff(a, b, k + 1) > 1e-6, "changing token %d left row %d unchanged", k, k + 1);
    }
    tensor_free(a);
    tensor_free(b);
  }

  Tensor *lg = run_logits(m, ps, x);
  Tensor *args[3] = {tokens(x), tensor_new(DT_I64, 0, NULL), tensor_new(DT_I64, 0, NULL)}, *loss = NULL;
  DlmErr e = {0};
  Func *f = ir_func_find(m, "loss");
  int ok = lg && f && interp_run(m, f, ps, args, &loss, DT_F64, &e);
  CHECK_MSG(ok, "loss: %s", e.msg);
  if (ok) {
    double nll = 0;
    for (int t = 0; t < NB * L; t++) {
      double mx = -INFINITY, z = 0;
      CHECK(tensor_get(lg, (int64_t)t * W + K) == -1e9);
      for (int v = 0; v < K; v++) mx = fmax(mx, tensor_get(lg, (int64_t)t * W + v));
      for (int v = 0; v < K; v++) z += exp(tensor_get(lg, (int64_t)t * W + v) - mx);
      nll -= tensor_get(lg, (int64_t)t * W + x[t]) - mx - log(z);
    }
    CHECK_NEAR(tensor_get(loss, 0), nll / (NB * L), 1e-12);
    fd_check_some("ar loss", m, f, args, NULL, 0, ps, 1, 8);
  }
  tensor_free(lg);
  tensor_free(loss);
  for (int i = 0; i < 3; i++) tensor_free(args[i]);
  pstore_free(ps);
  ir_module_free(m);
  return check_summary("test_models_ar");
}
