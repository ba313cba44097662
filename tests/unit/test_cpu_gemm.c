/* test_cpu_gemm.c — the CPU backend's fp32 gemm library (codegen/cpu_gemm.c), both variants as
 * built for this host (the AVX-512 kernels where it has them) and with OpenBLAS underneath:
 * dlm_sgemm against a naive double-precision product for every transpose pair, sizes that are
 * not multiples of the 6 x 64 blocking (and 1, and 0), leading dimensions wider than the rows,
 * alpha and beta (beta = 0 must ignore NaN already in C), K long enough to need several K blocks,
 * one and two threads (a weight gradient's split of C's rows and of its columns), operands that
 * end exactly at their last element; and a generated unit calling it from inside a parallel
 * region. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "check.h"
#include "cpu_emit.h"
#include "test_cpu_fixture.h"
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef void (*SgemmFn)(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                        const float *B, int64_t ldb, float beta, float *C, int64_t ldc, int nthreads);

static float rnd(void) { return (float)(cpu_rand01() * 2 - 1); }

/* n floats (n > 0) ending exactly where an inaccessible page begins, so that a read past the last
 * one faults even in code built without ASan (the gemm library); freed by guarded_free(p, n) */
static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }
static size_t guarded_len(int64_t n) { return ((size_t)n * sizeof(float) + page_size() - 1) / page_size() * page_size() + page_size(); }
static float *guarded_alloc(int64_t n) {
  const size_t len = guarded_len(n);
  char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return NULL;
  if (mprotect(base + len - page_size(), page_size(), PROT_NONE) != 0) {
    munmap(base, len);
    return NULL;
  }
  return (float *)(base + len - page_size()) - n;
}
static void guarded_free(float *p, int64_t n) {
  if (p) munmap((char *)(p + n) + page_size() - guarded_len(n), guarded_len(n));
}

/* One product C = alpha op(A) op(B) + beta C0 with lda/ldb/ldc padded by pad columns, checked
 * elementwise against the double-precision sum: |got - want| <= 1e-5 (sum of |terms| + |beta C0|),
 * the bound of fp32 accumulation over these K; the padding columns of C must be untouched. With
 * pad = 0, A and B end exactly where an inaccessible page begins (a read past them faults). */
static void one_pad(const char *name, SgemmFn f, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, float beta,
                    int nthreads, int64_t pad) {
  const int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
  const int64_t lda = ac + pad, ldb = bc + pad, ldc = N + pad;
  const int guard = pad == 0 && ar * lda > 0 && br * ldb > 0;
  float *A = guard ? guarded_alloc(ar * lda) : malloc((size_t)(ar * lda + 1) * sizeof *A);
  float *B = guard ? guarded_alloc(br * ldb) : malloc((size_t)(br * ldb + 1) * sizeof *B);
  float *C = malloc((size_t)(M * ldc + 1) * sizeof *C), *C0 = malloc((size_t)(M * ldc + 1) * sizeof *C0);
  if (!A || !B || !C || !C0) {
    CHECK_MSG(0, "out of memory");
    if (guard) guarded_free(A, ar * lda), guarded_free(B, br * ldb);
    else free(A), free(B);
    free(C), free(C0);
    return;
  }
  for (int64_t i = 0; i < ar * lda; i++) A[i] = rnd();
  for (int64_t i = 0; i < br * ldb; i++) B[i] = rnd();
  for (int64_t i = 0; i < M * ldc; i++) C0[i] = beta == 0 ? NAN : rnd();
  memcpy(C, C0, (size_t)(M * ldc) * sizeof *C);
  f(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, nthreads);
  char msg[200] = "";
  for (int64_t i = 0; i < M && !*msg; i++)
    for (int64_t j = 0; j < ldc && !*msg; j++) {
      const double got = C[i * ldc + j];
      if (j >= N) {
        if (!(isnan(got) && isnan(C0[i * ldc + j])) && got != C0[i * ldc + j])
          snprintf(msg, sizeof msg, "padding column %lld of row %lld changed", (long long)j, (long long)i);
        continue;
      }
      double want = 0, mag = 0;
      for (int64_t p = 0; p < K; p++) {
        const double t = (double)(ta ? A[p * lda + i] : A[i * lda + p]) * (tb ? B[j * ldb + p] : B[p * ldb + j]);
        want += t;
        mag += fabs(t);
      }
      want *= alpha;
      mag *= fabs(alpha);
      if (beta != 0) {
        want += (double)beta * C0[i * ldc + j];
        mag += fabs((double)beta * C0[i * ldc + j]);
      }
      if (!(fabs(got - want) <= 1e-5 * mag + 1e-30))
        snprintf(msg, sizeof msg, "C[%lld][%lld] = %.9g, expected %.9g", (long long)i, (long long)j, got, want);
    }
  CHECK_MSG(!*msg, "%s ta=%d tb=%d %lldx%lldx%lld alpha=%g beta=%g threads=%d pad=%lld: %s", name, ta, tb, (long long)M,
            (long long)N, (long long)K, alpha, beta, nthreads, (long long)pad, msg);
  if (guard) guarded_free(A, ar * lda), guarded_free(B, br * ldb);
  else free(A), free(B);
  free(C), free(C0);
}

static void one(const char *name, SgemmFn f, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, float beta,
                int nthreads) {
  one_pad(name, f, ta, tb, M, N, K, alpha, beta, nthreads, 3);
}

static void suite(const char *name, SgemmFn f) {
  static const int64_t sizes[][3] = {{1, 1, 1},  {0, 5, 3},    {5, 0, 3},   {4, 5, 0},   {7, 13, 5},
                                     {6, 64, 8}, {13, 65, 31}, {67, 17, 1}, {31, 129, 70}, {100, 257, 33},
                                     {1, 200, 9}, {200, 1, 9},  {12, 80, 1100}, {8, 47, 6},  {70, 70, 50}};
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        const int64_t M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
        one(name, f, ta, tb, M, N, K, 1.0f, 0.0f, 1);
        one(name, f, ta, tb, M, N, K, 0.5f, -2.0f, 2);
      }
  /* several K blocks (B's packed panels: 768 KB; a weight gradient's (ta, not tb) block of a
   * thread's columns of A and B, twice, and its part of C: 768 KB, a few hundred rows here, the
   * next block prefetched during each); a weight gradient's threads split its columns (N > M) or
   * its rows (M >= N, tiles of 6), the last panel or vector narrower; operands ending at their last
   * element (a read past B's last row in a narrower panel) */
  one(name, f, 1, 0, 50, 300, 700, 1.0f, 0.0f, 2);
  one(name, f, 0, 1, 37, 300, 700, -1.5f, 1.0f, 2);
  one(name, f, 1, 0, 50, 509, 700, 1.0f, 0.0f, 2);
  one(name, f, 1, 0, 50, 509, 700, 0.5f, 1.0f, 1);
  one(name, f, 1, 0, 70, 125, 300, 1.0f, 0.0f, 2);
  one(name, f, 1, 0, 301, 70, 1500, 1.0f, 0.0f, 2);
  one(name, f, 1, 0, 257, 128, 1100, -0.5f, 1.0f, 2);
  one(name, f, 1, 0, 13, 1, 1500, 1.0f, 0.0f, 2);
  /* a weight gradient's last tile of 3 to 5 rows (6-row kernel, its extra rows not stored) next
   * to the 1-2 row ones above */
  one(name, f, 1, 0, 9, 70, 300, 1.0f, 0.0f, 1);
  one(name, f, 1, 0, 51, 40, 600, 1.0f, 0.0f, 2);
  one(name, f, 1, 0, 65, 40, 600, -1.0f, 0.5f, 2);
  /* without ta, a last panel of 1-4 columns past full ones: dot products along K (N = 257, 130,
   * 196; B's columns copied when not tb) */
  for (int tb = 0; tb < 2; tb++) {
    one_pad(name, f, 1, tb, 40, 77, 900, 1.0f, 0.0f, 2, 0);
    one_pad(name, f, 1, tb, 77, 40, 900, 1.0f, 0.0f, 2, 0);
    one_pad(name, f, 0, tb, 77, 40, 300, 1.0f, 0.0f, 2, 0);
    one_pad(name, f, 0, tb, 77, 257, 300, 1.0f, 0.0f, 2, 0);
    one(name, f, 0, tb, 50, 130, 37, 0.5f, -2.0f, 2);
    one(name, f, 0, tb, 13, 196, 1200, 1.0f, 1.0f, 1);
  }
}

/* A unit (compiled by cpu_build, so calling the global dlm_sgemm as generated code does) whose two
 * OpenMP threads each compute their own product, asking for two threads (inside the parallel
 * region each call runs on its own thread). Small integers, so the sums are exact. */
static const char par_src[] =
    "int dlm_entry(const int64_t *S, void *const *A, void *const *P, void *const *O, void **ws, int64_t *wsz,\n"
    "              char *err, int errlen) {\n"
    "  (void)P; (void)ws; (void)wsz; (void)err; (void)errlen;\n"
    "#pragma omp parallel num_threads(2)\n"
    "  {\n"
    "    for (int t = omp_get_thread_num(); t < 2; t += omp_get_num_threads()) {\n"
    "      const int64_t M = S[3 * t], N = S[3 * t + 1], K = S[3 * t + 2];\n"
    "      dlm_sgemm(0, 0, M, N, K, 1.0f, (const float *)A[2 * t], K, (const float *)A[2 * t + 1], N, 0.0f, (float *)O[t], N, 2);\n"
    "    }\n"
    "  }\n"
    "  return 0;\n"
    "}\n";

static void test_in_parallel(void) {
  DlmErr e = {0};
  CpuEntry entry = NULL;
  void *lib = cpu_build_with_prelude(par_src, &entry, &e);
  CHECK_MSG(lib != NULL, "unit with dlm_sgemm inside a parallel region: %s", e.msg);
  if (!lib) return;
  const int64_t S[6] = {33, 70, 20, 40, 65, 9};
  float *buf[6];
  void *args[4], *outs[2];
  int ok = 1;
  for (int t = 0; t < 2; t++) {
    const int64_t M = S[3 * t], N = S[3 * t + 1], K = S[3 * t + 2];
    args[2 * t] = buf[3 * t] = malloc((size_t)(M * K) * sizeof(float));
    args[2 * t + 1] = buf[3 * t + 1] = malloc((size_t)(K * N) * sizeof(float));
    outs[t] = buf[3 * t + 2] = malloc((size_t)(M * N) * sizeof(float));
    ok = ok && buf[3 * t] && buf[3 * t + 1] && buf[3 * t + 2];
    for (int64_t i = 0; ok && i < M * K; i++) buf[3 * t][i] = (float)((i * 7 + t) % 11) - 5;
    for (int64_t i = 0; ok && i < K * N; i++) buf[3 * t + 1][i] = (float)((i * 5) % 13) - 6;
  }
  char err[64];
  ok = ok && entry(S, args, NULL, outs, NULL, NULL, err, sizeof err) == 0;
  for (int t = 0; ok && t < 2; t++) {
    const int64_t M = S[3 * t], N = S[3 * t + 1], K = S[3 * t + 2];
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double want = 0;
        for (int64_t p = 0; p < K; p++) want += (double)buf[3 * t][i * K + p] * buf[3 * t + 1][p * N + j];
        ok = ok && buf[3 * t + 2][i * N + j] == want;
      }
  }
  CHECK_MSG(ok, "products inside a parallel region");
  for (int k = 0; k < 6; k++) free(buf[k]);
  dlclose(lib);
}

static SgemmFn lookup(void *lib) {
  void *sym = lib ? dlsym(lib, "dlm_sgemm") : NULL;
  SgemmFn f = NULL;
  if (sym) memcpy(&f, &sym, sizeof f);
  return f;
}

int main(void) {
  cpu_test_env();
  const char *names[2] = {"host", "cblas"};
  for (int v = 0; v < 2; v++) {
    DlmErr e = {0};
    SgemmFn f = lookup(cpu_gemm_load(v, &e));
    CHECK_MSG(f != NULL, "%s variant: %s", names[v], e.msg);
    if (f) suite(names[v], f);
  }
  test_in_parallel();
  return check_summary("test_cpu_gemm");
}
