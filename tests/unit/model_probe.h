/* model_probe.h — helpers for tests that check a model's DSL functions from C: compile a probe
 * program (a string that imports the model and exports wrappers of its internal functions), fill a
 * parameter store with random values (so no layer starts at zero), make tensors and run exported
 * functions in the interpreter's float64 mode. Used by test_bd3lm.c and test_esolm.c. */
#ifndef DLM_MODEL_PROBE_H
#define DLM_MODEL_PROBE_H
#include "check.h"
#include "frontend.h"
#include "interp.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t probe_rng = 0x2545F4914F6CDD1Dull;

/* A uniform double in [0, 1) (xorshift64*, deterministic). */
static inline double probe_uniform(void) {
  probe_rng ^= probe_rng >> 12; probe_rng ^= probe_rng << 25; probe_rng ^= probe_rng >> 27;
  return (double)((probe_rng * 0x2545F4914F6CDD1Dull) >> 11) * 0x1p-53;
}

/* Every parameter of m, uniform in [-scale, scale). */
static inline ParamStore *probe_params(const Module *m, double scale) {
  ParamStore *ps = pstore_init(m, 7);
  for (int i = 0; ps && i < ps->n; i++)
    for (int64_t j = 0; j < ps->tensors[i]->numel; j++) tensor_set(ps->tensors[i], j, scale * (2 * probe_uniform() - 1));
  return ps;
}

/* A tensor of dtype dt with dims d0..d(rank-1) (unused dims 0), zero-filled. */
static inline Tensor *probe_tensor(DType dt, int rank, int64_t d0, int64_t d1, int64_t d2) {
  int64_t shape[3] = {d0, d1, d2};
  return tensor_new(dt, rank, shape);
}

static inline Tensor *probe_scalar(DType dt, double v) {
  Tensor *t = tensor_new(dt, 0, NULL);
  tensor_set(t, 0, v);
  return t;
}

/* Runs the exported function `name` in float64 mode; outs receive its results. Frees nothing. */
static inline int probe_run(const Module *m, const ParamStore *ps, const char *name, Tensor **args, Tensor **outs) {
  const Func *f = ir_func_find(m, name);
  CHECK_MSG(f != NULL, "no function %s", name);
  if (!f) return 0;
  DlmErr e;
  memset(&e, 0, sizeof e);
  int ok = interp_run(m, f, ps, args, outs, DT_F64, &e);
  CHECK_MSG(ok, "%s: %s", name, e.msg);
  return ok;
}

static inline void probe_free(Tensor **t, int n) {
  for (int i = 0; i < n; i++) { tensor_free(t[i]); t[i] = NULL; }
}
#endif
