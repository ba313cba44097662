/* backend_cuda_values.c — resident values of the CUDA backend (BackendDev, docs/cuda.md
 * "Runtime"): a value is a device buffer with its dtype and shape (float values hold f32, as the
 * host path's outputs do). Running a function on values queues, on the backend's stream and
 * without waiting: conversion kernels for arguments whose storage differs from the value's (the
 * others are read where they are), the launch plan reading the function's own pointer table
 * (uploaded only when an address in it changes) and its own arena (so that no other function's
 * needs move its buffers), and conversion kernels that write the outputs
 * into the output values (skipped on the device when the skip flag is set). With
 * $DLM_CUDA_GRAPHS=1 all of it is one CUDA graph per function, replayed while every address and
 * symbol value stays the same, which they do in a loop: variables keep their buffers. Kernel
 * failures set the function's flag slot; download (the only wait) reports them. Released
 * buffers are kept for reuse (freeing device memory would wait for the device). */
#include "backend_cuda_internal.h"
#include "bind.h"
#include <stdlib.h>
#include <string.h>

struct BackendValue {
  Tensor t;         /* dtype and shape; t.data is NULL */
  CUdeviceptr p;
  size_t cap;       /* bytes of p */
};

enum { K_F32, K_F64, K_I32, K_I64, K_BOOL, K_BF16, K_F16 };

/* the element kind of a value of dtype t, or of a kernel's storage of dtype t */
static int value_kind(DType t) { return t == DT_F64 ? K_F64 : t == DT_I32 ? K_I32 : t == DT_I64 ? K_I64 : t == DT_BOOL ? K_BOOL : K_F32; }
static int storage_kind(DType t) { return t == DT_BF16 ? K_BF16 : t == DT_F16 ? K_F16 : value_kind(t); }
static size_t value_bytes(const Tensor *t) { return (size_t)t->numel * cuda_storage_size(t->dtype); }

static int values_open(BackendState *s, DlmErr *e) {
  Cu *cu = &s->cu;
  size_t n = strlen(cuda_prelude) + strlen(cuda_value_ops_src) + 1, isz = 0;
  char *src = malloc(n);
  if (!src) { err_set(e, cuda_noloc(), "out of memory"); return 0; }
  strcpy(src, cuda_prelude);
  strcat(src, cuda_value_ops_src);
  void *img = cuda_compile(src, s->arch, &isz, e);
  free(src);
  if (!img) return 0;
  CUresult r = cu->ModuleLoadData(&s->vmod, img);
  free(img);
  if (r != 0) { s->vmod = NULL; err_set(e, cuda_noloc(), "cuda: cannot load the value kernels: %s", cu_err(cu, r)); return 0; }
  if ((r = cu->ModuleGetFunction(&s->convert, s->vmod, "dlm_convert")) != 0 || (r = cu->ModuleGetFunction(&s->set_int, s->vmod, "dlm_set_int")) != 0 ||
      (r = cu->ModuleGetFunction(&s->flag_or, s->vmod, "dlm_flag_or")) != 0) {
    err_set(e, cuda_noloc(), "cuda: the value kernels: %s", cu_err(cu, r));
    return 0;
  }
  if ((r = cu->MemAlloc(&s->bads, CUDA_MAX_FNS * sizeof(int))) != 0 || (r = cu->MemsetD8(s->bads, 0, CUDA_MAX_FNS * sizeof(int))) != 0) {
    err_set(e, cuda_noloc(), "cuda: cannot allocate the failure flags: %s", cu_err(cu, r));
    return 0;
  }
  return 1;
}

/* without the value kernels the backend still runs host tensors: the reason is kept for ready */
void cuda_values_open(BackendState *s) {
  memset(&s->values_err, 0, sizeof s->values_err);
  values_open(s, &s->values_err);
}

void cuda_values_close(BackendState *s) {
  for (int i = 0; i < s->npool; i++) s->cu.MemFree(s->pool[i].p);
  free(s->pool);
  s->pool = NULL;
  s->npool = 0;
  for (int i = 0; i < s->nfns; i++) {
    if (s->fns[i].vtab) s->cu.MemFree(s->fns[i].vtab);
    if (s->fns[i].arena) s->cu.MemFree(s->fns[i].arena);
    free(s->fns[i].vhost);
  }
  if (s->bads) s->cu.MemFree(s->bads);
  if (s->vmod) s->cu.ModuleUnload(s->vmod);
}

/* a value of dtype t and shape, its buffer from the pool (the smallest that fits and wastes at
 * most half) or new */
static BackendValue *value_new(BackendState *s, DType t, int rank, const int64_t *shape, DlmErr *e) {
  BackendValue *v = calloc(1, sizeof *v);
  if (!v) { err_set(e, cuda_noloc(), "out of memory"); return NULL; }
  v->t.dtype = t;
  v->t.rank = rank;
  v->t.numel = 1;
  for (int d = 0; d < rank; d++) v->t.numel *= (v->t.shape[d] = shape[d]);
  size_t need = value_bytes(&v->t);
  if (need == 0) need = 8;
  int best = -1;
  for (int i = 0; i < s->npool; i++)
    if (s->pool[i].cap >= need && s->pool[i].cap <= 2 * need && (best < 0 || s->pool[i].cap < s->pool[best].cap)) best = i;
  if (best >= 0) {
    v->p = s->pool[best].p;
    v->cap = s->pool[best].cap;
    s->pool[best] = s->pool[--s->npool];
    return v;
  }
  CUresult r = s->cu.MemAlloc(&v->p, need);
  if (r != 0) {
    err_set(e, cuda_noloc(), "cuda: cannot allocate %zu bytes of device memory for a value: %s", need, cu_err(&s->cu, r));
    free(v);
    return NULL;
  }
  v->cap = need;
  return v;
}

static void cv_release(BackendState *s, BackendValue *v) {
  if (!v) return;
  if (s->npool == s->cappool) {
    int cap = s->cappool ? 2 * s->cappool : 16;
    void *p = realloc(s->pool, (size_t)cap * sizeof *s->pool);
    if (!p) { s->cu.MemFree(v->p); free(v); return; }
    s->pool = p;
    s->cappool = cap;
  }
  s->pool[s->npool].p = v->p;
  s->pool[s->npool++].cap = v->cap;
  free(v);
}

static BackendValue *cv_upload(BackendState *s, const Tensor *t, DlmErr *e) {
  Cu *cu = &s->cu;
  if (!cuda_make_current(s, e)) return NULL;
  int half = t->dtype == DT_BF16 || t->dtype == DT_F16;  /* kept as f32, like outputs */
  BackendValue *v = value_new(s, half ? DT_F32 : t->dtype, t->rank, t->shape, e);
  if (!v) return NULL;
  size_t bytes = value_bytes(&v->t);
  float *conv = NULL;
  if (half && (conv = malloc(bytes ? bytes : 1)) != NULL)
    for (int64_t k = 0; k < t->numel; k++) conv[k] = (float)tensor_get(t, k);
  if (half && !conv) { err_set(e, cuda_noloc(), "out of memory"); cv_release(s, v); return NULL; }
  CUresult r = bytes ? cu->MemcpyHtoD(v->p, conv ? (const void *)conv : t->data, bytes) : 0;
  free(conv);
  if (r != 0) { err_set(e, cuda_noloc(), "cuda: upload of a value failed: %s", cu_err(cu, r)); cv_release(s, v); return NULL; }
  s->up++;
  return v;
}

static Tensor *cv_download(BackendState *s, const BackendValue *v, DlmErr *e) {
  Cu *cu = &s->cu;
  if (!cuda_make_current(s, e)) return NULL;
  CUresult r = cu->CtxSynchronize();
  if (r != 0) { err_set(e, cuda_noloc(), "cuda: queued work failed on the device: %s", cu_err(cu, r)); return NULL; }
  int flags[CUDA_MAX_FNS];
  if (s->nfns && (r = cu->MemcpyDtoH(flags, s->bads, (size_t)s->nfns * sizeof *flags)) != 0) {
    err_set(e, cuda_noloc(), "cuda: cannot read the failure flags: %s", cu_err(cu, r));
    return NULL;
  }
  for (int i = 0; i < s->nfns; i++)
    if (flags[i]) {
      cuda_flag_error(s->fns[i].f, flags[i], e);
      cu->MemsetD8(s->bads, 0, CUDA_MAX_FNS * sizeof(int));
      return NULL;
    }
  Tensor *t = tensor_new(v->t.dtype, v->t.rank, v->t.shape);
  if (!t) { err_set(e, cuda_noloc(), "out of memory"); return NULL; }
  size_t bytes = value_bytes(&v->t);
  if (bytes && (r = cu->MemcpyDtoH(t->data, v->p, bytes)) != 0) {
    err_set(e, cuda_noloc(), "cuda: download of a value failed: %s", cu_err(cu, r));
    tensor_free(t);
    return NULL;
  }
  s->down++;
  return t;
}

static int convert(BackendState *s, CUdeviceptr dst, int dk, CUdeviceptr src, int sk, int64_t n, CUdeviceptr skip, DlmErr *e) {
  long long ln = n;
  void *params[6] = {&dst, &dk, &src, &sk, &ln, &skip};
  return n <= 0 || cuda_launch1(s, s->convert, n, params, "dlm_convert", e);
}

/* the queued work of one run on values */
typedef struct {
  CudaFn *fn;
  const Layout *L;
  BackendValue *const *args; BackendValue **outs;
  const CUdeviceptr *alias;
  CUdeviceptr skip, bad;
} ValueWork;

static int value_emit(BackendState *s, void *ctx, DlmErr *e) {
  ValueWork *w = ctx;
  const Func *f = w->fn->f;
  for (int id = 0; id < f->nnodes; id++) {
    const Node *n = &f->nodes[id];
    if (!w->fn->u.live[id] || n->op != OP_ARG || w->alias[n->attr.i[0]]) continue;
    const BackendValue *a = w->args[n->attr.i[0]];
    if (!convert(s, w->L->V[id], storage_kind(n->type.dtype), a->p, value_kind(a->t.dtype), a->t.numel, 0, e)) return 0;
  }
  if (!cuda_launch_all(s, w->fn, w->L->V, w->L->V16, w->fn->vtab, w->bad, w->L->sv, e)) return 0;
  for (int k = 0; k < f->nout; k++) {
    const Node *n = &f->nodes[f->outs[k]];
    const BackendValue *o = w->outs[k];
    if (!convert(s, o->p, value_kind(o->t.dtype), w->L->V[f->outs[k]], storage_kind(n->type.dtype), o->t.numel, w->skip, e)) return 0;
  }
  return 1;
}

static int same_storage(DType value, DType node) { return value_kind(value) == storage_kind(node) && value != DT_BF16 && value != DT_F16; }

static int cv_run(BackendState *s, const Func *f, const ParamStore *ps, BackendValue *const *args, BackendValue **outs,
                  const int64_t *presym, const BackendValue *skip, DlmErr *e) {
  Cu *cu = &s->cu;
  const Node *argn[256];
  Tensor *hdr[256];
  for (int a = 0; a < f->nargs && a < 256; a++) hdr[a] = &args[a]->t;
  Layout L;
  CudaFn *fn = cuda_call_begin(s, f, argn, hdr, presym, &L, e);
  if (!fn) return 0;
  int slot = (int)(fn - s->fns), nn = f->nnodes;
  /* arguments read in place: same storage, and not an output (outputs are written over values
   * that may be arguments) */
  CUdeviceptr alias[256] = {0};
  for (int a = 0; a < f->nargs; a++) alias[a] = argn[a] && same_storage(args[a]->t.dtype, argn[a]->type.dtype) ? args[a]->p : 0;
  for (int k = 0; k < f->nout; k++) {
    int r = f->outs[k];
    while (f->nodes[r].op == OP_RESHAPE) r = f->nodes[r].in[0];
    if (f->nodes[r].op == OP_ARG) alias[f->nodes[r].attr.i[0]] = 0;
  }
  if (!cuda_layout(s, fn, ps, alias, 1, &L, e)) return 0;
  int ok = 1, nold = 0;
  BackendValue *old[256];  /* replaced output values, released once the work that may read them is queued */
  if (f->nout > 256) { err_set(e, cuda_noloc(), "cuda: %s: more than 256 outputs", f->name); ok = 0; }
  /* output values: kept when dtype and shape match, else replaced */
  for (int k = 0; ok && k < f->nout; k++) {
    const Node *n = &f->nodes[f->outs[k]];
    if (fn->u.inl[f->outs[k]]) { err_set(e, n->loc, "cuda: output %d has no buffer", k); ok = 0; break; }
    DType dt = dtype_is_float(n->type.dtype) ? DT_F32 : n->type.dtype;
    int64_t shape[DLM_MAX_RANK];
    for (int d = 0; d < n->type.rank; d++) shape[d] = dim_eval(n->type.dims[d], L.sv);
    BackendValue *o = outs[k];
    int same = o && o->t.dtype == dt && o->t.rank == n->type.rank;
    for (int d = 0; same && d < n->type.rank; d++) same = o->t.shape[d] == shape[d];
    if (same) continue;
    if (!(outs[k] = value_new(s, dt, n->type.rank, shape, e))) { outs[k] = o; ok = 0; break; }
    if (o) old[nold++] = o;
  }
  size_t tbytes = (size_t)CUDA_TABLE_LEN(f, &fn->u) * sizeof *L.V;
  ok = ok && cuda_fn_table(s, fn, &L, e);
  /* parameters that are not resident (not f32): uploaded as the host path does */
  for (int id = 0; ok && id < nn; id++) {
    const Node *n = &f->nodes[id];
    if (!fn->u.live[id] || n->op != OP_PARAM || L.V16[id]) continue;
    const Tensor *t = ps && n->attr.s ? pstore_get(ps, n->attr.s) : NULL;
    if (!t || t->numel != cuda_numel(&n->type, L.sv) || !same_storage(t->dtype, n->type.dtype)) {
      err_set(e, n->loc, "parameter %s: missing, or not stored as %s (resident values need f32 parameters or exact storage)",
              n->attr.s ? n->attr.s : "?", dtype_name(n->type.dtype));
      ok = 0;
      break;
    }
    if (t->numel && cu->MemcpyHtoD(L.V[id], t->data, (size_t)t->numel * cuda_storage_size(n->type.dtype)) != 0) {
      err_set(e, n->loc, "cuda: upload of %s failed", n->attr.s);
      ok = 0;
    }
    s->up++;
  }
  if (ok) {
    ValueWork w = {fn, &L, args, outs, alias, skip ? skip->p : 0, s->bads + (CUdeviceptr)slot * sizeof(int)};
    uint64_t key[5] = {cuda_hash(L.sv, sizeof L.sv), cuda_hash(L.V, tbytes), cuda_hash(L.V16, (size_t)nn * sizeof *L.V16), w.skip, 0};
    for (int a = 0; a < f->nargs; a++) key[4] = key[4] * 31 + args[a]->p;
    for (int k = 0; k < f->nout; k++) key[4] = key[4] * 31 + outs[k]->p;
    ok = cuda_run_graph(s, fn, cuda_hash(key, sizeof key) ^ 0x5EEDull, value_emit, &w, e);
  }
  for (int i = 0; i < nold; i++) cv_release(s, old[i]);
  cuda_layout_free(&L);
  return ok;
}

static int cv_set_int(BackendState *s, BackendValue *v, int64_t x, const BackendValue *skip, DlmErr *e) {
  int k = value_kind(v->t.dtype);
  long long lx = x;
  CUdeviceptr sp = skip ? skip->p : 0;
  void *params[4] = {&v->p, &k, &lx, &sp};
  return cuda_launch1(s, s->set_int, 1, params, "dlm_set_int", e);
}

static int cv_flag_or(BackendState *s, BackendValue *dst, const BackendValue *src, DlmErr *e) {
  CUdeviceptr sp = src->p;
  void *params[2] = {&dst->p, &sp};
  return cuda_launch1(s, s->flag_or, 1, params, "dlm_flag_or", e);
}

static void cv_hold(BackendState *s, const ParamStore *ps) { s->held = ps; }

static void cv_transfers(BackendState *s, int64_t *up, int64_t *down) {
  *up = s->up;
  *down = s->down;
}

static int cv_ready(BackendState *s, DlmErr *e) {
  if (s->values_err.set) *e = s->values_err;
  return !s->values_err.set;
}

const BackendDev backend_cuda_dev = {cv_upload, cv_download, cv_release, cv_run, cv_set_int, cv_flag_or, cv_hold, cv_transfers, cv_ready};
