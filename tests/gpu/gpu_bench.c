/* gpu_bench.c — timings of the CUDA backend for tests/gpu/check.sh, printed as markdown table
 * rows "| what | value | note |":
 *   gpu_bench train MODEL.dsl BATCH STEPS [-D NAME=VALUE ...]
 *     one training step = loss.grad (forward + backward, all parameter gradients) on a random
 *     batch of BATCH sequences; the first call (NVRTC compile, module load) is timed apart; then
 *     STEPS calls: ms/step (download of gradients included; the parameters stay resident on the
 *     device, checked by hash each call, and the bytes uploaded are reported), the device part
 *     alone, tokens/s, and MFU = 6*(N + layers*dim*seq_len) FLOPs/token (llm.c) times
 *     tokens/s over 989 TFLOP/s (H100 bf16 dense).
 *   With $DLM_CUDA_GRAPHS=1 the rows are tagged [CUDA graphs] and say whether every step replayed.
 *   gpu_bench sample MODEL.dsl STEPS [-D ...]
 *     the ancestral sampler's step function (ancestral.1) on one sequence, fed back STEPS times after
 *     one warm-up call; seconds per sample extrapolated to T = 1000 steps (labelled so); and how
 *     many of its gemm epilogues (bias + GELU) ran in cuBLASLt or fell back (docs/cuda.md).
 *   gpu_bench loop MODEL.dsl STEPS [-D ...]
 *     the whole `ancestral` sampler (batch 1, steps = STEPS) through the schedule executor: the
 *     host path (every call uploads its arguments and downloads its results, memo on) and then
 *     twice with resident loop state (runtime/sched_exec.c SchedDev: the loop queues launches
 *     only); seconds per sample extrapolated to T = 1000, the transfers inside the loop (none
 *     after the first iteration, which uploads pointer tables), and whether the tokens are identical. With $DLM_CUDA_GRAPHS=1 each call replays a graph.
 *   gpu_bench train-device MODEL.dsl BATCH STEPS [-D ...]
 *     training steps with the optimizer on the device (Backend.train: loss.grad, gradient norm,
 *     clipping, AdamW, EMA, bf16 refresh; only the batch goes up, loss and norm come back):
 *     ms/step, tokens/s and MFU as for train.
 *   gpu_bench probe
 *     opens the CUDA backend and prints one row: "ok" or the reason there is no device.
 *   gpu_bench compile ARCH MODEL.dsl [-D ...]
 *     only generates and NVRTC-compiles (sm_ARCH, into the on-disk cache) the functions the
 *     benchmarks run (loss.grad and every function the ancestral sampler calls), so check.sh can
 *     do it in parallel with other work; needs no GPU.
 * Exit status 0, or 1 with the error on stderr ("no CUDA device: ..." without a GPU). */
#include "autodiff.h"
#include "backend.h"
#include "cuda_emit.h"
#include "frontend.h"
#include "passes.h"
#include "sched_exec.h"
#include "train.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t meta_int(const Module *m, const char *key, int64_t dflt) {
  const char *v = ir_meta_get(m, key);
  return v ? strtoll(v, NULL, 10) : dflt;
}

static int64_t define_int(const DslDefine *d, int n, const char *name, int64_t dflt) {
  for (int i = 0; i < n; i++)
    if (strcmp(d[i].name, name) == 0) return strtoll(d[i].value, NULL, 10);
  return dflt;
}

static Tensor *scalar_i64(int64_t v) {
  Tensor *t = tensor_new(DT_I64, 0, NULL);
  if (t) ((int64_t *)t->data)[0] = v;
  return t;
}

static Tensor *tokens(int64_t b, int64_t l, int64_t vocab) {
  int64_t shape[2] = {b, l};
  Tensor *t = tensor_new(DT_I32, 2, shape);
  uint64_t x = 0x2545F4914F6CDD1Dull;
  for (int64_t k = 0; t && k < t->numel; k++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ((int32_t *)t->data)[k] = (int32_t)(x % (uint64_t)vocab);
  }
  return t;
}

static int fail(const char *what, const DlmErr *e) {
  fprintf(stderr, "gpu_bench: %s: %s\n", what, e->msg);
  return 1;
}

static int probe(void) {
  Module *m = ir_module_new("probe");
  DlmErr e = {0};
  BackendState *st = m ? backend_cuda.open(m, &e) : NULL;
  printf("| CUDA device | %s | %s |\n", st ? "driver, context and cuBLAS loaded" : e.msg, st ? "PASS" : "FAIL");
  if (st) backend_cuda.close(st);
  ir_module_free(m);
  return st ? 0 : 1;
}

static const Sched *find_sched(const Module *m, const char *name) {
  for (int i = 0; i < m->nscheds; i++)
    if (!strcmp(m->scheds[i]->name, name)) return m->scheds[i];
  return NULL;
}

/* the functions a schedule body calls, added to names[*n] (unique, at most cap) */
static void sched_funcs(const Module *m, const SchedStmt *b, int nb, const char **names, int *n, int cap) {
  for (int i = 0; i < nb; i++) {
    if (b[i].kind == SS_CALL) {
      const char *nm = m->funcs[b[i].func]->name;
      int seen = 0;
      for (int k = 0; k < *n; k++) seen |= !strcmp(names[k], nm);
      if (!seen && *n < cap) names[(*n)++] = nm;
    }
    if (b[i].kind == SS_LOOP) sched_funcs(m, b[i].body, b[i].nbody, names, n, cap);
  }
}

/* gpu_bench loop: the ancestral sampler, host path and resident values */
static int bench_loop(Module *m, ParamStore *ps, BackendState *st, int64_t steps, int64_t L) {
  const Sched *s = find_sched(m, "ancestral");
  if (!s) { fprintf(stderr, "gpu_bench: no ancestral sampler\n"); return 1; }
  char sv[32];
  snprintf(sv, sizeof sv, "%lld", (long long)steps);
  SchedKnob knobs[1] = {{"steps", sv}};
  int64_t symval[DLM_MAX_SYMS] = {0};
  symval[ir_sym_find(m, "B")] = 1;
  const char *gr = getenv("DLM_CUDA_GRAPHS"), *tag = gr && strcmp(gr, "1") == 0 ? " [CUDA graphs]" : "";
  Tensor *out[3] = {0};
  SchedDev d[3] = {{1, 0, 0, 0, 0, 0, 0}, {2, 0, 0, 0, 0, 0, 0}, {2, 0, 0, 0, 0, 0, 0}};
  SchedMemo memo[3];
  double secs[3];
  DlmErr e = {0};
  int rc = 0;
  for (int r = 0; r < 3 && !rc; r++) {
    memset(&memo[r], 0, sizeof memo[r]);
    double t0 = now_s();
    if (!sched_run_dev(m, s, &backend_cuda, st, ps, knobs, 1, symval, &memo[r], NULL, &d[r], &out[r], &e)) rc = fail("ancestral", &e);
    secs[r] = now_s() - t0;
  }
  if (!rc) {
    int same = out[0]->numel == out[1]->numel && !memcmp(out[0]->data, out[1]->data, (size_t)out[0]->numel * 4) &&
               !memcmp(out[0]->data, out[2]->data, (size_t)out[0]->numel * 4);
    printf("| sampler loop, host path (ancestral, B=1, L=%lld, %lld steps)%s | %.1f s/sample at T=1000 | %.2f s for %lld steps (first run: "
           "includes NVRTC compiles); %lld network evaluations (memo); %lld transfers inside the loop |\n",
           (long long)L, (long long)steps, tag, secs[0] / (double)steps * 1000, secs[0], (long long)steps, (long long)memo[0].nfe,
           (long long)d[0].loop_transfers);
    int quiet = d[1].steady_transfers == 0 && d[2].steady_transfers == 0;
    printf("| sampler loop, resident values%s | %.1f s/sample at T=1000 | %.2f s for %lld steps (second resident run); %lld network "
           "evaluations; transfers inside the loop: %lld (first run), %lld (second), none after the first iteration: %s | %s |\n",
           tag, secs[2] / (double)steps * 1000, secs[2], (long long)steps, (long long)memo[2].nfe, (long long)d[1].loop_transfers,
           (long long)d[2].loop_transfers, quiet ? "yes" : "NO",
           same ? (quiet ? "PASS: tokens identical to the host path" : "FAIL: transfers in the loop") : "FAIL: tokens differ from the host path");
    rc = !same || !quiet;
  }
  for (int r = 0; r < 3; r++) tensor_free(out[r]);
  return rc;
}

/* gpu_bench train-device: training steps with the optimizer on the device */
static int bench_train_device(Module *m, ParamStore *ps, BackendState *st, const Func *g, Tensor **args, int64_t batch, int64_t steps,
                              int64_t L, double flops_per_token) {
  DlmErr e = {0};
  ParamStore *ema = pstore_new(), *mo = pstore_new(), *vo = pstore_new();
  int *gidx = calloc((size_t)m->nparams + 1, sizeof *gidx);
  int rc = !ema || !mo || !vo || !gidx;
  for (int i = 0; !rc && i < ps->n; i++) {
    Tensor *t = ps->tensors[i];
    rc = !pstore_put(ema, ps->names[i], tensor_clone(t)) || !pstore_put(mo, ps->names[i], tensor_new(t->dtype, t->rank, t->shape)) ||
         !pstore_put(vo, ps->names[i], tensor_new(t->dtype, t->rank, t->shape));
  }
  for (int i = 0; !rc && i < m->nparams; i++) {
    gidx[i] = -1;
    for (int k = 1; k < g->nout; k++)
      if (g->outnames && g->outnames[k] && !strncmp(g->outnames[k], "grad:", 5) && !strcmp(g->outnames[k] + 5, m->params[i].name)) gidx[i] = k;
  }
  if (rc) fprintf(stderr, "gpu_bench: out of memory\n");
  if (!rc && !backend_cuda.train->begin(st, ps, ema, mo, vo, &e)) rc = fail("train begin", &e);
  OptConfig c = {.lr = 1e-4, .warmup = 0, .steps = steps + 1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0, .clip = 1.0, .ema = 0.9999};
  double loss = 0, gnorm = 0, total = 0, first = 0;
  const char *gr = getenv("DLM_CUDA_GRAPHS"), *tag = gr && strcmp(gr, "1") == 0 ? " [CUDA graphs]" : "";
  for (int64_t t = 1; !rc && t <= steps + 1; t++) {
    BackendOptStep o = {t, lr_at(&c, t), c.beta1, c.beta2, c.eps, c.weight_decay, c.clip, ema_decay(c.ema, t)};
    double t0 = now_s();
    if (!backend_cuda.train->step(st, g, gidx, args, &o, &loss, &gnorm, &e)) { rc = fail("device step", &e); break; }
    if (t == 1) first = now_s() - t0;
    else total += now_s() - t0;
  }
  if (!rc && !backend_cuda.train->sync(st, &e)) rc = fail("sync", &e);
  if (!rc) {
    double step = total / (double)steps, tok = (double)(batch * L);
    printf("| train step, optimizer on the device, B=%lld L=%lld%s | %.1f ms/step | loss %.4f, grad norm %.3f; first step %.1f s (compile); "
           "nothing but the batch, loss and norm crosses per step |\n",
           (long long)batch, (long long)L, tag, step * 1e3, loss, gnorm, first);
    printf("| tokens/s (device optimizer)%s | %.0f | MFU (989 TFLOP/s bf16) %.2f%% |\n", tag, tok / step, 100 * flops_per_token * tok / step / 989e12);
  }
  backend_cuda.train->end(st);
  pstore_free(ema);
  pstore_free(mo);
  pstore_free(vo);
  free(gidx);
  return rc;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "probe") == 0) return probe();
  if (argc < 4) {
    fprintf(stderr, "usage: gpu_bench train|train-device MODEL.dsl BATCH STEPS [-D N=V ...] | sample|loop MODEL.dsl STEPS [-D N=V ...]\n"
                    "       gpu_bench compile ARCH MODEL.dsl [-D N=V ...] | probe\n");
    return 2;
  }
  int train_dev = strcmp(argv[1], "train-device") == 0, train = train_dev || strcmp(argv[1], "train") == 0;
  int only_compile = strcmp(argv[1], "compile") == 0, loop = strcmp(argv[1], "loop") == 0;
  const char *path = argv[only_compile ? 3 : 2];
  if (train && argc < 5) { fprintf(stderr, "gpu_bench: train needs BATCH and STEPS\n"); return 2; }
  int64_t batch = train ? strtoll(argv[3], NULL, 10) : 1, steps = strtoll(argv[train ? 4 : only_compile ? 2 : 3], NULL, 10);
  DslDefine defs[32];
  int ndefs = 0;
  for (int i = train ? 5 : 4; i + 1 < argc && ndefs < 32; i += 2) {
    char *eq = strchr(argv[i + 1], '=');
    if (strcmp(argv[i], "-D") || !eq) { fprintf(stderr, "gpu_bench: bad option %s\n", argv[i]); return 2; }
    *eq = 0;
    defs[ndefs].name = argv[i + 1];
    defs[ndefs++].value = eq + 1;
  }
  double t0 = now_s();
  int rc = 1;
  ParamStore *ps = NULL;
  BackendState *st = NULL;
  Tensor *args[8] = {0}, *outs[1024] = {0};
  const Func *f = NULL;
  Module *m = dsl_compile_file(path, defs, ndefs, stderr);
  if (!m) return 1;
  DlmErr e = {0};
  Func *loss = ir_func_find(m, "loss");
  if (!loss || !ad_grad(m, loss, 0, NULL, 0, 1, &e)) { fail("loss.grad", &e); goto out; }
  PassOptions po = {0};
  if (!pass_pipeline_run(m, &po, &e)) { fail("passes", &e); goto out; }
  if (only_compile) {
    const char *names[64] = {"loss.grad", "ancestral.1"};
    int nnames = 2;
    const Sched *anc = find_sched(m, "ancestral");
    if (anc) sched_funcs(m, anc->body, anc->nbody, names, &nnames, 64);
    for (int i = 0; i < nnames; i++) {
      const Func *g = ir_func_find(m, names[i]);
      CudaUnit u;
      size_t *sizes = NULL;
      void **img = NULL;
      int nimg = 0, *chunk_of = NULL;
      t0 = now_s();
      if (!g || !cuda_emit_func(m, g, &u, &e)) { fprintf(stderr, "gpu_bench: %s: %s\n", names[i], g ? e.msg : "missing"); goto out; }
      chunk_of = malloc((size_t)(u.nlaunch ? u.nlaunch : 1) * sizeof *chunk_of);
      int ok = chunk_of && cuda_compile_unit(&u, (int)steps, &img, &sizes, &nimg, chunk_of, &e);
      printf("| NVRTC sm_%lld of %s (%d kernels, %d programs) | %.1f s | %s |\n", (long long)steps, names[i], u.nkernels, nimg,
             now_s() - t0, ok ? "cached for the run" : e.msg);
      cuda_unit_free(&u);
      free(chunk_of);
      for (int k = 0; k < nimg; k++) free(img[k]);
      free(img);
      free(sizes);
      if (!ok) goto out;
    }
    rc = 0;
    goto out;
  }
  ps = pstore_init(m, 1);
  if (!ps) { fprintf(stderr, "gpu_bench: out of memory for the parameters\n"); goto out; }
  int64_t nparam = 0;
  for (int p = 0; p < m->nparams; p++) {
    int64_t n = 1;
    for (int d = 0; d < m->params[p].type.rank; d++) n *= m->params[p].type.dims[d].k;
    nparam += n;
  }
  int64_t L = define_int(defs, ndefs, "seq_len", meta_int(m, "seq_len", 128)), vocab = define_int(defs, ndefs, "vocab", 256);
  int64_t layers = define_int(defs, ndefs, "layers", 2), dim = define_int(defs, ndefs, "dim", 128);
  printf("| model build (%s, %lld params) | %.1f s | host: frontend, autodiff, passes |\n", path, (long long)nparam, now_s() - t0);
  st = backend_cuda.open(m, &e);
  if (!st) { fail("open", &e); goto out; }
  if (loop) {
    rc = bench_loop(m, ps, st, steps, L);
    goto out;
  }
  f = ir_func_find(m, train ? "loss.grad" : "ancestral.1");
  if (!f) { fprintf(stderr, "gpu_bench: no function %s\n", train ? "loss.grad" : "ancestral.1"); goto out; }
  if (f->nout > 1024 || f->nargs > 8) { fprintf(stderr, "gpu_bench: unexpected signature of %s\n", f->name); f = NULL; goto out; }
  int xarg = -1;
  for (int id = 0; id < f->nnodes; id++) {
    const Node *n = &f->nodes[id];
    if (n->op != OP_ARG) continue;
    int a = (int)n->attr.i[0];
    if (n->type.rank == 2) { args[a] = tokens(batch, L, vocab); xarg = a; }
    else args[a] = scalar_i64(n->attr.s && strcmp(n->attr.s, "steps") == 0 ? 1000 : a);
  }
  if (train_dev) {
    rc = bench_train_device(m, ps, st, f, args, batch, steps, L, 6.0 * (double)nparam + 6.0 * (double)layers * (double)dim * (double)L);
    goto out;
  }
  t0 = now_s();
  if (!backend_cuda.run(st, f, ps, args, outs, NULL, &e)) { fail("first call", &e); goto out; }
  printf("| %s first call (NVRTC compile + load + run) | %.1f s | |\n", f->name, now_s() - t0);
  double host = 0, dev = 0, up = 0, ms[3];
  int replays = 0;
  const char *gr = getenv("DLM_CUDA_GRAPHS"), *tag = gr && strcmp(gr, "1") == 0 ? " [CUDA graphs]" : "";
  int xout = -1;
  for (int k = 0; k < f->nout; k++)
    if (xarg >= 0 && outs[k]->rank == 2 && outs[k]->dtype == DT_I32) xout = k;
  for (int64_t s = 0; s < steps; s++) {
    if (!train && xout >= 0) { /* feed the new state back */
      tensor_free(args[xarg]);
      args[xarg] = outs[xout];
      outs[xout] = NULL;
      tensor_free(args[1]);
      args[1] = scalar_i64(s + 1);
    }
    for (int k = 0; k < f->nout; k++) { tensor_free(outs[k]); outs[k] = NULL; }
    t0 = now_s();
    if (!backend_cuda.run(st, f, ps, args, outs, NULL, &e)) { fail("run", &e); goto out; }
    host += now_s() - t0;
    backend_cuda_last_times(ms);
    dev += ms[1] / 1e3;
    up += backend_cuda_last_param_bytes();
    replays += backend_cuda_last_graph() == 1;
  }
  char pnote[160];
  snprintf(pnote, sizeof pnote, "parameters resident on the device: %.1f MB uploaded per step (hash check of the host copies each call)%s",
           up / (double)steps / 1e6, *tag ? (replays == steps ? "; every step replayed its graph" : "; graphs NOT replayed") : "");
  if (train) {
    double step = host / (double)steps, dstep = dev / (double)steps, tok = (double)(batch * L);
    double fpt = 6.0 * (double)nparam + 6.0 * (double)layers * (double)dim * (double)L;
    printf("| train step B=%lld L=%lld (loss %.4f)%s | %.1f ms/step | incl. grad download; %s (no optimizer here: a host optimizer changes them every step); device part %.1f ms |\n",
           (long long)batch, (long long)L, outs[0] ? ((float *)outs[0]->data)[0] : 0.0f, tag, step * 1e3, pnote, dstep * 1e3);
    printf("| tokens/s | %.0f | device part only: %.0f |\n", tok / step, tok / dstep);
    printf("| MFU (989 TFLOP/s bf16) | %.2f%% | %.3g FLOPs/token; device part only: %.2f%% |\n", 100 * fpt * tok / step / 989e12, fpt,
           100 * fpt * tok / dstep / 989e12);
  } else {
    double per = host / (double)steps;
    printf("| sampler step (ancestral.1, B=1, L=%lld)%s | %.1f ms/step | device part %.1f ms |\n", (long long)L, tag, per * 1e3, dev / (double)steps * 1e3);
    printf("| sample of %lld tokens, T=1000%s | %.1f s/sample | extrapolated from %lld steps (%s); device part only: %.1f s |\n",
           (long long)L, tag, per * 1000, (long long)steps, pnote, dev / (double)steps * 1000);
    int lt = 0, fb = 0;
    const char *why = "";
    backend_cuda_last_epilogues(&lt, &fb, &why);
    if (!replays) /* a replayed graph does not count them again */
      printf("| gemm epilogues of the sampler step (bias + GELU in cuBLASLt) | %d in cuBLASLt, %d fell back%s%s | %s |\n", lt, fb, fb ? ": " : "",
             why, lt > 0 && fb == 0 ? "PASS" : "FAIL");
  }
  rc = 0;
out:
  for (int k = 0; f && k < f->nout; k++) tensor_free(outs[k]);
  for (int a = 0; a < 8; a++) tensor_free(args[a]);
  if (st) backend_cuda.close(st);
  pstore_free(ps);
  ir_module_free(m);
  return rc;
}
