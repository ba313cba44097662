/* cpu_emit.h — C code generation for the CPU backend: one C translation unit per IR function, with
 * one kernel (a commented loop nest, a cblas_sgemm call, or a row kernel) per live IR node, except
 * where nodes are computed together: elementwise chains (with last-axis slices, pads and concats
 * read at shifted positions) in their last node's loop or in the reduction that reads them, a
 * weight gradient sum_to(matmul) as one product, autodiff's attention backward as one kernel
 * (codegen/cpu_emit_attn.c), and slices / transposes read in place by their readers (views).
 *
 * The generated unit defines
 *   int dlm_entry(const int64_t *S, void *const *A, void *const *P, void *const *O, void **ws,
 *                 int64_t *wsz, char *err, int errlen)
 * S: the values of the module's shape symbols; A: the arguments by position; P: the parameters in
 * the unit's slot order (CpuUnit.param_nodes); O: the output buffers, dense row-major; *ws / *wsz:
 * the caller's workspace (malloc'd, or NULL / 0), grown by the call when its plan needs more. Storage per
 * dtype: f32, bf16 and f16 values as float (bf16/f16 results are rounded to their precision after
 * each kernel, like the interpreter's f32 mode), f64 as double, i32 int32_t, i64 int64_t, bool
 * uint8_t; outputs are float for every float dtype. Returns 0, -1 when out of memory, or 1 + the id
 * of the node whose kernel failed (err holds the message).
 *
 * Numerics: elementwise float math in the node's precision (float functions for f32; exp in
 * softmax rows, GELU, tanh and the f32 exp op by a branch-free polynomial within 1e-7), sums and normalization
 * statistics accumulated in double (contiguous f32 rows in 8 interleaved partial sums), f32 matmul by dlm_sgemm (codegen/cpu_gemm.c: fused multiply-adds, fp32 accumulation), f64 by cblas_dgemm (OpenBLAS),
 * f32 attention products by the register tiles of codegen/cpu_attn_prelude.c (fused multiply-adds,
 * fp32 accumulation) and its softmax rows summed in float per 256-value block, blocks in double,
 * rand_uniform by the Philox definition of ir/interp.h (bit-identical). */
#ifndef DLM_CPU_EMIT_H
#define DLM_CPU_EMIT_H

#include "ir.h"

/* A growable string (malloc'd); oom is set when an append failed. */
typedef struct { char *s; size_t n, cap; int oom; } Sb;
void sb_printf(Sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_free(Sb *b);

typedef struct {
  char *src;           /* the C source (malloc'd) */
  int nparams;
  int *param_nodes;    /* node id of each parameter slot (malloc'd) */
} CpuUnit;

/* Generate the unit for f. Returns 1, or 0 with *e set (an op or dtype this backend cannot run). */
int cpu_emit_func(const Module *m, const Func *f, CpuUnit *u, DlmErr *e);
void cpu_unit_free(CpuUnit *u);

/* codegen/cpu_prelude.c: the helper definitions placed at the top of every unit (Philox, bf16/f16
 * rounding, floor division, sorting ...), all static inline. */
extern const char cpu_prelude[];
/* codegen/cpu_attn_prelude.c: the attention products and softmax rows, placed after cpu_prelude. */
extern const char cpu_attn_prelude[];

/* codegen/cpu_build.c: compile a unit's source into a shared object under the cache directory
 * ($DLM_CACHE_DIR, else $XDG_CACHE_HOME/dlmc, else ~/.cache/dlmc), named by the FNV-1a 64 hash
 * of the source and the compiler command, reusing an existing one; then dlopen it. Compiler: $CC
 * or "cc"; flags "-O3 -fno-trapping-math -fPIC -shared -fopenmp -Wall" (-O3: GCC 12 at -O2 leaves loops with
 * run-time trip counts scalar), the host's vector ISA on x86-64 (AVX2/FMA, AVX-512; detected at
 * run time, part of the cache key) with -ffp-contract=off, plus -Werror when $DLM_CPU_WERROR is set.
 * With $DLM_CPU_PROFILE set, generated units time each kernel and print the times per call to
 * stderr when unloaded (codegen/cpu_emit.c).
 * Returns the dlopen handle and the entry point, or NULL with *e set (the compiler's output and
 * the source path on a compile failure). */
typedef int (*CpuEntry)(const int64_t *S, void *const *A, void *const *P, void *const *O, void **ws, int64_t *wsz,
                        char *err, int errlen);
void *cpu_build(const char *src, CpuEntry *entry, DlmErr *e);
uint64_t cpu_fnv1a64(const void *data, size_t n, uint64_t h); /* h: 0xcbf29ce484222325 to start */

/* codegen/cpu_gemm.c: the source of the gemm library (dlm_sgemm, documented there). cpu_gemm_load
 * builds it under the cache directory with the units' compiler and flags and loads it: with global
 * symbols, once per process, for the units (cblas_only = 0: the AVX-512 kernels where the host has
 * them); or, with cblas_only = 1, its OpenBLAS variant with local symbols (for tests). Returns the
 * dlopen handle, or NULL with *e set. */
extern const char cpu_gemm_src[];
void *cpu_gemm_load(int cblas_only, DlmErr *e);

#endif
