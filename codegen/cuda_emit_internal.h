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
  const char *fused; /* fused[id]: computed inside its readers' kernels (cuda_emit_ops.c val_at) */
  int seq;          /* kernels emitted for the current node */
  int tmp;          /* temporaries named so far in the current kernel */
  int *decl;        /* decl[id] == stamp: v<id> is declared in the current kernel */
  int stamp;
  int *next;        /* sink chains (see cuda_emit.c decide_sinks): the node's one reader, or -1 */
  char *opnd_sunk;  /* opnd_sunk[2 * m + x]: a sink kernel writes operand x of matmul m */
  char (*sub)[32];  /* sub[id] (when has_sub[id]): the local holding id's value in a sink epilogue */
  char *has_sub;
  int cur, stored;  /* the node whose kernel is open; its first pass stored a store_at input */
  int *rounded;     /* rounded[id]: 1 + the scratch region (2 * matmul + r) holding id as a gemm operand, or 0 */
  int *epi;         /* epi[m]: 1 + the bias parameter of matmul m's gemm epilogue, or 0 (cuda_emit.c decide_epilogues) */
  int *epi_dst;     /* epi_dst[m]: the scratch region (2 * matmul + r) that epilogue writes */
  int *epi_src;     /* epi_src[2 * m + r]: 1 + the matmul whose epilogue writes that region, or 0 */
  int oom;
} Cx;

/* Open kernel k<id>_<seq> of the given launch kind over the product of dims[0..nd); declares the
 * pointers of node id and its inputs, S and the failure flag bad_. For CL_THREADS the body is
 * inside a grid-stride loop over k; for CL_BLOCKS / CL_ATTN inside a loop over blocks q. */
void cx_begin(Cx *c, int id, CudaLaunchKind kind, int nd, const Dim *dims);
void cx_end(Cx *c, int id);
int cx_gemm(Cx *c, int id);  /* appends the CL_GEMM launch of matmul node id */

/* codegen/cuda_emit_ops.c: the kernels of node id. Returns 1, or 0 with *e set. A layer_norm,
 * softmax, log_softmax or attention node with next[id] >= 0 is a sink: its kernel computes the
 * chain of maps / transposes / reshapes that follows it at each element it produces and writes the
 * end of the chain as a matmul operand (bf16, or fp32 in fp32 mode) into that matmul's scratch. */
int cuda_emit_kernel(Cx *c, int id, DlmErr *e);
/* 1 if node id is an elementwise map; with producer set, also 1 only if it can be computed inside
 * a consumer's kernel (no failure checks, not rounded to bf16/f16) */
int cuda_is_map(const Func *f, int id, int producer);
/* 1 if node id can be computed inside its readers' kernels (a map as above, or an index op:
 * reshape, broadcast_to, transpose, slice, pad, concat, iota) */
int cuda_exprable(const Func *f, int id);
/* 1 if node id's kernel reads input j through val_at (so that input may be fused) */
int cuda_accepts(const Func *f, int id, int j);
#define CUDA_FUSE_MAX 24        /* node evaluations inlined into one read of a fused value */
#define CUDA_FUSE_SHARED_MAX 6  /* the same for a value with several readers (recomputed by each) */
#define CUDA_FUSE_USES 8        /* most readers of one fused value */

#endif
