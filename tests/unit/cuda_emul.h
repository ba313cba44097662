/* cuda_emul.h — runs generated CUDA units on the CPU for the tests (test_cuda_emul*.c): the unit is
 * compiled as C++ with a shim that maps the CUDA built-ins to one block of blockDim threads (1: every
 * grid-stride and block-stride loop runs sequentially; more: one POSIX thread per CUDA thread, with
 * __syncthreads a barrier, __shared__ memory shared by them and atomics under a lock, so the
 * kernels' cross-thread logic is exercised), and executed by a launch-plan executor with plain-loop
 * matrix products in double reading the operands where the plan says: fp32 with $DLM_CUDA_GEMM=f32,
 * else the bf16 values cuBLAS would get (operand kernels' bf16 bits, parameters rounded as the
 * backend's resident bf16 copies), so the bf16 path's error can be measured without a GPU. A gemm
 * with a cuBLASLt epilogue (CudaLaunch.epi) applies it as cuBLASLt does (fp32 product + bias of the
 * output type, GELU tanh, rounded to the operand type, into the reading matmul's scratch; its own
 * buffer is filled with NaN, so a reader of it would show) and the fallback kernels are skipped;
 * with emul_epilogue = 0 the fallback runs instead (the backend without cuBLASLt). */
#ifndef DLM_CUDA_EMUL_H
#define DLM_CUDA_EMUL_H
#include "cuda_emit.h"
#include "tensor.h"
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char shim[] =
  "#include <math.h>\n#include <string.h>\n#include <stdint.h>\n#include <stdlib.h>\n#include <pthread.h>\n"
  "struct DlmDim3 { unsigned x; };\n"
  "static DlmDim3 blockIdx = {0}, blockDim = {1}, gridDim = {1};\n"
  "static thread_local DlmDim3 threadIdx = {0};\n"
  "static pthread_barrier_t dlm_bar;\n"
  "static pthread_mutex_t dlm_mu = PTHREAD_MUTEX_INITIALIZER;\n"
  "#define __global__\n#define __device__\n#define __forceinline__ inline\n#define __shared__ static\n"
  "static inline void __syncthreads(void) { if (blockDim.x > 1) pthread_barrier_wait(&dlm_bar); }\n"
  "static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }\n"
  "static inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }\n"
  "static inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }\n"
  "static inline int atomicExch(int *p, int v) { pthread_mutex_lock(&dlm_mu); int o = *p; *p = v; pthread_mutex_unlock(&dlm_mu); return o; }\n"
  "template <class T> static inline T atomicAdd(T *p, T v) { pthread_mutex_lock(&dlm_mu); T o = *p; *p = o + v; pthread_mutex_unlock(&dlm_mu); return o; }\n"
  "static double dlm_emul_shared[1 << 16];\n"
  "static inline double __dadd_rn(double a, double b) { return a + b; }\n"
  "static inline double __dsub_rn(double a, double b) { return a - b; }\n"
  "static inline double __dmul_rn(double a, double b) { return a * b; }\n"
  "static inline double __ddiv_rn(double a, double b) { return a / b; }\n"
  "static inline double __dsqrt_rn(double a) { return sqrt(a); }\n"
  "#undef INFINITY\n#undef NAN\n#undef isnan\n#undef isinf\n#undef INT64_MIN\n";

/* appended to the unit: runs kernel k as one block of n threads */
static const char launcher[] =
  "\ntypedef void (*DlmKernel)(DlmS, void *const *, int *);\n"
  "struct DlmEmulArg { DlmKernel k; DlmS s; void *const *V; int *bad; unsigned t; };\n"
  "static void *dlm_emul_thread(void *p) { DlmEmulArg *a = (DlmEmulArg *)p; threadIdx.x = a->t; a->k(a->s, a->V, a->bad); return 0; }\n"
  "extern \"C\" int dlm_emul_launch(DlmKernel k, DlmS s, void *const *V, int *bad, unsigned n) {\n"
  "  blockDim.x = n;\n"
  "  if (n == 1) { threadIdx.x = 0; k(s, V, bad); return 1; }\n"
  "  pthread_t th[256]; DlmEmulArg a[256]; unsigned made = 0;\n"
  "  if (n > 256 || pthread_barrier_init(&dlm_bar, 0, n) != 0) return 0;\n"
  "  for (unsigned t = 0; t < n; t++) { a[t] = DlmEmulArg{k, s, V, bad, t}; if (pthread_create(&th[t], 0, dlm_emul_thread, &a[t]) != 0) break; made++; }\n"
  "  if (made < n) abort(); /* the barrier would wait forever */\n"
  "  for (unsigned t = 0; t < n; t++) pthread_join(th[t], 0);\n"
  "  pthread_barrier_destroy(&dlm_bar);\n"
  "  return 1;\n"
  "}\n"
  "/* runs f() as one block of n threads (for standalone kernels with their own signatures) */\n"
  "template <class F> struct DlmEmulPar { F *f; unsigned t; };\n"
  "template <class F> static void *dlm_emul_par_thread(void *p) { DlmEmulPar<F> *a = (DlmEmulPar<F> *)p; threadIdx.x = a->t; (*a->f)(); return 0; }\n"
  "template <class F> static int dlm_emul_par(F f, unsigned n) {\n"
  "  blockDim.x = n;\n"
  "  if (n == 1) { threadIdx.x = 0; f(); return 1; }\n"
  "  pthread_t th[256]; DlmEmulPar<F> a[256]; unsigned made = 0;\n"
  "  if (n > 256 || pthread_barrier_init(&dlm_bar, 0, n) != 0) return 0;\n"
  "  for (unsigned t = 0; t < n; t++) { a[t] = DlmEmulPar<F>{&f, t}; if (pthread_create(&th[t], 0, dlm_emul_par_thread<F>, &a[t]) != 0) break; made++; }\n"
  "  if (made < n) abort();\n"
  "  for (unsigned t = 0; t < n; t++) pthread_join(th[t], 0);\n"
  "  pthread_barrier_destroy(&dlm_bar);\n"
  "  return 1;\n"
  "}\n";

/* the unit's source as C++ for the shim: no fixed-width typedefs, no dynamic shared memory */
static char *emul_source(const char *src) {
  static const char *drop[] = {"typedef long long int64_t;\n", "typedef unsigned long long uint64_t;\n", "typedef int int32_t;\n",
                               "typedef unsigned int uint32_t;\n", "typedef unsigned char uint8_t;\n", "typedef unsigned short uint16_t;\n"};
  size_t n = strlen(src);
  char *out = malloc(sizeof shim + sizeof launcher + n * 2 + 1);
  if (!out) return NULL;
  strcpy(out, shim);
  char *w = out + strlen(out);
  for (const char *p = src; *p;) {
    int skipped = 0;
    for (size_t i = 0; i < sizeof drop / sizeof *drop; i++)
      if (strncmp(p, drop[i], strlen(drop[i])) == 0) { p += strlen(drop[i]); skipped = 1; }
    const char *ext = "extern __shared__ double sh_[];";
    if (strncmp(p, ext, strlen(ext)) == 0) {
      w += sprintf(w, "double *sh_ = dlm_emul_shared;");
      p += strlen(ext);
      skipped = 1;
    }
    if (!skipped) *w++ = *p++;
  }
  strcpy(w, launcher);
  return out;
}

static void *build(const char *src, char *dir) {
  char path[1200], so[1200], cmd[4096];
  static int seq;
  snprintf(path, sizeof path, "%s/emul_%d_%d.cpp", dir, (int)getpid(), seq);
  snprintf(so, sizeof so, "%s/emul_%d_%d.so", dir, (int)getpid(), seq++);
  FILE *fp = fopen(path, "w");
  if (!fp) return NULL;
  fputs(src, fp);
  fclose(fp);
  snprintf(cmd, sizeof cmd, "c++ -O0 -ffp-contract=off -w -shared -fPIC -pthread -o '%s' '%s' 2>&1 | head -20", so, path);
  if (system(cmd) != 0) return NULL;
  void *lib = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  if (!lib) fprintf(stderr, "dlopen %s: %s\n", so, dlerror());
  unlink(so);
  unlink(path);
  return lib;
}

static size_t ssize(DType t) { return t == DT_F64 || t == DT_I64 ? 8 : t == DT_BOOL ? 1 : 4; }
static int64_t numel(const Type *t, const int64_t *sv) {
  int64_t p = 1;
  for (int d = 0; d < t->rank; d++) p *= dim_eval(t->dims[d], sv);
  return p;
}
static double getv(const void *buf, DType t, int64_t k) {
  switch (t) {
  case DT_F64: return ((const double *)buf)[k];
  case DT_I64: return (double)((const int64_t *)buf)[k];
  case DT_I32: return ((const int32_t *)buf)[k];
  case DT_BOOL: return ((const uint8_t *)buf)[k];
  default: return ((const float *)buf)[k];
  }
}
static void setv(void *buf, DType t, int64_t k, double v) {
  switch (t) {
  case DT_F64: ((double *)buf)[k] = v; break;
  case DT_I64: ((int64_t *)buf)[k] = (int64_t)v; break;
  case DT_I32: ((int32_t *)buf)[k] = (int32_t)v; break;
  case DT_BOOL: ((uint8_t *)buf)[k] = v != 0; break;
  default: ((float *)buf)[k] = (float)v; break;
  }
}

/* element offset of batch entry bt of operand x against the batch dims of out (as the backend) */
static int64_t batch_off(const Type *x, const Type *out, int64_t bt, const int64_t *sv) {
  int64_t off = 0, st = dim_eval(x->dims[x->rank - 1], sv) * dim_eval(x->dims[x->rank - 2], sv);
  for (int d = out->rank - 3; d >= 0; d--) {
    int64_t od = dim_eval(out->dims[d], sv), digit = bt % od;
    bt /= od;
    int xd = d - (out->rank - x->rank);
    if (xd < 0) continue;
    int64_t xs = dim_eval(x->dims[xd], sv);
    if (xs != 1) off += digit * st;
    st *= xs;
  }
  return off;
}

static size_t al256(size_t n) { return (n + 255) / 256 * 256; }

/* a float copy of n gemm operand elements at p: fp32 values (rounded to bf16 if round), or bf16 bits */
static float *operand(const void *p, int64_t n, int fp32, int round) {
  float *o = malloc((size_t)(n ? n : 1) * sizeof *o);
  for (int64_t k = 0; o && k < n; k++)
    o[k] = fp32 ? (round ? bf16_to_f32(f32_to_bf16(((const float *)p)[k])) : ((const float *)p)[k]) : bf16_to_f32(((const uint16_t *)p)[k]);
  return o;
}

static int emul_epilogue = 1;

/* GELU, tanh approximation: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
static double gelu_tanh_ref(double x) { return 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }

/* the product of gemm launch l: operands where the plan says (fp32, or bf16 as cuBLAS gets them),
 * accumulated in double; with its epilogue (emul_epilogue), bias + GELU into the operand region */
static void gemm(const Func *f, const CudaUnit *u, const CudaLaunch *l, void **V, const int64_t *sv) {
  int id = l->node;
  const Node *n = &f->nodes[id];
  const Type *at = &f->nodes[n->in[0]].type, *bt = &f->nodes[n->in[1]].type, *ot = &n->type;
  int ta = n->attr.i[0] != 0, tb = n->attr.i[1] != 0, r = ot->rank;
  int64_t M = dim_eval(ot->dims[r - 2], sv), N = dim_eval(ot->dims[r - 1], sv), K = dim_eval(at->dims[at->rank - (ta ? 2 : 1)], sv);
  int64_t NB = M > 0 && N > 0 ? numel(ot, sv) / (M * N) : 0, lda = dim_eval(at->dims[at->rank - 1], sv), ldb = dim_eval(bt->dims[bt->rank - 1], sv);
  int f32 = u->gemm_f32;
  const char *s[2];
  for (int x = 0; x < 2; x++) { /* the scratch region holding operand x (maybe an earlier matmul's) */
    int sm = l->src[x] / 2;
    s[x] = (const char *)V[f->nnodes + sm] + (l->src[x] % 2 ? al256((size_t)numel(&f->nodes[f->nodes[sm].in[0]].type, sv) * (f32 ? 4 : 2)) : 0);
  }
  /* the operands as the gemm sees them: fp32, or bf16 (a parameter's resident copy is its rounding) */
  float *A = operand(l->opnd[0] >= 0 ? V[l->opnd[0]] : s[0], numel(at, sv), f32 || l->opnd[0] >= 0, !f32);
  float *B = operand(l->opnd[1] >= 0 ? V[l->opnd[1]] : s[1], numel(bt, sv), f32 || l->opnd[1] >= 0, !f32);
  float *C = V[id];
  int epi = l->epi && emul_epilogue;
  const float *bias = epi ? V[l->epi - 1] : NULL;
  char *D = NULL;
  if (epi) { /* the region epi_dst of the reading matmul's scratch */
    int m2 = l->epi_dst / 2;
    D = (char *)V[f->nnodes + m2] + (l->epi_dst % 2 ? al256((size_t)numel(&f->nodes[f->nodes[m2].in[0]].type, sv) * (f32 ? 4 : 2)) : 0);
  }
  for (int64_t b = 0; b < NB; b++) {
    const float *a = A + batch_off(at, ot, b, sv), *bb = B + batch_off(bt, ot, b, sv);
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double s = 0;
        for (int64_t p = 0; p < K; p++) s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? bb[j * ldb + p] : bb[p * ldb + j]);
        int64_t at_ = (b * M + i) * N + j;
        if (!epi) { C[at_] = (float)s; continue; }
        C[at_] = NAN;
        /* the bias has the output's type: fp32, or the parameter's bf16 copy */
        float x = (float)s + (f32 ? bias[j] : bf16_to_f32(f32_to_bf16(bias[j]))), g = (float)gelu_tanh_ref(x);
        if (f32) ((float *)D)[at_] = g;
        else ((uint16_t *)D)[at_] = f32_to_bf16(g);
      }
  }
  free(A);
  free(B);
}

typedef struct { int64_t s[16]; } Syms;
typedef int (*Launch)(void *, Syms, void *const *, int *, unsigned);

/* run f's unit u (loaded as lib) on the arguments with blocks of nthreads threads; outs receive
 * host tensors */
static inline int run_emul(const Func *f, const CudaUnit *u, void *lib, const ParamStore *ps, Tensor **args, Tensor **outs, const int64_t *sv,
                    unsigned nthreads) {
  int nn = f->nnodes, ok = 1;
  Launch launch = (Launch)(uintptr_t)dlsym(lib, "dlm_emul_launch");
  if (!launch) { fprintf(stderr, "%s: no launcher\n", f->name); return 0; }
  void **V = calloc((size_t)(2 * nn + 1), sizeof *V);
  char *own = calloc((size_t)(2 * nn + 1), 1);
  for (int id = 0; id < nn; id++) {
    const Node *n = &f->nodes[id];
    if (!u->live[id] || u->inl[id]) continue;
    if (n->op == OP_RESHAPE) { V[id] = V[n->in[0]]; continue; }
    int64_t ne = numel(&n->type, sv);
    V[id] = calloc((size_t)(ne ? ne : 1), ssize(n->type.dtype));
    own[id] = 1;
    size_t scratch = n->op == OP_SORT_DESC ? (size_t)ne * 16 : n->op == OP_MATMUL ? al256((size_t)numel(&f->nodes[n->in[0]].type, sv) * 4) + (size_t)numel(&f->nodes[n->in[1]].type, sv) * 4 : 0;
    if (scratch) { V[nn + id] = calloc(scratch, 1); own[nn + id] = 1; }
    const Tensor *t = n->op == OP_ARG ? args[n->attr.i[0]] : n->op == OP_PARAM ? pstore_get(ps, n->attr.s) : NULL;
    for (int64_t k = 0; t && k < ne; k++)
      setv(V[id], n->type.dtype, k, n->type.dtype == DT_I64 && t->dtype == DT_I64 ? (double)((int64_t *)t->data)[k] : tensor_get(t, k));
  }
  Syms S;
  memset(&S, 0, sizeof S);
  for (int s = 0; s < DLM_MAX_SYMS; s++) S.s[s] = sv[s];
  int bad = 0;
  for (int i = 0; ok && i < u->nlaunch; i++) {
    const CudaLaunch *l = &u->launch[i];
    if (l->kind == CL_GEMM) {
      gemm(f, u, l, V, sv);
      for (int g = 1; g < l->gcount; g++) { /* a batched gemm: the same A, each member its B */
        CudaLaunch m = *l;
        m.node = u->gmembers[l->gfirst + g];
        m.opnd[1] = f->nodes[m.node].in[1];
        gemm(f, u, &m, V, sv);
      }
      continue;
    }
    if (l->alt_of && emul_epilogue) continue; /* the epilogue of gemm alt_of - 1 did this */
    void *k = dlsym(lib, l->name);
    if (!k) { fprintf(stderr, "%s: no kernel %s\n", f->name, l->name); ok = 0; break; }
    if (!launch(k, S, V, &bad, nthreads)) { fprintf(stderr, "%s: cannot start %u threads\n", f->name, nthreads); ok = 0; break; }
    if (bad) { fprintf(stderr, "%s: kernel %s flagged node %d\n", f->name, l->name, bad - 1); ok = 0; }
  }
  for (int k = 0; ok && k < f->nout; k++) {
    const Node *n = &f->nodes[f->outs[k]];
    int64_t shape[DLM_MAX_RANK];
    for (int d = 0; d < n->type.rank; d++) shape[d] = dim_eval(n->type.dims[d], sv);
    outs[k] = tensor_new(dtype_is_float(n->type.dtype) ? DT_F32 : n->type.dtype, n->type.rank, shape);
    for (int64_t e = 0; e < outs[k]->numel; e++) {
      double v = getv(V[f->outs[k]], n->type.dtype, e);
      if (outs[k]->dtype == DT_I64) ((int64_t *)outs[k]->data)[e] = ((int64_t *)V[f->outs[k]])[e];
      else tensor_set(outs[k], e, v);
    }
  }
  for (int i = 0; i < 2 * nn + 1; i++)
    if (own[i]) free(V[i]);
  free(V);
  free(own);
  return ok;
}

#endif
