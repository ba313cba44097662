/* backend_cuda_lt.c — gemm epilogues of the CUDA backend through cuBLASLt (CudaLaunch.epi): the
 * product of the first MLP linear, + its bias, GELU (cuBLASLt's GELU epilogue is the tanh
 * approximation, as MDLM's gelu_tanh) and the rounding to the next gemm's operand type, in one
 * cublasLtMatmul writing that operand (CUBLASLT_EPILOGUE_GELU_BIAS, D in bf16, or fp32 in
 * $DLM_CUDA_GEMM=f32 mode; the bias in D's type: the parameter's resident bf16 copy or its fp32
 * master). libcublasLt is loaded with dlopen when the backend opens; without it, or without an
 * algorithm from cuBLASLt's heuristic for a product's sizes, cuda_lt_gemm returns -1 and the
 * caller runs the plain cuBLAS gemm and the fallback operand kernel (the same values up to the
 * order of the fp32 additions). The reason is kept (backend_cuda_last_epilogues). Row-major
 * D[rows, N] = A[rows, K] B is column-major D^T = B^T A^T: cuBLASLt's A is our B. The types and
 * enum values below are cublasLt.h's (CUDA 12/13 ABI). */
#include "backend_cuda_internal.h"
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

enum {
  LT_DESC_TRANSA = 3, LT_DESC_TRANSB = 4, LT_DESC_EPILOGUE = 7, LT_DESC_BIAS_POINTER = 8,
  LT_EPILOGUE_GELU_BIAS = 36, LT_PREF_MAX_WORKSPACE_BYTES = 1,
};
#define LT_WORKSPACE ((size_t)32 << 20)

typedef struct { uint64_t data[8]; } LtAlgo;
typedef struct { LtAlgo algo; size_t workspace; int state; float waves; int reserved[4]; } LtHeuristic;

struct CudaLt {
  void *lib, *handle;
  int (*Create)(void **);
  int (*Destroy)(void *);
  int (*DescCreate)(void **, int, int);
  int (*DescDestroy)(void *);
  int (*DescSet)(void *, int, const void *, size_t);
  int (*LayoutCreate)(void **, int, uint64_t, uint64_t, int64_t);
  int (*LayoutDestroy)(void *);
  int (*PrefCreate)(void **);
  int (*PrefDestroy)(void *);
  int (*PrefSet)(void *, int, const void *, size_t);
  int (*Heuristic)(void *, void *, void *, void *, void *, void *, void *, int, LtHeuristic *, int *);
  int (*Matmul)(void *, void *, const void *, const void *, void *, const void *, void *, const void *, const void *, void *, void *, void *,
                const LtAlgo *, void *, size_t, void *);
  CUdeviceptr ws;
  /* one plan per product shape: descriptors and the heuristic's algorithm (state -1: none) */
  struct LtPlan { int64_t rows, n, k; int tb, f32, state; void *desc, *la, *lb, *ld; LtAlgo algo; size_t wsize; } *plans;
  int nplans, cap;
};

static void plan_free(CudaLt *lt, struct LtPlan *p) {
  if (p->desc) lt->DescDestroy(p->desc);
  if (p->la) lt->LayoutDestroy(p->la);
  if (p->lb) lt->LayoutDestroy(p->lb);
  if (p->ld) lt->LayoutDestroy(p->ld);
}

void cuda_lt_close(BackendState *s) {
  CudaLt *lt = s->lt;
  if (!lt) return;
  for (int i = 0; i < lt->nplans; i++) plan_free(lt, &lt->plans[i]);
  free(lt->plans);
  if (lt->ws) s->cu.MemFree(lt->ws);
  if (lt->handle) lt->Destroy(lt->handle);
  if (lt->lib) dlclose(lt->lib);
  free(lt);
  s->lt = NULL;
}

void cuda_lt_open(BackendState *s) {
  const char *names[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};
  const char *off = getenv("DLM_CUDA_LT");
  if (off && !strcmp(off, "0")) { snprintf(s->lt_why, sizeof s->lt_why, "turned off by DLM_CUDA_LT=0"); return; }
  CudaLt *lt = calloc(1, sizeof *lt);
  if (!lt) { snprintf(s->lt_why, sizeof s->lt_why, "out of memory"); return; }
  s->lt = lt;
  for (size_t i = 0; i < sizeof names / sizeof *names && !lt->lib; i++) lt->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  if (!lt->lib) {
    snprintf(s->lt_why, sizeof s->lt_why, "cannot load libcublasLt.so.13/.12: %s", dlerror());
    cuda_lt_close(s);
    return;
  }
  struct { void **fn; const char *name; } syms[] = {
    {(void **)&lt->Create, "cublasLtCreate"}, {(void **)&lt->Destroy, "cublasLtDestroy"},
    {(void **)&lt->DescCreate, "cublasLtMatmulDescCreate"}, {(void **)&lt->DescDestroy, "cublasLtMatmulDescDestroy"},
    {(void **)&lt->DescSet, "cublasLtMatmulDescSetAttribute"}, {(void **)&lt->LayoutCreate, "cublasLtMatrixLayoutCreate"},
    {(void **)&lt->LayoutDestroy, "cublasLtMatrixLayoutDestroy"}, {(void **)&lt->PrefCreate, "cublasLtMatmulPreferenceCreate"},
    {(void **)&lt->PrefDestroy, "cublasLtMatmulPreferenceDestroy"}, {(void **)&lt->PrefSet, "cublasLtMatmulPreferenceSetAttribute"},
    {(void **)&lt->Heuristic, "cublasLtMatmulAlgoGetHeuristic"}, {(void **)&lt->Matmul, "cublasLtMatmul"},
  };
  for (size_t i = 0; i < sizeof syms / sizeof *syms; i++)
    if (!(*syms[i].fn = dlsym(lt->lib, syms[i].name))) {
      snprintf(s->lt_why, sizeof s->lt_why, "libcublasLt lacks %s", syms[i].name);
      cuda_lt_close(s);
      return;
    }
  int rc = lt->Create(&lt->handle);
  if (rc != 0) {
    lt->handle = NULL;
    snprintf(s->lt_why, sizeof s->lt_why, "cublasLtCreate failed (status %d)", rc);
    cuda_lt_close(s);
    return;
  }
  CUresult r = s->cu.MemAlloc(&lt->ws, LT_WORKSPACE);
  if (r != 0) {
    lt->ws = 0;
    snprintf(s->lt_why, sizeof s->lt_why, "cannot allocate the cuBLASLt workspace: %s", cu_err(&s->cu, r));
    cuda_lt_close(s);
  }
}

/* the plan of a product [rows, K] x B (tb: B stored [N, K]) -> [rows, N]; NULL when out of memory */
static struct LtPlan *get_plan(BackendState *s, int64_t rows, int64_t n, int64_t k, int tb, int f32, CUdeviceptr bias) {
  CudaLt *lt = s->lt;
  for (int i = 0; i < lt->nplans; i++) {
    struct LtPlan *p = &lt->plans[i];
    if (p->rows == rows && p->n == n && p->k == k && p->tb == tb && p->f32 == f32) return p;
  }
  if (lt->nplans == lt->cap) {
    int cap = lt->cap ? 2 * lt->cap : 8;
    struct LtPlan *np = realloc(lt->plans, (size_t)cap * sizeof *np);
    if (!np) return NULL;
    lt->plans = np;
    lt->cap = cap;
  }
  struct LtPlan *p = &lt->plans[lt->nplans++];
  memset(p, 0, sizeof *p);
  p->rows = rows, p->n = n, p->k = k, p->tb = tb, p->f32 = f32, p->state = -1;
  int ty = f32 ? CUDA_R_32F : CUDA_R_16BF, opa = tb ? OP_T : OP_N, opb = OP_N;
  uint32_t epi = LT_EPILOGUE_GELU_BIAS;
  uint64_t wsb = LT_WORKSPACE;
  void *pref = NULL;
  LtHeuristic h;
  int got = 0;
  memset(&h, 0, sizeof h);
  /* cuBLASLt's A = our B: N x K (op N) stored as K x N when tb; its B = our A: K x rows */
  int ok = lt->DescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) == 0 &&
           lt->DescSet(p->desc, LT_DESC_TRANSA, &opa, sizeof opa) == 0 && lt->DescSet(p->desc, LT_DESC_TRANSB, &opb, sizeof opb) == 0 &&
           lt->DescSet(p->desc, LT_DESC_EPILOGUE, &epi, sizeof epi) == 0 && lt->DescSet(p->desc, LT_DESC_BIAS_POINTER, &bias, sizeof bias) == 0 &&
           lt->LayoutCreate(&p->la, ty, (uint64_t)(tb ? k : n), (uint64_t)(tb ? n : k), tb ? k : n) == 0 &&
           lt->LayoutCreate(&p->lb, ty, (uint64_t)k, (uint64_t)rows, k) == 0 && lt->LayoutCreate(&p->ld, ty, (uint64_t)n, (uint64_t)rows, n) == 0 &&
           lt->PrefCreate(&pref) == 0 && lt->PrefSet(pref, LT_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof wsb) == 0 &&
           lt->Heuristic(lt->handle, p->desc, p->la, p->lb, p->ld, p->ld, pref, 1, &h, &got) == 0 && got >= 1 && h.state == 0 &&
           h.workspace <= LT_WORKSPACE;
  if (pref) lt->PrefDestroy(pref);
  if (ok) {
    p->algo = h.algo;
    p->wsize = h.workspace;
    p->state = 1;
  } else {
    snprintf(s->lt_why, sizeof s->lt_why, "no cuBLASLt algorithm with the bias+GELU epilogue for [%lld, %lld] x [%lld, %lld]%s (%s)",
             (long long)rows, (long long)k, (long long)k, (long long)n, tb ? " transposed" : "", f32 ? "fp32" : "bf16");
  }
  return p;
}

int cuda_lt_gemm(BackendState *s, const CudaFn *fn, const CudaLaunch *l, CUdeviceptr A, CUdeviceptr B, CUdeviceptr bias, CUdeviceptr D,
                 const int64_t *sv, DlmErr *e) {
  CudaLt *lt = s->lt;
  if (!lt || !bias || !A || !B || !D) {
    if (lt && !bias) snprintf(s->lt_why, sizeof s->lt_why, "a bias parameter has no device copy");
    return -1;
  }
  const Func *f = fn->f;
  const Node *nd = &f->nodes[l->node];
  const Type *at = &f->nodes[nd->in[0]].type, *ot = &nd->type;
  int r = ot->rank, tb = nd->attr.i[1] != 0;
  int64_t n = dim_eval(ot->dims[r - 1], sv), k = dim_eval(at->dims[at->rank - 1], sv), rows = n > 0 ? cuda_numel(ot, sv) / n : 0;
  if (rows <= 0 || n <= 0 || k <= 0) return -1; /* empty: the plain path clears or skips it */
  struct LtPlan *p = get_plan(s, rows, n, k, tb, fn->u.gemm_f32, bias);
  if (!p) { err_set(e, nd->loc, "out of memory"); return 0; }
  if (p->state < 0) return -1;
  float one = 1, zero = 0;
  if (lt->DescSet(p->desc, LT_DESC_BIAS_POINTER, &bias, sizeof bias) != 0) return -1;
  int rc = lt->Matmul(lt->handle, p->desc, &one, (const void *)B, p->la, (const void *)A, p->lb, &zero, (const void *)D, p->ld, (void *)D,
                      p->ld, &p->algo, (void *)lt->ws, p->wsize, s->stream);
  if (rc != 0) {
    snprintf(s->lt_why, sizeof s->lt_why, "cublasLtMatmul failed (status %d) for [%lld, %lld] x [%lld, %lld]", rc, (long long)rows,
             (long long)k, (long long)k, (long long)n);
    p->state = -1;
    return -1;
  }
  return 1;
}
