/* kv_cache.c — the KV-cache benchmark (issue 6 item 5): BD3-LM's block sampler (models/bd3lm.dsl,
 * first-hitting: one network call per token) generating 1024 tokens with blocks of 16 on a backend
 * (default the compiled CPU backend), once with the compiler's exact KV-cache plan and once with
 * caching off (dlmrun sample --no-cache), with the same seed. Prints, for each run, the wall time,
 * the network evaluations and cache commits, and the FLOPs executed (passes/stats.c's count of every
 * function call that ran, summed by a counting wrapper around the backend), then the ratios and
 * whether both runs gave the same tokens.
 *   kv_cache [--backend cpu] [--layers 2] [--dim 128] [--heads 4] [--vocab 256] [--len 1024]
 *            [--block 16] [--n 1] [--cached-only]
 * Parameters are drawn from N(0, 0.1) (seed fixed) so that the attention matters for the tokens. */
#include "backend.h"
#include "frontend.h"
#include "passes.h"
#include "sched_exec.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const Backend *inner;
static const Module *counted;
static int64_t count_sym[DLM_MAX_SYMS];
static double flops_run;

static int run_counting(BackendState *s, const Func *f, const ParamStore *ps, Tensor *const *args, Tensor **outs,
                        const int64_t *symval, DlmErr *e) {
  FuncStats st;
  stats_func(counted, f, count_sym, &st);
  flops_run += st.flops;
  return inner->run(s, f, ps, args, outs, symval, e);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct { double seconds, flops; int64_t nfe, commits, loops; Tensor *x; } Run;

static int run_sampler(const Module *m, const Backend *be, const ParamStore *ps, int64_t n, int no_cache, Run *r) {
  int64_t symval[DLM_MAX_SYMS] = {0};
  symval[ir_sym_find(m, "B")] = n;
  DlmErr e = {0};
  BackendState *bs = be->open(m, &e);
  const Sched *s = NULL;
  for (int i = 0; i < m->nscheds; i++)
    if (!strcmp(m->scheds[i]->name, "blocks")) s = m->scheds[i];
  SchedMemo memo = {0, 0, 0, 0, 0};
  SchedCache cache = {no_cache, 0, 0, 0};
  Tensor *out[1] = {0};
  flops_run = 0;
  double t0 = now_s();
  int ok = bs && s && sched_run_cache(m, s, be, bs, ps, NULL, 0, symval, &memo, &cache, out, &e);
  r->seconds = now_s() - t0;
  if (bs) be->close(bs);
  if (!ok) { fprintf(stderr, "kv_cache: %s\n", s ? e.msg : "no sampler 'blocks'"); return 0; }
  r->flops = flops_run;
  r->nfe = memo.nfe;
  r->commits = cache.commits;
  r->loops = cache.cached_loops;
  r->x = out[0];
  return 1;
}

int main(int argc, char **argv) {
  const char *backend = "cpu";
  long layers = 2, dim = 128, heads = 4, vocab = 256, len = 1024, block = 16, n = 1;
  int cached_only = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    long *dst = !strcmp(a, "--layers") ? &layers : !strcmp(a, "--dim") ? &dim : !strcmp(a, "--heads") ? &heads :
                !strcmp(a, "--vocab") ? &vocab : !strcmp(a, "--len") ? &len : !strcmp(a, "--block") ? &block :
                !strcmp(a, "--n") ? &n : NULL;
    if (v && dst) { *dst = strtol(v, NULL, 10); i++; }
    else if (!strcmp(a, "--cached-only")) cached_only = 1;
    else if (v && !strcmp(a, "--backend")) { backend = v; i++; }
    else {
      fprintf(stderr, "usage: %s [--backend B] [--layers N] [--dim N] [--heads N] [--vocab N] [--len N] [--block N] [--n N] [--cached-only]\n", argv[0]);
      return 2;
    }
  }
  if (!(inner = backend_find(backend))) { fprintf(stderr, "kv_cache: unknown backend %s\n", backend); return 2; }
  char v[7][32];
  const long vals[7] = {layers, dim, heads, vocab, len, block, dim / 2};
  const char *names[7] = {"layers", "dim", "heads", "vocab", "seq_len", "block", "cond_dim"};
  DslDefine defs[7];
  for (int i = 0; i < 7; i++) {
    snprintf(v[i], sizeof v[i], "%ld", vals[i]);
    defs[i] = (DslDefine){names[i], v[i]};
  }
  Module *m = dsl_compile_file("models/bd3lm.dsl", defs, 7, stderr);
  DlmErr e = {0};
  PassOptions po = {0};
  if (!m || !pass_pipeline_run(m, &po, &e)) { fprintf(stderr, "kv_cache: compile: %s\n", e.msg); return 1; }
  counted = m;
  count_sym[ir_sym_find(m, "B")] = n;
  ParamStore *ps = pstore_init(m, 1);
  uint64_t st = 99;
  for (int i = 0; i < m->nparams; i++) {
    Tensor *t = pstore_get(ps, m->params[i].name);
    for (int64_t j = 0; j < t->numel; j++) {
      st = st * 6364136223846793005ull + 1442695040888963407ull;
      double u1 = ((double)(st >> 11) + 0.5) / 9007199254740992.0;
      st = st * 6364136223846793005ull + 1442695040888963407ull;
      double u2 = (double)(st >> 11) / 9007199254740992.0;
      tensor_set(t, j, 0.1 * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
    }
  }
  Backend counting = *inner;
  counting.run = run_counting;
  printf("BD3-LM sampler `blocks` (first-hitting), models/bd3lm.dsl -D layers=%ld -D dim=%ld -D heads=%ld -D vocab=%ld "
         "-D cond_dim=%ld -D seq_len=%ld -D block=%ld, batch %ld, backend %s, %ld parameters\n",
         layers, dim, heads, vocab, dim / 2, len, block, n, backend, (long)stats_param_count(m));
  Run c = {0}, u = {0};
  /* a first short run would only warm the kernel cache; the compiled CPU kernels are cached on disk
   * by content hash, so run the cached sampler twice and time the second */
  if (!run_sampler(m, &counting, ps, n, 0, &c)) return 1;
  tensor_free(c.x);
  if (!run_sampler(m, &counting, ps, n, 0, &c)) return 1;
  if (cached_only) {
    printf("exact: %.2f s, %lld nfe, %lld commits, %.2f GFLOP\n", c.seconds, (long long)c.nfe, (long long)c.commits, c.flops / 1e9);
    tensor_free(c.x);
    return 0;
  }
  if (!run_sampler(m, &counting, ps, n, 1, &u)) return 1;
  printf("%-10s %10s %8s %8s %14s %12s\n", "cache", "seconds", "nfe", "commits", "GFLOP", "GFLOP/s");
  printf("%-10s %10.2f %8lld %8lld %14.2f %12.2f\n", "exact", c.seconds, (long long)c.nfe, (long long)c.commits, c.flops / 1e9,
         c.flops / 1e9 / c.seconds);
  printf("%-10s %10.2f %8lld %8lld %14.2f %12.2f\n", "off", u.seconds, (long long)u.nfe, (long long)u.commits, u.flops / 1e9,
         u.flops / 1e9 / u.seconds);
  int same = c.x && u.x && c.x->numel == u.x->numel && !memcmp(c.x->data, u.x->data, (size_t)c.x->numel * dtype_size(c.x->dtype));
  printf("ratio (off / exact): time %.1fx, FLOPs %.1fx; same tokens: %s; cached loop runs: %lld\n", u.seconds / c.seconds,
         u.flops / c.flops, same ? "yes" : "NO", (long long)c.loops);
  tensor_free(c.x);
  tensor_free(u.x);
  pstore_free(ps);
  ir_module_free(m);
  return same ? 0 : 1;
}
