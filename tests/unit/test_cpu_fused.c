/* test_cpu_fused.c — the CPU backend's multi-node kernels against the interpreter (f32 mode), each
 * also checked to be present in the generated source (so the comparison exercises it):
 *   an elementwise value read several times within one fused group, computed in that group;
 *   the folded weight gradient: sum_to(matmul(A, B, ta = 1), over the batch) as one product with
 *   the batch folded into the contraction, and the same shapes left unfolded when the matmul
 *   itself is also an output;
 *   the fused attention backward: autodiff's gradient of attention with a mask that blanks a query
 *   row, without a mask, and with only some of dQ, dK, dV wanted, after the pass pipeline. */
#include "autodiff.h"
#include "cpu_emit.h"
#include "interp_fixture.h"
#include "passes.h"
#include "test_cpu_fixture.h"

/* 1 if the generated source of f contains frag */
static int source_has(const Func *f, const char *frag) { return cpu_source_count(M, f, frag) > 0; }

static void compare(const char *what, const Func *f) { cpu_compare_new(what, M, f, ARGS, CPU_TOL); }

/* sum_to over the batch of A_b^T B_b, B = 4, in dtype dt: f32 is folded into one product unless
 * the matmul is an output too; bf16 (stored as float, the same fp32 gemm) is not folded, so it is
 * called only with also_output */
static void test_folded(const char *dt, DType t, int also_output) {
  fx_begin();
  char ta[32], tb[32], ts[32], what[96];
  snprintf(ta, sizeof ta, "%s[B,6,3]", dt);
  snprintf(tb, sizeof tb, "%s[B,6,5]", dt);
  snprintf(ts, sizeof ts, "%s[3,5]", dt);
  int a = arg(ta, cpu_rand_tensor(t, 3, SHAPE(4, 6, 3), -1, 1));
  int b = arg(tb, cpu_rand_tensor(t, 3, SHAPE(4, 6, 5), -1, 1));
  int mm = op(OP_MATMUL, NULL, ia(2, 1, 0), 2, a, b);
  int s = op(OP_SUM_TO, ts, attrs_none(), 1, mm);
  int outs[2] = {s, mm};
  ir_set_outputs(M, F, also_output ? 2 : 1, outs, NULL);
  int folded = source_has(F, "folded here");
  CHECK_MSG(folded == !also_output, "%s folded matmul: %s in the source", dt, folded ? "present" : "absent");
  snprintf(what, sizeof what, "%s %s", dt, also_output ? "sum_to of a matmul that is an output" : "folded sum_to(matmul)");
  compare(what, F);
  fx_end();
}

/* loss = sum(attention(q, k, v[, mask]) * w) over q, k, v [B=2, 3, 5, 4]; the gradient function
 * for the arguments listed in wrt (0 q, 1 k, 2 v), after the passes */
static void test_attention_bw(int masked, const int *wrt, int nwrt) {
  fx_begin();
  const int64_t *sh = SHAPE(2, 3, 5, 4);
  int q = arg("f32[B,3,5,4]", cpu_rand_tensor(DT_F32, 4, sh, -1.5, 1.5));
  int k = arg("f32[B,3,5,4]", cpu_rand_tensor(DT_F32, 4, sh, -1.5, 1.5));
  int v = arg("f32[B,3,5,4]", cpu_rand_tensor(DT_F32, 4, sh, -1, 1));
  int w = arg("f32[B,3,5,4]", cpu_rand_tensor(DT_F32, 4, sh, -1, 1));
  int att;
  if (masked) {
    /* query row 3 sees no key; the others a band around the diagonal and key 0 */
    Tensor *mt = tensor_new(DT_BOOL, 2, SHAPE(5, 5));
    for (int i = 0; i < 5; i++)
      for (int j = 0; j < 5; j++) tensor_set(mt, i * 5 + j, i != 3 && (j == 0 || (j >= i - 1 && j <= i + 1)));
    int mask = arg("bool[5,5]", mt);
    att = op(OP_ATTENTION, NULL, fa(0.45), 4, q, k, v, mask);
  } else att = op(OP_ATTENTION, NULL, fa(0.45), 3, q, k, v);
  int x = op(OP_MUL, NULL, attrs_none(), 2, att, w);
  for (int ax = 3; ax >= 0; ax--) x = op(OP_SUM, NULL, ia(2, ax, 0), 1, x);
  ir_set_outputs(M, F, 1, &x, NULL);
  Func *g = cpu_grad_passes(M, F, wrt, nwrt);
  if (g) {
    char what[96];
    snprintf(what, sizeof what, "attention backward (%s, %d gradients)", masked ? "masked" : "no mask", nwrt);
    CHECK_MSG(source_has(g, "fused attention backward"), "%s: no fused kernel in the source", what);
    compare(what, g);
  }
  fx_end();
}

/* t = tanh(x) read three times by one elementwise group is computed inside its loop; read also
 * by a reduction, it keeps its own kernel */
static void test_multi_use(int also_reduced) {
  fx_begin();
  int x = arg("f32[B,7]", cpu_rand_tensor(DT_F32, 2, SHAPE(3, 7), -2, 2));
  int t = op(OP_TANH, NULL, attrs_none(), 1, x);
  int y = op(OP_ADD, NULL, attrs_none(), 2, op(OP_MUL, NULL, attrs_none(), 2, t, t), op(OP_MUL, NULL, attrs_none(), 2, t, x));
  int outs[2] = {y, op(OP_SUM, NULL, ia(2, 1, 0), 1, t)};
  ir_set_outputs(M, F, also_reduced ? 2 : 1, outs, NULL);
  char frag[64];
  snprintf(frag, sizeof frag, "fused here: %%%d = tanh", t);
  int fused = source_has(F, frag);
  CHECK_MSG(fused == !also_reduced, "tanh read three times: %s", fused ? "fused" : "not fused");
  compare(also_reduced ? "multi-use value also reduced" : "multi-use value fused", F);
  fx_end();
}

int main(void) {
  cpu_test_env();
  test_multi_use(0);
  test_multi_use(1);
  test_folded("f32", DT_F32, 0);
  test_folded("f32", DT_F32, 1);
  test_folded("bf16", DT_BF16, 1);
  test_attention_bw(1, (const int[]){0, 1, 2}, 3);
  test_attention_bw(0, (const int[]){0, 1, 2}, 3);
  test_attention_bw(1, (const int[]){0}, 1);
  test_attention_bw(1, (const int[]){1, 2}, 2);
  return check_summary("test_cpu_fused");
}
