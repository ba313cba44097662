/* test_interp_identities.c — cross-checks of the interpreter kernels on pseudo-random inputs in
 * float64 mode: each fused kernel (attention, softmax, log_softmax, logsumexp, layer_norm, matmul
 * with transpose flags, sum_to) equals the same math composed from simpler ops. */
#include "interp_fixture.h"

/* A tensor of uniform values in [lo, hi) from the Philox stream `stream`. */
static Tensor *rnd(DType dt, int rank, const int64_t *shape, uint32_t stream, double lo, double hi) {
  Tensor *t = tensor_new(dt, rank, shape);
  for (int64_t i = 0; i < t->numel; i++) tensor_set(t, i, lo + (hi - lo) * philox_uniform(7, 0, stream, (uint64_t)i, 1));
  return t;
}

/* Run both outputs in f64 mode and require them to agree elementwise within tol. */
static void same_at(int line, int a, int b, double tol) {
  int outs[2] = {a, b};
  ir_set_outputs(M, F, 2, outs, NULL);
  Tensor *r[2];
  memset(&E, 0, sizeof E);
  if (!interp_run(M, F, NULL, ARGS, r, DT_F64, &E)) {
    check_failed++;
    fprintf(stderr, "line %d: run failed: %s\n", line, E.msg);
    return;
  }
  int ok = tensor_same_shape(r[0], r[1]);
  double worst = 0;
  for (int64_t i = 0; ok && i < r[0]->numel; i++) {
    double d = fabs(tensor_get(r[0], i) - tensor_get(r[1], i));
    if (!(d <= worst)) worst = d;
  }
  CHECK_MSG(ok && worst <= tol, "line %d: shapes %s, max difference %g", line, ok ? "agree" : "differ", worst);
  tensor_free(r[0]);
  tensor_free(r[1]);
}
#define SAME(a, b, tol) same_at(__LINE__, (a), (b), (tol))

static int un(OpKind k, int x) { return op(k, NULL, attrs_none(), 1, x); }
static int bin(OpKind k, int x, int y) { return op(k, NULL, attrs_none(), 2, x, y); }

static void test_softmax_family(void) {
  fx_begin();
  int x = arg("f64[3,5]", rnd(DT_F64, 2, SHAPE(3, 5), 1, -4, 4));
  /* softmax = exp(log_softmax); logsumexp = log(sum(exp x)); log_softmax = x - logsumexp(keepdim) */
  SAME(op(OP_SOFTMAX, NULL, ia(1, 1), 1, x), un(OP_EXP, op(OP_LOG_SOFTMAX, NULL, ia(1, 1), 1, x)), 1e-14);
  SAME(op(OP_LOGSUMEXP, NULL, ia(2, 0, 0), 1, x), un(OP_LOG, op(OP_SUM, NULL, ia(2, 0, 0), 1, un(OP_EXP, x))), 1e-13);
  SAME(op(OP_LOG_SOFTMAX, NULL, ia(1, -1), 1, x), bin(OP_SUB, x, op(OP_LOGSUMEXP, NULL, ia(2, -1, 1), 1, x)), 1e-13);
  /* layer_norm = (x - mean) / sqrt(mean((x - mean)^2) + eps) */
  int mu = op(OP_MEAN, NULL, ia(2, -1, 1), 1, x);
  int d = bin(OP_SUB, x, mu);
  int var = op(OP_MEAN, NULL, ia(2, -1, 1), 1, bin(OP_MUL, d, d));
  int eps = op(OP_CONST, "f64", fa(1e-5), 0);
  SAME(op(OP_LAYER_NORM, NULL, fa(1e-5), 1, x), bin(OP_MUL, d, un(OP_RSQRT, bin(OP_ADD, var, eps))), 1e-13);
  fx_end();
}

static void test_matmul_sum_to(void) {
  fx_begin();
  int a = arg("f64[2,3,4]", rnd(DT_F64, 3, SHAPE(2, 3, 4), 2, -1, 1));
  int b = arg("f64[4,5]", rnd(DT_F64, 2, SHAPE(4, 5), 3, -1, 1));
  int ab = op(OP_MATMUL, NULL, ia(2, 0, 0), 2, a, b);
  int at = op(OP_TRANSPOSE, NULL, ia(3, 0, 2, 1), 1, a); /* [2,4,3] */
  int bt = op(OP_TRANSPOSE, NULL, ia(2, 1, 0), 1, b);    /* [5,4] */
  SAME(ab, op(OP_MATMUL, NULL, ia(2, 1, 1), 2, at, bt), 1e-14);
  /* matmul = sum over k of a[..., :, k, None] * b[None, k, :], via broadcasting */
  int a4 = op(OP_RESHAPE, "f64[2,3,4,1]", attrs_none(), 1, a);
  SAME(ab, op(OP_SUM, NULL, ia(2, 2, 0), 1, bin(OP_MUL, a4, b)), 1e-14);
  /* sum_to of a broadcast: each of the 2*3 copies of b's rows adds once -> 6 * b */
  int bb = op(OP_BROADCAST, "f64[2,3,4,5]", attrs_none(), 1, b);
  SAME(op(OP_SUM_TO, "f64[4,5]", attrs_none(), 1, bb), bin(OP_MUL, b, op(OP_CONST, "f64", fa(6), 0)), 1e-14);
  fx_end();
}

static void test_attention_composed(void) {
  /* heads [2], Lq 3, Lk 4, D 5, Dv 2; k and v shared by the heads; mask [3,4] with one fully
   * masked query row (row 0): attention gives 0 there, the composition gives NaN (0/0), so compare
   * rows 1..2 only. */
  fx_begin();
  int q = arg("f64[2,3,5]", rnd(DT_F64, 3, SHAPE(2, 3, 5), 4, -1, 1));
  int k = arg("f64[4,5]", rnd(DT_F64, 2, SHAPE(4, 5), 5, -1, 1));
  int v = arg("f64[4,2]", rnd(DT_F64, 2, SHAPE(4, 2), 6, -1, 1));
  int m = arg("bool[3,4]", tens(DT_BOOL, 2, SHAPE(3, 4), VALS(0, 0, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1)));
  int att = op(OP_ATTENTION, NULL, fa(0.7), 4, q, k, v, m);
  int s = bin(OP_MUL, op(OP_MATMUL, NULL, ia(2, 0, 1), 2, q, k), op(OP_CONST, "f64", fa(0.7), 0));
  int s2 = op(OP_WHERE, NULL, attrs_none(), 3, m, s, op(OP_CONST, "f64", fa(-INFINITY), 0));
  int ref = op(OP_MATMUL, NULL, ia(2, 0, 0), 2, op(OP_SOFTMAX, NULL, ia(1, -1), 1, s2), v);
  SAME(op(OP_SLICE, NULL, ia(4, 1, 1, 3, 1), 1, att), op(OP_SLICE, NULL, ia(4, 1, 1, 3, 1), 1, ref), 1e-14);
  SAME(op(OP_SLICE, NULL, ia(4, 1, 0, 1, 1), 1, att), op(OP_CONST, "f64[2,1,2]", fa(0), 0), 0);
  fx_end();
}

int main(void) {
  test_softmax_family();
  test_matmul_sum_to();
  test_attention_composed();
  return check_summary("test_interp_identities");
}
