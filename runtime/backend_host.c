/* backend_host.c — backend-resident values for the host backends (see backend_host.h): a value
 * owns a host tensor; running f on values runs it on their tensors and replaces the outputs'
 * tensors (unless skip is true). Nothing waits, so every operation is immediate. */
#include "backend_host.h"
#include <stdlib.h>

struct BackendValue { Tensor *t; };

static HostHead *head(BackendState *s) { return (HostHead *)(void *)s; }
static SrcLoc noloc(void) { return (SrcLoc){0, 0, 0}; }

int backend_host_run(BackendState *s, const Func *f, const ParamStore *ps, Tensor *const *args, Tensor **outs,
                     const int64_t *symval, DlmErr *e) {
  head(s)->up += f->nargs;
  int ok = head(s)->run(s, f, ps, args, outs, symval, e);
  head(s)->down += ok ? f->nout : 0;
  return ok;
}

static BackendValue *wrap(Tensor *t, DlmErr *e) {
  BackendValue *v = t ? malloc(sizeof *v) : NULL;
  if (!v) { tensor_free(t); err_set(e, noloc(), "out of memory"); return NULL; }
  v->t = t;
  return v;
}

static BackendValue *host_upload(BackendState *s, const Tensor *t, DlmErr *e) {
  head(s)->up++;
  return wrap(tensor_clone(t), e);
}

static Tensor *host_download(BackendState *s, const BackendValue *v, DlmErr *e) {
  head(s)->down++;
  Tensor *t = tensor_clone(v->t);
  if (!t) err_set(e, noloc(), "out of memory");
  return t;
}

static void host_release(BackendState *s, BackendValue *v) {
  (void)s;
  if (v) tensor_free(v->t);
  free(v);
}

static int host_run_values(BackendState *s, const Func *f, const ParamStore *ps, BackendValue *const *args, BackendValue **outs,
                           const int64_t *symval, const BackendValue *skip, DlmErr *e) {
  Tensor **a = calloc((size_t)f->nargs + 1, sizeof *a), **o = calloc((size_t)f->nout + 1, sizeof *o);
  int ok = a && o;
  if (!ok) err_set(e, noloc(), "out of memory");
  for (int k = 0; ok && k < f->nargs; k++) a[k] = args[k]->t;
  ok = ok && head(s)->run(s, f, ps, a, o, symval, e);
  int keep = ok && skip && tensor_get(skip->t, 0) != 0;
  for (int k = 0; ok && k < f->nout; k++) {
    if (keep && outs[k]) continue;
    if (!outs[k]) {
      outs[k] = wrap(o[k], e);
      o[k] = NULL;
      if (!outs[k]) { ok = 0; break; }
      continue;
    }
    tensor_free(outs[k]->t);
    outs[k]->t = o[k];
    o[k] = NULL;
  }
  for (int k = 0; o && k < f->nout; k++) tensor_free(o[k]);
  free(a);
  free(o);
  return ok;
}

static int host_set_int(BackendState *s, BackendValue *v, int64_t x, const BackendValue *skip, DlmErr *e) {
  (void)s;
  (void)e;
  if (skip && tensor_get(skip->t, 0) != 0) return 1;
  if (v->t->dtype == DT_I64) *(int64_t *)v->t->data = x;
  else tensor_set(v->t, 0, (double)x);
  return 1;
}

static int host_flag_or(BackendState *s, BackendValue *dst, const BackendValue *src, DlmErr *e) {
  (void)s;
  (void)e;
  if (tensor_get(src->t, 0) != 0) tensor_set(dst->t, 0, 1);
  return 1;
}

static void host_transfers(BackendState *s, int64_t *up, int64_t *down) {
  *up = head(s)->up;
  *down = head(s)->down;
}

const BackendDev backend_host_dev = {host_upload, host_download, host_release, host_run_values, host_set_int, host_flag_or, NULL,
                                     host_transfers, NULL};
