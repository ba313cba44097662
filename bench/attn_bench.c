/* attn_bench.c — times the CPU backend's attention kernels at the training benchmark's shapes:
 * the forward attention(q, k, split_heads(v)) read by its merge_heads transpose, and autodiff's
 * gradient of sum(merge_heads(attention) * w) for q, k and v's argument (the fused backward; the
 * function also recomputes the forward). Prints the minimum over runs of each call's wall time,
 * which includes copying the outputs out; DLM_CPU_PROFILE=1 gives the kernels' own times.
 *   attn_bench [--batch 32] [--heads 4] [--seq 128] [--head-dim 32] [--runs 30]
 * Inputs are uniform in [-0.5, 0.5); the first call (which compiles or loads the kernels) is not
 * timed. */
#include "autodiff.h"
#include "backend.h"
#include "passes.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static Type f32_4(int b_sym, int64_t d1, int64_t d2, int64_t d3) {
  Type t = {DT_F32, 4, {dim_sym(b_sym), dim_const(d1), dim_const(d2), dim_const(d3)}};
  return t;
}

static int emit(Module *m, Func *f, OpKind op, Attrs a, int nin, const int *in) {
  DlmErr e = {0};
  int id = ir_emit(m, f, op, NULL, nin, in, &a, (SrcLoc){0, 0, 0}, &e);
  if (id < 0) {
    fprintf(stderr, "attn_bench: %s: %s\n", op_info[op].name, e.msg);
    exit(1);
  }
  return id;
}

static Attrs perm_0213(void) {
  Attrs a = attrs_none();
  a.ni = 4;
  a.i[0] = 0, a.i[1] = 2, a.i[2] = 1, a.i[3] = 3;
  return a;
}

int main(int argc, char **argv) {
  int64_t batch = 32, heads = 4, seq = 128, hd = 32;
  int runs = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    int64_t v = atoll(argv[i + 1]);
    if (!strcmp(argv[i], "--batch")) batch = v;
    else if (!strcmp(argv[i], "--heads")) heads = v;
    else if (!strcmp(argv[i], "--seq")) seq = v;
    else if (!strcmp(argv[i], "--head-dim")) hd = v;
    else if (!strcmp(argv[i], "--runs")) runs = (int)v;
    else {
      fprintf(stderr, "attn_bench: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (batch < 1 || heads < 1 || seq < 1 || hd < 1 || runs < 1) {
    fprintf(stderr, "attn_bench: sizes and --runs must be positive\n");
    return 2;
  }
  Module *m = ir_module_new("attn_bench");
  Func *f = ir_func_new(m, "f");
  int b = ir_sym(m, "B");
  SrcLoc nl = {0, 0, 0};
  int q = ir_arg(m, f, "q", f32_4(b, heads, seq, hd), nl), k = ir_arg(m, f, "k", f32_4(b, heads, seq, hd), nl);
  int vr = ir_arg(m, f, "v", f32_4(b, seq, heads, hd), nl), w = ir_arg(m, f, "w", f32_4(b, seq, heads, hd), nl);
  int v = emit(m, f, OP_TRANSPOSE, perm_0213(), 1, &vr);
  Attrs sc = attrs_none();
  sc.f[0] = 1 / sqrt((double)hd);
  int att = emit(m, f, OP_ATTENTION, sc, 3, (int[]){q, k, v});
  int o = emit(m, f, OP_TRANSPOSE, perm_0213(), 1, &att);
  int x = emit(m, f, OP_MUL, attrs_none(), 2, (int[]){o, w});
  for (int ax = 3; ax >= 0; ax--) {
    Attrs r = attrs_none();
    r.ni = 2;
    r.i[0] = ax, r.i[1] = 0;
    x = emit(m, f, OP_SUM, r, 1, &x);
  }
  ir_set_outputs(m, f, 1, &x, NULL);
  DlmErr e = {0};
  if (!ad_grad(m, f, 0, (const int[]){0, 1, 2}, 3, 0, &e)) {
    fprintf(stderr, "attn_bench: ad_grad: %s\n", e.msg);
    return 1;
  }
  ir_set_outputs(m, f, 1, &o, NULL);
  PassOptions po = {0};
  if (!pass_pipeline_run(m, &po, &e)) {
    fprintf(stderr, "attn_bench: passes: %s\n", e.msg);
    return 1;
  }
  Tensor *args[4];
  uint64_t s = 0x9e3779b97f4a7c15ull;
  for (int a = 0; a < 4; a++) {
    const int64_t *sh = a < 2 ? (const int64_t[]){batch, heads, seq, hd} : (const int64_t[]){batch, seq, heads, hd};
    args[a] = tensor_new(DT_F32, 4, sh);
    for (int64_t j = 0; j < args[a]->numel; j++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      tensor_set(args[a], j, (double)(s >> 11) * 0x1p-53 - 0.5);
    }
  }
  BackendState *st = backend_cpu.open(m, &e);
  if (!st) {
    fprintf(stderr, "attn_bench: %s\n", e.msg);
    return 1;
  }
  const Func *fs[2] = {ir_func_find(m, "f"), ir_func_find(m, "f.grad")};
  const char *what[2] = {"forward (attention + merge_heads)", "backward (recomputed forward + fused backward)"};
  double mflop[2] = {4e-6 * batch * heads * seq * seq * hd, 14e-6 * batch * heads * seq * seq * hd};
  printf("batch=%lld heads=%lld seq=%lld head_dim=%lld runs=%d\n", (long long)batch, (long long)heads, (long long)seq,
         (long long)hd, runs);
  for (int i = 0; i < 2; i++) {
    double best = 1e30;
    for (int r = 0; r <= runs; r++) {
      Tensor *out[3] = {0};
      double t0 = now_ms();
      if (!backend_cpu.run(st, fs[i], NULL, args, out, NULL, &e)) {
        fprintf(stderr, "attn_bench: %s\n", e.msg);
        return 1;
      }
      double t = now_ms() - t0;
      if (r > 0 && t < best) best = t;
      for (int j = 0; j < fs[i]->nout; j++) tensor_free(out[j]);
    }
    printf("%-48s min %7.3f ms  (%.0f MFLOP of products: %.1f GFLOP/s)\n", what[i], best, mflop[i], mflop[i] / best);
  }
  backend_cpu.close(st);
  for (int a = 0; a < 4; a++) tensor_free(args[a]);
  ir_module_free(m);
  return 0;
}
