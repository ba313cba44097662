/* interp_internal.h — private to the reference interpreter (ir/interp*.c): the value representation,
 * the per-run context, broadcasting helpers and the prototypes of the op kernels named in ops.def. */
#ifndef DLM_INTERP_INTERNAL_H
#define DLM_INTERP_INTERNAL_H

#include "interp.h"

/* One runtime value: dense row-major. Floating values live in f (double), integer and bool values
 * in i (int64); exactly one of the two is non-NULL (both NULL only when numel is 0 is not allowed:
 * the buffers always have at least one slot). */
typedef struct Val {
  int rank;
  int64_t shape[DLM_MAX_RANK];
  int64_t numel;
  int isf;
  double *f;
  int64_t *i;
} Val;

typedef struct InterpCtx {
  const Module *m;
  const Func *fn;
  const ParamStore *ps;
  Tensor *const *args;
  DType fmode;
} InterpCtx;

typedef int (*InterpKernel)(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e);

#define OP(E, name, arity, fc, ia, fa, sa, shape, interp, diff) \
  int interp(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e);
#include "ops.def"
#undef OP

/* Element k of v as a double. */
static inline double val_get(const Val *v, int64_t k) { return v->isf ? v->f[k] : (double)v->i[k]; }

/* Row-major strides of v for iterating an output of rank orank / shape oshape under numpy
 * broadcasting (right-aligned; 0 along axes where v has size 1 or is missing). */
void interp_bcast_strides(const Val *v, int orank, const int64_t *oshape, int64_t *st);
/* Row-major strides of v itself. */
void interp_strides(const Val *v, int64_t *st);

/* An odometer over a shape that keeps up to 4 operand offsets in step. */
#define ODO_MAX_OPS 4
typedef struct {
  int rank, nops;
  int64_t shape[DLM_MAX_RANK], idx[DLM_MAX_RANK];
  int64_t st[ODO_MAX_OPS][DLM_MAX_RANK];
  int64_t off[ODO_MAX_OPS];
} Odo;
void odo_init(Odo *o, int rank, const int64_t *shape, int nops);
void odo_next(Odo *o);

/* outer/len/inner split of v around axis (already normalized). */
void interp_split_axis(const Val *v, int axis, int64_t *outer, int64_t *len, int64_t *inner);
int interp_norm_axis(int64_t axis, int rank, int *out);   /* 0 if out of range */

#endif
