/* test_kvcache_window.c — the KV-cache plan over dynamic row windows (passes/kvcache*.c, window
 * mode; docs/passes.md "Dynamic row windows") on Eso-LM's sampler (models/esolm.dsl at a tiny size:
 * two layers, two heads, RoPE at per-sequence positions, adaLN):
 *   - the event loop gets an exact plan with block 0 (a window), four buffers (keys and values of two
 *     attentions), a window statement before the network call taking [done, end), a cached call
 *     whose attention queries have the window's symbolic row count and which returns the buffers,
 *     a nucleus filter and a writer that work on the window's rows only; it prints and parses back
 *     byte for byte;
 *     with p read after the loop (its other rows live) the nucleus call stays the original;
 *   - sampling with the plan and with --no-cache (SchedCache.no_cache) gives identical tokens for
 *     the same seed, with a diffusion phase and a sequential phase (alpha 0.5), pure diffusion
 *     (alpha 1), pure AR (alpha 0), top_p on and off, on the interpreter and the CPU backend; the
 *     network evaluations are the same, and there are no commit calls (the steps write the buffers);
 *     also with the loop state resident in the backend (SchedDev mode 2: bounds read back, up to
 *     check_every - 1 frozen iterations after the last event);
 *   - every event's network output (the probabilities of the window's rows, uniform elsewhere)
 *     agrees between the two runs to float32 tolerance;
 *   - a bidirectional mask, an update that may change rows before the window, or a window end
 *     computed in the network call get plan "none" with the reason and sample uncached; windows
 *     that skip a row pass the static proof but stop cached sampling with an error (the run-time
 *     check that each window starts where the previous one ended), while --no-cache still runs. */
#include "kv_fixture.h"
#include "sched_exec.h"

static const DslDefine tiny[] = {{"vocab", "32"}, {"seq_len", "32"}, {"layers", "2"}, {"dim", "16"}, {"heads", "2"}, {"cond_dim", "8"}};
enum { SEQ = 32, NB = 2 };

static Module *compile(const char *from, const char *to) {
  const char *repl[2] = {from, to};
  return kv_compile_edit("models/esolm.dsl", tiny, 6, repl, from ? 1 : 0);
}

static const Sched *sampler(const Module *m) {
  for (int i = 0; i < m->nscheds; i++)
    if (!strcmp(m->scheds[i]->name, "ancestral")) return m->scheds[i];
  return NULL;
}

/* ---------------------------------------------------------------- recording the network outputs */
enum { MAX_EVENTS = 64 };
static const Backend *rec_inner;
static const char *rec_name;          /* the network function whose first output is recorded */
static Tensor *rec[MAX_EVENTS];
static int nrec;

static int run_recording(BackendState *s, const Func *f, const ParamStore *ps, Tensor *const *args, Tensor **outs,
                         const int64_t *symval, DlmErr *e) {
  int ok = rec_inner->run(s, f, ps, args, outs, symval, e);
  if (ok && rec_name && !strcmp(f->name, rec_name) && nrec < MAX_EVENTS) rec[nrec++] = tensor_clone(outs[0]);
  return ok;
}

static void rec_clear(Tensor **t, int n) {
  for (int i = 0; i < n; i++) tensor_free(t[i]);
}

typedef struct { Tensor *x; SchedMemo memo; SchedCache cache; SchedDev dev; char err[512]; } Run;

static int resident;   /* sample() keeps the loop state in the backend (SchedDev mode 2) */

/* Samples with the knobs; records the outputs of function `record` (NULL: none). 1 if it ran. */
static int sample(const Module *m, const Backend *be, const ParamStore *ps, const SchedKnob *knobs, int nknobs, int no_cache,
                  const char *record, Run *r) {
  int64_t symval[DLM_MAX_SYMS] = {0};
  symval[ir_sym_find(m, "B")] = NB;
  DlmErr e = {0};
  Backend wrap = *be;
  wrap.run = run_recording;
  rec_inner = be;
  rec_name = record;
  nrec = 0;
  BackendState *bs = be->open(m, &e);
  Tensor *out[1] = {0};
  memset(r, 0, sizeof *r);
  r->cache.no_cache = no_cache;
  r->dev.mode = resident ? 2 : 1;
  r->dev.check_every = 4;   /* alpha 0.5, 4 steps: 18 events, so two frozen iterations follow the break */
  int ok = bs && sched_run_dev(m, sampler(m), &wrap, bs, ps, knobs, nknobs, symval, &r->memo, &r->cache, &r->dev, out, &e);
  snprintf(r->err, sizeof r->err, "%s", e.msg);
  if (bs) be->close(bs);
  r->x = ok ? out[0] : NULL;
  return ok;
}

static int same_tokens(const Tensor *a, const Tensor *b) {
  return a && b && a->numel == b->numel && !memcmp(a->data, b->data, (size_t)a->numel * dtype_size(a->dtype));
}

/* The loop's network call (its first call) and the plan's cached call (the first call after the
 * window statement). */
static const char *net_name(const Module *m, const SchedStmt *body, int n) {
  for (int i = 0; i < n; i++)
    if (body[i].kind == SS_CALL) return m->funcs[body[i].func]->name;
  return NULL;
}

/* Cached against uncached sampling for one knob setting: tokens, counts, per-event outputs. */
static void check_exact(const Module *m, const Backend *be, const ParamStore *ps, const SchedKnob *knobs, int nknobs, const char *what) {
  const SchedStmt *loop = kv_cache_loop(sampler(m)->body, sampler(m)->nbody);
  const char *orig = net_name(m, loop->body, loop->nbody), *cached = net_name(m, loop->plan->body, loop->plan->nbody);
  Run on, off;
  Tensor *got[MAX_EVENTS], *want[MAX_EVENTS];
  int ok = sample(m, be, ps, knobs, nknobs, 0, cached, &on);
  CHECK_MSG(ok, "%s: cached: %s", what, on.err);
  CHECK(on.dev.resident == resident);
  int ngot = nrec, was_resident = resident;
  memcpy(got, rec, sizeof rec);
  resident = 0;   /* the reference: host loop state */
  ok = sample(m, be, ps, knobs, nknobs, 1, orig, &off) && ok;
  resident = was_resident;
  CHECK_MSG(off.x != NULL, "%s: uncached: %s", what, off.err);
  int nwant = nrec;
  memcpy(want, rec, sizeof rec);
  if (ok) {
    CHECK_MSG(same_tokens(on.x, off.x), "%s: cached and uncached tokens differ", what);
    int64_t masks = 0;
    for (int64_t i = 0; i < on.x->numel; i++) masks += tensor_get(on.x, i) == 32;
    CHECK_MSG(masks == 0, "%s: %lld masks left", what, (long long)masks);
    CHECK_MSG(on.cache.cached_loops == 1 && off.cache.cached_loops == 0, "%s: cached loops %lld / %lld", what,
              (long long)on.cache.cached_loops, (long long)off.cache.cached_loops);
    if (resident) goto done;   /* resident calls bypass the recording wrapper; frozen iterations count as calls */
    CHECK_MSG(on.memo.nfe == off.memo.nfe && on.memo.nfe == ngot && on.cache.commits == 0 && off.cache.commits == 0,
              "%s: nfe %lld / %lld, %d recorded, commits %lld", what, (long long)on.memo.nfe, (long long)off.memo.nfe, ngot,
              (long long)on.cache.commits);
    CHECK_MSG(ngot == nwant && ngot > 0, "%s: %d cached and %d uncached network outputs", what, ngot, nwant);
    double worst = 0;
    int64_t compared = 0;
    for (int k = 0; k < ngot && k < nwant; k++) {
      CHECK(got[k]->numel == want[k]->numel && got[k]->numel == (int64_t)NB * SEQ * 33);
      for (int64_t i = 0; got[k]->numel == want[k]->numel && i < got[k]->numel; i++, compared++) {
        double d = fabs(tensor_get(got[k], i) - tensor_get(want[k], i)) / (1e-6 + fabs(tensor_get(want[k], i)));
        if (d > worst) worst = d;
      }
    }
    CHECK_MSG(compared > 0 && worst < 1e-4, "%s: cached and uncached probabilities differ by %g (relative)", what, worst);
  }
done:
  rec_clear(got, ngot);
  rec_clear(want, nwant);
  tensor_free(on.x);
  tensor_free(off.x);
}

/* 1 if the plan's nucleus call (the one in the inner loop) sorts only the window's rows, 0 if it is
 * the original function, -1 if there is none. */
static int nucleus_rows(const Module *m, const SchedPlan *pl) {
  int wsym = ir_sym_find(m, "KVW");
  for (int i = 0; i < pl->nbody; i++) {
    if (pl->body[i].kind != SS_LOOP || pl->body[i].nbody != 1) continue;
    const Func *f = m->funcs[pl->body[i].body[0].func];
    for (int j = 0; j < f->nnodes; j++)
      if (f->nodes[j].op == OP_SORT_DESC) return wsym >= 0 && dim_eq(f->nodes[j].type.dims[1], dim_sym(wsym));
  }
  return -1;
}

/* The plan's shape: window statement, symbolic query rows, a step returning the buffers (no commit), the writer and nucleus on the window's rows; round trip. */
static void check_plan(const Module *m) {
  const SchedStmt *loop = kv_cache_loop(sampler(m)->body, sampler(m)->nbody);
  const SchedPlan *pl = loop ? loop->plan : NULL;
  CHECK_MSG(pl && !strcmp(pl->policy, "exact") && !pl->approximate, "note: %s", pl ? pl->note : "(no plan)");
  if (!pl || strcmp(pl->policy, "exact")) return;
  CHECK_MSG(pl->block == 0 && pl->rows == SEQ && pl->nbufs == 4 && pl->ninit == 1 && pl->init[0].nres == 5,
            "block %lld rows %lld bufs %d", (long long)pl->block, (long long)pl->rows, pl->nbufs);
  CHECK(strstr(pl->note, "rows [done, end) of z") != NULL);
  const SchedStmt *w = NULL;
  for (int i = 0; i < pl->nbody; i++)
    if (pl->body[i].kind == SS_WINDOW) w = &pl->body[i];
  CHECK(w && w == &pl->body[0] && w->nargs == 3 && !strcmp(sampler(m)->vars[w->args[0]].name, "done") &&
        !strcmp(sampler(m)->vars[w->args[1]].name, "end"));
  const SchedStmt *step = w ? w + 1 : NULL;   /* the step returns p and the four buffers: no commit calls */
  CHECK(step && step->kind == SS_CALL && step->nres == 5 && strstr(m->funcs[step->func]->name, ".kv"));
  for (int i = 0; i < pl->nbody; i++)
    CHECK(pl->body[i].kind != SS_CALL || !strstr(m->funcs[pl->body[i].func]->name, "kv_commit"));
  int wsym = ir_sym_find(m, "KVW"), windowed = 0;
  const Func *sf = ir_func_find(m, net_name(m, pl->body, pl->nbody));
  for (int i = 0; sf && wsym >= 0 && i < sf->nnodes; i++) {
    const Node *n = &sf->nodes[i];
    if (n->op != OP_ATTENTION) continue;
    const Type *q = &sf->nodes[n->in[0]].type;
    windowed += dim_eq(q->dims[q->rank - 2], dim_sym(wsym));
  }
  CHECK_MSG(windowed == 2, "%d attentions of the cached call run on the window's rows", windowed);
  /* the writer of z draws only the window's rows: its argmax runs on KVW rows */
  const Func *writer = NULL;
  for (int i = 0; i < pl->nbody; i++)
    for (int r = 0; pl->body[i].kind == SS_CALL && r < pl->body[i].nres; r++)
      if (!strcmp(sampler(m)->vars[pl->body[i].res[r]].name, "z")) writer = m->funcs[pl->body[i].func];
  int drawn = 0;
  for (int i = 0; writer && wsym >= 0 && i < writer->nnodes; i++)
    drawn += writer->nodes[i].op == OP_ARGMAX && dim_eq(writer->nodes[i].type.dims[1], dim_sym(wsym));
  CHECK_MSG(writer && strstr(writer->name, ".kv") && drawn == 1, "writer @%s, %d argmax on the window", writer ? writer->name : "?", drawn);
  CHECK(nucleus_rows(m, pl) == 1);
  kv_check_roundtrip(m, (int)(sampler(m) - m->scheds[0]));
}

static void check_none(const char *from, const char *to, const char *reason) {
  Module *m = compile(from, to);
  CHECK_MSG(m != NULL, "compile with '%s'", to);
  if (!m) return;
  const SchedPlan *pl = kv_plan_of(m, sampler(m));
  CHECK_MSG(pl && !strcmp(pl->policy, "none") && strstr(pl->note, reason), "note: %s", pl ? pl->note : "(no plan)");
  ParamStore *ps = kv_random_params(m, 0.5);
  SchedKnob k[2] = {{"alpha", "0.5"}, {"steps", "4"}};
  Run r;
  CHECK_MSG(sample(m, &backend_interp, ps, k, 2, 0, NULL, &r) && r.cache.cached_loops == 0, "%s", r.err);
  tensor_free(r.x);
  pstore_free(ps);
  ir_module_free(m);
}

/* p read in full after the loop: its rows outside the window are live, so the nucleus call is not
 * restricted (the network call and the writer still are) and the tokens stay exact. */
static void check_p_live(void) {
  Module *m = compile("  x = unpermute(z, order)\n", "  x = unpermute(z, order) + cast(sum(sum(sum(p, axis = 2), axis = 1), axis = 0) * 0.0, i32)\n");
  CHECK(m != NULL);
  if (!m) return;
  const SchedPlan *pl = kv_plan_of(m, sampler(m));
  CHECK_MSG(pl && !strcmp(pl->policy, "exact") && nucleus_rows(m, pl) == 0, "note: %s", pl ? pl->note : "(no plan)");
  ParamStore *ps = kv_random_params(m, 0.5);
  static const SchedKnob k[] = {{"alpha", "0.5"}, {"steps", "4"}, {"top_p", "0.9"}};
  if (pl && !strcmp(pl->policy, "exact")) check_exact(m, &backend_interp, ps, k, 3, "p read after the loop");
  pstore_free(ps);
  ir_module_free(m);
}

/* Windows that skip a row: the proof holds (each update writes only its window) but the cache would
 * miss the skipped row; the window statement stops the run. */
static void check_gap(void) {
  Module *m = compile(", end, event_end(events, end)", ", end + 1, event_end(events, end + 1)");
  CHECK(m != NULL);
  if (!m) return;
  const SchedPlan *pl = kv_plan_of(m, sampler(m));
  CHECK(pl && !strcmp(pl->policy, "exact"));
  ParamStore *ps = kv_random_params(m, 0.5);
  SchedKnob k[2] = {{"alpha", "0.5"}, {"steps", "4"}};
  Run r;
  CHECK(!sample(m, &backend_interp, ps, k, 2, 0, NULL, &r) && strstr(r.err, "consecutive windows"));
  CHECK_MSG(sample(m, &backend_interp, ps, k, 2, 1, NULL, &r), "--no-cache: %s", r.err);
  tensor_free(r.x);
  pstore_free(ps);
  ir_module_free(m);
}

int main(void) {
  Module *m = compile(NULL, NULL);
  CHECK(m != NULL);
  if (!m) return check_summary("kvcache_window");
  check_plan(m);
  ParamStore *ps = kv_random_params(m, 0.5);
  static const SchedKnob hybrid[] = {{"alpha", "0.5"}, {"steps", "4"}, {"seed", "3"}};
  static const SchedKnob hybrid_top_p[] = {{"alpha", "0.5"}, {"steps", "4"}, {"seed", "3"}, {"top_p", "0.9"}};
  static const SchedKnob diffusion[] = {{"alpha", "1"}, {"steps", "6"}, {"seed", "4"}};
  static const SchedKnob ar[] = {{"alpha", "0"}, {"seed", "5"}, {"top_p", "0.8"}};
  check_exact(m, &backend_interp, ps, hybrid, 3, "interp, alpha 0.5");
  check_exact(m, &backend_interp, ps, hybrid_top_p, 4, "interp, alpha 0.5, top_p 0.9");
  check_exact(m, &backend_interp, ps, diffusion, 3, "interp, alpha 1");
  check_exact(m, &backend_interp, ps, ar, 3, "interp, alpha 0, top_p 0.8");
  check_exact(m, &backend_cpu, ps, hybrid_top_p, 4, "cpu, alpha 0.5, top_p 0.9");
  check_exact(m, &backend_cpu, ps, diffusion, 3, "cpu, alpha 1");
  resident = 1;   /* the window statement reads its bounds back; frozen iterations after the break */
  check_exact(m, &backend_interp, ps, hybrid, 3, "interp resident, alpha 0.5");
  resident = 0;
  pstore_free(ps);
  ir_module_free(m);
  check_none("return iota([L, L], 1, i32) <= iota([L, L], 0, i32)", "return iota([L, L], 1, i32) >= 0", "attends key row");
  check_none("return where(r >= done && r < end, drawn, z), end", "return where(r >= done, drawn, z), end", "row window");
  check_none("    p = event_probs(z, order, done, end)\n", "    end = event_end(events, done)\n    p = event_probs(z, order, done, end)\n",
             "window bound end is written");
  check_gap();
  check_p_live();
  return check_summary("kvcache_window");
}
