/* kvcache.c — the KV-cache planning pass (letter C; docs/passes.md "kvcache"): for every schedule
 * loop annotated `cache(exact)` it proves which attention keys and values cannot change inside the
 * loop and plans buffers for them, or records why it cannot (plan "none", also printed as a note).
 *
 * What is proved, for `loop b in 0..n cache(exact)`:
 *   1. the body's network calls (functions with an attention) read one token state x: i32[B, L]
 *      that the body rewrites;
 *   2. every call that writes x returns where(cond, new, x) where a conjunct of cond is true on
 *      exactly the rows of block b (for every b: kvcache_eval.c), so iteration b changes only block
 *      b, and blocks before b are final;
 *   3. every attention whose queries are restricted to block b has a mask that never lets a query
 *      see a key of a later block, and keys/values that are row-local functions of x (through
 *      block-causal attentions) reading nothing that changes in the loop (kvcache_build.c).
 * Then the keys/values of rows before block b are the ones committed when their block finished.
 * The plan: buffers (cache variables) zeroed before the loop (init), the network calls replaced by
 * functions computing only block b's rows against the buffers, and at the end of each iteration a
 * commit call writing block b's keys/values.
 * Window plans (Eso-LM): when every writer returns where(r >= lo && r < hi && ..., new, x) with lo,
 * hi scalar variables, 2. becomes "iteration changes only the rows [lo, hi)", 3. asks for a mask
 * that is causal row by row, and the plan adds a window statement (before the first network call,
 * with lo and hi unchanged until the last writer) that takes the rows [lo, hi) and checks at run
 * time that each window starts where the previous one ended; the network calls, the writers and
 * calls whose results are dead outside the window (when they rebuild) compute only the rows of the
 * previous and the current window, and the network steps return their buffers with those rows
 * merged in (the previous window's rows final, the current one's provisional): no commit calls.
 * `cache(dual)` (Fast-dLLM's dual cache, approximate) skips the mask proof (3.'s first half): a
 * refresh call at the start of each iteration recomputes every row's keys/values as the original
 * network does, and the calls inside the iteration reuse them for all rows but block b's. The plan
 * is labelled approximate. `cache(prefix)` is not planned (its active rows vary with the block). */
#include "kvcache.h"
#include "diag.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_CALLS = 64 };

static void mark_written(KvCtx *c, const SchedStmt *st, int n) {
  const int cap = (int)(sizeof c->written / sizeof *c->written);
  for (int i = 0; i < n; i++, st++) {
    for (int r = 0; st->kind == SS_CALL && r < st->nres; r++)
      if (st->res[r] < cap) c->written[st->res[r]] = 1;
    if (st->kind == SS_LOOP) {
      if (st->var < cap) c->written[st->var] = 1;
      mark_written(c, st->body, st->nbody);
    }
  }
}

/* The calls of a statement list, loops included; *nout may exceed MAX_CALLS (only MAX_CALLS kept). */
static void collect_calls(const SchedStmt *st, int n, const SchedStmt **out, int *nout) {
  for (int i = 0; i < n; i++, st++) {
    if (st->kind == SS_CALL && *nout < MAX_CALLS) out[*nout] = st;
    if (st->kind == SS_CALL) ++*nout;
    if (st->kind == SS_LOOP) collect_calls(st->body, st->nbody, out, nout);
  }
}

static int has_attention(const Func *f) {
  for (int i = 0; i < f->nnodes; i++)
    if (f->nodes[i].op == OP_ATTENTION) return 1;
  return 0;
}

static int fail(KvCtx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(KvCtx *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->why, sizeof c->why, fmt, ap);
  va_end(ap);
  return -1;
}

/* The token state: the one variable written in the loop that network calls read as i32[B, L]. */
static int find_tokens(KvCtx *c, const SchedStmt *const *net, int nnet) {
  for (int k = 0; k < nnet; k++)
    for (int a = 0; a < net[k]->nargs; a++) {
      int v = net[k]->args[a];
      const Type *t = &c->s->vars[v].type;
      if (v >= (int)(sizeof c->written / sizeof *c->written) || !c->written[v] || v == c->bvar) continue;
      if (!dtype_is_int(t->dtype) || t->rank != 2) continue;
      if (c->xvar >= 0 && c->xvar != v)
        return fail(c, "the network calls read two token states that change in the loop (%s and %s)", c->s->vars[c->xvar].name,
                    c->s->vars[v].name);
      c->xvar = v;
    }
  if (c->xvar < 0) return fail(c, "no network call in the loop reads a token state (an integer [B, L] variable) that the loop changes");
  const Type *t = &c->s->vars[c->xvar].type;
  if (!dim_is_const(t->dims[1])) return fail(c, "the length of the token state %s is symbolic", c->s->vars[c->xvar].name);
  c->L = t->dims[1].k;
  return 0;
}

/* Proves that each call writing x changes only block b's rows (and learns the block size), or only
 * the rows of a window [lo, hi) of scalar variables, the same for every writer (c->win). */
static int check_writers(KvCtx *c, const SchedStmt *const *calls, int ncalls) {
  const char *x = c->s->vars[c->xvar].name;
  int nwriters = 0;
  for (int k = 0; k < ncalls; k++) {
    const SchedStmt *st = calls[k];
    const Func *F = c->m->funcs[st->func];
    for (int r = 0; r < st->nres; r++) {
      if (st->res[r] != c->xvar) continue;
      KvFunc kf;
      kv_func_init(&kf, c, F, st);
      const Node *o = &F->nodes[F->outs[r]];
      int keeps_x = o->op == OP_WHERE && F->nodes[o->in[2]].op == OP_ARG &&
                    (kf.xbits >> (F->nodes[o->in[2]].attr.i[0] < 63 ? F->nodes[o->in[2]].attr.i[0] : 63) & 1);
      int raxis = -1;
      if (keeps_x && (nwriters == 0 || c->win) && kv_find_window(&kf, o->in[0], &raxis)) {
        if (raxis == 0) {
          c->win = 1;
          nwriters++;
          continue;
        }
        if (!c->win) c->lovar = c->hivar = -1;   /* a window on another axis: not the rows of x */
      }
      if (c->win)
        return fail(c, "@%s may change rows of %s outside the window [%s, %s): its result must be where(r >= %s && r < %s && ..., "
                    "new, %s) like the loop's other writers", F->name, x, c->s->vars[c->lovar].name, c->s->vars[c->hivar].name,
                    c->s->vars[c->lovar].name, c->s->vars[c->hivar].name, x);
      if (!kf.bbits)
        return fail(c, "@%s writes the tokens %s but does not take the block index %s, and its result is not where(r >= lo && "
                    "r < hi, new, %s) with r the row index and lo, hi scalar variables (a row window), so it may change any row",
                    F->name, x, c->s->vars[c->bvar].name, x);
      if (!keeps_x || kv_find_block_pred(&kf, o->in[0]) < 0)
        return fail(c, "@%s may change rows of %s outside block %s: its result must be where(cond, new, %s) with a condition "
                    "that is true only on the rows of the current block (proved for every block)",
                    F->name, x, c->s->vars[c->bvar].name, x);
      nwriters++;
    }
  }
  if (c->win) {
    c->bs = 1;   /* the mask proof with blocks of one row: no row attends a later row */
    return 0;
  }
  if (!c->bs) return fail(c, "no call writes the tokens %s", x);
  return 0;
}

/* 1 if statement st (a call, or a loop with everything inside it) writes variable v. */
static int stmt_writes(const SchedStmt *st, int v) {
  for (int r = 0; st->kind == SS_CALL && r < st->nres; r++)
    if (st->res[r] == v) return 1;
  if (st->kind != SS_LOOP) return 0;
  if (st->var == v) return 1;
  for (int i = 0; i < st->nbody; i++)
    if (stmt_writes(&st->body[i], v)) return 1;
  return 0;
}

/* 1 if statement st is or contains one of the calls. */
static int stmt_has(const SchedStmt *st, const SchedStmt *const *calls, int n) {
  for (int k = 0; k < n; k++)
    if (calls[k] == st) return 1;
  for (int i = 0; st->kind == SS_LOOP && i < st->nbody; i++)
    if (stmt_has(&st->body[i], calls, n)) return 1;
  return 0;
}

/* Window plans: where the window statement goes (*at: before the first top-level statement of the
 * body holding a network call or a writer of x), proved to see the same [lo, hi) as every such
 * call: no statement from there to the last of them writes lo or hi (the last may, if it is a
 * call: it reads its arguments first). */
static int window_place(KvCtx *c, const SchedStmt *const *calls, int ncalls, int *at) {
  const SchedStmt *used[MAX_CALLS];
  int nused = 0;
  for (int k = 0; k < ncalls; k++) {
    int w = has_attention(c->m->funcs[calls[k]->func]);
    for (int r = 0; r < calls[k]->nres; r++) w |= calls[k]->res[r] == c->xvar;
    if (w) used[nused++] = calls[k];
  }
  const SchedStmt *body = c->loop->body;
  int first = -1, last = -1;
  for (int i = 0; i < c->loop->nbody; i++)
    if (stmt_has(&body[i], used, nused)) {
      if (first < 0) first = i;
      last = i;
    }
  for (int i = first; i >= 0 && i <= last; i++) {
    if (i == last && body[i].kind == SS_CALL) break;
    int v = stmt_writes(&body[i], c->lovar) ? c->lovar : stmt_writes(&body[i], c->hivar) ? c->hivar : -1;
    if (v >= 0)
      return fail(c, "the window bound %s is written (at line %d) between the first network call and the last use of the window "
                  "[%s, %s): the window must be known before the network call and stay fixed until the tokens are written",
                  c->s->vars[v].name, body[i].loc.line, c->s->vars[c->lovar].name, c->s->vars[c->hivar].name);
  }
  *at = first;
  return 0;
}

static SchedStmt *copy_stmts(KvCtx *c, const SchedStmt *st, int n, int extra, const SchedStmt *const *from,
                             const SchedStmt *to, int nrepl) {
  SchedStmt *out = arena_alloc(c->m->arena, (size_t)(n + extra + 1) * sizeof *out);
  for (int i = 0; i < n; i++) {
    out[i] = st[i];
    for (int k = 0; k < nrepl; k++)
      if (from[k] == &st[i]) {
        out[i].func = to[k].func;
        out[i].args = to[k].args;
        out[i].nargs = to[k].nargs;
        if (to[k].nres) out[i].res = to[k].res, out[i].nres = to[k].nres;
      }
    if (st[i].kind == SS_LOOP) out[i].body = copy_stmts(c, st[i].body, st[i].nbody, 0, from, to, nrepl);
  }
  return out;
}

static const char *describe(KvCtx *c, const KvBuf *b) {
  const Func *F = c->m->funcs[b->func];
  const Node *a = &F->nodes[b->attn];
  char ty[128];
  type_str(c->m, &F->nodes[b->fnode].type, ty, sizeof ty);
  return arena_printf(c->m->arena, "%s of attention %%%d in @%s (%%%d, %s, rows on axis %d)", a->in[1] == b->fnode ? "keys" : "values",
                      b->attn, F->name, b->fnode, ty, F->nodes[b->fnode].type.rank - 2);
}

/* 1 if statement st (a call, break_if, or a loop with everything inside it) reads variable v. */
static int stmt_reads(const SchedStmt *st, int v) {
  for (int a = 0; st->kind != SS_LOOP && a < st->nargs; a++)
    if (st->args[a] == v) return 1;
  if (st->kind != SS_LOOP) return 0;
  if (st->lo == v || st->hi == v) return 1;
  for (int i = 0; i < st->nbody; i++)
    if (stmt_reads(&st->body[i], v)) return 1;
  return 0;
}

/* 1 if a statement of st[0..n) other than the loop's body reads v (the loop's bounds count). */
static int read_outside(const SchedStmt *st, int n, const SchedStmt *loop, int v) {
  for (int i = 0; i < n; i++) {
    if (&st[i] == loop) {
      if (st[i].lo == v || st[i].hi == v) return 1;
      continue;
    }
    if (st[i].kind != SS_LOOP ? stmt_reads(&st[i], v)
                              : st[i].lo == v || st[i].hi == v || read_outside(st[i].body, st[i].nbody, loop, v))
      return 1;
  }
  return 0;
}

/* 1 if the calls in st[0..n) that read v are all rebuilt (from[0..nrepl), or a kept candidate) and
 * read only v's rows, and no break_if or loop bound reads v. */
static int reads_rows_only(const SchedStmt *st, int n, int v, const SchedStmt *const *from, const uint64_t *fa, int nrepl) {
  for (int i = 0; i < n; i++) {
    if (st[i].kind == SS_LOOP) {
      if (st[i].lo == v || st[i].hi == v || !reads_rows_only(st[i].body, st[i].nbody, v, from, fa, nrepl)) return 0;
      continue;
    }
    if (!stmt_reads(&st[i], v)) continue;
    if (st[i].kind != SS_CALL) return 0;
    int k = 0;
    while (k < nrepl && from[k] != &st[i]) k++;
    if (k == nrepl) return 0;
    for (int a = 0; a < st[i].nargs; a++)
      if (st[i].args[a] == v && (fa[k] >> (a < 63 ? a : 63) & 1)) return 0;
  }
  return 1;
}

/* v's rows other than the window's are never read: v is a state variable with rows on axis 1,
 * read neither after the loop nor by anything in the body but rebuilt calls that take only its
 * window's rows, and each iteration writes it (its first statement touching v is a call that
 * writes v without reading it) before reading it. */
static int rows_dead(const KvCtx *c, int v, const SchedStmt *const *from, const uint64_t *fa, int nrepl) {
  const SchedVar *sv = &c->s->vars[v];
  if (sv->kind != SV_STATE || sv->type.rank < 2 || !dim_is_const(sv->type.dims[1]) || sv->type.dims[1].k != c->L) return 0;
  for (int o = 0; o < c->s->nout; o++)
    if (c->s->outs[o] == v) return 0;
  if (read_outside(c->s->body, c->s->nbody, c->loop, v)) return 0;
  const SchedStmt *body = c->loop->body;
  for (int i = 0; i < c->loop->nbody; i++) {
    int r = stmt_reads(&body[i], v), w = stmt_writes(&body[i], v);
    if (!r && !w) continue;
    if (body[i].kind != SS_CALL || r) return 0;
    break;
  }
  return reads_rows_only(body, c->loop->nbody, v, from, fa, nrepl);
}

/* Window plans: the calls (after the window statement, neither network calls nor writers of x)
 * whose results are all values whose other rows are never read (Eso-LM's nucleus filter of p)
 * are rebuilt to compute only the window's rows (KV_ROWS). Candidates are dropped until every kept
 * one's results are proved dead outside the window with the kept ones rebuilt; then the
 * candidates' functions are discarded and the kept ones built again. 0, or -1 with *e set. */
static int rows_only_calls(KvCtx *c, const SchedStmt *const *calls, int ncalls, int wat, const SchedStmt **from, SchedStmt *repl,
                           uint64_t *fa, int *nrepl, DlmErr *e) {
  const SchedStmt *cand[MAX_CALLS];
  int ncand = 0, keep[MAX_CALLS], slot[MAX_CALLS], base = *nrepl, nfuncs = c->m->nfuncs;
  for (int k = 0; k < ncalls; k++) {
    const SchedStmt *st = calls[k];
    int skip = has_attention(c->m->funcs[st->func]) || st->nres == 0;
    for (int j = 0; j < base && !skip; j++) skip = from[j] == st;
    for (int r = 0; r < st->nres && !skip; r++) {
      const SchedVar *v = &c->s->vars[st->res[r]];
      skip = st->res[r] == c->xvar || v->kind != SV_STATE || v->type.rank < 2 || !dim_is_const(v->type.dims[1]) ||
             v->type.dims[1].k != c->L;
    }
    int at = 0;
    while (!skip && at < c->loop->nbody && !stmt_has(&c->loop->body[at], &st, 1)) at++;
    if (!skip && at >= wat) cand[ncand++] = st;
  }
  for (int pass = 0; pass < 2; pass++) {
    int n = base;
    for (int i = 0; i < ncand; i++) {
      if (pass && !keep[i]) continue;
      KvFunc kf;
      int *argv, nargs, ncached;
      kv_func_init(&kf, c, c->m->funcs[cand[i]->func], cand[i]);
      int fi = kv_build(&kf, KV_ROWS, &argv, &nargs, &ncached, e);
      if (fi == -2) return -1;
      keep[i] = fi >= 0;
      if (fi == -1) { c->why[0] = 0; continue; }   /* not rebuilt: it runs as it is */
      slot[i] = n;
      from[n] = cand[i];
      fa[n] = kf.fullargs;
      repl[n++] = (SchedStmt){.func = fi, .args = argv, .nargs = nargs};
    }
    if (pass) { *nrepl = n; return 0; }
    for (int changed = 1; changed;) {
      const SchedStmt *kept[MAX_CALLS];
      uint64_t kfa[MAX_CALLS];
      int nk = 0;
      for (int k = 0; k < base; k++) kept[nk] = from[k], kfa[nk++] = fa[k];
      for (int i = 0; i < ncand; i++)
        if (keep[i]) kept[nk] = from[slot[i]], kfa[nk++] = fa[slot[i]];
      changed = 0;
      for (int i = 0; i < ncand; i++)
        for (int r = 0; keep[i] && r < cand[i]->nres; r++)
          if (!rows_dead(c, cand[i]->res[r], kept, kfa, nk)) keep[i] = 0, changed = 1;
    }
    c->m->nfuncs = nfuncs;   /* discarded: the kept ones are built again */
  }
  return 0;
}

/* The rest of a window plan: the window statement before body[at], the note and the buffers'
 * descriptions (the steps write the buffers: no commit calls). */
static int finish_window(KvCtx *c, SchedPlan *pl, int at, int init, const SchedStmt *const *from, const SchedStmt *repl,
                         int nstep, int total) {
  const SchedStmt *loop = c->loop;
  memmove(pl->body + at + 1, pl->body + at, (size_t)(loop->nbody - at) * sizeof *pl->body);
  SchedStmt *w = &pl->body[at];
  *w = (SchedStmt){.kind = SS_WINDOW, .loc = loop->loc, .nargs = 3, .nres = 2};
  w->args = arena_alloc(c->m->arena, 3 * sizeof *w->args);
  w->res = arena_alloc(c->m->arena, 2 * sizeof *w->res);
  w->args[0] = c->lovar;
  w->args[1] = c->hivar;
  w->args[2] = w->res[1] = c->nextvar;
  w->res[0] = c->wvar;
  pl->nbody = loop->nbody + 1;
  pl->policy = "exact";
  pl->block = 0;
  pl->rows = c->L;
  const char *lo = c->s->vars[c->lovar].name, *hi = c->s->vars[c->hivar].name, *x = c->s->vars[c->xvar].name;
  pl->note = arena_printf(c->m->arena,
                          "exact: each iteration changes only the rows [%s, %s) of %s, a window of run-time bounds taken before the "
                          "first network call (each window must start where the previous one ended, checked at run time), and no row "
                          "attends a later row; %d attention%s the cache, their calls compute the rows of the previous and the current "
                          "window, of %lld",
                          lo, hi, x, total, total == 1 ? " uses" : "s use", (long long)c->L);
  pl->nbufs = c->nbufs;
  pl->bufs = arena_alloc(c->m->arena, (size_t)(c->nbufs ? c->nbufs : 1) * sizeof *pl->bufs);
  for (int i = 0; i < c->nbufs; i++) {
    const KvBuf *kb = &c->bufs[i];
    SchedKvBuf *o = &pl->bufs[i];
    const char *step = NULL;
    for (int k = 0; k < nstep; k++)
      if (from[k]->func == kb->func) step = c->m->funcs[repl[k].func]->name;
    o->var = kb->var;
    o->what = describe(c, kb);
    o->written = arena_printf(c->m->arena, "zeros by @%s before the loop; by @%s, the rows of the previous window (final: their tokens are "
                              "drawn) and of the current one [%s, %s) (provisional: recomputed by the next iteration)",
                              c->m->funcs[init]->name, step, lo, hi);
    o->valid = arena_printf(c->m->arena, "rows [0, start) during an iteration, start = the previous window's %s", lo);
    o->evicted = arena_printf(c->m->arena, "never: the buffer holds all %lld rows", (long long)c->L);
  }
  return 0;
}

/* Plans the loop into pl; 0, -1 with c->why (no cache), -2 with *e (internal error). */
static int plan(KvCtx *c, SchedPlan *pl, DlmErr *e) {
  const SchedStmt *loop = c->loop;
  const SchedVar *lo = &c->s->vars[loop->lo];
  c->approx = !strcmp(loop->cache_policy, "dual");
  if (!strcmp(loop->cache_policy, "prefix"))
    return fail(c, "cache(prefix): Fast-dLLM's prefix cache recomputes the current block and every later row at each "
                "step, a number of rows that changes with the block; plans have static shapes, so it is not planned (use "
                "cache(dual), which caches the later rows too)");
  if (strcmp(loop->cache_policy, "exact") != 0 && !c->approx)
    return fail(c, "unknown cache policy '%s' (exact, prefix or dual)", loop->cache_policy);
  if (lo->kind != SV_CONST || lo->value != 0)
    return fail(c, "the loop must start at block 0 (a constant) so that the cache fills from the first block");
  mark_written(c, loop->body, loop->nbody);
  const SchedStmt *calls[MAX_CALLS], *net[MAX_CALLS];
  int ncalls = 0, nnet = 0;
  collect_calls(loop->body, loop->nbody, calls, &ncalls);
  if (ncalls > MAX_CALLS) return fail(c, "the loop body makes more than %d calls", MAX_CALLS);
  for (int k = 0; k < ncalls; k++)
    if (has_attention(c->m->funcs[calls[k]->func])) net[nnet++] = calls[k];
  if (!nnet) return fail(c, "the loop body calls no function with an attention");
  if (find_tokens(c, net, nnet) < 0 || check_writers(c, calls, ncalls) < 0) return -1;
  int wat = -1;
  if (c->win && c->approx)
    return fail(c, "cache(dual) over a row window [%s, %s) is not planned (use cache(exact))", c->s->vars[c->lovar].name,
                c->s->vars[c->hivar].name);
  if (c->win) {
    if (window_place(c, calls, ncalls, &wat) < 0) return -1;
    int sym = ir_sym(c->m, "KVW");
    if (sym < 0) return fail(c, "too many shape symbols for the window's row count");
    c->wdim = dim_sym(sym);
    Type wt = {DT_I64, 1, {c->wdim}};
    c->wvar = ir_sched_var(c->m, c->s, "kv.rows", SV_CACHE, wt, 0, c->loop->loc);
    Type st = {DT_I64, 1, {dim_const(2)}};
    c->nextvar = ir_sched_var(c->m, c->s, "kv.span", SV_CACHE, st, 0, c->loop->loc);
  }
  SchedStmt repl[MAX_CALLS];
  const SchedStmt *from[MAX_CALLS];
  uint64_t fa[MAX_CALLS];   /* the argument positions each rebuilt call reads in full */
  int nrepl = 0, total = 0;
  for (int k = 0; k < nnet; k++) {
    KvFunc kf;
    int *argv, nargs, ncached;
    kv_func_init(&kf, c, c->m->funcs[net[k]->func], net[k]);
    int fi = kv_build(&kf, KV_STEP, &argv, &nargs, &ncached, e);
    if (fi < 0) return fi;
    if (!ncached) { c->m->nfuncs--; continue; }
    from[nrepl] = net[k];
    fa[nrepl] = kf.fullargs;
    repl[nrepl] = (SchedStmt){.func = fi, .args = argv, .nargs = nargs};
    if (c->win) {   /* the step also returns its buffers with the computed rows merged in */
      SchedStmt *r = &repl[nrepl];
      r->res = arena_alloc(c->m->arena, (size_t)(net[k]->nres + c->nbufs) * sizeof *r->res);
      memcpy(r->res, net[k]->res, (size_t)net[k]->nres * sizeof *r->res);
      r->nres = net[k]->nres;
      for (int i = 0; i < c->nbufs; i++)
        if (c->bufs[i].func == net[k]->func) r->res[r->nres++] = c->bufs[i].var;
    }
    nrepl++;
    total += ncached;
  }
  if (!total)
    return fail(c, "no attention of the loop body works on the current block's rows alone: the network's results are used on every row");
  int nstep = nrepl;
  SchedStmt commits[MAX_CALLS];
  int ncommit = 0;
  for (int k = 0; k < nrepl && !c->win; k++) {
    KvFunc kf;
    int *argv, nargs, ncached;
    kv_func_init(&kf, c, c->m->funcs[from[k]->func], from[k]);
    int fi = kv_build(&kf, c->approx ? KV_REFRESH : KV_COMMIT, &argv, &nargs, &ncached, e);
    if (fi < 0) return fi;
    SchedStmt *cs = &commits[ncommit++];
    *cs = (SchedStmt){.kind = SS_CALL, .loc = loop->loc, .func = fi, .args = argv, .nargs = nargs};
    cs->res = arena_alloc(c->m->arena, (size_t)c->nbufs * sizeof *cs->res);
    for (int i = 0; i < c->nbufs; i++)
      if (c->bufs[i].func == from[k]->func) cs->res[cs->nres++] = c->bufs[i].var;
  }
  for (int k = 0; c->win && k < ncalls; k++) {   /* window plans: the writers compute only the window's rows too */
    const SchedStmt *st = calls[k];
    int writes_x = 0;
    for (int r = 0; r < st->nres; r++) writes_x |= st->res[r] == c->xvar;
    if (!writes_x || has_attention(c->m->funcs[st->func])) continue;
    KvFunc kf;
    int *argv, nargs, ncached;
    kv_func_init(&kf, c, c->m->funcs[st->func], st);
    int fi = kv_build(&kf, KV_STEP, &argv, &nargs, &ncached, e);
    if (fi == -2) return fi;
    if (fi == -1) { c->why[0] = 0; continue; }   /* not rebuilt: the writer runs as it is */
    from[nrepl] = st;
    fa[nrepl] = kf.fullargs;
    repl[nrepl++] = (SchedStmt){.func = fi, .args = argv, .nargs = nargs};
  }
  if (c->win && rows_only_calls(c, calls, ncalls, wat, from, repl, fa, &nrepl, e) < 0) return -2;
  int init = kv_build_init(c, e);
  if (init < 0) return init;
  pl->init = arena_alloc(c->m->arena, sizeof *pl->init);
  pl->ninit = 1;
  pl->init[0] = (SchedStmt){.kind = SS_CALL, .loc = loop->loc, .func = init, .nres = c->nbufs + c->win};
  pl->init[0].res = arena_alloc(c->m->arena, (size_t)(c->nbufs + 1) * sizeof(int));
  for (int i = 0; i < c->nbufs; i++) pl->init[0].res[i] = c->bufs[i].var;
  if (c->win) pl->init[0].res[c->nbufs] = c->nextvar;
  pl->body = copy_stmts(c, loop->body, loop->nbody, ncommit + c->win, from, repl, nrepl);
  if (c->win) return finish_window(c, pl, wat, init, from, repl, nstep, total);
  if (c->approx) {   /* the refresh calls run first in each iteration */
    memmove(pl->body + ncommit, pl->body, (size_t)loop->nbody * sizeof *pl->body);
    for (int k = 0; k < ncommit; k++) pl->body[k] = commits[k];
  } else {
    for (int k = 0; k < ncommit; k++) pl->body[loop->nbody + k] = commits[k];
  }
  pl->nbody = loop->nbody + ncommit;
  pl->policy = c->approx ? "dual" : "exact";
  pl->approximate = c->approx;
  pl->block = c->bs;
  pl->rows = c->L;
  const char *b = c->s->vars[c->bvar].name;
  int64_t nb = c->L / c->bs;
  if (c->approx)
    pl->note = arena_printf(c->m->arena,
                            "APPROXIMATE (Fast-dLLM dual cache, asked for by cache(dual)): keys/values of every row are recomputed "
                            "at the start of iteration %s and reused inside it although the rows of block %s change; %d attention%s "
                            "the cache, their calls compute %lld of %lld rows",
                            b, b, total, total == 1 ? " uses" : "s use", (long long)c->bs, (long long)c->L);
  else
    pl->note = arena_printf(c->m->arena,
                            "exact: iteration %s changes only rows [%lld*%s, %lld*%s+%lld) of %s and no query sees a later block; "
                            "%d attention%s the cache, their calls compute %lld of %lld rows",
                            b, (long long)c->bs, b, (long long)c->bs, b, (long long)c->bs, c->s->vars[c->xvar].name, total,
                            total == 1 ? " uses" : "s use", (long long)c->bs, (long long)c->L);
  pl->nbufs = c->nbufs;
  pl->bufs = arena_alloc(c->m->arena, (size_t)(c->nbufs ? c->nbufs : 1) * sizeof *pl->bufs);
  for (int i = 0; i < c->nbufs; i++) {
    const KvBuf *kb = &c->bufs[i];
    SchedKvBuf *o = &pl->bufs[i];
    const char *commit = NULL;
    for (int k = 0; k < ncommit; k++)
      if (from[k]->func == kb->func) commit = c->m->funcs[commits[k].func]->name;
    o->var = kb->var;
    o->what = describe(c, kb);
    if (c->approx) {
      o->written = arena_printf(c->m->arena, "zeros by @%s before the loop; all rows by @%s at the start of iteration %s",
                                c->m->funcs[init]->name, commit, b);
      o->valid = arena_printf(c->m->arena, "approximately: every row except block %s's during iteration %s (stale as block %s changes)",
                              b, b, b);
      o->evicted = arena_printf(c->m->arena, "overwritten by the next iteration's refresh");
      continue;
    }
    o->written = arena_printf(c->m->arena, "zeros by @%s before the loop; rows [%lld*%s, %lld*%s+%lld) by @%s at the end of iteration %s",
                              c->m->funcs[init]->name, (long long)c->bs, b, (long long)c->bs, b, (long long)c->bs, commit, b);
    o->valid = arena_printf(c->m->arena, "rows [0, %lld*%s) during iteration %s", (long long)c->bs, b, b);
    if (c->window > 0 && c->window < nb)
      o->evicted = arena_printf(c->m->arena, "rows of block j are last read in iteration j+%lld (the mask's window of %lld blocks); the buffer keeps all %lld rows",
                                (long long)(c->window - 1), (long long)c->window, (long long)c->L);
    else
      o->evicted = arena_printf(c->m->arena, "never: the buffer holds all %lld rows (%lld blocks)", (long long)c->L, (long long)nb);
  }
  return 0;
}

static int plan_loop(Module *m, Sched *s, SchedStmt *loop, DlmErr *e) {
  KvCtx *c = calloc(1, sizeof *c);
  if (!c) { err_set(e, loop->loc, "out of memory"); return -1; }
  c->m = m;
  c->s = s;
  c->loop = loop;
  c->bvar = loop->var;
  c->xvar = c->lovar = c->hivar = c->wvar = c->nextvar = -1;
  int nfuncs = m->nfuncs, nvars = s->nvars, nsyms = m->nsyms;
  SchedPlan *pl = arena_alloc(m->arena, sizeof *pl);
  int r = plan(c, pl, e);
  if (r == -2) { free(c); return -1; }
  if (r == -1) {
    m->nfuncs = nfuncs;
    s->nvars = nvars;
    m->nsyms = nsyms;
    memset(pl, 0, sizeof *pl);
    pl->policy = "none";
    pl->note = arena_printf(m->arena, "no cache: %s", c->why);
    const char *path = loop->loc.line > 0 && loop->loc.file < m->nfiles ? m->files[loop->loc.file] : "<ir>";
    char msg[600];
    snprintf(msg, sizeof msg, "sampler %s: cache(%s) planned no cache: %s", s->name, loop->cache_policy, c->why);
    diag_print(stderr, path, NULL, loop->loc.line, loop->loc.col, "note", msg);
  }
  loop->plan = pl;
  free(c);
  return 1;
}

static int plan_stmts(Module *m, Sched *s, SchedStmt *st, int n, DlmErr *e) {
  int changes = 0;
  for (int i = 0; i < n; i++) {
    if (st[i].kind != SS_LOOP) continue;
    if (st[i].cache_policy && !st[i].plan) {
      if (plan_loop(m, s, &st[i], e) < 0) return -1;
      changes++;
    }
    int r = plan_stmts(m, s, st[i].body, st[i].nbody, e);
    if (r < 0) return -1;
    changes += r;
  }
  return changes;
}

int pass_kvcache(Module *m, DlmErr *e) {
  int changes = 0;
  for (int i = 0; i < m->nscheds; i++) {
    int r = plan_stmts(m, m->scheds[i], m->scheds[i]->body, m->scheds[i]->nbody, e);
    if (r < 0) return -1;
    changes += r;
  }
  return changes;
}
