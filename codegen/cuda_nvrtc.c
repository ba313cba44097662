/* cuda_nvrtc.c — compiles generated CUDA C with NVRTC into a CUBIN for one sm_XX architecture, with
 * an on-disk cache keyed by the FNV-1a hash of the source and the options (files written under a
 * temporary name and renamed). Built with NVRTC only when CMake found the CUDA toolkit
 * (DLM_HAVE_NVRTC); otherwise cuda_compile reports that the build has no NVRTC. */
#include "cuda_emit.h"
#include <errno.h>
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

#else

int cuda_have_nvrtc(void) { return 0; }

void *cuda_compile(const char *src, int arch, size_t *size, DlmErr *e) {
  (void)src;
  (void)arch;
  (void)size;
  err_set(e, noloc(), "this dlmc was built without the CUDA toolkit (no NVRTC)");
  return NULL;
}

#endif
