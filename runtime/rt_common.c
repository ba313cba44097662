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

const Backend *rt_backend(const char *name) {
  if (!name) {
    const Backend *b = backend_find("cpu");
    return b ? b : &backend_interp;
  }
  const Backend *b = backend_find(name);
  if (!b) fprintf(stderr, "dlmrun: --backend: no backend named '%s' in this build (cpu%s, interp)\n", name,
                  backend_find("cpu") ? "" : " is not built");
  return b;
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
