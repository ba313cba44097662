/* cpu_forward.c — times one training step's compute (forward + backward: the autodiff function
 * `loss.grad` of a model's `loss`) on a backend, default the compiled CPU backend, and prints the
 * median milliseconds per step and tokens per second with the exact configuration.
 *   cpu_forward [--model models/mdlm.dsl] [--backend cpu] [--layers 2] [--dim 128] [--heads 4]
 *               [--seq 128] [--batch 32] [--vocab 256] [--runs 10]
 * Parameters come from the model's initializers (seed 1); tokens are uniform over the vocabulary. The first run
 * (which compiles the kernels, or loads them from the cache) is not timed. */
#include "autodiff.h"
#include "backend.h"
#include "frontend.h"
#include "passes.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  const char *model = "models/mdlm.dsl", *backend = "cpu";
  long layers = 2, dim = 128, heads = 4, seq = 128, batch = 32, vocab = 256, runs = 10;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    long *dst = !strcmp(a, "--layers") ? &layers : !strcmp(a, "--dim") ? &dim : !strcmp(a, "--heads") ? &heads :
                !strcmp(a, "--seq") ? &seq : !strcmp(a, "--batch") ? &batch : !strcmp(a, "--vocab") ? &vocab :
                !strcmp(a, "--runs") ? &runs : NULL;
    if (v && dst) { *dst = strtol(v, NULL, 10); i++; }
    else if (v && !strcmp(a, "--model")) { model = v; i++; }
    else if (v && !strcmp(a, "--backend")) { backend = v; i++; }
    else { fprintf(stderr, "usage: %s [--model F] [--backend B] [--layers N] [--dim N] [--heads N] [--seq N] [--batch N] [--vocab N] [--runs N]\n", argv[0]); return 2; }
  }
  if (layers < 1 || dim < 1 || heads < 1 || seq < 1 || batch < 1 || vocab < 1 || runs < 1) {
    fprintf(stderr, "cpu_forward: sizes and --runs must be positive\n");
    return 2;
  }
  const Backend *be = backend_find(backend);
  if (!be) { fprintf(stderr, "cpu_forward: unknown backend %s\n", backend); return 2; }
  char sv[6][32];
  snprintf(sv[0], 32, "%ld", vocab);
  snprintf(sv[1], 32, "%ld", seq);
  snprintf(sv[2], 32, "%ld", layers);
  snprintf(sv[3], 32, "%ld", dim);
  snprintf(sv[4], 32, "%ld", heads);
  DslDefine defs[] = {{"vocab", sv[0]}, {"seq_len", sv[1]}, {"layers", sv[2]}, {"dim", sv[3]}, {"heads", sv[4]}};
  Module *m = dsl_compile_file(model, defs, 5, stderr);
  if (!m) return 1;
  DlmErr e = {0};
  Func *loss = ir_func_find(m, "loss");
  Func *g = loss ? ad_grad(m, loss, 0, NULL, 0, 1, &e) : NULL;
  PassOptions po = {0};
  if (!g || !pass_pipeline_run(m, &po, &e)) {
    fprintf(stderr, "cpu_forward: %s\n", loss ? e.msg : "the model has no loss function");
    ir_module_free(m);
    return 1;
  }
  ParamStore *ps = pstore_init(m, 1);
  Tensor *args[3] = {tensor_new(DT_I32, 2, (int64_t[]){batch, seq}), tensor_new(DT_I64, 0, NULL), tensor_new(DT_I64, 0, NULL)};
  uint64_t r = 88172645463325252ull;
  for (int64_t k = 0; k < args[0]->numel; k++) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    ((int32_t *)args[0]->data)[k] = (int32_t)(r % (uint64_t)vocab);
  }
  tensor_set(args[1], 0, 1);
  BackendState *st = be->open(m, &e);
  double *ms = calloc((size_t)runs, sizeof *ms);
  int ok = st && ms;
  Tensor **outs = calloc((size_t)g->nout, sizeof *outs);
  double loss0 = 0;
  for (long i = -1; ok && i < runs; i++) {
    tensor_set(args[2], 0, (double)(i + 1));
    double t0 = now_ms();
    ok = be->run(st, g, ps, args, outs, NULL, &e);
    double t1 = now_ms();
    if (ok && i < 0) loss0 = tensor_get(outs[0], 0);
    if (i >= 0) ms[i] = t1 - t0;
    for (int k = 0; k < g->nout; k++) { tensor_free(outs[k]); outs[k] = NULL; }
  }
  if (ok) {
    qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
    double med = runs % 2 ? ms[runs / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2;
    printf("model=%s fn=loss.grad backend=%s layers=%ld %s=%ld heads=%ld seq_len=%ld batch=%ld vocab=%ld runs=%ld\n", model,
           backend, layers, defs[3].name, dim, heads, seq, batch, vocab, runs);
    printf("first loss %.6f; median %.2f ms/step (min %.2f, max %.2f); %.0f tokens/s\n", loss0, med, ms[0], ms[runs - 1],
           (double)(batch * seq) / (med / 1e3));
  } else fprintf(stderr, "cpu_forward: %s\n", e.msg);
  if (st) be->close(st);
  free(outs);
  free(ms);
  for (int k = 0; k < 3; k++) tensor_free(args[k]);
  pstore_free(ps);
  ir_module_free(m);
  return ok ? 0 : 1;
}
