/* rt_common.c — helpers shared by the dlmrun subcommands (see dlmrun.h). */
#include "dlmrun.h"
#include "artifact.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

Module *rt_open_artifact(const char *path) {
  DlmErr e = {0};
  Module *m = artifact_read(path, &e);
  if (!m) fprintf(stderr, "dlmrun: %s\n", e.msg);
  return m;
}

int rt_target_opt(const char *flag, const char *value, RtTarget *t) {
  if (!strcmp(flag, "--device")) t->device = value;
  else if (!strcmp(flag, "--backend")) t->backend = value;
  else return 0;
  return 1;
}

/* the device a backend name runs on (NULL for an unknown name) */
static const char *backend_device(const char *name) {
  if (!strcmp(name, "cuda")) return "cuda";
  if (!strcmp(name, "cpu") || !strcmp(name, "interp")) return "cpu";
  return NULL;
}

int rt_target_check(const char *cmd, const RtTarget *t) {
  if (!t->device) return 0;
  if (strcmp(t->device, "cpu") && strcmp(t->device, "cuda")) return rt_usage(cmd, "--device wants cpu or cuda, got '%s'", t->device);
  const char *bd = t->backend ? backend_device(t->backend) : NULL;
  if (bd && strcmp(bd, t->device)) {
    fprintf(stderr, "dlmrun %s: --device %s contradicts --backend %s (which runs on the %s)\n(try dlmrun --help)\n", cmd, t->device,
            t->backend, bd);
    return 2;
  }
  return 0;
}

BackendState *rt_target_open(const char *cmd, const RtTarget *t, const Module *m, const Backend **be) {
  DlmErr e = {0};
  const char *name = t->backend ? t->backend : t->device;   /* rt_target_check accepted the device: cpu or cuda */
  const char *env = getenv("DLM_DEVICE");
  if (!name && env && *env) {   /* neither given: $DLM_DEVICE sets the default device */
    if (strcmp(env, "cpu") && strcmp(env, "cuda")) {
      fprintf(stderr, "dlmrun %s: the environment variable DLM_DEVICE wants cpu or cuda, got '%s'\n", cmd, env);
      return NULL;
    }
    name = env;
  }
  if (!name) {   /* neither given: cuda when a device opens, else cpu */
    BackendState *s = backend_cuda.open(m, &e);
    if (s) {
      fprintf(stderr, "dlmrun %s: device cuda (no --device given; a CUDA device opened)\n", cmd);
      *be = &backend_cuda;
      return s;
    }
    fprintf(stderr, "dlmrun %s: device cpu (no --device given; cuda: %s)\n", cmd, e.msg);
    memset(&e, 0, sizeof e);
    name = "cpu";
  }
  const Backend *b = backend_find(name);
  if (!b) {
    fprintf(stderr, "dlmrun %s: --backend: no backend named '%s' (interp, cpu, cuda)\n", cmd, name);
    return NULL;
  }
  BackendState *s = b->open(m, &e);
  if (!s) {
    fprintf(stderr, "dlmrun %s: %s%s: %s\n", cmd, t->backend ? "--backend " : t->device ? "--device " : "DLM_DEVICE=",
            name, e.msg);
    return NULL;
  }
  *be = b;
  return s;
}

int rt_int(const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    fprintf(stderr, "dlmrun: %s: '%s' is not an integer in [%lld, %lld]\n", flag, s, (long long)lo, (long long)hi);
    return 0;
  }
  *out = v;
  return 1;
}

int rt_num(const char *flag, const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
    fprintf(stderr, "dlmrun: %s: '%s' is not a number in [%g, %g]\n", flag, s, lo, hi);
    return 0;
  }
  *out = v;
  return 1;
}

const char *rt_value(int argc, char **argv, int *i) {
  if (*i + 1 >= argc) { fprintf(stderr, "dlmrun: %s needs a value\n", argv[*i]); return NULL; }
  return argv[++*i];
}

int rt_usage(const char *cmd, const char *fmt, const char *arg) {
  fprintf(stderr, "dlmrun %s: ", cmd);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(try dlmrun --help)\n");
  return 2;
}
