/* tensor.h — host tensors (dense, row-major, real element storage) and a named parameter store.
 * Shared by the interpreter, the runtime and the file formats (npy, safetensors). Storage per dtype:
 * f32 float, f64 double, bf16/f16 uint16_t bit patterns, i32 int32_t, i64 int64_t, bool uint8_t. */
#ifndef DLM_TENSOR_H
#define DLM_TENSOR_H

#include "ir.h"

typedef struct Tensor {
  DType dtype;
  int rank;
  int64_t shape[DLM_MAX_RANK];
  int64_t numel;
  void *data;          /* owned, malloc'd, numel * dtype_size(dtype) bytes */
} Tensor;

Tensor *tensor_new(DType t, int rank, const int64_t *shape);     /* zero-filled; NULL on overflow/OOM */
Tensor *tensor_new_unset(DType t, int rank, const int64_t *shape); /* as tensor_new, data not set: for a
                                                                    * producer that writes every element */
Tensor *tensor_clone(const Tensor *t);
void tensor_free(Tensor *t);
double tensor_get(const Tensor *t, int64_t i);                   /* element i as double (any dtype) */
void tensor_set(Tensor *t, int64_t i, double v);                 /* rounds/truncates to the dtype */
int tensor_same_shape(const Tensor *a, const Tensor *b);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);                                  /* round to nearest even */
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

typedef struct ParamStore {
  int n, cap;
  char **names;
  Tensor **tensors;    /* owned */
} ParamStore;

ParamStore *pstore_new(void);
void pstore_free(ParamStore *ps);
int pstore_put(ParamStore *ps, const char *name, Tensor *t);     /* takes ownership; replaces an existing entry */
Tensor *pstore_get(const ParamStore *ps, const char *name);
/* Fill a store with every module parameter initialized per its ParamDecl, from a Philox stream
 * keyed by seed (normal via Box-Muller). Deterministic for a given seed. */
ParamStore *pstore_init(const Module *m, uint64_t seed);
/* ir/param_copy.c: set every frozen parameter copy (ir_param_copy_source) in ps to its source's values,
 * adding the copies that ps lacks. 0 if a source is missing or on OOM. */
int pstore_fill_copies(const Module *m, ParamStore *ps);

#endif
