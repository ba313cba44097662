/* backend_cpu.c — the compiled CPU backend behind the Backend interface: each function is turned
 * into C by codegen/cpu_emit*.c on its first run, compiled and loaded by codegen/cpu_build.c (cached
 * by content hash), and then called with host buffers. This file checks and converts the arguments
 * and parameters (the same rules and messages as the interpreter), binds the shape symbols from the
 * argument shapes (or takes them from the caller), allocates the outputs and reports kernel failures at their node's location. */
#include "backend_host.h"
#include "bind.h"
#include "cpu_emit.h"
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const Func *f;
  void *lib;
  CpuEntry entry;
  int nparams;
  int *param_nodes;
  void *ws;        /* the function's workspace, reused across calls */
  int64_t wsz;
} CpuFn;

struct BackendState {
  HostHead head;   /* first (backend_host.h) */
  const Module *m;
  CpuFn *fns;
  int nfns, cap;
};

static SrcLoc noloc(void) { return (SrcLoc){0, 0, 0}; }

static int cpu_run(BackendState *s, const Func *f, const ParamStore *ps, Tensor *const *args, Tensor **outs,
                   const int64_t *presym, DlmErr *e);

static BackendState *cpu_open(const Module *m, DlmErr *e) {
  BackendState *s = calloc(1, sizeof *s);
  if (!s) { err_set(e, noloc(), "out of memory"); return NULL; }
  s->head.run = cpu_run;
  s->m = m;
  return s;
}

static void cpu_close(BackendState *s) {
  if (!s) return;
  for (int i = 0; i < s->nfns; i++) {
    if (s->fns[i].lib) dlclose(s->fns[i].lib);
    free(s->fns[i].param_nodes);
    free(s->fns[i].ws);
  }
  free(s->fns);
  free(s);
}

/* The compiled function for f, compiling it on first use. */
static CpuFn *get_fn(BackendState *s, const Func *f, DlmErr *e) {
  for (int i = 0; i < s->nfns; i++)
    if (s->fns[i].f == f) return &s->fns[i];
  if (s->nfns == s->cap) {
    int cap = s->cap ? 2 * s->cap : 8;
    CpuFn *n = realloc(s->fns, (size_t)cap * sizeof *n);
    if (!n) { err_set(e, noloc(), "out of memory"); return NULL; }
    s->fns = n;
    s->cap = cap;
  }
  CpuUnit u;
  if (!cpu_emit_func(s->m, f, &u, e)) return NULL;
  CpuFn fn = {f, NULL, NULL, u.nparams, u.param_nodes, NULL, 0};
  fn.lib = cpu_build(u.src, &fn.entry, e);
  free(u.src);
  if (!fn.lib) { free(fn.param_nodes); return NULL; }
  s->fns[s->nfns] = fn;
  return &s->fns[s->nfns++];
}

static int eval_shape(const Node *n, const int64_t *symval, int64_t *shape, DlmErr *e) {
  for (int d = 0; d < n->type.rank; d++)
    if (!argbind_dim_value(n->type.dims[d], symval, &shape[d])) {
      err_set(e, n->loc, "%s: dimension %d overflows", op_info[n->op].name, d);
      return 0;
    }
  return 1;
}

/* ---------------------------------------------------------------- host buffers */
static int64_t geti(const Tensor *t, int64_t k) {
  switch (t->dtype) {
  case DT_I32: return ((const int32_t *)t->data)[k];
  case DT_I64: return ((const int64_t *)t->data)[k];
  case DT_BOOL: return ((const uint8_t *)t->data)[k] != 0;
  default: return (int64_t)tensor_get(t, k);
  }
}

/* t as the storage of declared dtype `to` (see cpu_emit.h): t->data itself when it already is,
 * else a converted copy in *owned. */
static void *to_storage(const Tensor *t, const Node *n, const char *what, void **owned, DlmErr *e) {
  DType to = n->type.dtype;
  *owned = NULL;
  if ((to == DT_F32 && t->dtype == DT_F32) || (to == t->dtype && !dtype_is_float(to)) || (to == DT_F64 && t->dtype == DT_F64))
    return t->data;
  size_t sz = to == DT_F64 ? 8 : to == DT_I64 ? 8 : to == DT_BOOL ? 1 : 4;
  char *buf = malloc((size_t)(t->numel ? t->numel : 1) * sz);
  if (!buf) { err_set(e, n->loc, "%s: out of memory", what); return NULL; }
  for (int64_t k = 0; k < t->numel; k++) {
    if (dtype_is_float(to)) {
      double v = tensor_get(t, k);
      if (to == DT_F64) ((double *)buf)[k] = v;
      else if (to == DT_BF16) ((float *)buf)[k] = bf16_to_f32(f32_to_bf16((float)v));
      else if (to == DT_F16) ((float *)buf)[k] = f16_to_f32(f32_to_f16((float)v));
      else ((float *)buf)[k] = (float)v;
      continue;
    }
    int64_t v = geti(t, k);
    if (to == DT_I32 && (v < INT32_MIN || v > INT32_MAX)) {
      err_set(e, n->loc, "%s: value %lld at element %lld does not fit in i32", what, (long long)v, (long long)k);
      free(buf);
      return NULL;
    }
    if (to == DT_I32) ((int32_t *)buf)[k] = (int32_t)v;
    else if (to == DT_I64) ((int64_t *)buf)[k] = v;
    else ((uint8_t *)buf)[k] = v != 0;
  }
  *owned = buf;
  return buf;
}

static int cpu_run(BackendState *s, const Func *f, const ParamStore *ps, Tensor *const *args, Tensor **outs,
                   const int64_t *presym, DlmErr *e) {
  const Module *m = s->m;
  for (int k = 0; k < f->nout; k++) outs[k] = NULL;
  const Node *argn[256];
  if (!argbind_nodes(f, argn, 256, e)) return 0;
  int64_t symval[DLM_MAX_SYMS] = {0};
  if (!rt_bind_args(m, f, argn, args, presym, symval, e)) return 0;
  CpuFn *fn = get_fn(s, f, e);
  if (!fn) return 0;

  int nbuf = f->nargs + fn->nparams + f->nout;
  void **bufs = calloc((size_t)(nbuf ? nbuf : 1), sizeof *bufs), **owned = calloc((size_t)(nbuf ? nbuf : 1), sizeof *owned);
  int ok = bufs && owned;
  if (!ok) err_set(e, noloc(), "out of memory");
  void **A = bufs, **P = bufs + f->nargs, **O = P + fn->nparams;
  for (int a = 0; ok && a < f->nargs; a++) {
    char nb[32];
    A[a] = to_storage(args[a], argn[a], argbind_name(argn[a], nb, sizeof nb), &owned[a], e);
    ok = A[a] != NULL;
  }
  for (int p = 0; ok && p < fn->nparams; p++) {
    const Node *n = &f->nodes[fn->param_nodes[p]];
    const char *pn = n->attr.s ? n->attr.s : "?";
    const Tensor *t = ps && n->attr.s ? pstore_get(ps, n->attr.s) : NULL;
    int64_t shape[DLM_MAX_RANK];
    if (!t) { err_set(e, n->loc, "parameter %s is missing from the parameter store", pn); ok = 0; break; }
    if (!eval_shape(n, symval, shape, e)) { ok = 0; break; }
    int same = t->rank == n->type.rank;
    for (int d = 0; same && d < t->rank; d++) same = t->shape[d] == shape[d];
    if (!same) {
      char ty[128];
      err_set(e, n->loc, "parameter %s: stored tensor has rank %d / a different shape than the declared %s", pn, t->rank,
              type_str(m, &n->type, ty, sizeof ty));
      ok = 0;
      break;
    }
    if (!argbind_convertible(t->dtype, n->type.dtype)) {
      err_set(e, n->loc, "parameter %s: stored dtype %s is not convertible to %s", pn, dtype_name(t->dtype), dtype_name(n->type.dtype));
      ok = 0;
      break;
    }
    P[p] = to_storage(t, n, pn, &owned[f->nargs + p], e);
    ok = P[p] != NULL;
  }
  for (int k = 0; ok && k < f->nout; k++) {
    const Node *n = &f->nodes[f->outs[k]];
    int64_t shape[DLM_MAX_RANK];
    if (!eval_shape(n, symval, shape, e)) { ok = 0; break; }
    /* not zero-filled: the unit writes every element of its outputs (no serial pass per call) */
    outs[k] = tensor_new_unset(dtype_is_float(n->type.dtype) ? DT_F32 : n->type.dtype, n->type.rank, shape);
    if (!outs[k]) { err_set(e, n->loc, "out of memory for output %d", k); ok = 0; break; }
    O[k] = outs[k]->data;
  }
  if (ok) {
    char msg[512] = "";
    int rc = fn->entry(symval, A, P, O, &fn->ws, &fn->wsz, msg, (int)sizeof msg);
    if (rc != 0) {
      err_set(e, rc > 0 && rc <= f->nnodes ? f->nodes[rc - 1].loc : noloc(), "%s", msg);
      ok = 0;
    }
  }
  for (int i = 0; owned && i < nbuf; i++) free(owned[i]);
  free(owned);
  free(bufs);
  if (!ok)
    for (int k = 0; k < f->nout; k++) { tensor_free(outs[k]); outs[k] = NULL; }
  return ok;
}

const Backend backend_cpu = {"cpu", cpu_open, backend_host_run, cpu_close, &backend_host_dev, 0, NULL};
