/* gemm_bench.c — times the CPU backend's fp32 gemm (dlm_sgemm, codegen/cpu_gemm.c, as built for
 * this host) against OpenBLAS at the training benchmark's shapes (MDLM, dim 128, MLP 512, qkv 384,
 * 257 logits, 4096 rows = batch 32 x seq 128): the forward products (NT: activations times a
 * [out, in] weight), the input gradients (NN) and the weight gradients (TN, K = 4096 rows), each
 * with the leading dimensions the generated code passes. Prints the minimum and median GFLOP/s
 * over the runs of each shape for
 *   dlm_sgemm      the library the generated units call, on --threads OpenMP threads;
 *   oblas-rows     its OpenBLAS variant (-DDLM_SGEMM_CBLAS): single-threaded cblas_sgemm on one
 *                  block of C's rows per OpenMP thread;
 *   oblas-mt       cblas_sgemm with OpenBLAS's own --threads threads;
 *   against        with --against LIB.so, the dlm_sgemm of another build of the library (e.g. an
 *                  earlier commit's dlm_gemm_<hash>.so from the kernel cache), for before / after.
 *   gemm_bench [--runs 30] [--threads 2] [--evict 3] [--only TN|NN|NT|<shape prefix>] [--against LIB.so]
 * Before each call every thread writes --evict MB of its own (default 3: more than a core's 1 MB
 * L2, so the operands come from L3 as in a model step, where other kernels ran in between; 0:
 * hot caches). The libraries run in turn, call by call; operands are uniform in [-1, 1); untimed
 * calls for 100 ms per shape first (on an idle machine, a parallel call's second core can take tens
 * of ms to come up to speed). */
#include "cpu_emit.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*SgemmFn)(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                        const float *B, int64_t ldb, float beta, float *C, int64_t ldc, int nthreads);
typedef void (*CblasFn)(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                        const float *b, int ldb, float beta, float *c, int ldc);

typedef struct {
  const char *what;
  int ta, tb;
  int64_t M, N, K;
} Shape;

/* ta/tb, C's M x N, the contraction K; lda/ldb are the operands' contiguous row lengths */
static const Shape shapes[] = {
    {"NT qkv", 0, 1, 4096, 384, 128},        {"NT attn out", 0, 1, 4096, 128, 128},
    {"NT mlp up", 0, 1, 4096, 512, 128},     {"NT mlp down", 0, 1, 4096, 128, 512},
    {"NT logits", 0, 1, 4096, 257, 128},     {"NN dx logits", 0, 0, 4096, 128, 257},
    {"NN dx mlp down", 0, 0, 4096, 512, 128}, {"NN dx mlp up", 0, 0, 4096, 128, 512},
    {"NN dx attn out", 0, 0, 4096, 128, 128}, {"NN dx qkv", 0, 0, 4096, 128, 384},
    {"TN dW logits", 1, 0, 257, 128, 4096},  {"TN dW mlp down", 1, 0, 128, 512, 4096},
    {"TN dW mlp up", 1, 0, 512, 128, 4096},  {"TN dW attn out", 1, 0, 128, 128, 4096},
    {"TN dW qkv", 1, 0, 384, 128, 4096},
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* eviction: each thread rewrites its own buffer */
typedef struct {
  char *buf;
  size_t n;
  unsigned pass;
} Evict;

static void *evict_one(void *p) {
  Evict *ev = p;
  for (size_t i = 0; i < ev->n; i += 64) ev->buf[i] = (char)(ev->buf[i] + ev->pass);
  return NULL;
}

static void evict(Evict *ev, int nthreads) {
  if (!ev[0].n) return;
  pthread_t th[64];
  for (int t = 1; t < nthreads; t++) ev[t].pass++, pthread_create(&th[t], NULL, evict_one, &ev[t]);
  ev[0].pass++;
  evict_one(&ev[0]);
  for (int t = 1; t < nthreads; t++) pthread_join(th[t], NULL);
}

static void *sym(void *lib, const char *name) {
  void *s = lib ? dlsym(lib, name) : NULL;
  if (!s) {
    fprintf(stderr, "gemm_bench: %s not found\n", name);
    exit(1);
  }
  return s;
}

int main(int argc, char **argv) {
  int runs = 30, nthreads = 2;
  double evict_mb = 3;
  const char *only = NULL, *against = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads")) nthreads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--evict")) evict_mb = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--only")) only = argv[i + 1];
    else if (!strcmp(argv[i], "--against")) against = argv[i + 1];
    else {
      fprintf(stderr, "gemm_bench: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (argc % 2 == 0) {
    fprintf(stderr, "gemm_bench: option %s without a value\n", argv[argc - 1]);
    return 2;
  }
  if (runs < 1 || nthreads < 1 || nthreads > 64 || evict_mb < 0) {
    fprintf(stderr, "gemm_bench: --runs >= 1, 1 <= --threads <= 64, --evict >= 0\n");
    return 2;
  }
  DlmErr e = {0};
  void *host = cpu_gemm_load(0, &e), *cb = host ? cpu_gemm_load(1, &e) : NULL;
  if (!host || !cb) {
    fprintf(stderr, "gemm_bench: %s\n", e.msg);
    return 1;
  }
  void *other = NULL;
  if (against && !(other = dlopen(against, RTLD_NOW | RTLD_LOCAL))) {
    fprintf(stderr, "gemm_bench: cannot load %s: %s\n", against, dlerror());
    return 1;
  }
  SgemmFn fn[4] = {0}; /* [3]: --against's */
  void *s0 = sym(host, "dlm_sgemm"), *s1 = sym(cb, "dlm_sgemm"), *s2 = sym(cb, "cblas_sgemm");
  memcpy(&fn[0], &s0, sizeof s0);
  memcpy(&fn[1], &s1, sizeof s1);
  if (other) {
    void *s5 = sym(other, "dlm_sgemm");
    memcpy(&fn[3], &s5, sizeof s5);
  }
  CblasFn cblas;
  memcpy(&cblas, &s2, sizeof s2);
  void (*set_threads)(int) = NULL;
  void *s3 = dlsym(cb, "openblas_set_num_threads"), *s4 = dlsym(cb, "openblas_get_corename");
  if (s3) memcpy(&set_threads, &s3, sizeof s3);
  if (set_threads) set_threads(1); /* as the CPU backend sets it (codegen/cpu_build.c) */
  char *(*corename)(void) = NULL;
  if (s4) memcpy(&corename, &s4, sizeof s4);

  Evict ev[64] = {{0}};
  for (int t = 0; t < nthreads && evict_mb > 0; t++) {
    ev[t].n = (size_t)(evict_mb * 1048576);
    ev[t].buf = calloc(ev[t].n, 1);
    if (!ev[t].buf) {
      fprintf(stderr, "gemm_bench: out of memory\n");
      return 1;
    }
  }
  printf("threads=%d runs=%d evict=%g MB/thread openblas=%s (GFLOP/s, min-time / median-time)\n", nthreads, runs,
         evict_mb, corename ? corename() : "?");
  printf("%-16s %-16s %15s %15s %15s%s\n", "shape", "M x N x K", "dlm_sgemm", "oblas-rows", "oblas-mt",
         other ? "         against" : "");
  double *t = malloc((size_t)(4 * runs) * sizeof *t);
  uint64_t s = 0x9e3779b97f4a7c15ull;
  for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
    const Shape *sh = &shapes[si];
    if (only && strncmp(sh->what, only, strlen(only)) != 0) continue;
    const int64_t lda = sh->ta ? sh->M : sh->K, ldb = sh->tb ? sh->K : sh->N;
    const size_t na = (size_t)(sh->M * sh->K), nb = (size_t)(sh->K * sh->N), nc = (size_t)(sh->M * sh->N);
    float *A = aligned_alloc(64, (na * 4 + 63) / 64 * 64), *B = aligned_alloc(64, (nb * 4 + 63) / 64 * 64);
    float *C = aligned_alloc(64, (nc * 4 + 63) / 64 * 64);
    if (!A || !B || !C || !t) {
      fprintf(stderr, "gemm_bench: out of memory\n");
      return 1;
    }
    for (size_t i = 0; i < na + nb; i++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      *(i < na ? &A[i] : &B[i - na]) = (float)((double)(s >> 11) * 0x1p-52 - 1);
    }
    char dims[48];
    snprintf(dims, sizeof dims, "%lldx%lldx%lld", (long long)sh->M, (long long)sh->N, (long long)sh->K);
    printf("%-16s %-16s", sh->what, dims);
    const double gflop = 2e-9 * (double)sh->M * (double)sh->N * (double)sh->K;
    const int nlib = other ? 4 : 3;
    /* the libraries in turn, run by run, so that the machine's slower phases hit them alike;
     * untimed calls for the first 100 ms (an idle machine's second core wakes up slowly) */
    const double warm = now_s() + 0.1;
    for (int r = -1; r < runs; r++)
      for (int lib = 0; lib < nlib; lib++) {
        if (lib == 2 && set_threads) set_threads(nthreads);
        evict(ev, nthreads);
        const double t0 = now_s();
        if (lib != 2) fn[lib](sh->ta, sh->tb, sh->M, sh->N, sh->K, 1.0f, A, lda, B, ldb, 0.0f, C, sh->N, nthreads);
        else cblas(101, sh->ta ? 112 : 111, sh->tb ? 112 : 111, (int)sh->M, (int)sh->N, (int)sh->K, 1.0f, A, (int)lda, B,
                   (int)ldb, 0.0f, C, (int)sh->N);
        if (r >= 0) t[lib * runs + r] = now_s() - t0;
        if (lib == 2 && set_threads) set_threads(1);
        if (r < 0 && lib == nlib - 1 && now_s() < warm) r--;
      }
    for (int lib = 0; lib < nlib; lib++) {
      qsort(t + lib * runs, (size_t)runs, sizeof *t, cmp_double);
      printf("   %6.1f / %6.1f", gflop / t[lib * runs], gflop / t[lib * runs + runs / 2]);
    }
    printf("\n");
    fflush(stdout);
    free(A), free(B), free(C);
  }
  free(t);
  for (int i = 0; i < nthreads; i++) free(ev[i].buf);
  return 0;
}
