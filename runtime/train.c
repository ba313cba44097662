/* train.c — `dlmrun ART train ...`: trains the artifact's `loss` with its `loss.grad` function (or,
 * with --loss, a step schedule of its objectives: `curriculum_loss:N,loss` runs curriculum_loss.grad
 * for steps 1..N and loss.grad after):
 * deterministic batches from the training 90% of the data, AdamW with warmup and a constant or
 * cosine schedule, global-norm clipping, an EMA of the weights, a live progress line, a JSON line
 * per logged step in OUT/metrics.jsonl and atomic checkpoints in OUT/checkpoint.safetensors.
 * --resume continues from OUT's checkpoint and reproduces an uninterrupted run bit for bit: the
 * batch and the model's random streams of a step depend only on (seed, step).
 * --device cuda trains on the GPU with the parameters, the EMA and the AdamW moments resident
 * there (Backend.train: the gradient norm, clipping, AdamW and the EMA run as kernels, only the
 * batch goes up and the loss and norm come back; the host state is synced for checkpoints);
 * --device cpu is the cpu backend with this file's optimizer. */
#define _XOPEN_SOURCE 700   /* realpath */
#include "dlmrun.h"
#include "json_mini.h"
#include "fileio.h"
#include "train.h"
#include <errno.h>
#include <signal.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Options that make up the run's configuration (recorded in the checkpoint as "config.<key>"). */
typedef struct { const char *flag, *key; char kind; const char *dflt; } Field;   /* kind: i integer, n number, s string */
enum { F_DATA, F_TOK, F_TOKDIR, F_BATCH, F_STEPS, F_LR, F_WARMUP, F_SCHED, F_CLIP, F_EMA, F_WD, F_SEED, F_LOSS, NFIELDS };
static const Field fields[NFIELDS] = {
  {"--data", "data", 's', NULL},          {"--tokenizer", "tokenizer", 's', "byte"},
  {"--tokenizer-dir", "tokenizer_dir", 's', ""}, {"--batch", "batch", 'i', NULL},
  {"--steps", "steps", 'i', NULL},        {"--lr", "lr", 'n', NULL},
  {"--warmup", "warmup", 'i', "0"},       {"--schedule", "schedule", 's', "constant"},
  {"--clip", "clip", 'n', "1.0"},         {"--ema", "ema", 'n', "0.9999"},
  {"--weight-decay", "weight_decay", 'n', "0"}, {"--seed", "seed", 'i', "0"},
  {"--loss", "loss", 's', "loss"},
};

typedef struct {
  const char *val[NFIELDS];      /* as given, from the checkpoint, or the default */
  char *owned[NFIELDS];          /* copies of values taken from the checkpoint */
  const char *out;
  RtTarget tgt;                  /* --device, --backend */
  int64_t ckpt_every, log_every, stop_after;
  int resume;
  int64_t batch, steps, seed;
  OptConfig opt;
} TrainArgs;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int parse(int argc, char **argv, TrainArgs *a) {
  for (int i = 0; i < argc; i++) {
    const char *f = argv[i], *v;
    if (!strcmp(f, "--resume")) { a->resume = 1; continue; }
    int k = -1;
    for (int j = 0; j < NFIELDS; j++)
      if (!strcmp(f, fields[j].flag)) k = j;
    if (k < 0 && strcmp(f, "--out") && strcmp(f, "--backend") && strcmp(f, "--device") && strcmp(f, "--ckpt-every") &&
        strcmp(f, "--log-every") && strcmp(f, "--stop-after"))
      return rt_usage("train", "unknown option '%s'", f);
    if (!(v = rt_value(argc, argv, &i))) return 2;
    if (k >= 0) a->val[k] = v;
    else if (!strcmp(f, "--out")) a->out = v;
    else if (rt_target_opt(f, v, &a->tgt)) continue;
    else if (!rt_int(f, v, 0, INT64_MAX, !strcmp(f, "--ckpt-every") ? &a->ckpt_every : !strcmp(f, "--log-every") ? &a->log_every : &a->stop_after))
      return 2;
  }
  if (!a->out) return rt_usage("train", "%s", "needs --out DIR");
  return rt_target_check("train", &a->tgt);
}

/* Fill values not given from the checkpoint; a given value must agree with it (except --steps). */
static int merge_config(TrainArgs *a, const CkptMeta *cm) {
  char key[64];
  for (int k = 0; k < NFIELDS; k++) {
    snprintf(key, sizeof key, "config.%s", fields[k].key);
    const char *stored = ckpt_meta_get(cm, key);
    if (!stored && k == F_LOSS) stored = fields[k].dflt;  /* checkpoints from before --loss */
    if (!stored) { fprintf(stderr, "dlmrun train: the checkpoint lacks metadata '%s'\n", key); return 0; }
    if (!a->val[k]) {
      if (!(a->val[k] = a->owned[k] = strdup(stored))) return 0;
      continue;
    }
    if (k == F_STEPS) continue;
    int same = fields[k].kind == 's' ? strcmp(stored, a->val[k]) == 0 : strtod(stored, NULL) == strtod(a->val[k], NULL);
    if (!same) {
      fprintf(stderr, "dlmrun train: --resume: %s %s differs from the checkpoint's %s\n", fields[k].flag, a->val[k], stored);
      return 0;
    }
  }
  return 1;
}

static int finish_config(TrainArgs *a) {
  for (int k = 0; k < NFIELDS; k++) {
    if (!a->val[k]) a->val[k] = fields[k].dflt;
    if (!a->val[k]) { rt_usage("train", "needs %s", fields[k].flag); return 0; }
  }
  OptConfig *o = &a->opt;
  o->beta1 = 0.9; o->beta2 = 0.999; o->eps = 1e-8;
  if (!rt_int("--batch", a->val[F_BATCH], 1, 1 << 20, &a->batch) || !rt_int("--steps", a->val[F_STEPS], 1, INT64_MAX / 2, &a->steps) ||
      !rt_num("--lr", a->val[F_LR], 0, 1e3, &o->lr) || !rt_int("--warmup", a->val[F_WARMUP], 0, INT64_MAX / 2, &o->warmup) ||
      !rt_num("--clip", a->val[F_CLIP], 0, 1e30, &o->clip) || !rt_num("--ema", a->val[F_EMA], 0, 1, &o->ema) ||
      !rt_num("--weight-decay", a->val[F_WD], 0, 1e3, &o->weight_decay) || !rt_int("--seed", a->val[F_SEED], 0, INT64_MAX, &a->seed))
    return 0;
  o->steps = a->steps;
  if (!strcmp(a->val[F_SCHED], "constant")) o->schedule = LR_CONSTANT;
  else if (!strcmp(a->val[F_SCHED], "cosine")) o->schedule = LR_COSINE;
  else { fprintf(stderr, "dlmrun train: --schedule wants constant or cosine, got '%s'\n", a->val[F_SCHED]); return 0; }
  if (!strcmp(a->val[F_TOK], "gpt2") && !a->val[F_TOKDIR][0]) { fprintf(stderr, "dlmrun train: --tokenizer gpt2 needs --tokenizer-dir DIR\n"); return 0; }
  return 1;
}

/* Keep only the metrics lines of steps <= step (a resumed run rewrites what came after). */
static int trim_metrics(const char *path, int64_t step) {
  DlmErr e = {0};
  size_t len;
  char *text = file_read_all(path, (size_t)1 << 30, &len, &e);
  if (!text) return errno == ENOENT || access(path, F_OK) != 0;
  JsonBuf keep = {0};
  for (char *line = text, *nl; *line; line = nl + 1) {
    nl = strchr(line, '\n');
    if (!nl) break;
    char err[64];
    JsonVal *v = json_parse(line, (size_t)(nl - line), err, sizeof err);
    const JsonVal *s = v ? json_get(v, "step") : NULL;
    if (s && s->kind == JSON_NUM && s->num <= (double)step) jbuf_put(&keep, line, (size_t)(nl - line + 1));
    json_free(v);
  }
  int ok = !keep.oom && file_write_atomic(path, keep.p ? keep.p : "", keep.n, &e) == 0;
  if (!ok) fprintf(stderr, "dlmrun train: %s\n", e.msg);
  jbuf_free(&keep);
  free(text);
  return ok;
}

static void record_config(const TrainArgs *a, int64_t seq_len, const TokData *d, CkptMeta *cm) {
  char key[64];
  for (int k = 0; k < NFIELDS; k++) {
    snprintf(key, sizeof key, "config.%s", fields[k].key);
    ckpt_meta_set(cm, key, "%s", a->val[k]);
  }
  ckpt_meta_set(cm, "tokenizer", "%s", a->val[F_TOK]);
  ckpt_meta_set(cm, "tokenizer_dir", "%s", a->val[F_TOKDIR]);
  ckpt_meta_set(cm, "seq_len", "%lld", (long long)seq_len);
  ckpt_meta_set(cm, "data_tokens", "%lld", (long long)d->n);
}

static void record_position(const TrainArgs *a, int64_t step, CkptMeta *cm) {
  ckpt_meta_set(cm, "data_position", "%lld", (long long)(step * a->batch));
  ckpt_meta_set(cm, "rng", "philox seed=%lld counter=%lld", (long long)a->seed, (long long)step);
}

/* The output index of "grad:<param>" for each module parameter (-1: the loss does not read it). */
static int map_grads(const Module *m, const Func *g, int *gidx) {
  for (int i = 0; i < m->nparams; i++) {
    gidx[i] = -1;
    if (m->params[i].type.dtype != DT_F32) {
      fprintf(stderr, "dlmrun train: parameter %s is %s; training supports f32 parameters\n", m->params[i].name,
              dtype_name(m->params[i].type.dtype));
      return 0;
    }
    for (int k = 1; k < g->nout; k++)
      if (g->outnames && g->outnames[k] && !strncmp(g->outnames[k], "grad:", 5) && !strcmp(g->outnames[k] + 5, m->params[i].name))
        gidx[i] = k;
  }
  return 1;
}

static int fresh_state(const Module *m, uint64_t seed, TrainState *s) {
  s->w = pstore_init(m, seed);
  s->ema = pstore_new(); s->m = pstore_new(); s->v = pstore_new();
  if (!s->w || !s->ema || !s->m || !s->v) return 0;
  for (int i = 0; i < s->w->n; i++) {
    Tensor *t = s->w->tensors[i];
    if (!pstore_put(s->ema, s->w->names[i], tensor_clone(t)) || !pstore_put(s->m, s->w->names[i], tensor_new(t->dtype, t->rank, t->shape)) ||
        !pstore_put(s->v, s->w->names[i], tensor_new(t->dtype, t->rank, t->shape)))
      return 0;
  }
  s->step = 0;
  return 1;
}

static void fmt_eta(double ms, char *buf, size_t n) {
  long s = (long)(ms / 1000 + 0.5);
  snprintf(buf, n, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
}

/* One entry of the --loss schedule: the gradient function, its output index per parameter, and
 * the last step it trains (INT64_MAX for the final entry). */
enum { MAX_OBJECTIVES = 8 };
typedef struct { const Func *g; int *gidx; int64_t until; } Objective;

typedef struct {
  const Module *m; const Backend *be; BackendState *bs;
  TrainArgs *a; TokData d; TrainState s; CkptMeta cm;
  Objective obj[MAX_OBJECTIVES]; int nobj;
  char *dir_ckpt; FILE *metrics;
  const BackendTrain *dtrain;   /* --device cuda: the training state lives in the backend */
} Run;

/* The objective of update number t (1-based). */
static const Objective *objective_at(const Run *r, int64_t t) {
  int k = 0;
  while (k + 1 < r->nobj && t > r->obj[k].until) k++;
  return &r->obj[k];
}

/* Parse "NAME[:UNTIL],...,NAME" (every entry but the last has UNTIL, increasing) and find each
 * NAME.grad with the training signature. */
static int parse_objectives(Run *r, const char *spec, const char *artifact) {
  const char *p = spec;
  r->nobj = 0;
  for (;;) {
    if (r->nobj == MAX_OBJECTIVES) { fprintf(stderr, "dlmrun train: --loss: at most %d entries\n", MAX_OBJECTIVES); return 0; }
    size_t len = strcspn(p, ":,");
    char name[256];
    if (len == 0 || len >= sizeof name - 8) { fprintf(stderr, "dlmrun train: --loss '%s': expected NAME[:STEP],...,NAME\n", spec); return 0; }
    memcpy(name, p, len);
    snprintf(name + len, sizeof name - len, ".grad");
    Objective *o = &r->obj[r->nobj++];
    o->until = INT64_MAX;
    o->g = ir_func_find(r->m, name);
    name[len] = 0;
    if (!o->g || o->g->nargs != 3) {
      fprintf(stderr, "dlmrun train: %s has no %s.grad(x0, seed, step): export a %s(x0: i32[B, seq_len], seed: i64, step: i64) -> f32 "
              "(objectives are `loss` and functions named *_loss)\n", artifact, name, name);
      return 0;
    }
    p += len;
    if (*p == ':') {
      char *end;
      errno = 0;
      long long u = strtoll(p + 1, &end, 10);
      if (end == p + 1 || errno || u < 1 || (*end && *end != ',') || (r->nobj > 1 && u <= r->obj[r->nobj - 2].until)) {
        fprintf(stderr, "dlmrun train: --loss '%s': the step after '%s:' must be a positive integer, larger than the previous one\n", spec, name);
        return 0;
      }
      o->until = u;
      p = end;
    }
    if (!*p) break;
    if (o->until == INT64_MAX) { fprintf(stderr, "dlmrun train: --loss '%s': every entry but the last needs :STEP\n", spec); return 0; }
    p++;
  }
  if (r->obj[r->nobj - 1].until != INT64_MAX) { fprintf(stderr, "dlmrun train: --loss '%s': the last entry takes no :STEP (it trains to the end)\n", spec); return 0; }
  return 1;
}

static int save(Run *r) {
  DlmErr e = {0};
  if (r->dtrain && !r->dtrain->sync(r->bs, &e)) { fprintf(stderr, "dlmrun train: %s\n", e.msg); return 0; }
  record_position(r->a, r->s.step, &r->cm);
  if (!ckpt_save(r->a->out, r->m, &r->s, &r->cm, &e)) { fprintf(stderr, "dlmrun train: %s\n", e.msg); return 0; }
  return 1;
}

/* One update (number r->s.step + 1): loss, gradient norm (before clipping) and learning rate. */
static int step_once(Run *r, double *loss, double *gnorm, double *lr) {
  const Module *m = r->m;
  int64_t t = r->s.step + 1;
  const Objective *ob = objective_at(r, t);
  const Func *g = ob->g;
  const int *gidx = ob->gidx;
  int64_t shape[2] = {r->a->batch, r->d.seq_len};
  Tensor *x0 = tensor_new(DT_I32, 2, shape), *seed = tensor_new(DT_I64, 0, NULL), *stp = tensor_new(DT_I64, 0, NULL);
  Tensor **outs = calloc((size_t)g->nout, sizeof *outs);
  OptTensor *ot = calloc((size_t)m->nparams + 1, sizeof *ot);
  DlmErr e = {0};
  int ok = x0 && seed && stp && outs && ot;
  if (!ok) fprintf(stderr, "dlmrun train: out of memory\n");
  if (ok) {
    data_train_batch(&r->d, (uint64_t)r->a->seed, r->s.step, r->a->batch, x0->data);
    *(int64_t *)seed->data = r->a->seed;
    *(int64_t *)stp->data = r->s.step;
    Tensor *args[3] = {x0, seed, stp};
    if (r->dtrain) {
      const OptConfig *c = &r->a->opt;
      *lr = lr_at(c, t);
      BackendOptStep o = {t, *lr, c->beta1, c->beta2, c->eps, c->weight_decay, c->clip, ema_decay(c->ema, t)};
      ok = r->dtrain->step(r->bs, g, gidx, args, &o, loss, gnorm, &e);
    } else ok = r->be->run(r->bs, g, r->s.w, args, outs, NULL, &e);
    if (!ok) fprintf(stderr, "dlmrun train: step %lld: %s (%s backend): %s\n", (long long)t, g->name, r->be->name, e.msg);
  }
  if (ok && r->dtrain) {
    if (!isfinite(*loss)) { fprintf(stderr, "dlmrun train: step %lld: the loss is %g; stopping\n", (long long)t, *loss); ok = 0; }
    else r->s.step = t;
    goto done;
  }
  if (ok) {
    *loss = tensor_get(outs[0], 0);
    if (!isfinite(*loss)) { fprintf(stderr, "dlmrun train: step %lld: the loss is %g; stopping\n", (long long)t, *loss); ok = 0; }
  }
  if (ok) {
    const TrainState *st = &r->s;
    for (int i = 0; i < m->nparams; i++)
      ot[i] = (OptTensor){st->w->tensors[i], st->m->tensors[i], st->v->tensors[i], st->ema->tensors[i], gidx[i] >= 0 ? outs[gidx[i]] : NULL};
    *lr = lr_at(&r->a->opt, t);
    if (!(ok = opt_step(&r->a->opt, t, *lr, ema_decay(r->a->opt.ema, t), ot, m->nparams, 0, gnorm))) fprintf(stderr, "dlmrun train: out of memory\n");
    else r->s.step = t;
  }
done:
  for (int k = 0; outs && k < g->nout; k++) tensor_free(outs[k]);
  free(outs); free(ot);
  tensor_free(x0); tensor_free(seed); tensor_free(stp);
  return ok;
}

/* per = mean milliseconds per step since the previous logged step. */
static void log_step(Run *r, double loss, double gnorm, double lr, double per, int newline) {
  int64_t left = r->a->steps - r->s.step;
  double tps = (double)(r->a->batch * r->d.seq_len) / (per / 1000.0);
  char eta[32];
  fmt_eta(per * (double)left, eta, sizeof eta);
  fprintf(stderr, "%sstep %lld/%lld  loss %.4f  gnorm %.3f  lr %.3e  %.1f ms/step  %.0f tok/s  ETA %s%s",
          isatty(2) ? "\r\033[K" : "", (long long)r->s.step, (long long)r->a->steps, loss, gnorm, lr, per, tps, eta,
          newline || !isatty(2) ? "\n" : "");
  fflush(stderr);
  if (newline) {
    fprintf(r->metrics, "{\"step\": %lld, \"loss\": %.9g, \"grad_norm\": %.9g, \"lr\": %.9g, \"ms_per_step\": %.3f, \"tokens_per_s\": %.1f",
            (long long)r->s.step, loss, gnorm, lr, per, tps);
    if (r->nobj > 1) fprintf(r->metrics, ", \"objective\": \"%.*s\"", (int)(strlen(objective_at(r, r->s.step)->g->name) - 5), objective_at(r, r->s.step)->g->name);
    fprintf(r->metrics, "}\n");
    fflush(r->metrics);
  }
}

static volatile sig_atomic_t interrupted;
static void on_interrupt(int sig) { interrupted = sig; }

/* 1 done, 0 failed, 2 stopped by SIGINT/SIGTERM after a step, with a checkpoint. */
static int train_loop(Run *r) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  int64_t log_every = r->a->log_every ? r->a->log_every : 1, win_n = 0;
  double win_ms = 0;
  int64_t end = r->a->stop_after && r->a->stop_after < r->a->steps ? r->a->stop_after : r->a->steps;
  while (r->s.step < end) {
    double loss = 0, gnorm = 0, lr = 0, ts = now_ms();
    if (!step_once(r, &loss, &gnorm, &lr)) return 0;
    win_ms += now_ms() - ts;
    win_n++;
    int logged = r->s.step % log_every == 0 || r->s.step == end;
    if (logged || isatty(2)) log_step(r, loss, gnorm, lr, win_ms / (double)win_n, logged);
    if (logged) win_ms = 0, win_n = 0;
    if (r->a->ckpt_every && r->s.step % r->a->ckpt_every == 0 && r->s.step < end && !save(r)) return 0;
    if (interrupted && r->s.step < end) {
      if (!save(r)) return 0;
      fprintf(stderr, "\ndlmrun train: interrupted after step %lld; checkpoint saved, --resume continues\n", (long long)r->s.step);
      return 2;
    }
  }
  return save(r);
}

static int setup(Run *r, const char *artifact) {
  TrainArgs *a = r->a;
  DlmErr e = {0};
  if (mkdir(a->out, 0777) != 0 && errno != EEXIST) { fprintf(stderr, "dlmrun train: cannot create '%s': %s\n", a->out, strerror(errno)); return 0; }
  r->dir_ckpt = ckpt_file(a->out);
  if (!r->dir_ckpt) return 0;
  int have = access(r->dir_ckpt, F_OK) == 0;
  if (a->resume && !have) { fprintf(stderr, "dlmrun train: --resume: %s does not exist\n", r->dir_ckpt); return 0; }
  if (!a->resume && have) { fprintf(stderr, "dlmrun train: %s already holds a checkpoint: pass --resume or choose another --out\n", a->out); return 0; }
  Module *m = rt_open_artifact(artifact);
  if (!(r->m = m)) return 0;
  if (a->resume) {
    if (!ckpt_load(a->out, m, &r->s, &r->cm, &e)) { fprintf(stderr, "dlmrun train: %s\n", e.msg); return 0; }
    if (!merge_config(a, &r->cm)) return 0;
  }
  if (!finish_config(a) || !parse_objectives(r, a->val[F_LOSS], artifact)) return 0;
  int64_t seq_len = 0;
  for (int k = 0; k < r->nobj; k++) {
    const Func *g = r->obj[k].g;
    const Node *x0 = NULL;
    for (int i = 0; i < g->nnodes; i++)
      if (g->nodes[i].op == OP_ARG && g->nodes[i].attr.i[0] == 0) x0 = &g->nodes[i];
    if (!x0 || x0->type.dtype != DT_I32 || x0->type.rank != 2 || !dim_is_const(x0->type.dims[1]) || (seq_len && x0->type.dims[1].k != seq_len)) {
      fprintf(stderr, "dlmrun train: the first argument of %.*s must be i32[B, seq_len] (the same seq_len for every --loss entry)\n",
              (int)strlen(g->name) - 5, g->name);
      return 0;
    }
    seq_len = x0->type.dims[1].k;
  }
  if (a->resume && r->s.step > a->steps) { fprintf(stderr, "dlmrun train: the checkpoint is at step %lld, past --steps %lld\n", (long long)r->s.step, (long long)a->steps); return 0; }
  Tokenizer *tok = tok_open(a->val[F_TOK], a->val[F_TOKDIR][0] ? a->val[F_TOKDIR] : NULL, &e);
  const char *vs = ir_meta_get(m, "vocab");
  int64_t vocab = vs ? strtoll(vs, NULL, 10) : 0;
  if (tok && vocab <= 0) { fprintf(stderr, "dlmrun train: the artifact records no 'vocab' const\n"); tok_free(tok); return 0; }
  if (tok && tok_vocab_size(tok) > vocab) {
    fprintf(stderr, "dlmrun train: tokenizer %s has %d tokens but the model's vocab is %lld (compile with -D vocab=%d)\n",
            tok_name(tok), tok_vocab_size(tok), (long long)vocab, tok_vocab_size(tok));
    tok_free(tok);
    return 0;
  }
  int ok = tok && data_load(a->val[F_DATA], tok, seq_len, vocab, &r->d, &e);
  tok_free(tok);
  if (!ok) { fprintf(stderr, "dlmrun train: %s\n", e.msg); return 0; }
  if (!a->resume && !fresh_state(m, (uint64_t)a->seed, &r->s)) { fprintf(stderr, "dlmrun train: out of memory\n"); return 0; }
  record_config(a, seq_len, &r->d, &r->cm);
  for (int k = 0; k < r->nobj; k++) {
    r->obj[k].gidx = calloc((size_t)m->nparams + 1, sizeof *r->obj[k].gidx);
    if (!r->obj[k].gidx || !map_grads(m, r->obj[k].g, r->obj[k].gidx)) return 0;
  }
  size_t plen = strlen(a->out) + 32;
  char *mpath = malloc(plen);
  if (!mpath) return 0;
  snprintf(mpath, plen, "%s/metrics.jsonl", a->out);
  if (a->resume) ok = trim_metrics(mpath, r->s.step);
  r->metrics = ok ? fopen(mpath, a->resume ? "a" : "w") : NULL;
  if (ok && !r->metrics) fprintf(stderr, "dlmrun train: cannot write '%s': %s\n", mpath, strerror(errno));
  free(mpath);
  if (!r->metrics) return 0;
  if (!(r->bs = rt_target_open("train", &a->tgt, m, &r->be))) return 0;
  /* on the cuda device the optimizer runs there too, unless only --backend cuda was given */
  if (r->be == &backend_cuda && (a->tgt.device || !a->tgt.backend)) {
    if (!r->be->train) { fprintf(stderr, "dlmrun train: the %s backend cannot train on the device\n", r->be->name); return 0; }
    if (!r->be->train->begin(r->bs, r->s.w, r->s.ema, r->s.m, r->s.v, &e)) { fprintf(stderr, "dlmrun train: --device cuda: %s\n", e.msg); return 0; }
    r->dtrain = r->be->train;
  }
  fprintf(stderr, "dlmrun train: %s backend%s, %lld training / %lld held-out windows of %lld tokens, batch %lld, %s from step %lld to %lld\n",
          r->be->name, r->dtrain ? " (optimizer on the device)" : "", (long long)r->d.train_windows, (long long)r->d.heldout_windows, (long long)seq_len, (long long)a->batch,
          a->resume ? "resuming" : "training", (long long)r->s.step, (long long)a->steps);
  return 1;
}

int dlmrun_train(const char *artifact, int argc, char **argv) {
  TrainArgs a;
  memset(&a, 0, sizeof a);
  int st = parse(argc, argv, &a);
  if (st) return st;
  if (a.val[F_TOKDIR]) {   /* recorded absolute, so eval and sample find it from anywhere */
    char *abs = realpath(a.val[F_TOKDIR], NULL);
    if (!abs) { fprintf(stderr, "dlmrun train: --tokenizer-dir '%s': %s\n", a.val[F_TOKDIR], strerror(errno)); return 1; }
    a.val[F_TOKDIR] = a.owned[F_TOKDIR] = abs;
  }
  Run r;
  memset(&r, 0, sizeof r);
  r.a = &a;
  int ok = setup(&r, artifact) ? train_loop(&r) : 0;
  if (r.dtrain) r.dtrain->end(r.bs);
  if (r.bs) r.be->close(r.bs);
  if (r.metrics) fclose(r.metrics);
  for (int k = 0; k < r.nobj; k++) free(r.obj[k].gidx);
  free(r.dir_ckpt);
  data_free(&r.d);
  train_state_free(&r.s);
  ckpt_meta_free(&r.cm);
  ir_module_free((Module *)r.m);
  for (int k = 0; k < NFIELDS; k++) free(a.owned[k]);
  return ok == 1 ? 0 : ok == 2 ? 130 : 1;
}
