/* cuda_emul.h — runs generated CUDA units on the CPU for the tests (test_cuda_emul*.c): the unit is
 * compiled as C++ with a shim that maps the CUDA built-ins to one thread of one block (every
 * grid-stride and block-stride loop then runs sequentially, block reductions reduce over that one
 * thread), and executed by a launch-plan executor with plain-loop matrix products in double. */
#ifndef DLM_CUDA_EMUL_H
#define DLM_CUDA_EMUL_H
#include "cuda_emit.h"
#include "tensor.h"
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char shim[] =
  "#include <math.h>\n#include <string.h>\n#include <stdint.h>\n"
  "struct DlmDim3 { unsigned x; };\n"
  "static DlmDim3 blockIdx = {0}, threadIdx = {0}, blockDim = {1}, gridDim = {1};\n"
  "#define __global__\n#define __device__\n#define __forceinline__ inline\n#define __shared__ static\n"
  "static inline void __syncthreads(void) {}\n"
  "static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }\n"
  "static inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }\n"
  "static inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }\n"
  "static inline int atomicExch(int *p, int v) { int o = *p; *p = v; return o; }\n"
  "template <class T> static inline T atomicAdd(T *p, T v) { T o = *p; *p = o + v; return o; }\n"
  "static float dlm_emul_shared[1 << 16];\n"
  "#undef INFINITY\n#undef NAN\n#undef isnan\n#undef isinf\n#undef INT64_MIN\n";

/* the unit's source as C++ for the shim: no fixed-width typedefs, no dynamic shared memory */
static char *emul_source(const char *src) {
  static const char *drop[] = {"typedef long long int64_t;\n", "typedef unsigned long long uint64_t;\n", "typedef int int32_t;\n",
                               "typedef unsigned int uint32_t;\n", "typedef unsigned char uint8_t;\n", "typedef unsigned short uint16_t;\n"};
  size_t n = strlen(src);
  char *out = malloc(sizeof shim + n * 2 + 1);
  if (!out) return NULL;
  strcpy(out, shim);
  char *w = out + strlen(out);
  for (const char *p = src; *p;) {
    int skipped = 0;
    for (size_t i = 0; i < sizeof drop / sizeof *drop; i++)
      if (strncmp(p, drop[i], strlen(drop[i])) == 0) { p += strlen(drop[i]); skipped = 1; }
    const char *ext = "extern __shared__ float p_[];";
    if (strncmp(p, ext, strlen(ext)) == 0) {
      w += sprintf(w, "float *p_ = dlm_emul_shared;");
      p += strlen(ext);
      skipped = 1;
    }
    if (!skipped) *w++ = *p++;
  }
  *w = 0;
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
  snprintf(cmd, sizeof cmd, "c++ -O0 -w -shared -fPIC -o '%s' '%s' 2>&1 | head -20", so, path);
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

static void gemm(const Func *f, int id, void **V, const int64_t *sv) {
  const Node *n = &f->nodes[id];
  const Type *at = &f->nodes[n->in[0]].type, *bt = &f->nodes[n->in[1]].type, *ot = &n->type;
  int ta = n->attr.i[0] != 0, tb = n->attr.i[1] != 0, r = ot->rank;
  int64_t M = dim_eval(ot->dims[r - 2], sv), N = dim_eval(ot->dims[r - 1], sv), K = dim_eval(at->dims[at->rank - (ta ? 2 : 1)], sv);
  int64_t NB = M > 0 && N > 0 ? numel(ot, sv) / (M * N) : 0, lda = dim_eval(at->dims[at->rank - 1], sv), ldb = dim_eval(bt->dims[bt->rank - 1], sv);
  const float *A = V[n->in[0]], *B = V[n->in[1]];
  float *C = V[id];
  for (int64_t b = 0; b < NB; b++) {
    const float *a = A + batch_off(at, ot, b, sv), *bb = B + batch_off(bt, ot, b, sv);
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double s = 0;
        for (int64_t p = 0; p < K; p++) s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? bb[j * ldb + p] : bb[p * ldb + j]);
        C[(b * M + i) * N + j] = (float)s;
      }
  }
}

typedef struct { int64_t s[16]; } Syms;
typedef void (*Kernel)(Syms, void *const *, int *);

/* run f's unit u (loaded as lib) on the arguments; outs receive host tensors */
static int run_emul(const Func *f, const CudaUnit *u, void *lib, const ParamStore *ps, Tensor **args, Tensor **outs, const int64_t *sv) {
  int nn = f->nnodes, ok = 1;
  void **V = calloc((size_t)(2 * nn + 1), sizeof *V);
  char *own = calloc((size_t)(2 * nn + 1), 1);
  for (int id = 0; id < nn; id++) {
    const Node *n = &f->nodes[id];
    if (!u->live[id] || u->inl[id]) continue;
    if (n->op == OP_RESHAPE) { V[id] = V[n->in[0]]; continue; }
    int64_t ne = numel(&n->type, sv);
    V[id] = calloc((size_t)(ne ? ne : 1), ssize(n->type.dtype));
    own[id] = 1;
    size_t scratch = n->op == OP_SORT_DESC ? (size_t)ne * 16 : n->op == OP_MATMUL ? (size_t)(numel(&f->nodes[n->in[0]].type, sv) + numel(&f->nodes[n->in[1]].type, sv)) * 2 + 256 : 0;
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
    if (l->kind == CL_GEMM) { gemm(f, l->node, V, sv); continue; }
    Kernel k = (Kernel)(uintptr_t)dlsym(lib, l->name);
    if (!k) { fprintf(stderr, "%s: no kernel %s\n", f->name, l->name); ok = 0; break; }
    k(S, V, &bad);
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
