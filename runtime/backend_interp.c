/* backend_interp.c — the reference interpreter (ir/interp.c) behind the Backend interface, in
 * float32 mode: the slow, obviously-correct way to run any function. */
#include "backend_host.h"
#include "interp.h"
#include <stdlib.h>
#include <string.h>

struct BackendState { HostHead head; const Module *m; };  /* head first (backend_host.h) */

static int interp_backend_run(BackendState *s, const Func *f, const ParamStore *ps, Tensor *const *args,
                              Tensor **outs, const int64_t *symval, DlmErr *e);

static BackendState *interp_open(const Module *m, DlmErr *e) {
  BackendState *s = calloc(1, sizeof *s);
  if (!s) { err_set(e, (SrcLoc){0, 0, 0}, "out of memory"); return NULL; }
  s->head.run = interp_backend_run;
  s->m = m;
  return s;
}

static int interp_backend_run(BackendState *s, const Func *f, const ParamStore *ps, Tensor *const *args,
                              Tensor **outs, const int64_t *symval, DlmErr *e) {
  return interp_run_syms(s->m, f, ps, args, outs, DT_F32, symval, e);
}

static void interp_close(BackendState *s) { free(s); }

const Backend backend_interp = {"interp", interp_open, backend_host_run, interp_close, &backend_host_dev, 0, NULL};

const Backend *backend_find(const char *name) {
  if (strcmp(name, "interp") == 0) return &backend_interp;
  if (strcmp(name, "cpu") == 0) return &backend_cpu;
  if (strcmp(name, "cuda") == 0) return &backend_cuda;
  return NULL;
}
