/* test_cpu_workspace.c — one compiled CPU function called again and again on one backend state
 * with the batch changing between calls (3, 700, 3, 700, 701 rows): the workspace keeps its plan
 * and must plan again whenever a size changes (growing it, or keeping a larger one), and the
 * parallel loops (a static share of 7/8 of the rows per thread, then chunks of the rest) and the
 * per-thread sums added across the threads must give the interpreter's values at every size:
 * 700 rows of 64 are above the threading threshold, 3 rows below it. */
#include "interp_fixture.h"
#include "test_cpu_fixture.h"

#define NCOL 64

/* x [B,64], w [64,64]: a = x*x; m = a w; s = rowsum(m); t = m - s; outputs tanh(t), s and the
 * column sums of t*x (a sum over the rows next to an elementwise output) */
static void build(void) {
  int x = arg("f32[B,64]", cpu_rand_tensor(DT_F32, 2, SHAPE(3, NCOL), -1, 1));
  int w = arg("f32[64,64]", cpu_rand_tensor(DT_F32, 2, SHAPE(NCOL, NCOL), -0.2, 0.2));
  int a = op(OP_MUL, NULL, attrs_none(), 2, x, x);
  int m = op(OP_MATMUL, NULL, ia(2, 0, 0), 2, a, w);
  int s = op(OP_SUM, NULL, ia(2, 1, 1), 1, m);
  int t = op(OP_SUB, NULL, attrs_none(), 2, m, s);
  int u = op(OP_TANH, NULL, attrs_none(), 1, t);
  int tx = op(OP_MUL, NULL, attrs_none(), 2, t, x);
  int c = op(OP_SUM_TO, "f32[64]", attrs_none(), 1, tx);
  int outs[3] = {u, s, c};
  ir_set_outputs(M, F, 3, outs, NULL);
}

int main(void) {
  cpu_test_env();
  fx_begin();
  build();
  DlmErr e = {0};
  CHECK_MSG(ir_verify_func(M, F, &e), "invalid function: %s", e.msg);
  BackendState *st = backend_cpu.open(M, &e);
  CHECK_MSG(st != NULL, "cpu open: %s", e.msg);
  const int64_t rows[] = {3, 700, 3, 700, 701};
  for (int i = 0; st && i < (int)(sizeof rows / sizeof rows[0]); i++) {
    tensor_free(ARGS[0]);
    ARGS[0] = cpu_rand_tensor(DT_F32, 2, SHAPE(rows[i], NCOL), -1, 1);
    char what[64];
    snprintf(what, sizeof what, "call %d (B = %lld)", i + 1, (long long)rows[i]);
    cpu_compare(what, M, F, st, NULL, ARGS, CPU_TOL);
  }
  if (st) backend_cpu.close(st);
  fx_end();
  return check_summary("test_cpu_workspace");
}
