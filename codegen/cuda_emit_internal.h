/* cuda_emit_internal.h — private to the CUDA code generator (codegen/cuda_emit*.c): the emission
 * context and the kernel-opening helpers. Dimension, product, literal and read expressions are the
 * CPU generator's (cpu_emit_internal.h): the same C spelling is valid CUDA C. */
#ifndef DLM_CUDA_EMIT_INTERNAL_H
#define DLM_CUDA_EMIT_INTERNAL_H

#include "cpu_emit_internal.h"
#include "cuda_emit.h"

typedef struct {
  Em em;            /* module, function, output string, inline constants */
  CudaUnit *u;
  const char *fused; /* fused[id]: computed inside its only consumer's kernel (a local value) */
  int seq;          /* kernels emitted for the current node */
  int oom;
} Cx;

/* Open kernel k<id>_<seq> of the given launch kind over the product of dims[0..nd); declares the
 * pointers of node id and its inputs, S and the failure flag bad_. For CL_THREADS the body is
 * inside a grid-stride loop over k; for CL_BLOCKS / CL_ATTN inside a loop over blocks q. */
void cx_begin(Cx *c, int id, CudaLaunchKind kind, int nd, const Dim *dims);
void cx_end(Cx *c, int id);
int cx_gemm(Cx *c, int id);  /* appends the CL_GEMM launch of matmul node id */

/* codegen/cuda_emit_ops.c: the kernels of node id. Returns 1, or 0 with *e set. */
int cuda_emit_kernel(Cx *c, int id, DlmErr *e);
int cuda_op_needs_buffers(OpKind op);
/* 1 if node id is an elementwise map (one thread per element, the elementwise kernel); with
 * producer set, also 1 only if it can be computed inside a consumer's kernel (no failure checks,
 * not rounded to bf16/f16) */
int cuda_is_map(const Func *f, int id, int producer);
#define CUDA_FUSE_MAX 16   /* nodes in one fused elementwise kernel */

#endif
