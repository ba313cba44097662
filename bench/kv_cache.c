/* kv_cache.c — the KV-cache benchmark (issue 6 items 5 and 6): a sampler generating 1024 tokens on
 * a backend (default the compiled CPU backend), once with the compiler's exact KV-cache plan and once
 * with caching off (dlmrun sample --no-cache), with the same seed:
 *   --model bd3lm  BD3-LM's block sampler `blocks` (first-hitting: one network call per token,
 *                  blocks of --block rows; the plan caches finished blocks);
 *   --model esolm  Eso-LM (B)'s `ancestral` with --steps T and --alpha (one network call per
 *                  decoding event; the plan's dynamic row windows cache the decoded rows);
 *   --model mdlm   MDLM's `ancestral` with --steps T (no KV-cache plan: its attention is
 *                  bidirectional; its memo reuse of unchanged steps stays on in both runs).
 * Prints, for each run, the wall time, the network evaluations and cache commits, and the FLOPs
 * executed (passes/stats.c's count of every function call that ran, with the shape symbols bound
 * from each call's arguments, summed by a counting wrapper around the backend), then the ratios and
 * whether both runs gave the same tokens.
 *   kv_cache [--model bd3lm] [--backend cpu] [--layers 2] [--dim 128] [--heads 4] [--vocab 256]
 *            [--len 1024] [--block 16] [--steps 1024] [--alpha A] [--top-p P] [--n 1] [--cached-only]
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
  int64_t sv[DLM_MAX_SYMS];
  memcpy(sv, count_sym, sizeof sv);
  for (int i = 0; i < f->nnodes; i++) {   /* a dim that is one symbol takes the argument's size */
    const Node *n = &f->nodes[i];
    const Tensor *t = n->op == OP_ARG ? args[n->attr.i[0]] : NULL;
    for (int d = 0; t && d < n->type.rank && d < t->rank; d++) {
      Dim dm = n->type.dims[d];
      if (dm.k == 1 && dm.syms && !(dm.syms & (dm.syms - 1))) sv[__builtin_ctz(dm.syms)] = t->shape[d];
    }
  }
  FuncStats st;
  stats_func(counted, f, sv, &st);
  flops_run += st.flops;
  return inner->run(s, f, ps, args, outs, symval, e);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct { double seconds, flops; int64_t nfe, commits, loops; Tensor *x; } Run;

static const char *sampler_name;
static SchedKnob knobs[3];
static int nknobs;

static int run_sampler(const Module *m, const Backend *be, const ParamStore *ps, int64_t n, int no_cache, Run *r) {
  int64_t symval[DLM_MAX_SYMS] = {0};
  symval[ir_sym_find(m, "B")] = n;
  DlmErr e = {0};
  BackendState *bs = be->open(m, &e);
  const Sched *s = NULL;
  for (int i = 0; i < m->nscheds; i++)
    if (!strcmp(m->scheds[i]->name, sampler_name)) s = m->scheds[i];
  SchedMemo memo = {0, 0, 0, 0, 0};
  SchedCache cache = {no_cache, 0, 0, 0};
  Tensor *out[1] = {0};
  flops_run = 0;
  double t0 = now_s();
  int ok = bs && s && sched_run_cache(m, s, be, bs, ps, knobs, nknobs, symval, &memo, &cache, out, &e);
  r->seconds = now_s() - t0;
  if (bs) be->close(bs);
  if (!ok) { fprintf(stderr, "kv_cache: %s%s\n", s ? e.msg : "no sampler ", s ? "" : sampler_name); return 0; }
  r->flops = flops_run;
  r->nfe = memo.nfe;
  r->commits = cache.commits;
  r->loops = cache.cached_loops;
  r->x = out[0];
  return 1;
}

int main(int argc, char **argv) {
  const char *backend = "cpu", *model = "bd3lm", *alpha = NULL, *top_p = NULL;
  long layers = 2, dim = 128, heads = 4, vocab = 256, len = 1024, block = 16, n = 1, steps = 1024;
  int cached_only = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    long *dst = !strcmp(a, "--layers") ? &layers : !strcmp(a, "--dim") ? &dim : !strcmp(a, "--heads") ? &heads :
                !strcmp(a, "--vocab") ? &vocab : !strcmp(a, "--len") ? &len : !strcmp(a, "--block") ? &block :
                !strcmp(a, "--n") ? &n : !strcmp(a, "--steps") ? &steps : NULL;
    if (v && dst) { *dst = strtol(v, NULL, 10); i++; }
    else if (!strcmp(a, "--cached-only")) cached_only = 1;
    else if (v && !strcmp(a, "--backend")) { backend = v; i++; }
    else if (v && !strcmp(a, "--model")) { model = v; i++; }
    else if (v && !strcmp(a, "--alpha")) { alpha = v; i++; }
    else if (v && !strcmp(a, "--top-p")) { top_p = v; i++; }
    else {
      fprintf(stderr, "usage: %s [--model bd3lm|esolm|mdlm] [--backend B] [--layers N] [--dim N] [--heads N] [--vocab N] "
              "[--len N] [--block N] [--steps T] [--alpha A] [--top-p P] [--n N] [--cached-only]\n", argv[0]);
      return 2;
    }
  }
  int bd3 = !strcmp(model, "bd3lm");
  if (!bd3 && strcmp(model, "esolm") && strcmp(model, "mdlm")) { fprintf(stderr, "kv_cache: unknown model %s\n", model); return 2; }
  if (!(inner = backend_find(backend))) { fprintf(stderr, "kv_cache: unknown backend %s\n", backend); return 2; }
  char v[7][32], steps_text[32], path[64];
  const long vals[7] = {layers, dim, heads, vocab, len, dim / 2, block};
  const char *names[7] = {"layers", "dim", "heads", "vocab", "seq_len", "cond_dim", "block"};
  DslDefine defs[7];
  for (int i = 0; i < 7; i++) {
    snprintf(v[i], sizeof v[i], "%ld", vals[i]);
    defs[i] = (DslDefine){names[i], v[i]};
  }
  snprintf(steps_text, sizeof steps_text, "%ld", steps);
  snprintf(path, sizeof path, "models/%s.dsl", model);
  sampler_name = bd3 ? "blocks" : "ancestral";
  if (!bd3) knobs[nknobs++] = (SchedKnob){"steps", steps_text};
  if (alpha && !strcmp(model, "esolm")) knobs[nknobs++] = (SchedKnob){"alpha", alpha};
  if (top_p) knobs[nknobs++] = (SchedKnob){"top_p", top_p};
  Module *m = dsl_compile_file(path, defs, bd3 ? 7 : 6, stderr);
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
  printf("sampler `%s` of models/%s.dsl -D layers=%ld -D dim=%ld -D heads=%ld -D vocab=%ld -D cond_dim=%ld -D seq_len=%ld",
         sampler_name, model, layers, dim, heads, vocab, dim / 2, len);
  if (bd3) printf(" -D block=%ld (first-hitting)", block);
  for (int k = 0; k < nknobs; k++) printf(" --set %s=%s", knobs[k].name, knobs[k].value);
  printf(", batch %ld, backend %s, %ld parameters\n", n, backend, (long)stats_param_count(m));
  Run c = {0}, u = {0};
  /* a warm-up run compiles the kernels (cached on disk by content hash): the whole cached run for
   * BD3-LM, two steps for the step-counted samplers; then the timed runs */
  if (!bd3) knobs[0].value = "2";
  if (!run_sampler(m, &counting, ps, n, 0, &c)) return 1;
  tensor_free(c.x);
  if (!bd3) knobs[0].value = steps_text;
  if (!run_sampler(m, &counting, ps, n, 0, &c)) return 1;
  const char *label = c.loops ? "exact" : "no plan";
  if (cached_only) {
    printf("%s: %.2f s, %lld nfe, %lld commits, %.2f GFLOP\n", label, c.seconds, (long long)c.nfe, (long long)c.commits, c.flops / 1e9);
    tensor_free(c.x);
    return 0;
  }
  if (!run_sampler(m, &counting, ps, n, 1, &u)) return 1;
  printf("%-10s %10s %8s %8s %14s %12s\n", "cache", "seconds", "nfe", "commits", "GFLOP", "GFLOP/s");
  printf("%-10s %10.2f %8lld %8lld %14.2f %12.2f\n", label, c.seconds, (long long)c.nfe, (long long)c.commits, c.flops / 1e9,
         c.flops / 1e9 / c.seconds);
  printf("%-10s %10.2f %8lld %8lld %14.2f %12.2f\n", "off", u.seconds, (long long)u.nfe, (long long)u.commits, u.flops / 1e9,
         u.flops / 1e9 / u.seconds);
  int same = c.x && u.x && c.x->numel == u.x->numel && !memcmp(c.x->data, u.x->data, (size_t)c.x->numel * dtype_size(c.x->dtype));
  printf("ratio (off / %s): time %.1fx, FLOPs %.1fx; same tokens: %s; cached loop runs: %lld\n", label, u.seconds / c.seconds,
         u.flops / c.flops, same ? "yes" : "NO", (long long)c.loops);
  tensor_free(c.x);
  tensor_free(u.x);
  pstore_free(ps);
  ir_module_free(m);
  return same ? 0 : 1;
}
