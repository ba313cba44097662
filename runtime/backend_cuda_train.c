/* backend_cuda_train.c — the training step on the device (BackendTrain, docs/cuda.md "Runtime"):
 * begin makes every parameter resident (fp32 master copy and bf16 copy, as for any run) and
 * uploads the EMA and both AdamW moments once. A step uploads the batch and the step's numbers
 * (a few doubles), then queues the gradient function's plan, the global gradient norm (per-block
 * partial sums and one block that adds them in order and computes the clip factor), and one
 * kernel that applies AdamW, the EMA and the bf16 refresh to every parameter, reading the
 * gradients where the plan left them (codegen/cuda_prelude.c cuda_optim_src: the arithmetic of
 * runtime/optim.c). With $DLM_CUDA_GRAPHS=1 all of that is one CUDA graph, replayed each step.
 * It then waits once and reads back the loss and the norm. sync downloads the weights, the EMA
 * and the moments into the host stores (for checkpoints). */
#include "backend_cuda_internal.h"
#include "bind.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* struct DlmOptT of cuda_optim_src */
typedef struct { CUdeviceptr p, m, v, ema, g, p16; long long n; } OptT;

struct CudaTrain {
  ParamStore *w, *ema, *m, *v;
  CUdeviceptr *dm, *dv, *de;   /* per module parameter */
  CUdeviceptr tab, part, sc, h;
  OptT *htab;                  /* the uploaded table (the gradients' addresses change with the layout) */
  CUmodule mod;
  CUfunction sumsq, norm, update;
};

static const Tensor *stored(const ParamStore *ps, const ParamDecl *p, DlmErr *e) {
  const Tensor *t = pstore_get(ps, p->name);
  if (!t || t->dtype != DT_F32) {
    err_set(e, p->loc, "training state: %s is %s", p->name, t ? "not f32" : "missing");
    return NULL;
  }
  return t;
}

void cuda_train_close(BackendState *s) {
  CudaTrain *t = s->train;
  if (!t) return;
  Cu *cu = &s->cu;
  for (int i = 0; i < s->m->nparams; i++) {
    if (t->dm && t->dm[i]) cu->MemFree(t->dm[i]);
    if (t->dv && t->dv[i]) cu->MemFree(t->dv[i]);
    if (t->de && t->de[i]) cu->MemFree(t->de[i]);
  }
  if (t->tab) cu->MemFree(t->tab);
  if (t->part) cu->MemFree(t->part);
  if (t->sc) cu->MemFree(t->sc);
  if (t->h) cu->MemFree(t->h);
  if (t->mod) cu->ModuleUnload(t->mod);
  free(t->dm);
  free(t->dv);
  free(t->de);
  free(t->htab);
  free(t);
  s->train = NULL;
  s->held = NULL;
}

static int upload_new(Cu *cu, CUdeviceptr *d, const Tensor *t, DlmErr *e) {
  size_t bytes = (size_t)t->numel * 4;
  CUresult r = cu->MemAlloc(d, bytes ? bytes : 4);
  if (r == 0 && bytes) r = cu->MemcpyHtoD(*d, t->data, bytes);
  if (r != 0) { *d = 0; err_set(e, cuda_noloc(), "cuda: training state upload: %s", cu_err(cu, r)); return 0; }
  return 1;
}

static int ct_begin(BackendState *s, ParamStore *w, ParamStore *ema, ParamStore *m, ParamStore *v, DlmErr *e) {
  Cu *cu = &s->cu;
  const Module *mod = s->m;
  if (s->values_err.set) { *e = s->values_err; return 0; } /* the failure flags live with the value kernels */
  if (!cuda_make_current(s, e)) return 0;
  cuda_train_close(s);
  CudaTrain *t = s->train = calloc(1, sizeof *t);
  int n = mod->nparams ? mod->nparams : 1;
  if (!t || !(t->dm = calloc((size_t)n, sizeof *t->dm)) || !(t->dv = calloc((size_t)n, sizeof *t->dv)) ||
      !(t->de = calloc((size_t)n, sizeof *t->de)) || !(t->htab = calloc((size_t)n, sizeof *t->htab))) {
    err_set(e, cuda_noloc(), "out of memory");
    cuda_train_close(s);
    return 0;
  }
  t->w = w; t->ema = ema; t->m = m; t->v = v;
  size_t len = strlen(cuda_prelude) + strlen(cuda_optim_src) + 1, isz = 0;
  char *src = malloc(len);
  void *img = NULL;
  if (src) {
    strcpy(src, cuda_prelude);
    strcat(src, cuda_optim_src);
    img = cuda_compile(src, s->arch, &isz, e);
    free(src);
  } else err_set(e, cuda_noloc(), "out of memory");
  CUresult r = img ? cu->ModuleLoadData(&t->mod, img) : 1;
  if (img && r != 0) t->mod = NULL;
  free(img);
  if (r != 0 || (r = cu->ModuleGetFunction(&t->sumsq, t->mod, "dlm_opt_sumsq")) != 0 ||
      (r = cu->ModuleGetFunction(&t->norm, t->mod, "dlm_opt_norm")) != 0 || (r = cu->ModuleGetFunction(&t->update, t->mod, "dlm_opt_update")) != 0) {
    if (!e->set) err_set(e, cuda_noloc(), "cuda: cannot load the optimizer kernels: %s", cu_err(cu, r));
    cuda_train_close(s);
    return 0;
  }
  if (cu->MemAlloc(&t->tab, (size_t)n * sizeof(OptT)) != 0 || cu->MemAlloc(&t->part, CUDA_OPT_BLOCKS * sizeof(double)) != 0 ||
      cu->MemAlloc(&t->sc, 2 * sizeof(double)) != 0 || cu->MemAlloc(&t->h, CUDA_OPT_H * sizeof(double)) != 0) {
    err_set(e, cuda_noloc(), "cuda: cannot allocate the optimizer's buffers");
    cuda_train_close(s);
    return 0;
  }
  s->held = NULL; /* the weights are uploaded (if they changed) here, then held */
  for (int i = 0; i < mod->nparams; i++) {
    const ParamDecl *p = &mod->params[i];
    const Tensor *tw = stored(w, p, e), *te = tw ? stored(ema, p, e) : NULL, *tm = te ? stored(m, p, e) : NULL;
    const Tensor *tv = tm ? stored(v, p, e) : NULL;
    double up = 0;
    int ok = tv && tw->numel == te->numel && tw->numel == tm->numel && tw->numel == tv->numel;
    if (tv && !ok) err_set(e, p->loc, "training state: %s has stores of different sizes", p->name);
    DevParam *d = ok ? cuda_resident_param(s, p->name, p->loc, tw, &up, e) : NULL;
    if (!d || !upload_new(cu, &t->dm[i], tm, e) || !upload_new(cu, &t->dv[i], tv, e) || !upload_new(cu, &t->de[i], te, e)) {
      cuda_train_close(s);
      return 0;
    }
    t->htab[i] = (OptT){0, 0, 0, 0, 0, 0, -1}; /* filled by the first step */
  }
  s->held = w;
  return 1;
}

typedef struct {
  CudaFn *fn;
  const Layout *L;
  CUdeviceptr bad;
  int nt;
} StepWork;

static int step_emit(BackendState *s, void *ctx, DlmErr *e) {
  StepWork *w = ctx;
  CudaTrain *t = s->train;
  Cu *cu = &s->cu;
  if (!cuda_launch_all(s, w->fn, w->L->V, w->L->V16, w->fn->vtab, w->bad, w->L->sv, e)) return 0;
  int nt = w->nt, np = CUDA_OPT_BLOCKS;
  void *a1[3] = {&t->tab, &nt, &t->part}, *a2[4] = {&t->part, &np, &t->h, &t->sc}, *a3[4] = {&t->tab, &nt, &t->sc, &t->h};
  CUresult r = cu->LaunchKernel(t->sumsq, CUDA_OPT_BLOCKS, 1, 1, 256, 1, 1, 0, s->stream, a1, NULL);
  if (r == 0) r = cu->LaunchKernel(t->norm, 1, 1, 1, 1, 1, 1, 0, s->stream, a2, NULL);
  if (r == 0) r = cu->LaunchKernel(t->update, 1024, 1, 1, 256, 1, 1, 0, s->stream, a3, NULL);
  if (r != 0) { err_set(e, cuda_noloc(), "cuda: launch of the optimizer kernels failed: %s", cu_err(cu, r)); return 0; }
  return 1;
}

static int ct_step(BackendState *s, const Func *g, const int *gidx, Tensor *const *args, const BackendOptStep *o, double *loss,
                   double *gnorm, DlmErr *e) {
  Cu *cu = &s->cu;
  CudaTrain *t = s->train;
  const Module *m = s->m;
  if (!t) { err_set(e, cuda_noloc(), "cuda: a training step before begin"); return 0; }
  const Node *argn[256];
  Layout L;
  CudaFn *fn = cuda_call_begin(s, g, argn, args, NULL, &L, e);
  if (!fn) return 0;
  int slot = (int)(fn - s->fns);
  if (!cuda_layout(s, fn, t->w, NULL, 1, &L, e)) return 0;
  int ok = cuda_upload_args(s, fn, &L, t->w, args, e) && cuda_fn_table(s, fn, &L, e);
  s->up += g->nargs;
  /* the optimizer's table: every parameter, with its gradient where the plan writes it */
  int changed = 0;
  for (int i = 0; ok && i < m->nparams; i++) {
    DevParam *d = &s->params[i];
    CUdeviceptr gp = 0;
    if (gidx[i] >= 0) {
      int out = g->outs[gidx[i]];
      if (fn->u.inl[out] || g->nodes[out].type.dtype != DT_F32) {
        err_set(e, g->nodes[out].loc, "cuda: the gradient of %s has no f32 buffer", m->params[i].name);
        ok = 0;
        break;
      }
      gp = L.V[out];
    }
    OptT row = {d->dev, t->dm[i], t->dv[i], t->de[i], gp, gp ? d->dev16 : 0, (long long)(d->bytes / 4)};
    changed |= memcmp(&row, &t->htab[i], sizeof row) != 0;
    t->htab[i] = row;
  }
  if (ok && changed && cu->MemcpyHtoD(t->tab, t->htab, (size_t)m->nparams * sizeof *t->htab) != 0) {
    err_set(e, cuda_noloc(), "cuda: cannot upload the optimizer's table");
    ok = 0;
  }
  double h[CUDA_OPT_H] = {o->lr, o->beta1, 1.0 - o->beta1, o->beta2, 1.0 - o->beta2, o->eps, 1.0 - o->lr * o->weight_decay,
                          1.0 - pow(o->beta1, (double)o->t), 1.0 - pow(o->beta2, (double)o->t), 1.0 - o->ema_decay, o->clip};
  if (ok && cu->MemcpyHtoD(t->h, h, sizeof h) != 0) { err_set(e, cuda_noloc(), "cuda: cannot upload the step's numbers"); ok = 0; }
  s->up += ok;
  CUdeviceptr bad = s->bads + (CUdeviceptr)slot * sizeof(int);
  if (ok) {
    StepWork w = {fn, &L, bad, m->nparams};
    uint64_t key[4] = {cuda_hash(L.sv, sizeof L.sv), cuda_hash(L.V, (size_t)CUDA_TABLE_LEN(g, &fn->u) * sizeof *L.V),
                       cuda_hash(L.V16, (size_t)g->nnodes * sizeof *L.V16), t->tab ^ 0x7124ull};
    ok = cuda_run_graph(s, fn, cuda_hash(key, sizeof key), step_emit, &w, e);
  }
  int flag = 0;
  float lv = 0;
  double sc[2] = {0, 0};
  if (ok) {
    CUresult r = cu->CtxSynchronize();
    if (r == 0) r = cu->MemcpyDtoH(&flag, bad, sizeof flag);
    if (r == 0 && !flag) r = cu->MemcpyDtoH(&lv, L.V[g->outs[0]], sizeof lv);
    if (r == 0 && !flag) r = cu->MemcpyDtoH(sc, t->sc, sizeof sc);
    if (r != 0) { err_set(e, cuda_noloc(), "cuda: the training step failed on the device: %s", cu_err(cu, r)); ok = 0; }
    else if (flag) {
      cuda_flag_error(g, flag, e);
      cu->MemsetD8(bad, 0, sizeof flag);
      ok = 0;
    }
  }
  s->down += ok ? 2 : 0;
  *loss = lv;
  *gnorm = sc[0];
  cuda_layout_free(&L);
  return ok;
}

static int download_into(Cu *cu, CUdeviceptr d, Tensor *t, DlmErr *e) {
  if (!t->numel) return 1;
  CUresult r = cu->MemcpyDtoH(t->data, d, (size_t)t->numel * 4);
  if (r != 0) { err_set(e, cuda_noloc(), "cuda: training state download: %s", cu_err(cu, r)); return 0; }
  return 1;
}

static int ct_sync(BackendState *s, DlmErr *e) {
  Cu *cu = &s->cu;
  CudaTrain *t = s->train;
  if (!t) return 1;
  if (cu->CtxSetCurrent(s->ctx) != 0 || cu->CtxSynchronize() != 0) { err_set(e, cuda_noloc(), "cuda: the device failed before a sync"); return 0; }
  for (int i = 0; i < s->m->nparams; i++) {
    const ParamDecl *p = &s->m->params[i];
    Tensor *tw = pstore_get(t->w, p->name);
    DevParam *d = &s->params[i];
    if (!tw || !download_into(cu, d->dev, tw, e) || !download_into(cu, t->dm[i], pstore_get(t->m, p->name), e) ||
        !download_into(cu, t->dv[i], pstore_get(t->v, p->name), e) || !download_into(cu, t->de[i], pstore_get(t->ema, p->name), e))
      return 0;
    d->host = tw->data; /* the host copy is the device's again */
    d->hash = cuda_hash(tw->data, d->bytes);
    s->down += 4;
  }
  return 1;
}

static void ct_end(BackendState *s) {
  if (!s->train) return;
  /* the host weights may be older than the device's: upload them again on the next run */
  for (int i = 0; i < s->m->nparams; i++) s->params[i].host = NULL;
  cuda_train_close(s);
}

const BackendTrain backend_cuda_train = {ct_begin, ct_step, ct_sync, ct_end};
