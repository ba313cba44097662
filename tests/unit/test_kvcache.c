/* test_kvcache.c — the KV-cache planning pass (passes/kvcache*.c) and its execution:
 *   - tests/dsl/kv_blocks.dsl (two block-causal layers, BD3-shaped sampler) and models/bd3lm.dsl at
 *     a tiny size (two layers, two heads, RoPE, adaLN), each with blocks of 4, 8 and 16 rows, get an
 *     exact plan with four buffers (keys and values of two attentions), which prints and parses
 *     back byte for byte;
 *   - sampling with the plan and with --no-cache (SchedMemo.no_cache) gives identical tokens for
 *     the same seed, on the interpreter and (block 8) the CPU backend; with random weights large
 *     enough that the attention matters (a wrong cache row changes the tokens);
 *   - the logits: for each block b, a state with blocks < b decoded and block b half decoded, the
 *     cached network call (buffers filled by the commit calls of blocks 0..b-1) and the original
 *     call agree to float32 tolerance;
 *   - docs/examples/block_sampler.dsl (network inside the update call) is planned too and exact;
 *   - the same sampler with a bidirectional mask, or with an update that may touch every row, or
 *     cache(prefix), gets plan "none" and a reason, and runs uncached;
 *   - cache(dual) gets an approximate plan (refresh at the start of each iteration), equal to the
 *     uncached tokens under the block-causal mask, and runs labelled approximate when bidirectional. */
#include "kv_fixture.h"
#include "sched_exec.h"

/* Compiles path with -D block=BLOCK and the extra defines, with the text edits of kv_compile_edit. */
static Module *compile_edit(const char *path, const char *block, const DslDefine *more, int nmore, const char *const *repl,
                            int nrepl) {
  DslDefine d[8] = {{"block", block}};
  for (int i = 0; i < nmore && i < 7; i++) d[i + 1] = more[i];
  return kv_compile_edit(path, d, 1 + (nmore < 7 ? nmore : 7), repl, nrepl);
}

static Module *compile(const char *path, const char *block, const DslDefine *more, int nmore, const char *from, const char *to) {
  const char *repl[2] = {from, to};
  return compile_edit(path, block, more, nmore, repl, from ? 1 : 0);
}

static const SchedStmt *cache_loop(const SchedStmt *st, int n) { return kv_cache_loop(st, n); }
static const SchedPlan *plan_of(const Module *m) { return kv_plan_of(m, NULL); }
static void check_roundtrip(const Module *m) { kv_check_roundtrip(m, 0); }
static ParamStore *random_params(const Module *m) { return kv_random_params(m, 0.5); }

static Tensor *sample(const Module *m, const Backend *be, const ParamStore *ps, int no_cache, SchedCache *memo) {
  int64_t symval[DLM_MAX_SYMS] = {0};
  symval[ir_sym_find(m, "B")] = 2;
  DlmErr e = {0};
  BackendState *bs = be->open(m, &e);
  Tensor *out[1] = {0};
  memset(memo, 0, sizeof *memo);
  memo->no_cache = no_cache;
  int ok = bs && sched_run_cache(m, m->scheds[0], be, bs, ps, NULL, 0, symval, NULL, memo, out, &e);
  CHECK_MSG(ok, "%s", e.msg);
  if (bs) be->close(bs);
  return ok ? out[0] : NULL;
}

static int same_tokens(const Tensor *a, const Tensor *b) {
  return a && b && a->numel == b->numel && !memcmp(a->data, b->data, (size_t)a->numel * dtype_size(a->dtype));
}

static int mask_id(const Module *m) { return atoi(ir_meta_get(m, "mask_id")); }

static void check_exact_sampling(const Module *m, const Backend *be, const char *what) {
  ParamStore *ps = random_params(m);
  SchedCache on, off;
  Tensor *x = sample(m, be, ps, 0, &on), *y = sample(m, be, ps, 1, &off);
  CHECK_MSG(same_tokens(x, y), "%s: cached and uncached tokens differ", what);
  CHECK_MSG(on.cached_loops == 1 && off.cached_loops == 0, "%s: cached loops %lld / %lld", what, (long long)on.cached_loops,
            (long long)off.cached_loops);
  int64_t masks = 0;
  for (int64_t i = 0; x && i < x->numel; i++) masks += tensor_get(x, i) == mask_id(m);
  CHECK_MSG(x && masks == 0, "%s: %lld masks left", what, (long long)masks);
  tensor_free(x);
  tensor_free(y);
  pstore_free(ps);
}

/* The tensor a plan call argument needs: x, b, a cache buffer, or a knob's default. */
static Tensor *arg_value(const Sched *s, int var, int xvar, const Tensor *x, int64_t b, Tensor **cache) {
  const SchedVar *v = &s->vars[var];
  if (var == xvar) return tensor_clone(x);
  if (v->kind == SV_CACHE) return tensor_clone(cache[var]);
  Tensor *t = tensor_new(v->type.dtype, 0, NULL);
  tensor_set(t, 0, v->kind == SV_LOOPVAR ? (double)b : v->value);
  return t;
}

static int run_call(const Module *m, const SchedStmt *st, const ParamStore *ps, int xvar, const Tensor *x, int64_t b,
                    Tensor **cache, Tensor **outs) {
  const Func *f = m->funcs[st->func];
  Tensor *args[16] = {0};
  for (int a = 0; a < st->nargs; a++) args[a] = arg_value(m->scheds[0], st->args[a], xvar, x, b, cache);
  DlmErr e = {0};
  int64_t presym[DLM_MAX_SYMS] = {0};
  presym[ir_sym_find(m, "B")] = 2;
  int ok = interp_run_syms(m, f, ps, args, outs, DT_F32, presym, &e);
  CHECK_MSG(ok, "@%s: %s", f->name, e.msg);
  for (int a = 0; a < st->nargs; a++) tensor_free(args[a]);
  return ok;
}

/* The cached network call against the original one, block by block (kv_blocks.dsl's shape: the
 * loop body is { loop i { p = memo net(x, b); x = step(...) } } and the plan body adds the commit). */
static void check_logits(const Module *m, int64_t bs) {
  const SchedStmt *loop = cache_loop(m->scheds[0]->body, m->scheds[0]->nbody);
  const SchedPlan *pl = loop->plan;
  const SchedStmt *orig = &loop->body[0].body[0], *cached = &pl->body[0].body[0], *commit = &pl->body[pl->nbody - 1];
  int xvar = orig->args[0];
  ParamStore *ps = random_params(m);
  SchedCache memo;
  Tensor *final = sample(m, &backend_interp, ps, 1, &memo);
  Tensor *cache[64] = {0};
  Tensor *init[16] = {0};
  if (!final || !run_call(m, &pl->init[0], ps, xvar, final, 0, cache, init)) goto done;
  for (int i = 0; i < pl->init[0].nres; i++) cache[pl->init[0].res[i]] = init[i];
  double worst = 0;
  for (int64_t b = 0; b < pl->rows / bs; b++) {
    Tensor *x = tensor_clone(final);
    for (int64_t r = 0; r < 2; r++)
      for (int64_t j = b * bs + bs / 2; j < pl->rows; j++) tensor_set(x, r * pl->rows + j, mask_id(m));
    Tensor *want[4] = {0}, *got[4] = {0};
    if (run_call(m, orig, ps, xvar, x, b, cache, want) && run_call(m, cached, ps, xvar, x, b, cache, got)) {
      CHECK(want[0]->numel == got[0]->numel);
      for (int64_t i = 0; i < want[0]->numel && want[0]->numel == got[0]->numel; i++) {
        double d = fabs(tensor_get(want[0], i) - tensor_get(got[0], i)) / (1e-6 + fabs(tensor_get(want[0], i)));
        if (d > worst) worst = d;
      }
    }
    tensor_free(want[0]);
    tensor_free(got[0]);
    Tensor *next[16] = {0};
    if (run_call(m, commit, ps, xvar, final, b, cache, next))
      for (int i = 0; i < commit->nres; i++) {
        tensor_free(cache[commit->res[i]]);
        cache[commit->res[i]] = next[i];
      }
    tensor_free(x);
  }
  CHECK_MSG(worst < 1e-4, "block %lld: cached and uncached probabilities differ by %g (relative)", (long long)bs, worst);
done:
  for (int i = 0; i < 64; i++) tensor_free(cache[i]);
  tensor_free(final);
  pstore_free(ps);
}

static void check_blocks(const char *path, const DslDefine *defs, int ndefs, const char *block, int64_t bs, int cpu) {
  Module *m = compile(path, block, defs, ndefs, NULL, NULL);
  CHECK_MSG(m != NULL, "%s -D block=%s", path, block);
  if (!m) return;
  const SchedPlan *pl = plan_of(m);
  CHECK(pl && !strcmp(pl->policy, "exact") && !pl->approximate);
  if (pl && !strcmp(pl->policy, "exact")) {
    CHECK_MSG(pl->block == bs && pl->rows == 32 && pl->nbufs == 4 && pl->ninit == 1, "block %lld rows %lld bufs %d",
              (long long)pl->block, (long long)pl->rows, pl->nbufs);
    check_roundtrip(m);
    check_exact_sampling(m, &backend_interp, "interp");
    if (cpu) check_exact_sampling(m, &backend_cpu, "cpu");
    check_logits(m, bs);
  }
  ir_module_free(m);
}

static void check_none(const char *from, const char *to, const char *reason) {
  Module *m = compile("tests/dsl/kv_blocks.dsl", "8", NULL, 0, from, to);
  CHECK(m != NULL);
  if (!m) return;
  const SchedPlan *pl = plan_of(m);
  CHECK_MSG(pl && !strcmp(pl->policy, "none") && strstr(pl->note, reason), "note: %s", pl ? pl->note : "(no plan)");
  CHECK(pl && pl->nbody == 0 && pl->nbufs == 0);
  check_roundtrip(m);
  ParamStore *ps = random_params(m);
  SchedCache memo;
  Tensor *x = sample(m, &backend_interp, ps, 0, &memo);
  CHECK(x && memo.cached_loops == 0);
  tensor_free(x);
  pstore_free(ps);
  ir_module_free(m);
}

static void check_block_sampler(void) {
  Module *m = compile("docs/examples/block_sampler.dsl", "8", NULL, 0, NULL, NULL);
  CHECK(m != NULL);
  if (!m) return;
  const SchedPlan *pl = plan_of(m);
  CHECK(pl && !strcmp(pl->policy, "exact") && pl->block == 8 && pl->nbufs == 2);
  check_roundtrip(m);
  ParamStore *ps = random_params(m);
  SchedCache on, off;
  Tensor *x = sample(m, &backend_interp, ps, 0, &on), *y = sample(m, &backend_interp, ps, 1, &off);
  CHECK(same_tokens(x, y) && on.cached_loops == 1);
  tensor_free(x);
  tensor_free(y);
  pstore_free(ps);
  ir_module_free(m);
}

/* cache(dual) with the block-causal mask: an approximate plan (refresh first, no commit), which
 * here changes nothing (the stale rows are never attended), so its tokens equal the uncached ones;
 * with a bidirectional mask it is planned too (no proof needed) and runs, labelled approximate. */
static void check_dual(void) {
  static const char *const repl[4] = {"cache(exact)", "cache(dual)", "k / BS <= q / BS", "true"};
  for (int bidir = 0; bidir < 2; bidir++) {
    Module *m = compile_edit("tests/dsl/kv_blocks.dsl", "8", NULL, 0, repl, 1 + bidir);
    CHECK_MSG(m != NULL, "dual %d", bidir);
    if (!m) continue;
    const SchedPlan *pl = plan_of(m);
    CHECK(pl && !strcmp(pl->policy, "dual") && pl->approximate && pl->nbufs == 4 && strstr(pl->note, "APPROXIMATE"));
    CHECK(pl && pl->nbody > 0 && pl->body[0].kind == SS_CALL && strstr(m->funcs[pl->body[0].func]->name, ".kv_refresh"));
    check_roundtrip(m);
    ParamStore *ps = random_params(m);
    SchedCache on, off;
    Tensor *x = sample(m, &backend_interp, ps, 0, &on), *y = sample(m, &backend_interp, ps, 1, &off);
    CHECK(x && y && on.approx_loops == 1 && on.cached_loops == 0 && off.approx_loops == 0);
    if (!bidir) CHECK_MSG(same_tokens(x, y), "%s", "dual with a block-causal mask changed the tokens");
    int64_t masks = 0;
    for (int64_t i = 0; x && i < x->numel; i++) masks += tensor_get(x, i) == mask_id(m);
    CHECK(masks == 0);
    tensor_free(x);
    tensor_free(y);
    pstore_free(ps);
    ir_module_free(m);
  }
}

/* models/bd3lm.dsl at a tiny size: two layers, two heads, RoPE, adaLN. */
static const DslDefine bd3_tiny[] = {{"vocab", "32"}, {"seq_len", "32"}, {"layers", "2"}, {"dim", "16"}, {"heads", "2"}, {"cond_dim", "8"}};

int main(void) {
  check_blocks("tests/dsl/kv_blocks.dsl", NULL, 0, "4", 4, 0);
  check_blocks("tests/dsl/kv_blocks.dsl", NULL, 0, "8", 8, 1);
  check_blocks("tests/dsl/kv_blocks.dsl", NULL, 0, "16", 16, 0);
  check_blocks("models/bd3lm.dsl", bd3_tiny, 6, "4", 4, 0);
  check_blocks("models/bd3lm.dsl", bd3_tiny, 6, "8", 8, 1);
  check_blocks("models/bd3lm.dsl", bd3_tiny, 6, "16", 16, 0);
  check_block_sampler();
  check_none("k / BS <= q / BS", "true", "bidirectional");
  check_none("return where(inside,", "return where(inside || rel < 0,", "outside block");
  check_none("loop b in 0..n_blocks cache(exact)", "loop b in 0..n_blocks cache(prefix)", "not planned");
  check_dual();
  return check_summary("kvcache");
}
