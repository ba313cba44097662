/* sched_exec.c — the schedule interpreter (see sched_exec.h). Every variable holds a host tensor
 * (scalars have rank 0); calls hand the variables' tensors to the backend and replace the result
 * variables; loops run [lo, hi) with the loop variable set each iteration; break_if leaves the
 * innermost loop. A memo call keeps copies of its last arguments and results (one entry per call
 * statement) and reuses the results while the arguments stay byte-identical. A loop with a KV-cache
 * plan runs the plan's init statements and then the plan's body in place of its own (unless
 * no_cache); the plan's block range must cover the loop's. */
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

static int run_call(Exec *x, const SchedStmt *st) {
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
  if (ok && st->memo) x->memo->misses++;
  if (ok && reads_params(f)) {
    if (writes_caches_only(x->s, st)) x->cache->commits++;
    else x->memo->nfe++;
  }
  if (ok && !x->be->run(x->bs, f, x->ps, args, outs, x->symval, x->e)) {
    char msg[sizeof x->e->msg];
    snprintf(msg, sizeof msg, "%s", x->e->msg);
    x->e->set = 0;
    err_set(x->e, st->loc, "%s: %s: %s", x->s->name, f->name, msg);
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
  const Tensor *lo = x->vals[st->lo], *hi = x->vals[st->hi];
  if (!lo || !hi) { err_set(x->e, st->loc, "%s: loop bound read before it is set", x->s->name); return 0; }
  int64_t a = as_int(lo), b = as_int(hi);
  const SchedPlan *pl = st->plan && st->plan->nbody > 0 && !x->cache->no_cache ? st->plan : NULL;
  const SchedStmt *body = pl ? pl->body : st->body;
  int nbody = pl ? pl->nbody : st->nbody;
  if (pl) {
    int64_t nblocks = pl->block > 0 ? pl->rows / pl->block : 0;
    if (a < 0 || b > nblocks) {
      err_set(x->e, st->loc, "%s: the cache plan of loop %s covers blocks 0..%lld, the loop runs %lld..%lld (run without the cache)",
              x->s->name, x->s->vars[st->var].name, (long long)nblocks - 1, (long long)a, (long long)b - 1);
      return 0;
    }
    int brk = 0;
    if (!run_body(x, pl->init, pl->ninit, &brk)) return 0;
    if (pl->approximate) x->cache->approx_loops++;
    else x->cache->cached_loops++;
  }
  Tensor *iv = x->vals[st->var];
  if (!iv) {
    if (!(iv = x->vals[st->var] = scalar(x->s->vars[st->var].type.dtype))) { err_set(x->e, st->loc, "out of memory"); return 0; }
  }
  for (int64_t i = a; i < b; i++) {
    if (iv->dtype == DT_I64) *(int64_t *)iv->data = i;
    else tensor_set(iv, 0, (double)i);
    int brk = 0;
    if (!run_body(x, body, nbody, &brk)) return 0;
    if (brk) break;
  }
  return 1;
}

static int run_body(Exec *x, const SchedStmt *body, int n, int *brk) {
  for (int i = 0; i < n; i++) {
    const SchedStmt *st = &body[i];
    if (st->kind == SS_CALL && !run_call(x, st)) return 0;
    if (st->kind == SS_LOOP && !run_loop(x, st)) return 0;
    if (st->kind == SS_BREAK_IF) {
      const Tensor *c = x->vals[st->args[0]];
      if (!c) { err_set(x->e, st->loc, "%s: break condition read before it is set", x->s->name); return 0; }
      if (tensor_get(c, 0) != 0) { *brk = 1; return 1; }
    }
  }
  return 1;
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
  SchedMemo local = {0, 0, 0, 0, 0};
  SchedCache local_cache = {0, 0, 0, 0};
  Exec x = {m, s, be, bs, ps, symval, calloc((size_t)s->nvars + 1, sizeof(Tensor *)), e, memo ? memo : &local,
            cache ? cache : &local_cache, find_first_memo(s->body, s->nbody), NULL, 0, 0};
  if (!x.vals) { err_set(e, s->loc, "out of memory"); return 0; }
  int ok = 1;
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
    for (int k = 0; sv->kind == SV_KNOB && k < nknobs; k++)
      if (!strcmp(knobs[k].name, sv->name) && !set_knob(sv, knobs[k].value, x.vals[v], e)) ok = 0;
  }
  int brk = 0;
  ok = ok && run_body(&x, s->body, s->nbody, &brk);
  for (int o = 0; ok && o < s->nout; o++) {
    if (!x.vals[s->outs[o]]) { err_set(e, s->loc, "%s: result %s is never set", s->name, s->vars[s->outs[o]].name); ok = 0; break; }
    outs[o] = x.vals[s->outs[o]];
    x.vals[s->outs[o]] = NULL;
  }
  if (!ok)
    for (int o = 0; o < s->nout; o++) { tensor_free(outs[o]); outs[o] = NULL; }
  for (int v = 0; v < s->nvars; v++) tensor_free(x.vals[v]);
  free(x.vals);
  for (int i = 0; i < x.nentries; i++) entry_clear(&x.entries[i]);
  free(x.entries);
  return ok;
}
