/* distill.c — `dlmrun ART distill --ckpt DIR --rounds R --steps-per-round N --out DIR2 ...`: rounds of
 * self-distillation from a trained checkpoint (Duo's DCD, MDLM's SDTT). The model declares its teacher
 * as a frozen copy of the trained parameters (`param teacher: DiT = frozen_copy(net)`) and a loss
 * `distill_loss(x0, seed, step, round)` whose knobs (Duo: the step size 2^round / T) are computed in
 * the DSL from the round index. The student starts from the checkpoint's raw (non-EMA) weights, the
 * EMA from its EMA weights; at the start of every round each frozen copy is refreshed from its
 * source's current raw weights; then N AdamW steps run `distill_loss.grad` (frozen copies get no
 * gradient). A checkpoint that `sample` and `eval` read is written after every round. */
#include "dlmrun.h"
#include "safetensors.h"
#include "train.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  const char *ckpt, *out, *data, *tok, *tokdir, *loss;
  RtTarget tgt;   /* --device, --backend */
  int64_t rounds, steps, batch, seed, log_every;
  int allow_extra;
  OptConfig opt;
} DistillArgs;

typedef struct {
  DistillArgs *a;
  Module *m;
  const Func *g;
  const Backend *be;
  BackendState *bs;
  TokData d;
  TrainState s;
  CkptMeta cm;
  int *gidx;
  FILE *metrics;
  char **owned; int nowned;
} Distill;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *own(Distill *r, const char *s) {
  char **o = realloc(r->owned, (size_t)(r->nowned + 1) * sizeof *o);
  if (!o) return NULL;
  r->owned = o;
  return r->owned[r->nowned++] = strdup(s);
}

/* The source checkpoint's metadata (kept in the output: tokenizer, data, training config) and the
 * options it provides defaults for. A file without metadata (a released checkpoint) needs --data. */
static int read_source_meta(Distill *r) {
  DistillArgs *a = r->a;
  DlmErr e = {0};
  char *file = ckpt_file(a->ckpt);
  StFile *f = file ? st_open(file, &e) : NULL;
  free(file);
  if (!f) { fprintf(stderr, "dlmrun distill: %s\n", e.msg[0] ? e.msg : "out of memory"); return 0; }
  for (int i = 0; i < st_meta_count(f); i++) {
    const char *k = st_meta_key(f, i);
    if (strcmp(k, "format") && strcmp(k, "step") && strncmp(k, "distill.", 8) && r->cm.n < CKPT_MAX_META - 10)
      ckpt_meta_set(&r->cm, k, "%s", st_meta_get(f, k));
  }
  st_close(f);
  const char *v;
  if (!a->data && (v = ckpt_meta_get(&r->cm, "config.data"))) a->data = own(r, v);
  if (!a->tok && (v = ckpt_meta_get(&r->cm, "tokenizer"))) a->tok = own(r, v);
  if (!a->tokdir && (v = ckpt_meta_get(&r->cm, "tokenizer_dir")) && *v) a->tokdir = own(r, v);
  if (!a->batch && (v = ckpt_meta_get(&r->cm, "config.batch"))) a->batch = strtoll(v, NULL, 10);
  if (!a->data) { fprintf(stderr, "dlmrun distill: %s records no training data: pass --data FILE\n", a->ckpt); return 0; }
  if (!a->tok) a->tok = "byte";
  if (a->batch <= 0) a->batch = 8;
  ckpt_meta_set(&r->cm, "tokenizer", "%s", a->tok);
  ckpt_meta_set(&r->cm, "tokenizer_dir", "%s", a->tokdir ? a->tokdir : "");
  ckpt_meta_set(&r->cm, "distill.from", "%s", a->ckpt);
  ckpt_meta_set(&r->cm, "distill.loss", "%s", a->loss);
  ckpt_meta_set(&r->cm, "distill.steps_per_round", "%lld", (long long)a->steps);
  ckpt_meta_set(&r->cm, "distill.batch", "%lld", (long long)a->batch);
  ckpt_meta_set(&r->cm, "distill.lr", "%.9g", a->opt.lr);
  ckpt_meta_set(&r->cm, "distill.seed", "%lld", (long long)a->seed);
  return 1;
}

/* The loss and its gradient: NAME(x0: i32[B, seq_len], seed: i64, step: i64, round: i64) -> f32 first. */
static int find_loss(Distill *r, const char *artifact, int64_t *seq_len) {
  const char *name = r->a->loss;
  char gname[256];
  snprintf(gname, sizeof gname, "%s.grad", name);
  const Func *f = ir_func_find(r->m, name);
  r->g = ir_func_find(r->m, gname);
  const Node *argn[4] = {NULL, NULL, NULL, NULL};
  for (int i = 0; f && i < f->nnodes; i++)
    if (f->nodes[i].op == OP_ARG && f->nodes[i].attr.i[0] >= 0 && f->nodes[i].attr.i[0] < 4) argn[f->nodes[i].attr.i[0]] = &f->nodes[i];
  int ok = f && r->g && f->nargs == 4 && argn[0] && argn[0]->type.rank == 2 && argn[0]->type.dtype == DT_I32 &&
           dim_is_const(argn[0]->type.dims[1]);
  for (int k = 1; ok && k < 4; k++) ok = argn[k] && argn[k]->type.rank == 0 && dtype_is_int(argn[k]->type.dtype);
  if (!ok) {
    fprintf(stderr, "dlmrun distill: %s has no %s(x0: i32[B, seq_len], seed: i64, step: i64, round: i64) with a gradient "
            "(an exported fn whose name ends in _loss)\n", artifact, name);
    return 0;
  }
  *seq_len = argn[0]->type.dims[1].k;
  int copies = 0;
  for (int p = 0; p < r->m->nparams; p++) copies += ir_param_copy_source(r->m, p) >= 0;
  if (!copies) {
    fprintf(stderr, "dlmrun distill: %s declares no frozen parameter copy (the teacher: param t: T = frozen_copy(net))\n", artifact);
    return 0;
  }
  r->gidx = calloc((size_t)r->m->nparams + 1, sizeof *r->gidx);
  if (!r->gidx) return 0;
  for (int p = 0; p < r->m->nparams; p++) {
    r->gidx[p] = -1;
    for (int k = 1; k < r->g->nout; k++)
      if (r->g->outnames && r->g->outnames[k] && !strncmp(r->g->outnames[k], "grad:", 5) && !strcmp(r->g->outnames[k] + 5, r->m->params[p].name))
        r->gidx[p] = k;
    if (r->gidx[p] >= 0 && r->m->params[p].type.dtype != DT_F32) {
      fprintf(stderr, "dlmrun distill: parameter %s is %s; training supports f32 parameters\n", r->m->params[p].name,
              dtype_name(r->m->params[p].type.dtype));
      return 0;
    }
  }
  return 1;
}

/* Student = raw weights, EMA = EMA weights (both the same tensors for a file with one set), zero moments. */
static int load_state(Distill *r) {
  DlmErr e = {0};
  TrainState *s = &r->s;
  if (!(s->w = ckpt_load_weights(r->m, r->a->ckpt, 0, r->a->allow_extra, stderr, &e)) ||
      !(s->ema = ckpt_load_weights(r->m, r->a->ckpt, 1, r->a->allow_extra, NULL, &e))) {
    fprintf(stderr, "dlmrun distill: %s\n", e.msg);
    return 0;
  }
  s->m = pstore_new();
  s->v = pstore_new();
  if (!s->m || !s->v) return 0;
  for (int i = 0; i < s->w->n; i++) {
    const Tensor *t = s->w->tensors[i];
    if (!pstore_put(s->m, s->w->names[i], tensor_new(t->dtype, t->rank, t->shape)) ||
        !pstore_put(s->v, s->w->names[i], tensor_new(t->dtype, t->rank, t->shape)))
      return 0;
  }
  s->step = 0;
  return 1;
}

/* Update number t (1-based) of round `round`. */
static int step_once(Distill *r, int64_t round, double *loss, double *gnorm, double *lr) {
  const Module *m = r->m;
  int64_t t = r->s.step + 1, shape[2] = {r->a->batch, r->d.seq_len};
  Tensor *x0 = tensor_new(DT_I32, 2, shape), *sc[3] = {tensor_new(DT_I64, 0, NULL), tensor_new(DT_I64, 0, NULL), tensor_new(DT_I64, 0, NULL)};
  Tensor **outs = calloc((size_t)r->g->nout, sizeof *outs), **grads = calloc((size_t)m->nparams + 1, sizeof *grads);
  DlmErr e = {0};
  int ok = x0 && sc[0] && sc[1] && sc[2] && outs && grads;
  if (!ok) fprintf(stderr, "dlmrun distill: out of memory\n");
  if (ok) {
    data_train_batch(&r->d, (uint64_t)r->a->seed, r->s.step, r->a->batch, x0->data);
    *(int64_t *)sc[0]->data = r->a->seed;
    *(int64_t *)sc[1]->data = r->s.step;
    *(int64_t *)sc[2]->data = round;
    Tensor *args[4] = {x0, sc[0], sc[1], sc[2]};
    ok = r->be->run(r->bs, r->g, r->s.w, args, outs, NULL, &e);
    if (!ok) fprintf(stderr, "dlmrun distill: step %lld: %s (%s backend): %s\n", (long long)t, r->g->name, r->be->name, e.msg);
  }
  if (ok && !isfinite(*loss = tensor_get(outs[0], 0))) {
    fprintf(stderr, "dlmrun distill: step %lld: the loss is %g; stopping\n", (long long)t, *loss);
    ok = 0;
  }
  if (ok) {
    int n = 0;
    for (int i = 0; i < m->nparams; i++)
      if (r->gidx[i] >= 0) grads[n++] = outs[r->gidx[i]];
    *gnorm = grad_global_norm(grads, n);
    double scale = clip_factor(*gnorm, r->a->opt.clip), d = ema_decay(r->a->opt.ema, t);
    *lr = lr_at(&r->a->opt, t);
    for (int i = 0; i < m->nparams; i++)
      if (r->gidx[i] >= 0) {
        adamw_update(&r->a->opt, t, *lr, scale, r->s.w->tensors[i], outs[r->gidx[i]], r->s.m->tensors[i], r->s.v->tensors[i]);
        ema_update(d, r->s.ema->tensors[i], r->s.w->tensors[i]);
      }
    r->s.step = t;
  }
  for (int k = 0; outs && k < r->g->nout; k++) tensor_free(outs[k]);
  free(outs); free(grads);
  tensor_free(x0);
  for (int k = 0; k < 3; k++) tensor_free(sc[k]);
  return ok;
}

static int save(Distill *r, int64_t rounds_done) {
  DlmErr e = {0};
  ckpt_meta_set(&r->cm, "distill.rounds", "%lld", (long long)rounds_done);
  if (!ckpt_save(r->a->out, r->m, &r->s, &r->cm, &e)) { fprintf(stderr, "dlmrun distill: %s\n", e.msg); return 0; }
  return 1;
}

static int run_rounds(Distill *r) {
  DistillArgs *a = r->a;
  for (int64_t round = 0; round < a->rounds; round++) {
    if (!pstore_fill_copies(r->m, r->s.w)) { fprintf(stderr, "dlmrun distill: out of memory\n"); return 0; }
    fprintf(stderr, "dlmrun distill: round %lld/%lld: teacher <- student (raw weights after step %lld)\n", (long long)round + 1,
            (long long)a->rounds, (long long)r->s.step);
    double win_ms = 0;
    int64_t win_n = 0;
    for (int64_t k = 0; k < a->steps; k++) {
      double loss = 0, gnorm = 0, lr = 0, t0 = now_ms();
      if (!step_once(r, round, &loss, &gnorm, &lr)) return 0;
      win_ms += now_ms() - t0;
      win_n++;
      if (r->s.step % a->log_every && k + 1 < a->steps) continue;
      double per = win_ms / (double)win_n;
      fprintf(stderr, "round %lld  step %lld/%lld  loss %.5f  gnorm %.3f  lr %.3e  %.1f ms/step\n", (long long)round + 1,
              (long long)r->s.step, (long long)(a->rounds * a->steps), loss, gnorm, lr, per);
      fprintf(r->metrics, "{\"step\": %lld, \"round\": %lld, \"loss\": %.9g, \"grad_norm\": %.9g, \"lr\": %.9g, \"ms_per_step\": %.3f}\n",
              (long long)r->s.step, (long long)round, loss, gnorm, lr, per);
      fflush(r->metrics);
      win_ms = 0, win_n = 0;
    }
    if (!save(r, round + 1)) return 0;
  }
  return 1;
}

static int setup(Distill *r, const char *artifact) {
  DistillArgs *a = r->a;
  DlmErr e = {0};
  int64_t seq_len;
  if (!(r->m = rt_open_artifact(artifact)) || !find_loss(r, artifact, &seq_len) || !read_source_meta(r) || !load_state(r)) return 0;
  const char *vs = ir_meta_get(r->m, "vocab");
  Tokenizer *tok = tok_open(a->tok, a->tokdir, &e);
  int ok = tok && vs && data_load(a->data, tok, seq_len, strtoll(vs, NULL, 10), &r->d, &e);
  tok_free(tok);
  if (!ok) { fprintf(stderr, "dlmrun distill: %s\n", vs ? e.msg : "the artifact records no 'vocab' const"); return 0; }
  char *out_ckpt = ckpt_file(a->out);
  int exists = out_ckpt && access(out_ckpt, F_OK) == 0;
  free(out_ckpt);
  if (exists) { fprintf(stderr, "dlmrun distill: %s already holds a checkpoint: choose another --out\n", a->out); return 0; }
  if (mkdir(a->out, 0777) != 0 && errno != EEXIST) { fprintf(stderr, "dlmrun distill: cannot create '%s': %s\n", a->out, strerror(errno)); return 0; }
  size_t plen = strlen(a->out) + 32;
  char *mpath = malloc(plen);
  if (!mpath) return 0;
  snprintf(mpath, plen, "%s/metrics.jsonl", a->out);
  r->metrics = fopen(mpath, "w");
  if (!r->metrics) fprintf(stderr, "dlmrun distill: cannot write '%s': %s\n", mpath, strerror(errno));
  free(mpath);
  if (!r->metrics) return 0;
  if (!(r->bs = rt_target_open("distill", &a->tgt, r->m, &r->be))) return 0;
  fprintf(stderr, "dlmrun distill: %s backend, %s from %s, %lld rounds of %lld steps, batch %lld, %lld training windows\n",
          r->be->name, a->loss, a->ckpt, (long long)a->rounds, (long long)a->steps, (long long)a->batch, (long long)r->d.train_windows);
  return 1;
}

static int parse(int argc, char **argv, DistillArgs *a) {
  OptConfig *o = &a->opt;
  o->beta1 = 0.9; o->beta2 = 0.999; o->eps = 1e-8; o->lr = 6e-5; o->clip = 1.0; o->ema = 0.999;
  o->schedule = LR_CONSTANT;
  a->loss = "distill_loss";
  a->log_every = 10;
  for (int i = 0; i < argc; i++) {
    const char *f = argv[i], *v;
    if (!strcmp(f, "--allow-extra")) { a->allow_extra = 1; continue; }
    if (!(v = rt_value(argc, argv, &i))) return 2;
    int ok = 1;
    if (!strcmp(f, "--ckpt")) a->ckpt = v;
    else if (!strcmp(f, "--out")) a->out = v;
    else if (!strcmp(f, "--data")) a->data = v;
    else if (!strcmp(f, "--tokenizer")) a->tok = v;
    else if (!strcmp(f, "--tokenizer-dir")) a->tokdir = v;
    else if (!strcmp(f, "--loss")) a->loss = v;
    else if (rt_target_opt(f, v, &a->tgt)) continue;
    else if (!strcmp(f, "--rounds")) ok = rt_int(f, v, 1, 1 << 20, &a->rounds);
    else if (!strcmp(f, "--steps-per-round")) ok = rt_int(f, v, 1, INT64_MAX >> 24, &a->steps);
    else if (!strcmp(f, "--batch")) ok = rt_int(f, v, 1, 1 << 20, &a->batch);
    else if (!strcmp(f, "--seed")) ok = rt_int(f, v, 0, INT64_MAX, &a->seed);
    else if (!strcmp(f, "--log-every")) ok = rt_int(f, v, 1, INT64_MAX, &a->log_every);
    else if (!strcmp(f, "--warmup")) ok = rt_int(f, v, 0, INT64_MAX / 2, &o->warmup);
    else if (!strcmp(f, "--lr")) ok = rt_num(f, v, 0, 1e3, &o->lr);
    else if (!strcmp(f, "--clip")) ok = rt_num(f, v, 0, 1e30, &o->clip);
    else if (!strcmp(f, "--ema")) ok = rt_num(f, v, 0, 1, &o->ema);
    else if (!strcmp(f, "--weight-decay")) ok = rt_num(f, v, 0, 1e3, &o->weight_decay);
    else return rt_usage("distill", "unknown option '%s'", f);
    if (!ok) return 2;
  }
  if (!a->ckpt || !a->out || !a->rounds || !a->steps)
    return rt_usage("distill", "%s", "needs --ckpt CKPT --rounds R --steps-per-round N --out DIR");
  o->steps = a->rounds * a->steps;
  return rt_target_check("distill", &a->tgt);
}

int dlmrun_distill(const char *artifact, int argc, char **argv) {
  DistillArgs a;
  memset(&a, 0, sizeof a);
  int st = parse(argc, argv, &a);
  if (st) return st;
  Distill r;
  memset(&r, 0, sizeof r);
  r.a = &a;
  int ok = setup(&r, artifact) && run_rounds(&r);
  if (r.bs) r.be->close(r.bs);
  if (r.metrics) fclose(r.metrics);
  free(r.gidx);
  data_free(&r.d);
  train_state_free(&r.s);
  ckpt_meta_free(&r.cm);
  ir_module_free(r.m);
  for (int i = 0; i < r.nowned; i++) free(r.owned[i]);
  free(r.owned);
  return ok ? 0 : 1;
}
