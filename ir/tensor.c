/* tensor.c — host tensors, bf16/f16 conversions and the named parameter store. */
#include "tensor.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* a tensor of the given shape, its data zero-filled or (zero = 0) left unset */
static Tensor *tensor_alloc(DType t, int rank, const int64_t *shape, int zero) {
  if (rank < 0 || rank > DLM_MAX_RANK || (unsigned)t >= DT_COUNT) return NULL;
  int64_t n = 1;
  for (int i = 0; i < rank; i++) {
    if (shape[i] < 0 || (shape[i] && n > INT64_MAX / 16 / shape[i])) return NULL;
    n *= shape[i];
  }
  Tensor *x = calloc(1, sizeof *x);
  if (!x) return NULL;
  x->dtype = t;
  x->rank = rank;
  for (int i = 0; i < rank; i++) x->shape[i] = shape[i];
  x->numel = n;
  size_t bytes = (size_t)(n ? n : 1) * dtype_size(t);
  x->data = zero ? calloc(1, bytes) : malloc(bytes);
  if (!x->data) { free(x); return NULL; }
  return x;
}

Tensor *tensor_new(DType t, int rank, const int64_t *shape) { return tensor_alloc(t, rank, shape, 1); }

Tensor *tensor_new_unset(DType t, int rank, const int64_t *shape) { return tensor_alloc(t, rank, shape, 0); }

Tensor *tensor_clone(const Tensor *t) {
  Tensor *c = tensor_new_unset(t->dtype, t->rank, t->shape);
  if (c) memcpy(c->data, t->data, (size_t)t->numel * dtype_size(t->dtype));
  return c;
}

void tensor_free(Tensor *t) {
  if (!t) return;
  free(t->data);
  free(t);
}

int tensor_same_shape(const Tensor *a, const Tensor *b) {
  if (a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

float bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float f;
  if (exp == 0) {
    f = ldexpf((float)man, -24);
    return sign ? -f : f;
  }
  uint32_t u = exp == 31 ? sign | 0x7f800000u | (man << 13) : sign | ((exp + 112) << 23) | (man << 13);
  memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
  if ((u & 0x7fffffffu) > 0x7f800000u) return sign | 0x7e00;
  float a = fabsf(f);
  if (a >= 65520.0f) return sign | 0x7c00;
  if (a < 6.103515625e-05f) { /* subnormal: round a / 2^-24 to nearest even */
    return sign | (uint16_t)lrintf(a * 16777216.0f);
  }
  uint32_t e = ((u >> 23) & 0xff) - 112, man = u & 0x7fffff;
  uint32_t r = (e << 10) | (man >> 13);
  uint32_t rest = man & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (r & 1))) r++;
  return sign | (uint16_t)r;
}

double tensor_get(const Tensor *t, int64_t i) {
  switch (t->dtype) {
  case DT_F32: return ((const float *)t->data)[i];
  case DT_F64: return ((const double *)t->data)[i];
  case DT_BF16: return bf16_to_f32(((const uint16_t *)t->data)[i]);
  case DT_F16: return f16_to_f32(((const uint16_t *)t->data)[i]);
  case DT_I32: return ((const int32_t *)t->data)[i];
  case DT_I64: return (double)((const int64_t *)t->data)[i];
  case DT_BOOL: return ((const uint8_t *)t->data)[i];
  default: return 0;
  }
}

void tensor_set(Tensor *t, int64_t i, double v) {
  switch (t->dtype) {
  case DT_F32: ((float *)t->data)[i] = (float)v; break;
  case DT_F64: ((double *)t->data)[i] = v; break;
  case DT_BF16: ((uint16_t *)t->data)[i] = f32_to_bf16((float)v); break;
  case DT_F16: ((uint16_t *)t->data)[i] = f32_to_f16((float)v); break;
  case DT_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
  case DT_I64: ((int64_t *)t->data)[i] = (int64_t)v; break;
  case DT_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
  default: break;
  }
}

/* ---------------------------------------------------------------- parameter store */
ParamStore *pstore_new(void) {
  ParamStore *ps = calloc(1, sizeof *ps);
  return ps;
}

void pstore_free(ParamStore *ps) {
  if (!ps) return;
  for (int i = 0; i < ps->n; i++) { free(ps->names[i]); tensor_free(ps->tensors[i]); }
  free(ps->names);
  free(ps->tensors);
  free(ps);
}

static int pstore_index(const ParamStore *ps, const char *name) {
  for (int i = 0; i < ps->n; i++)
    if (strcmp(ps->names[i], name) == 0) return i;
  return -1;
}

int pstore_put(ParamStore *ps, const char *name, Tensor *t) {
  int i = pstore_index(ps, name);
  if (i >= 0) { tensor_free(ps->tensors[i]); ps->tensors[i] = t; return 1; }
  if (ps->n == ps->cap) {
    int nc = ps->cap ? ps->cap * 2 : 16;
    char **nn = realloc(ps->names, (size_t)nc * sizeof *nn);
    if (!nn) return 0;
    ps->names = nn;
    Tensor **nt = realloc(ps->tensors, (size_t)nc * sizeof *nt);
    if (!nt) return 0;
    ps->tensors = nt;
    ps->cap = nc;
  }
  size_t len = strlen(name) + 1;
  ps->names[ps->n] = malloc(len);
  if (!ps->names[ps->n]) return 0;
  memcpy(ps->names[ps->n], name, len);
  ps->tensors[ps->n++] = t;
  return 1;
}

Tensor *pstore_get(const ParamStore *ps, const char *name) {
  int i = pstore_index(ps, name);
  return i < 0 ? NULL : ps->tensors[i];
}
