/* sched_exec.c — the schedule interpreter (see sched_exec.h). Every variable holds a host tensor
 * (scalars have rank 0); calls hand the variables' tensors to the backend and replace the result
 * variables; loops run [lo, hi) with the loop variable set each iteration; break_if leaves the
 * innermost loop. A memo call keeps copies of its last arguments and results (one entry per call
 * statement) and reuses the results while the arguments stay byte-identical. A loop with a KV-cache
 * plan runs the plan's init statements and then the plan's body in place of its own (unless
 * no_cache); the plan's block range must cover the loop's. A window statement (window plans) checks
 * that the window [lo, hi) starts where the previous one ended and fits the plan, and takes the rows
 * from the previous window's start to hi.
 * With resident loop state (SchedDev) the variables are backend values instead (the section
 * "resident loop state" below). */
#include "sched_exec.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const SchedStmt *st;
  Tensor **args, **res;   /* copies of the last call's arguments and results */
} MemoEntry;

typedef struct {
  const Module *m; const Sched *s; const Backend *be; BackendState *bs; const ParamStore *ps;
  const int64_t *symval;
  Tensor **vals;      /* per variable */
  DlmErr *e;
  SchedMemo *memo;
  SchedCache *cache;
  const SchedStmt *first_memo;
  MemoEntry *entries; int nentries, capentries;
  int64_t plan_rows;  /* the rows of the KV-cache plan whose body runs (window statements) */
  /* resident loop state (dv != NULL): per variable its backend value and which copy is current */
  const BackendDev *dv;
  SchedDev *dev;
  BackendValue **dvals;
  char *hcur, *dcur;
  const BackendValue *guard;                       /* the innermost loop's freeze flag, or NULL */
  struct LoopFlag { const SchedStmt *st; BackendValue *flag; } *flags; int nflags;
  int depth;
} Exec;

static Tensor *scalar(DType t) { return tensor_new(t, 0, NULL); }

static int set_knob(const SchedVar *v, const char *text, Tensor *t, DlmErr *e) {
  char *end;
  errno = 0;
  if (dtype_is_int(v->type.dtype)) {
    long long x = strtoll(text, &end, 10);
    if (errno || end == text || *end) { err_set(e, v->loc, "knob %s is %s: '%s' is not an integer", v->name, dtype_name(v->type.dtype), text); return 0; }
    if (v->type.dtype == DT_I64) *(int64_t *)t->data = x;
    else if (x < INT32_MIN || x > INT32_MAX) { err_set(e, v->loc, "knob %s: %s is out of range for i32", v->name, text); return 0; }
    else *(int32_t *)t->data = (int32_t)x;
    return 1;
  }
  if (v->type.dtype == DT_BOOL) {
    int b = !strcmp(text, "true") || !strcmp(text, "1");
    if (!b && strcmp(text, "false") && strcmp(text, "0")) { err_set(e, v->loc, "knob %s is bool: '%s' is not true/false", v->name, text); return 0; }
    tensor_set(t, 0, b);
    return 1;
  }
  double x = strtod(text, &end);
  if (errno || end == text || *end) { err_set(e, v->loc, "knob %s is %s: '%s' is not a number", v->name, dtype_name(v->type.dtype), text); return 0; }
  tensor_set(t, 0, x);
  return 1;
}

static int64_t as_int(const Tensor *t) {
  return t->dtype == DT_I64 ? *(const int64_t *)t->data : (int64_t)tensor_get(t, 0);
}

static int run_body(Exec *x, const SchedStmt *body, int n, int *brk);

static int same_bytes(const Tensor *a, const Tensor *b) {
  return a->dtype == b->dtype && tensor_same_shape(a, b) &&
         !memcmp(a->data, b->data, (size_t)a->numel * dtype_size(a->dtype));
}

static void entry_clear(MemoEntry *en) {
  for (int a = 0; en->args && a < en->st->nargs; a++) tensor_free(en->args[a]);
  for (int r = 0; en->res && r < en->st->nres; r++) tensor_free(en->res[r]);
  free(en->args); free(en->res);
  en->args = en->res = NULL;
}

static MemoEntry *memo_entry(Exec *x, const SchedStmt *st) {
  for (int i = 0; i < x->nentries; i++)
    if (x->entries[i].st == st) return &x->entries[i];
  if (x->nentries == x->capentries) {
    int cap = x->capentries ? 2 * x->capentries : 4;
    MemoEntry *p = realloc(x->entries, (size_t)cap * sizeof *p);
    if (!p) return NULL;
    x->entries = p;
    x->capentries = cap;
  }
  MemoEntry *en = &x->entries[x->nentries++];
  en->st = st;
  en->args = en->res = NULL;
  return en;
}

/* The reused results of a memo call whose arguments match the last call's: 1 if reused, 0 if the
 * call must run, -1 out of memory. */
static int memo_reuse(Exec *x, const SchedStmt *st, Tensor *const *args) {
  MemoEntry *en = memo_entry(x, st);
  if (!en) return -1;
  if (!en->args) return 0;
  for (int a = 0; a < st->nargs; a++)
    if (!same_bytes(args[a], en->args[a])) return 0;
  Tensor **copies = calloc((size_t)st->nres, sizeof *copies);
  int ok = copies != NULL;
  for (int r = 0; ok && r < st->nres; r++) ok = (copies[r] = tensor_clone(en->res[r])) != NULL;
  for (int r = 0; r < st->nres && copies; r++) {
    if (ok) { tensor_free(x->vals[st->res[r]]); x->vals[st->res[r]] = copies[r]; }
    else tensor_free(copies[r]);
  }
  free(copies);
  return ok ? 1 : -1;
}

/* Keeps copies of a memo call's arguments and its fresh results (before they replace variables,
 * which may be arguments too). */
static int memo_store(Exec *x, const SchedStmt *st, Tensor *const *args, Tensor *const *outs) {
  MemoEntry *en = memo_entry(x, st);
  if (!en) return 0;
  entry_clear(en);
  en->args = calloc((size_t)st->nargs + 1, sizeof *en->args);
  en->res = calloc((size_t)st->nres + 1, sizeof *en->res);
  int ok = en->args && en->res;
  for (int a = 0; ok && a < st->nargs; a++) ok = (en->args[a] = tensor_clone(args[a])) != NULL;
  for (int r = 0; ok && r < st->nres; r++) ok = (en->res[r] = tensor_clone(outs[r])) != NULL;
  if (!ok) entry_clear(en);
  return ok;
}

static int reads_params(const Func *f) {
  for (int i = 0; i < f->nnodes; i++)
    if (f->nodes[i].op == OP_PARAM) return 1;
  return 0;
}

/* A call whose results are all cache buffers: a KV-cache commit (not a network evaluation). */
static int writes_caches_only(const Sched *s, const SchedStmt *st) {
  for (int r = 0; r < st->nres; r++)
    if (s->vars[st->res[r]].kind != SV_CACHE) return 0;
  return st->nres > 0;
}

static const SchedStmt *find_first_memo(const SchedStmt *body, int n) {
  for (int i = 0; i < n; i++) {
    if (body[i].memo) return &body[i];
    const SchedStmt *in = body[i].kind == SS_LOOP ? find_first_memo(body[i].body, body[i].nbody) : NULL;
    if (in) return in;
  }
  return NULL;
}

static int dev_call(Exec *x, const SchedStmt *st);
static int dev_iterate(Exec *x, const SchedStmt *st, int64_t a, int64_t b, const SchedStmt *body, int nbody);
static int dev_break(Exec *x, const SchedStmt *st, int *brk);
static Tensor *var_host(Exec *x, int v);
static int run_loop_counted(Exec *x, const SchedStmt *st);

/* the counters of a call that runs (a memo miss; a network evaluation or a cache commit) */
static void count_run(Exec *x, const SchedStmt *st, const Func *f) {
  if (st->memo) x->memo->misses++;
  if (reads_params(f)) {
    if (writes_caches_only(x->s, st)) x->cache->commits++;
    else x->memo->nfe++;
  }
}

/* a backend's error for a call, prefixed with the sampler and the function */
static void call_failed(Exec *x, const SchedStmt *st, const Func *f) {
  char msg[sizeof x->e->msg];
  snprintf(msg, sizeof msg, "%s", x->e->msg);
  x->e->set = 0;
  err_set(x->e, st->loc, "%s: %s: %s", x->s->name, f->name, msg);
}

static int run_call(Exec *x, const SchedStmt *st) {
  if (x->dv) return dev_call(x, st);
  const Func *f = x->m->funcs[st->func];
  Tensor **args = calloc((size_t)f->nargs + 1, sizeof *args), **outs = calloc((size_t)f->nout + 1, sizeof *outs);
  int ok = args && outs;
  if (!ok) err_set(x->e, st->loc, "out of memory");
  for (int a = 0; ok && a < st->nargs; a++) {
    args[a] = x->vals[st->args[a]];
    if (!args[a]) { err_set(x->e, st->loc, "%s: variable %s is read before it is set", x->s->name, x->s->vars[st->args[a]].name); ok = 0; }
  }
  x->memo->steps += ok && st == x->first_memo;
  int memo = ok && st->memo && !x->memo->no_memo;
  if (memo) {
    int r = memo_reuse(x, st, args);
    if (r < 0) { err_set(x->e, st->loc, "out of memory"); ok = 0; }
    if (r > 0) { x->memo->hits++; free(args); free(outs); return 1; }
  }
  if (ok) count_run(x, st, f);
  if (ok && !x->be->run(x->bs, f, x->ps, args, outs, x->symval, x->e)) {
    call_failed(x, st, f);
    ok = 0;
  }
  if (ok && memo && !memo_store(x, st, args, outs)) { err_set(x->e, st->loc, "out of memory"); ok = 0; }
  if (ok)
    for (int r = 0; r < st->nres; r++) {
      tensor_free(x->vals[st->res[r]]);
      x->vals[st->res[r]] = outs[r];
      outs[r] = NULL;
    }
  for (int r = 0; outs && r < f->nout; r++) tensor_free(outs[r]);
  free(args); free(outs);
  return ok;
}

static int run_loop(Exec *x, const SchedStmt *st) {
  const Tensor *lo = var_host(x, st->lo), *hi = var_host(x, st->hi);
  if (x->e->set) return 0;
  if (!lo || !hi) { err_set(x->e, st->loc, "%s: loop bound read before it is set", x->s->name); return 0; }
  int64_t a = as_int(lo), b = as_int(hi);
  const SchedPlan *pl = st->plan && st->plan->nbody > 0 && !x->cache->no_cache ? st->plan : NULL;
  const SchedStmt *body = pl ? pl->body : st->body;
  int nbody = pl ? pl->nbody : st->nbody;
  if (pl) {
    int64_t nblocks = pl->block > 0 ? pl->rows / pl->block : 0;
    if (pl->block > 0 && (a < 0 || b > nblocks)) {
      err_set(x->e, st->loc, "%s: the cache plan of loop %s covers blocks 0..%lld, the loop runs %lld..%lld (run without the cache)",
              x->s->name, x->s->vars[st->var].name, (long long)nblocks - 1, (long long)a, (long long)b - 1);
      return 0;
    }
    int brk = 0;
    if (!run_body(x, pl->init, pl->ninit, &brk)) return 0;
    if (pl->approximate) x->cache->approx_loops++;
    else x->cache->cached_loops++;
  }
  int64_t outer_rows = x->plan_rows;
  if (pl) x->plan_rows = pl->rows;
  int ok = 1;
  if (x->dv) {
    ok = dev_iterate(x, st, a, b, body, nbody);
    x->plan_rows = outer_rows;
    return ok;
  }
  Tensor *iv = x->vals[st->var];
  if (!iv && !(iv = x->vals[st->var] = scalar(x->s->vars[st->var].type.dtype))) { err_set(x->e, st->loc, "out of memory"); ok = 0; }
  for (int64_t i = a; ok && i < b; i++) {
    if (iv->dtype == DT_I64) *(int64_t *)iv->data = i;
    else tensor_set(iv, 0, (double)i);
    int brk = 0;
    ok = run_body(x, body, nbody, &brk);
    if (brk) break;
  }
  x->plan_rows = outer_rows;
  return ok;
}

/* window lo, hi, span -> rows, span: span holds the previous window [plo, phi) ([0, 0] before the
 * first); lo must be phi; rows = plo..hi-1 (the previous window's rows and this one's), span =
 * [lo, hi]. With resident values the bounds are read back from the backend; an iteration frozen
 * by a `break if` (its bounds are those of the finished loop) changes nothing. */
static int run_window(Exec *x, const SchedStmt *st) {
  const Tensor *lt = var_host(x, st->args[0]), *ht = var_host(x, st->args[1]), *sp = var_host(x, st->args[2]);
  if (x->e->set) return 0;
  if (!lt || !ht || !sp || sp->numel != 2 || sp->dtype != DT_I64) {
    err_set(x->e, st->loc, "%s: window bound read before it is set", x->s->name);
    return 0;
  }
  int64_t lo = as_int(lt), hi = as_int(ht), plo = ((const int64_t *)sp->data)[0], phi = ((const int64_t *)sp->data)[1];
  const char *ln = x->s->vars[st->args[0]].name, *hn = x->s->vars[st->args[1]].name;
  if ((lo != phi || hi <= lo || hi > x->plan_rows) && x->dv && x->guard) {
    Tensor *t = x->dv->download(x->bs, x->guard, x->e);
    int frozen = t && tensor_get(t, 0) != 0;
    tensor_free(t);
    x->dev->flag_reads++;
    if (!t) return 0;
    if (frozen) return 1;
  }
  if (lo != phi) {
    err_set(x->e, st->loc, "%s: KV cache: the window starts at %s = %lld but the previous window ended at %lld; an exact cache "
            "needs consecutive windows (run with --no-cache)", x->s->name, ln, (long long)lo, (long long)phi);
    return 0;
  }
  if (hi <= lo || hi > x->plan_rows) {
    err_set(x->e, st->loc, "%s: KV cache: the window [%s, %s) = [%lld, %lld) is empty or leaves the %lld rows (run with --no-cache)",
            x->s->name, ln, hn, (long long)lo, (long long)hi, (long long)x->plan_rows);
    return 0;
  }
  int64_t n = hi - plo, two = 2;
  Tensor *rows = tensor_new(DT_I64, 1, &n), *span = tensor_new(DT_I64, 1, &two);
  if (!rows || !span) { tensor_free(rows); tensor_free(span); err_set(x->e, st->loc, "out of memory"); return 0; }
  for (int64_t i = 0; i < n; i++) ((int64_t *)rows->data)[i] = plo + i;
  ((int64_t *)span->data)[0] = lo;
  ((int64_t *)span->data)[1] = hi;
  for (int r = 0; r < 2; r++) {
    tensor_free(x->vals[st->res[r]]);
    x->vals[st->res[r]] = r ? span : rows;
    if (x->dv) x->hcur[st->res[r]] = 1, x->dcur[st->res[r]] = 0;
  }
  return 1;
}

static int run_body(Exec *x, const SchedStmt *body, int n, int *brk) {
  for (int i = 0; i < n; i++) {
    const SchedStmt *st = &body[i];
    if (st->kind == SS_CALL && !run_call(x, st)) return 0;
    if (st->kind == SS_LOOP && !run_loop_counted(x, st)) return 0;
    if (st->kind == SS_WINDOW && !run_window(x, st)) return 0;
    if (st->kind == SS_BREAK_IF && x->dv) {
      if (!dev_break(x, st, brk)) return 0;
      if (*brk) return 1;
    } else if (st->kind == SS_BREAK_IF) {
      const Tensor *c = x->vals[st->args[0]];
      if (!c) { err_set(x->e, st->loc, "%s: break condition read before it is set", x->s->name); return 0; }
      if (tensor_get(c, 0) != 0) { *brk = 1; return 1; }
    }
  }
  return 1;
}

/* ---------------------------------------------------------------- resident loop state
 * Each variable has a host tensor (vals) and a backend value (dvals); hcur / dcur say which is
 * current (both may be). Calls read and overwrite values; the host reads a value (a download)
 * only for loop bounds, a break flag every check_every iterations, a `break if` outside any loop
 * and the results. A loop with `break if` has a freeze flag (a bool value): set to the enclosing
 * loop's flag on entry, or-ed with the break condition by `break if`, and passed as the skip of
 * every call and loop-variable update inside the loop, so once it is set nothing changes. */
static int64_t xfers(Exec *x) {
  int64_t up = 0, down = 0;
  if (x->be->dev && x->be->dev->transfers) x->be->dev->transfers(x->bs, &up, &down);
  return up + down;
}

static Tensor *var_host(Exec *x, int v) {
  if (x->dv && !x->hcur[v] && x->dcur[v]) {
    Tensor *t = x->dv->download(x->bs, x->dvals[v], x->e);
    if (!t) return NULL;
    tensor_free(x->vals[v]);
    x->vals[v] = t;
    x->hcur[v] = 1;
  }
  return x->vals[v];
}

static BackendValue *var_dev(Exec *x, int v) {
  if (!x->dcur[v] && x->hcur[v]) {
    BackendValue *d = x->dv->upload(x->bs, x->vals[v], x->e);
    if (!d) return NULL;
    if (x->dvals[v]) x->dv->release(x->bs, x->dvals[v]);
    x->dvals[v] = d;
    x->dcur[v] = 1;
  }
  return x->dcur[v] ? x->dvals[v] : NULL;
}

static int dev_call(Exec *x, const SchedStmt *st) {
  const Func *f = x->m->funcs[st->func];
  BackendValue **args = calloc((size_t)f->nargs + 1, sizeof *args), **outs = calloc((size_t)f->nout + 1, sizeof *outs);
  int ok = args && outs;
  if (!ok) err_set(x->e, st->loc, "out of memory");
  for (int a = 0; ok && a < st->nargs; a++) {
    int v = st->args[a];
    if (!x->hcur[v] && !x->dcur[v]) { err_set(x->e, st->loc, "%s: variable %s is read before it is set", x->s->name, x->s->vars[v].name); ok = 0; }
    else ok = (args[a] = var_dev(x, v)) != NULL;
  }
  /* a frozen call leaves its results as they are: they must be current in the backend */
  for (int r = 0; ok && x->guard && r < st->nres; r++)
    if (x->hcur[st->res[r]]) ok = var_dev(x, st->res[r]) != NULL;
  x->memo->steps += ok && st == x->first_memo;
  if (ok) count_run(x, st, f);
  for (int r = 0; ok && r < st->nres; r++) outs[r] = x->dvals[st->res[r]];
  if (ok && !x->dv->run(x->bs, f, x->ps, args, outs, x->symval, x->guard, x->e)) {
    call_failed(x, st, f);
    ok = 0;
  }
  for (int r = 0; outs && r < st->nres; r++) { /* the values, moved or not */
    x->dvals[st->res[r]] = outs[r];
    outs[r] = NULL;
    if (ok) x->dcur[st->res[r]] = 1, x->hcur[st->res[r]] = 0;
  }
  for (int k = 0; outs && k < f->nout; k++)
    if (outs[k]) x->dv->release(x->bs, outs[k]);
  free(args);
  free(outs);
  return ok;
}

static int has_break(const SchedStmt *body, int n) {
  for (int i = 0; i < n; i++)
    if (body[i].kind == SS_BREAK_IF) return 1;
  return 0;
}

static BackendValue *loop_flag(Exec *x, const SchedStmt *st) {
  for (int i = 0; i < x->nflags; i++)
    if (x->flags[i].st == st) return x->flags[i].flag;
  return NULL;
}

/* 1 if a call in body (nested loops and cache plans included) writes variable v */
static int writes_var(const SchedStmt *body, int n, int v) {
  for (int i = 0; i < n; i++) {
    const SchedStmt *st = &body[i];
    for (int r = 0; st->kind == SS_CALL && r < st->nres; r++)
      if (st->res[r] == v) return 1;
    if (st->kind == SS_LOOP && (writes_var(st->body, st->nbody, v) ||
                                (st->plan && (writes_var(st->plan->init, st->plan->ninit, v) || writes_var(st->plan->body, st->plan->nbody, v)))))
      return 1;
  }
  return 0;
}

/* Before top-level loop top: the values its calls read that only the host has (knobs,
 * constants), the host copies of the nested loops' bounds that the loop does not change, the
 * loop variables and the freeze flags of the loops with `break if`, so that the iterations
 * transfer nothing. */
static int dev_prepare(Exec *x, const SchedStmt *top, const SchedStmt *body, int n) {
  for (int i = 0; i < n; i++) {
    const SchedStmt *st = &body[i];
    if (st->kind != SS_LOOP) {
      for (int a = 0; a < st->nargs; a++)
        if (x->hcur[st->args[a]] && !var_dev(x, st->args[a])) return 0;
      continue;
    }
    for (int k = 0; st != top && k < 2; k++) {
      int b = k ? st->hi : st->lo;
      if (!writes_var(top, 1, b) && !x->hcur[b] && x->dcur[b] && !var_host(x, b)) return 0;
    }
    if (!x->dvals[st->var]) { /* 0, as the host path's loop variable before its loop runs */
      Tensor *t = scalar(x->s->vars[st->var].type.dtype);
      x->dvals[st->var] = t ? x->dv->upload(x->bs, t, x->e) : NULL;
      if (!x->dvals[st->var]) { tensor_free(t); return 0; }
      if (!x->vals[st->var]) x->vals[st->var] = t, x->hcur[st->var] = 1;
      else tensor_free(t);
      x->dcur[st->var] = 1;
    }
    const SchedPlan *pl = st->plan && st->plan->nbody > 0 && !x->cache->no_cache ? st->plan : NULL;
    const SchedStmt *lb = pl ? pl->body : st->body;
    int nb = pl ? pl->nbody : st->nbody;
    if (has_break(lb, nb) && !loop_flag(x, st)) {
      struct LoopFlag *p = realloc(x->flags, (size_t)(x->nflags + 1) * sizeof *p);
      Tensor *t = scalar(DT_BOOL);
      BackendValue *f = p && t ? x->dv->upload(x->bs, t, x->e) : NULL;
      tensor_free(t);
      if (p) x->flags = p;
      if (!f) { if (!x->e->set) err_set(x->e, st->loc, "out of memory"); return 0; }
      x->flags[x->nflags++] = (struct LoopFlag){st, f};
    }
    if ((pl && !dev_prepare(x, top, pl->init, pl->ninit)) || !dev_prepare(x, top, lb, nb)) return 0;
  }
  return 1;
}

static int dev_iterate(Exec *x, const SchedStmt *st, int64_t a, int64_t b, const SchedStmt *body, int nbody) {
  const BackendDev *dv = x->dv;
  BackendValue *flag = has_break(body, nbody) ? loop_flag(x, st) : NULL, *iv = x->dvals[st->var];
  const BackendValue *outer = x->guard;
  int ok = 1;
  if (flag) ok = dv->set_int(x->bs, flag, 0, NULL, x->e) && (!outer || dv->flag_or(x->bs, flag, outer, x->e));
  x->guard = flag ? flag : outer;
  int every = x->dev->check_every > 0 ? x->dev->check_every : 8;
  int top = x->depth == 1;   /* a top-level loop (run_loop_counted counts the depth) */
  int64_t base = 0;
  Tensor *ih = x->vals[st->var];
  if (!ih && !(ih = x->vals[st->var] = scalar(x->s->vars[st->var].type.dtype))) { err_set(x->e, st->loc, "out of memory"); ok = 0; }
  for (int64_t i = a; ok && i < b; i++) {
    ok = dv->set_int(x->bs, iv, i, x->guard, x->e);
    x->dcur[st->var] = 1;
    x->hcur[st->var] = !x->guard;  /* under a freeze flag the host does not know whether it changed */
    if (ih->dtype == DT_I64) *(int64_t *)ih->data = i;
    else tensor_set(ih, 0, (double)i);
    int brk = 0;
    ok = ok && run_body(x, body, nbody, &brk);
    if (top && i == a) base = xfers(x);
    if (ok && flag && (i - a + 1) % every == 0 && i + 1 < b) {
      Tensor *t = dv->download(x->bs, flag, x->e);
      x->dev->flag_reads++;
      ok = t != NULL;
      brk = ok && tensor_get(t, 0) != 0;
      tensor_free(t);
      if (brk) break;
    }
  }
  x->guard = outer;
  if (top && b > a) x->dev->steady_transfers += xfers(x) - base;
  return ok;
}

/* run_loop, counting the transfers made inside a top-level loop (with resident values, after
 * the values the loop reads are in the backend) */
static int run_loop_counted(Exec *x, const SchedStmt *st) {
  int top = x->depth == 0;
  if (top && x->dv && !dev_prepare(x, st, st, 1)) return 0;
  int64_t before = top ? xfers(x) : 0;
  x->depth++;
  int ok = run_loop(x, st);
  x->depth--;
  if (top) x->dev->loop_transfers += xfers(x) - before;
  return ok;
}

/* `break if` with resident values: or the condition into the loop's freeze flag (outside a loop:
 * read it) */
static int dev_break(Exec *x, const SchedStmt *st, int *brk) {
  int v = st->args[0];
  if (!x->hcur[v] && !x->dcur[v]) { err_set(x->e, st->loc, "%s: break condition read before it is set", x->s->name); return 0; }
  if (!x->guard) {
    const Tensor *c = var_host(x, v);
    if (c && tensor_get(c, 0) != 0) *brk = 1;
    return c != NULL;
  }
  const BackendValue *c = var_dev(x, v);
  /* the innermost loop has a flag: it holds this `break if` */
  return c && x->dv->flag_or(x->bs, (BackendValue *)x->guard, c, x->e);
}

int sched_run(const Module *m, const Sched *s, const Backend *be, BackendState *bs, const ParamStore *ps,
              const SchedKnob *knobs, int nknobs, const int64_t *symval, Tensor **outs, DlmErr *e) {
  return sched_run_memo(m, s, be, bs, ps, knobs, nknobs, symval, NULL, outs, e);
}

int sched_run_memo(const Module *m, const Sched *s, const Backend *be, BackendState *bs, const ParamStore *ps,
                   const SchedKnob *knobs, int nknobs, const int64_t *symval, SchedMemo *memo, Tensor **outs, DlmErr *e) {
  return sched_run_cache(m, s, be, bs, ps, knobs, nknobs, symval, memo, NULL, outs, e);
}

int sched_run_cache(const Module *m, const Sched *s, const Backend *be, BackendState *bs, const ParamStore *ps,
                    const SchedKnob *knobs, int nknobs, const int64_t *symval, SchedMemo *memo, SchedCache *cache,
                    Tensor **outs, DlmErr *e) {
  return sched_run_dev(m, s, be, bs, ps, knobs, nknobs, symval, memo, cache, NULL, outs, e);
}

int sched_run_dev(const Module *m, const Sched *s, const Backend *be, BackendState *bs, const ParamStore *ps,
                  const SchedKnob *knobs, int nknobs, const int64_t *symval, SchedMemo *memo, SchedCache *cache,
                  SchedDev *dev, Tensor **outs, DlmErr *e) {
  SchedMemo local = {0, 0, 0, 0, 0};
  SchedCache local_cache = {0, 0, 0, 0};
  SchedDev local_dev = {0, 0, 0, 0, 0, 0, 0};
  Exec x = {m, s, be, bs, ps, symval, calloc((size_t)s->nvars + 1, sizeof(Tensor *)), e, memo ? memo : &local,
            cache ? cache : &local_cache, find_first_memo(s->body, s->nbody), NULL, 0, 0, 0,
            NULL, dev ? dev : &local_dev, NULL, NULL, NULL, NULL, NULL, 0, 0};
  if (!x.vals) { err_set(e, s->loc, "out of memory"); return 0; }
  DlmErr why = {0};
  int ready = be->dev && (!be->dev->ready || be->dev->ready(bs, &why));
  int mode = x.dev->mode ? x.dev->mode : be->prefer_resident && ready ? 2 : 1;
  if (mode == 2 && !ready) {
    err_set(e, s->loc, "%s: the %s backend keeps no values between calls (no resident loop state)%s%s", s->name, be->name,
            why.set ? ": " : "", why.msg);
    free(x.vals);
    return 0;
  }
  int64_t xfer0 = xfers(&x);
  int ok = 1;
  if (mode == 2) {
    x.dv = be->dev;
    x.dvals = calloc((size_t)s->nvars + 1, sizeof *x.dvals);
    x.hcur = calloc((size_t)s->nvars + 1, 1);
    x.dcur = calloc((size_t)s->nvars + 1, 1);
    if (!x.dvals || !x.hcur || !x.dcur) { err_set(e, s->loc, "out of memory"); ok = 0; }
    else if (x.dv->hold) x.dv->hold(bs, ps);
  }
  x.dev->resident = mode == 2;
  for (int k = 0; ok && k < nknobs; k++) {
    int found = 0;
    for (int v = 0; v < s->nvars; v++) found |= s->vars[v].kind == SV_KNOB && !strcmp(s->vars[v].name, knobs[k].name);
    if (!found) {
      char list[256] = "";
      size_t u = 0;
      for (int v = 0; v < s->nvars && u < sizeof list; v++)
        if (s->vars[v].kind == SV_KNOB) u += (size_t)snprintf(list + u, sizeof list - u, " %s", s->vars[v].name);
      err_set(e, s->loc, "sampler %s has no knob '%s' (knobs:%s)", s->name, knobs[k].name, list);
      ok = 0;
    }
  }
  for (int v = 0; ok && v < s->nvars; v++) {
    const SchedVar *sv = &s->vars[v];
    if (sv->kind == SV_INPUT) { err_set(e, sv->loc, "sampler %s takes the input '%s', which dlmrun sample cannot supply yet", s->name, sv->name); ok = 0; break; }
    if (sv->kind != SV_KNOB && sv->kind != SV_CONST) continue;
    if (!(x.vals[v] = scalar(sv->type.dtype))) { err_set(e, s->loc, "out of memory"); ok = 0; break; }
    if (sv->type.dtype == DT_I64) *(int64_t *)x.vals[v]->data = (int64_t)sv->value;
    else tensor_set(x.vals[v], 0, sv->value);
    if (x.hcur) x.hcur[v] = 1;
    for (int k = 0; sv->kind == SV_KNOB && k < nknobs; k++)
      if (!strcmp(knobs[k].name, sv->name) && !set_knob(sv, knobs[k].value, x.vals[v], e)) ok = 0;
  }
  int brk = 0;
  ok = ok && run_body(&x, s->body, s->nbody, &brk);
  for (int o = 0; ok && o < s->nout; o++) {
    if (!var_host(&x, s->outs[o]) && e->set) { ok = 0; break; }
    if (!x.vals[s->outs[o]]) { err_set(e, s->loc, "%s: result %s is never set", s->name, s->vars[s->outs[o]].name); ok = 0; break; }
    outs[o] = x.vals[s->outs[o]];
    x.vals[s->outs[o]] = NULL;
  }
  if (!ok)
    for (int o = 0; o < s->nout; o++) { tensor_free(outs[o]); outs[o] = NULL; }
  for (int v = 0; v < s->nvars; v++) tensor_free(x.vals[v]);
  free(x.vals);
  for (int v = 0; x.dvals && v < s->nvars; v++)
    if (x.dvals[v]) x.dv->release(bs, x.dvals[v]);
  for (int i = 0; i < x.nflags; i++) x.dv->release(bs, x.flags[i].flag);
  if (x.dv && x.dv->hold) x.dv->hold(bs, NULL);
  free(x.dvals); free(x.hcur); free(x.dcur); free(x.flags);
  x.dev->transfers += xfers(&x) - xfer0;
  for (int i = 0; i < x.nentries; i++) entry_clear(&x.entries[i]);
  free(x.entries);
  return ok;
}
