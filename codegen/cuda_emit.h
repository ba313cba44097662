/* cuda_emit.h — CUDA C code generation for the CUDA backend: one CUDA translation unit per IR
 * function with one or more __global__ kernels per live IR node, plus the launch plan the host runs
 * (kernels, cuBLAS matrix products). Unfused: every node is its own kernel (or gemm call).
 *
 * Every kernel has the signature
 *   extern "C" __global__ void k<node>_<n>(DlmS Sv, void *const *V, int *bad)
 * Sv.s[] holds the module's shape symbol values; V[id] is the device buffer of value id (dense
 * row-major, storage as in cpu_emit.h: float for f32/bf16/f16, double, int32, int64, uint8 bool) and
 * V[nnodes + id] node id's scratch buffer; a kernel that detects bad input (an index out of range,
 * an integer division by zero) stores 1 + its node id into *bad. Small constants are literals.
 * Matrix products of float storage run on cuBLAS with bf16 inputs and fp32 accumulation (the
 * operands are rounded to bf16 by generated kernels into the node's scratch buffer). */
#ifndef DLM_CUDA_EMIT_H
#define DLM_CUDA_EMIT_H

#include "cpu_emit.h"

typedef enum {
  CL_THREADS,   /* one thread per unit, grid-stride; units = product of dims */
  CL_BLOCKS,    /* one block of 256 threads per unit (row kernels) */
  CL_ATTN,      /* one block of 128 threads per unit (a tile of query rows), dynamic shared memory of shmem_bytes */
  CL_GEMM       /* no kernel: the host calls cuBLAS for matmul node `node` */
} CudaLaunchKind;

typedef struct {
  int node;
  CudaLaunchKind kind;
  char name[32];                 /* kernel name (empty for CL_GEMM) */
  int ndims; Dim dims[2 * DLM_MAX_RANK]; /* units = product of dims (an empty product is 1) */
  size_t shmem_bytes;            /* CL_ATTN: bytes of dynamic shared memory */
  int opnd[2];                   /* CL_GEMM: the node the gemm reads operand A / B from directly
                                  * (a parameter: its resident bf16 copy; in fp32 mode any value
                                  * with a buffer), or -1: it is in a matmul's scratch, region
                                  * src[x] = 2 * matmul + r (r 0: A at 0, 1: B after A, 256-byte
                                  * aligned); an operand already rounded for an earlier matmul is
                                  * read from that matmul's scratch */
  int src[2];
  size_t src_off;                /* where the kernel's text starts in CudaUnit.src */
  int gfirst, gcount;            /* CL_GEMM: gcount > 1: a batch of gcount matmuls in one call
                                  * (CudaUnit.gmembers[gfirst ...], node first): the same operand
                                  * A (opnd[0]/src[0]), each its own parameter B (a rank-2
                                  * product each); their pointer arrays are entries
                                  * 2 nnodes + 1 + 3 gfirst ... of the pointer table (A, B, C) */
  int epi;                       /* CL_GEMM: 1 + the bias parameter node of a cuBLASLt epilogue, or 0:
                                  * the backend may compute the product, + bias (a vector of the
                                  * output's last dim), GELU (tanh approximation) and the rounding
                                  * to the gemm operand type in one cuBLASLt call, written straight
                                  * into scratch region epi_dst (2 * matmul + r, as src) instead of
                                  * this node's buffer (the product has rank 2, or batch dims that
                                  * fold into its rows) */
  int epi_dst;
  int alt_of;                    /* a kernel: 1 + the gemm node whose epilogue does this kernel's
                                  * work (the fallback: it runs only when that epilogue did not), or 0 */
} CudaLaunch;

typedef struct {
  char *src;                     /* the CUDA C source (malloc'd) */
  CudaLaunch *launch; int nlaunch, caplaunch; /* in execution order */
  char *live;                    /* live[id]: the node is computed or read (malloc'd, nnodes) */
  char *inl;                     /* inl[id]: a constant read as a literal, no buffer (malloc'd) */
  char *nobuf;                   /* nobuf[id]: a kernel that writes a matmul operand, not its own buffer */
  int *scratch_from;             /* scratch_from[id]: the node whose kernel first writes id's scratch
                                  * (id itself, or the sink that writes a matmul operand) */
  int *scratch_to;               /* scratch_to[id]: the last matmul that reads id's scratch */
  int *store_at;                 /* store_at[id] >= 0: id (a map) has no kernel of its own: the row
                                  * kernel of node store_at[id] computes it in its first pass and
                                  * stores it to id's buffer for the readers after it */
  int nkernels;                  /* kernels in src */
  size_t prelude_len;            /* src starts with a header and the prelude, then the kernels */
  int nfused;                    /* nodes computed inside their readers' kernels (reshapes not counted) */
  int nsinks;                    /* sinks writing a matmul operand (no operand kernel, no buffer) */
  int nreused;                   /* gemm operands read from an earlier matmul's scratch */
  double fused_bytes;            /* bytes those nodes no longer write (symbols counted as 1) */
  int gemm_f32;                  /* generated for $DLM_CUDA_GEMM=f32: gemm operands in fp32 */
  int *gmembers, ngmembers;      /* the matmuls of batched gemm launches (malloc'd) */
  int *gemm_at;                  /* gemm_at[id] >= 0: matmul id is computed by the batched gemm of
                                  * matmul gemm_at[id] (earlier), where its result is written */
  int nalt;                      /* kernels that run only as an epilogue's fallback (alt_of) */
} CudaUnit;

/* the entries of a unit's pointer table: node buffers, scratch buffers, one spare, then the
 * pointer arrays of batched gemms */
#define CUDA_TABLE_LEN(f, u) (2 * (f)->nnodes + 1 + 3 * (u)->ngmembers)

/* Generate the unit for f. Returns 1, or 0 with *e set naming the op (or dtype) that has no CUDA
 * kernel. Gemm epilogues (with fusion): a float matmul M1 whose one reader is add(M1, bias
 * parameter [N]) whose one reader is gelu_tanh, read only as an operand of a float matmul M2,
 * none of them outputs, gets a cuBLASLt epilogue (CudaLaunch.epi); M2's operand kernel (computing
 * the same value from M1's buffer) stays in the plan as the fallback (alt_of). Fusion (unless $DLM_CUDA_FUSE=0): a node that is an elementwise map or an index op
 * (cuda_exprable), not an output, whose readers (at most CUDA_FUSE_USES) all read it through
 * expressions (cuda_accepts), is computed inside each reader's kernel, up to a bounded expression
 * size; it then has no buffer (inl is set for it). $DLM_CUDA_GEMM=f32 generates fp32 gemm
 * operands. cuda_emit_func_fuse takes the fusion choice as an argument instead. */
int cuda_emit_func(const Module *m, const Func *f, CudaUnit *u, DlmErr *e);
int cuda_emit_func_fuse(const Module *m, const Func *f, int fuse, CudaUnit *u, DlmErr *e);
#define CUDA_ATT_TILE 32   /* keys per tile of the attention kernel */
#define CUDA_ATT_QT 16     /* query rows per block of the attention kernel (constant query length) */
void cuda_unit_free(CudaUnit *u);

/* codegen/cuda_prelude.c: device helpers at the top of every unit (no system headers needed) */
extern const char cuda_prelude[];
/* A unit (compiled after cuda_prelude) with the training step's optimizer kernels on a device
 * table of struct DlmOptT { float *p, *m, *v, *ema; const float *g; unsigned short *p16; long long n; }
 * (g NULL: no gradient, EMA only; p16 NULL: no bf16 copy):
 *   dlm_opt_sumsq(const DlmOptT *t, int nt, double *part)          grid of CUDA_OPT_BLOCKS blocks
 *   dlm_opt_norm(const double *part, int np, const double *h, double *out)   out[0] norm, out[1] clip factor
 *   dlm_opt_update(const DlmOptT *t, int nt, const double *sc, const double *h)
 * h (device memory) = {lr, b1, 1 - b1, b2, 1 - b2, eps, 1 - lr wd, 1 - b1^t, 1 - b2^t, 1 - EMA decay, clip}
 * The arithmetic of runtime/optim.c (grad_global_norm, clip_factor, adamw_update, ema_update). */
extern const char cuda_optim_src[];
#define CUDA_OPT_BLOCKS 256
#define CUDA_OPT_H 11   /* doubles in h */
/* A standalone unit with dlm_bf16_copy(const float *x, unsigned short *y, long long n): the bf16
 * bits of x (the backend's resident bf16 copies of parameters) */
extern const char cuda_bf16_copy_src[];

/* A unit (compiled after cuda_prelude) with the resident-value kernels of the CUDA backend:
 *   dlm_convert(void *dst, int dk, const void *src, int sk, long long n, const unsigned char *skip)
 *   dlm_set_int(void *v, int k, long long x, const unsigned char *skip)
 *   dlm_flag_or(unsigned char *dst, const unsigned char *src)
 * element kinds: 0 f32, 1 f64, 2 i32, 3 i64, 4 bool, 5 f32 rounded to bf16, 6 to f16 */
extern const char cuda_value_ops_src[];

/* codegen/cuda_nvrtc.c: compile a unit with NVRTC for sm_<arch> into a CUBIN, cached on disk by the
 * FNV-1a hash of the source and options ($DLM_CACHE_DIR etc. as for the CPU backend, under cuda/).
 * Returns a malloc'd image (*size bytes) or NULL with *e set (NVRTC's log on a compile failure, or
 * "built without NVRTC"). */
void *cuda_compile(const char *src, int arch, size_t *size, DlmErr *e);
int cuda_have_nvrtc(void); /* 1 if this build links NVRTC */

/* Compile a unit as several NVRTC programs of at most CUDA_CHUNK kernels each (the prelude plus a
 * run of consecutive kernels), in parallel threads (at most $DLM_NVRTC_THREADS, default the
 * online CPUs, up to 32). On success *images (malloc'd array of malloc'd CUBINs, *nchunks long)
 * and chunk_of[i] = the chunk that defines launch i's kernel (-1 for gemm launches; chunk_of is
 * allocated by the caller, nlaunch long). Returns 1, or 0 with *e set. */
#define CUDA_CHUNK 128
int cuda_compile_unit(const CudaUnit *u, int arch, void ***images, size_t **sizes, int *nchunks, int *chunk_of, DlmErr *e);

/* codegen/cuda_target.c: `dlmc compile --target cuda` on a module after the pass pipeline (adds
 * loss.grad when there is a `loss`): generate every function's unit (0 with *e naming the op that
 * has no CUDA kernel); emit_dir: write DIR/FUNCTION.cu; emit_stdout: print the sources to out;
 * stats: print per function live nodes, kernels, cuBLAS gemms and launches (fused and unfused),
 * nodes fused, sinks and bytes not written, and for a DSL model the launches per layer, to out. */
int cuda_target(Module *m, const char *emit_dir, int emit_stdout, int stats, FILE *out, DlmErr *e);

/* The launches one more layer adds to a DSL model with a `layers` const (its source m->files[0]
 * compiled again with the same consts and layers = 1, 2; fused units): forward = logits, step =
 * loss.grad, backward = step minus loss. Returns 1, or 0 with *e set. */
typedef struct { int forward, forward_gemms, loss, step, step_gemms, backward; int forward_fallback, step_fallback; } CudaBlockLaunches;
/* launches of a unit: the kernels and gemms that run, with the gemm epilogues (alt kernels not
 * counted), or without them (fallback = 1: every kernel) */
int cuda_unit_launches(const CudaUnit *u, int fallback);
int cuda_block_launches(const Module *m, CudaBlockLaunches *out, DlmErr *e);

#endif
