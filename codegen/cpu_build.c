/* cpu_build.c — turns generated C into a loaded kernel library: the cache directory, content
 * hashing (FNV-1a 64 of the source and the compiler command), the system compiler run (its output
 * is reported on failure, with the source path) and dlopen / dlsym of the entry point; and the
 * same for the gemm library (codegen/cpu_gemm.c), loaded once with global symbols before any unit. Files are
 * written under temporary names and renamed, so processes sharing a cache never see partial files. */
#include "cpu_emit.h"
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* -fno-trapping-math: nothing reads the floating-point exception flags, and it lets the compiler
 * turn the selects of the branch-free helpers (dlm_tanhf) into vector blends; results are the same. */
#define CPU_FLAGS "-O3 -fno-trapping-math -fPIC -shared -fopenmp -Wall"
#define CPU_LIBS "-lopenblas -lm"

/* The vector instruction sets of the CPU this process runs on, as compiler flags: kernels are
 * compiled at run time on the machine that runs them, so they may use all of it (with AVX-512 the
 * branch-free exp, GELU and the row reductions run 16 lanes wide instead of SSE2's 4).
 * -ffp-contract=off keeps every product and sum rounded on its own, as in the baseline build and
 * the interpreter (no fused multiply-adds), so results do not depend on the host. The flags are
 * part of the cache key: a cache directory shared with another CPU gets its own kernels instead of
 * code this one cannot run. (The fp32 gemm, codegen/cpu_gemm.c, and the AVX-512 attention tiles and
 * exponential of codegen/cpu_attn_prelude.c multiply and add with explicit fused multiply-add
 * intrinsics, as OpenBLAS does, and the prelude's float exponentials with fmaf: the same in every
 * kernel that calls them.) Empty (the compiler's baseline) off x86-64 or without GCC builtins. */
static const char *isa_flags(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd"))
    return " -mavx2 -mfma -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512cd -ffp-contract=off";
  if (avx2) return " -mavx2 -mfma -ffp-contract=off";
#endif
  return "";
}

uint64_t cpu_fnv1a64(const void *data, size_t n, uint64_t h) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

static SrcLoc noloc(void) { return (SrcLoc){0, 0, 0}; }

/* mkdir -p */
static int make_dirs(char *path) {
  for (char *p = path + 1;; p++) {
    if (*p != '/' && *p) continue;
    char c = *p;
    *p = 0;
    int r = mkdir(path, 0777);
    *p = c;
    if (r != 0 && errno != EEXIST) return 0;
    if (!c) return 1;
  }
}

static int cache_dir(char *buf, size_t n, DlmErr *e) {
  const char *d = getenv("DLM_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
  if (d && *d) snprintf(buf, n, "%s", d);
  else if (x && *x) snprintf(buf, n, "%s/dlmc", x);
  else if (h && *h) snprintf(buf, n, "%s/.cache/dlmc", h);
  else snprintf(buf, n, "/tmp/dlmc-cache");
  if (!make_dirs(buf)) {
    err_set(e, noloc(), "cpu: cannot create the kernel cache directory %s: %s", buf, strerror(errno));
    return 0;
  }
  return 1;
}

/* path in single quotes for the shell */
static void shell_quote(const char *s, char *out, size_t n) {
  size_t k = 0;
  out[k++] = '\'';
  for (; *s && k + 6 < n; s++) {
    if (*s == '\'') { memcpy(out + k, "'\\''", 4); k += 4; }
    else out[k++] = *s;
  }
  out[k++] = '\'';
  out[k] = 0;
}

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) return 0;
  size_t n = strlen(text);
  int ok = fwrite(text, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}

/* Run the compiler; 1 on success, else 0 with its output in *e. */
static int compile(const char *cc, const char *flags, const char *src, const char *out, DlmErr *e) {
  char qs[2200], qo[2200], cmd[5000];
  shell_quote(src, qs, sizeof qs);
  shell_quote(out, qo, sizeof qo);
  snprintf(cmd, sizeof cmd, "%s %s -o %s %s %s 2>&1", cc, flags, qo, qs, CPU_LIBS);
  FILE *p = popen(cmd, "r");
  if (!p) { err_set(e, noloc(), "cpu: cannot run the C compiler (%s): %s", cc, strerror(errno)); return 0; }
  char log[400];
  size_t n = fread(log, 1, sizeof log - 1, p);
  log[n] = 0;
  char sink[4096];
  while (fread(sink, 1, sizeof sink, p) > 0) {}
  int st = pclose(p);
  if (st == 0) return 1;
  err_set(e, noloc(), "cpu: the C compiler failed on %s (%s %s): %s", src, cc, flags, n ? log : "(no output)");
  return 0;
}

/* The shared object for src under dir (named prefix_<hash of src, compiler and flags>.so), compiled
 * unless the cache already holds it; its path in sopath. */
static int build_so(const char *cc, const char *flags, const char *src, const char *dir, const char *prefix, char *sopath,
                    size_t n, DlmErr *e) {
  char cpath[1200], tmp[1300];
  uint64_t h = cpu_fnv1a64(src, strlen(src), 0xcbf29ce484222325ull);
  h = cpu_fnv1a64(cc, strlen(cc) + 1, h);
  h = cpu_fnv1a64(flags, strlen(flags) + 1, h);
  h = cpu_fnv1a64(CPU_LIBS, sizeof CPU_LIBS, h);
  snprintf(cpath, sizeof cpath, "%s/%s_%016llx.c", dir, prefix, (unsigned long long)h);
  snprintf(sopath, n, "%s/%s_%016llx.so", dir, prefix, (unsigned long long)h);
  if (access(sopath, R_OK) == 0) return 1;
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", cpath, (long)getpid());
  if (!write_file(tmp, src) || rename(tmp, cpath) != 0) {
    err_set(e, noloc(), "cpu: cannot write %s: %s", cpath, strerror(errno));
    unlink(tmp);
    return 0;
  }
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", sopath, (long)getpid());
  if (!compile(cc, flags, cpath, tmp, e)) { unlink(tmp); return 0; }
  if (rename(tmp, sopath) != 0) {
    err_set(e, noloc(), "cpu: cannot write %s: %s", sopath, strerror(errno));
    unlink(tmp);
    return 0;
  }
  return 1;
}

/* The compiler ($CC, else cc) and its flags for generated code. */
static const char *compiler(char *flags, size_t n) {
  const char *cc = getenv("CC"), *werror = getenv("DLM_CPU_WERROR");
  snprintf(flags, n, "%s%s%s", CPU_FLAGS, isa_flags(), werror && *werror && strcmp(werror, "0") != 0 ? " -Werror" : "");
  return cc && *cc ? cc : "cc";
}

/* OpenMP workers that spin between kernels starve the OpenBLAS threads (and everything else on
 * a small machine): make them sleep unless the user chose otherwise, after a short spin (20000
 * polls, tens of microseconds) that catches the next kernel's parallel region without a futex
 * wake-up: a training step runs hundreds of them (about 100 vs 110 ms per step at the benchmark's
 * configuration, bench/README.md). Both are read when libgomp loads, so this runs before the
 * first generated library is loaded. */
static void omp_env(void) {
  setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
  setenv("GOMP_SPINCOUNT", "20000", 0);
}

void *cpu_gemm_load(int cblas_only, DlmErr *e) {
  static void *global;
  if (!cblas_only && global) return global;
  char dir[1024], sopath[1200], flags[400];
  const char *cc = compiler(flags, sizeof flags - 32);
  if (cblas_only) strcat(flags, " -DDLM_SGEMM_CBLAS");
  if (!cache_dir(dir, sizeof dir, e) || !build_so(cc, flags, cpu_gemm_src, dir, "dlm_gemm", sopath, sizeof sopath, e)) return NULL;
  omp_env();
  void *lib = dlopen(sopath, RTLD_NOW | RTLD_NODELETE | (cblas_only ? RTLD_LOCAL : RTLD_GLOBAL));
  if (!lib) { err_set(e, noloc(), "cpu: cannot load %s: %s", sopath, dlerror()); return NULL; }
  if (!cblas_only) global = lib;
  return lib;
}

void *cpu_build(const char *src, CpuEntry *entry, DlmErr *e) {
  char dir[1024], sopath[1200], flags[400];
  const char *cc = compiler(flags, sizeof flags);
  /* the units call dlm_sgemm from the library loaded here with global symbols */
  if (!cpu_gemm_load(0, e) || !cache_dir(dir, sizeof dir, e) || !build_so(cc, flags, src, dir, "dlm", sopath, sizeof sopath, e))
    return NULL;
  void *lib = dlopen(sopath, RTLD_NOW | RTLD_LOCAL);
  if (!lib) { err_set(e, noloc(), "cpu: cannot load %s: %s", sopath, dlerror()); return NULL; }
  /* The OpenMP and OpenBLAS thread pools outlive any one unit: keep their libraries loaded when
   * the units that brought them in are closed (their idle threads would run unmapped code). */
  const char *pinned[] = {"libgomp.so.1", "libopenblas.so.0"};
  for (size_t i = 0; i < sizeof pinned / sizeof *pinned; i++) {
    void *h = dlopen(pinned[i], RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    /* The kernels split matmuls over OpenMP threads themselves; OpenBLAS's own threads would only
     * compete with them (and spin in sched_yield between calls). */
    void *set_threads = h ? dlsym(h, "openblas_set_num_threads") : NULL;
    if (set_threads) {
      void (*fn)(int);
      memcpy(&fn, &set_threads, sizeof fn);
      fn(1);
    }
  }
  void *sym = dlsym(lib, "dlm_entry");
  if (!sym) {
    err_set(e, noloc(), "cpu: %s has no dlm_entry", sopath);
    dlclose(lib);
    return NULL;
  }
  memcpy(entry, &sym, sizeof sym);
  return lib;
}
