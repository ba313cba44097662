/* param_init.c — pstore_init: a fresh parameter store holding every module parameter initialized
 * per its ParamDecl (zeros; ones; normal(mean a, std b) by Box-Muller; uniform on [a, b); a
 * parameter without an init kind is zero-filled). Deterministic per seed: parameter i draws from
 * Philox4x32-10 with key = seed and counter = {element lo, element hi, i, 0x5eed}, one block per
 * element (words 0-1 and 2-3 give two 53-bit uniforms). */
#include "interp.h"
#include <math.h>

#define PARAM_INIT_TAG 0x5eedu
#define TWO_PI 6.283185307179586477

static void uniforms(uint64_t seed, uint32_t param, uint64_t j, double *u1, double *u2) {
  uint32_t ctr[4] = {(uint32_t)j, (uint32_t)(j >> 32), param, PARAM_INIT_TAG};
  uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  uint32_t w[4];
  philox4x32_10(ctr, key, w);
  *u1 = (double)((((uint64_t)w[0] << 32) | w[1]) >> 11) * 0x1p-53;
  *u2 = (double)((((uint64_t)w[2] << 32) | w[3]) >> 11) * 0x1p-53;
}

static double init_value(const ParamDecl *p, uint64_t seed, uint32_t param, uint64_t j) {
  double u1, u2;
  switch (p->init) {
  case INIT_ONES: return 1;
  case INIT_NORMAL:
    uniforms(seed, param, j, &u1, &u2);
    return p->a + p->b * sqrt(-2 * log(1 - u1)) * cos(TWO_PI * u2); /* 1 - u1 is in (0, 1] */
  case INIT_UNIFORM:
    uniforms(seed, param, j, &u1, &u2);
    return p->a + (p->b - p->a) * u1;
  default: return 0;
  }
}

ParamStore *pstore_init(const Module *m, uint64_t seed) {
  ParamStore *ps = pstore_new();
  if (!ps) return NULL;
  for (int i = 0; i < m->nparams; i++) {
    const ParamDecl *p = &m->params[i];
    int64_t shape[DLM_MAX_RANK];
    for (int d = 0; d < p->type.rank; d++) {
      if (!dim_is_const(p->type.dims[d])) { pstore_free(ps); return NULL; }
      shape[d] = p->type.dims[d].k;
    }
    Tensor *t = tensor_new(p->type.dtype, p->type.rank, shape);
    if (!t) { pstore_free(ps); return NULL; }
    for (int64_t j = 0; j < t->numel; j++) tensor_set(t, j, init_value(p, seed, (uint32_t)i, (uint64_t)j));
    if (!pstore_put(ps, p->name, t)) { tensor_free(t); pstore_free(ps); return NULL; }
  }
  return ps;
}
