/* cuda_nvrtc.c — compiles generated CUDA C with NVRTC into a CUBIN for one sm_XX architecture, with
 * an on-disk cache keyed by the FNV-1a hash of the source and the options (files written under a
 * temporary name and renamed). Built with NVRTC only when CMake found the CUDA toolkit
 * (DLM_HAVE_NVRTC); otherwise cuda_compile reports that the build has no NVRTC. */
#include "cuda_emit.h"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static SrcLoc noloc(void) { return (SrcLoc){0, 0, 0}; }

#ifdef DLM_HAVE_NVRTC
#include <nvrtc.h>

int cuda_have_nvrtc(void) { return 1; }

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

/* the cache directory, or 0 (then the cache is not used) */
static int cache_dir(char *buf, size_t n) {
  const char *d = getenv("DLM_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
  if (d && *d) snprintf(buf, n, "%s/cuda", d);
  else if (x && *x) snprintf(buf, n, "%s/dlmc/cuda", x);
  else if (h && *h) snprintf(buf, n, "%s/.cache/dlmc/cuda", h);
  else snprintf(buf, n, "/tmp/dlmc-cache/cuda");
  return make_dirs(buf);
}

static void *read_all(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  if (len > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len)) && fread(buf, 1, (size_t)len, f) != (size_t)len) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) *size = (size_t)len;
  return buf;
}

static void write_cache(const char *path, const void *img, size_t size) {
  char tmp[1200];
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) return;
  int ok = fwrite(img, 1, size, f) == size;
  if (fclose(f) != 0) ok = 0;
  if (!ok || rename(tmp, path) != 0) remove(tmp);
}

void *cuda_compile(const char *src, int arch, size_t *size, DlmErr *e) {
  char opt_arch[64];
  snprintf(opt_arch, sizeof opt_arch, "--gpu-architecture=sm_%d", arch);
  const char *opts[] = {opt_arch, "--std=c++14"};
  uint64_t h = cpu_fnv1a64(src, strlen(src), 0xcbf29ce484222325ull);
  for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) h = cpu_fnv1a64(opts[i], strlen(opts[i]) + 1, h);
  int major = 0, minor = 0;
  nvrtcVersion(&major, &minor);
  char ver[32];
  snprintf(ver, sizeof ver, "nvrtc %d.%d", major, minor);
  h = cpu_fnv1a64(ver, strlen(ver), h);
  char dir[1024], path[1100];
  int cached = cache_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/%016llx.sm_%d.cubin", dir, (unsigned long long)h, arch);
  if (cached) {
    void *img = read_all(path, size);
    if (img) return img;
  }
  nvrtcProgram prog;
  nvrtcResult r = nvrtcCreateProgram(&prog, src, "dlm_unit.cu", 0, NULL, NULL);
  if (r != NVRTC_SUCCESS) { err_set(e, noloc(), "nvrtc: %s", nvrtcGetErrorString(r)); return NULL; }
  r = nvrtcCompileProgram(prog, (int)(sizeof opts / sizeof *opts), opts);
  if (r != NVRTC_SUCCESS) {
    size_t ln = 0;
    nvrtcGetProgramLogSize(prog, &ln);
    char *log = malloc(ln + 1);
    if (log) {
      log[0] = 0;
      nvrtcGetProgramLog(prog, log);
      log[ln] = 0;
    }
    err_set(e, noloc(), "nvrtc (sm_%d): %s: %.400s", arch, nvrtcGetErrorString(r), log ? log : "");
    if (log && getenv("DLM_NVRTC_VERBOSE")) fprintf(stderr, "%s\n", log);
    free(log);
    nvrtcDestroyProgram(&prog);
    return NULL;
  }
  size_t n = 0;
  void *img = NULL;
  if (nvrtcGetCUBINSize(prog, &n) == NVRTC_SUCCESS && n > 0 && (img = malloc(n)) && nvrtcGetCUBIN(prog, img) != NVRTC_SUCCESS) {
    free(img);
    img = NULL;
  }
  nvrtcDestroyProgram(&prog);
  if (!img) { err_set(e, noloc(), "nvrtc (sm_%d): no CUBIN", arch); return NULL; }
  *size = n;
  if (cached) write_cache(path, img, n);
  return img;
}

typedef struct {
  const CudaUnit *u;
  int arch, nchunks, next, failed;
  int *first;            /* first launch index (kernels only) of each chunk, plus the end */
  void **img;
  size_t *size;
  DlmErr err;
  pthread_mutex_t mu;
} Job;

/* the source of chunk c: the prelude and the text of its kernels */
static char *chunk_src(const Job *j, int c) {
  const CudaUnit *u = j->u;
  size_t from = u->launch[j->first[c]].src_off;
  size_t to = j->first[c + 1] < u->nlaunch ? u->launch[j->first[c + 1]].src_off : strlen(u->src);
  char *s = malloc(u->prelude_len + (to - from) + 1);
  if (!s) return NULL;
  memcpy(s, u->src, u->prelude_len);
  memcpy(s + u->prelude_len, u->src + from, to - from);
  s[u->prelude_len + (to - from)] = 0;
  return s;
}

static void *worker(void *arg) {
  Job *j = arg;
  for (;;) {
    pthread_mutex_lock(&j->mu);
    int c = j->failed ? j->nchunks : j->next++;
    pthread_mutex_unlock(&j->mu);
    if (c >= j->nchunks) return NULL;
    DlmErr e = {0};
    char *src = chunk_src(j, c);
    void *img = src ? cuda_compile(src, j->arch, &j->size[c], &e) : NULL;
    if (!src) err_set(&e, noloc(), "cuda: out of memory");
    free(src);
    pthread_mutex_lock(&j->mu);
    j->img[c] = img;
    if (!img && !j->failed) { j->failed = 1; j->err = e; }
    pthread_mutex_unlock(&j->mu);
  }
}

int cuda_compile_unit(const CudaUnit *u, int arch, void ***images, size_t **sizes, int *nchunks, int *chunk_of, DlmErr *e) {
  Job j;
  memset(&j, 0, sizeof j);
  j.u = u;
  j.arch = arch;
  j.first = malloc((size_t)(u->nlaunch + 2) * sizeof *j.first);
  if (!j.first) { err_set(e, noloc(), "cuda: out of memory"); return 0; }
  int nk = 0;
  for (int i = 0; i < u->nlaunch; i++) {
    chunk_of[i] = -1;
    if (u->launch[i].kind == CL_GEMM) continue;
    if (nk % CUDA_CHUNK == 0) j.first[j.nchunks++] = i;
    chunk_of[i] = j.nchunks - 1;
    nk++;
  }
  j.first[j.nchunks] = u->nlaunch;
  int nc = j.nchunks ? j.nchunks : 1;
  j.img = calloc((size_t)nc, sizeof *j.img);
  j.size = calloc((size_t)nc, sizeof *j.size);
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  const char *env = getenv("DLM_NVRTC_THREADS");
  int nt = env && atoi(env) > 0 ? atoi(env) : ncpu > 0 ? (int)ncpu : 1;
  if (nt > 32) nt = 32;
  if (nt > j.nchunks) nt = j.nchunks;
  pthread_t th[32];
  int started = 0;
  if (!j.img || !j.size) { err_set(&j.err, noloc(), "cuda: out of memory"); j.failed = 1; }
  else {
    pthread_mutex_init(&j.mu, NULL);
    for (int t = 0; t < nt; t++)
      if (pthread_create(&th[started], NULL, worker, &j) == 0) started++;
    if (started == 0 && j.nchunks) worker(&j);
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    pthread_mutex_destroy(&j.mu);
  }
  free(j.first);
  if (j.failed) {
    *e = j.err;
    for (int c = 0; j.img && c < j.nchunks; c++) free(j.img[c]);
    free(j.img);
    free(j.size);
    return 0;
  }
  *images = j.img;
  *sizes = j.size;
  *nchunks = j.nchunks;
  return 1;
}

#else

int cuda_have_nvrtc(void) { return 0; }

int cuda_compile_unit(const CudaUnit *u, int arch, void ***images, size_t **sizes, int *nchunks, int *chunk_of, DlmErr *e) {
  (void)u;
  (void)arch;
  (void)images;
  (void)sizes;
  (void)nchunks;
  (void)chunk_of;
  err_set(e, noloc(), "this dlmc was built without the CUDA toolkit (no NVRTC)");
  return 0;
}

void *cuda_compile(const char *src, int arch, size_t *size, DlmErr *e) {
  (void)src;
  (void)arch;
  (void)size;
  err_set(e, noloc(), "this dlmc was built without the CUDA toolkit (no NVRTC)");
  return NULL;
}

#endif
