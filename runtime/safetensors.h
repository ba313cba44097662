/* safetensors.h — reading and writing safetensors files: an 8-byte little-endian header length N,
 * N bytes of JSON header ({"name": {"dtype", "shape", "data_offsets"}, ..., optional
 * "__metadata__": {string: string}}), then the tensor data. dtypes F32 F64 BF16 F16 I32 I64 BOOL
 * map to the same Tensor dtypes; U8 is read widened to i32. Files are untrusted: the header and
 * every offset are validated (in range, sizes match dtype x shape, tensors tile the data region
 * without overlap or gaps) and errors name the file, the tensor and the field. Writes are
 * atomic (see fileio.h). */
#ifndef DLM_SAFETENSORS_H
#define DLM_SAFETENSORS_H
#include <stddef.h>
#include "tensor.h"

#define ST_MAX_HEADER 100000000u   /* same limit as the reference implementation */

typedef struct StFile StFile;

/* Read and validate a whole file (tensor data is loaded lazily from the in-memory image). */
StFile *st_open(const char *path, DlmErr *err);
/* Validate an in-memory image (copied); name is used in messages. */
StFile *st_open_mem(const char *name, const void *buf, size_t len, DlmErr *err);
void st_close(StFile *f);

int st_count(const StFile *f);                       /* tensors, in header order */
const char *st_name(const StFile *f, int i);
int st_find(const StFile *f, const char *name);      /* index or -1 */
/* dtype and shape of tensor i as stored in memory by st_tensor (U8 reports DT_I32). */
void st_info(const StFile *f, int i, DType *dtype, int *rank, int64_t shape[DLM_MAX_RANK]);
/* A new tensor holding the named tensor's data; NULL + err if absent. */
Tensor *st_tensor(const StFile *f, const char *name, DlmErr *err);
/* All tensors in a new store. */
ParamStore *st_to_store(const StFile *f, DlmErr *err);

int st_meta_count(const StFile *f);
const char *st_meta_key(const StFile *f, int i);
const char *st_meta_get(const StFile *f, const char *key);   /* NULL if absent */

/* st_open + st_to_store. */
ParamStore *st_load(const char *path, DlmErr *err);

typedef struct {
  int n;
  const char *const *keys;
  const char *const *values;
} StMeta;

/* Write every tensor of ps (in store order) and the metadata (may be NULL) atomically. */
int st_save(const char *path, const ParamStore *ps, const StMeta *meta, DlmErr *err);

#endif
