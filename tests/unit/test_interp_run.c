/* test_interp_run.c — the interpreter driver: binding shape symbols from argument shapes, argument
 * checks (count, dtype, rank, dims, i32 range), unbound symbols, float32 vs float64 mode rounding
 * (also through bf16/f16), output dtypes, several outputs, and that values no output needs are
 * never evaluated. */
#include "interp_fixture.h"

#define T(dt, ...) tens(dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), SHAPE(__VA_ARGS__)
static const double EXACT = 0;

static void test_binding(void) {
  /* f32[B,3] bound by a [2,3] tensor: the row sums have shape [B] = [2] */
  fx_begin();
  int x = arg("f32[B,3]", T(DT_F32, 2, 3), VALS(1, 2, 3, 4, 5, 6)));
  EXPECT(run(op(OP_SUM, NULL, ia(2, 1, 0), 1, x), DT_F32), 1, SHAPE(2), VALS(6, 15), EXACT);
  fx_end();
  /* f32[B*L] comes first and cannot be bound alone; i64[B] (2 elements) binds B = 2, then L = 6/2 = 3:
   * iota over [L] = [0,1,2] */
  fx_begin();
  arg("f32[B*L]", T(DT_F32, 6), 0, NULL));
  arg("i64[B]", T(DT_I64, 2), 0, NULL));
  EXPECT(run(op(OP_IOTA, "i64[L]", ia(1, 0), 0), DT_F32), 1, SHAPE(3), VALS(0, 1, 2), EXACT);
  fx_end();
  /* 2*B with an odd size cannot bind */
  fx_begin();
  x = arg("f32[2*B]", T(DT_F32, 5), 0, NULL));
  EXPECT_ERR(run(op(OP_NEG, NULL, attrs_none(), 1, x), DT_F32), "inconsistent");
  fx_end();
  /* B bound to 2 by the first argument, then 3 by the second */
  fx_begin();
  x = arg("f32[B]", T(DT_F32, 2), 0, NULL));
  int y = arg("f32[B]", T(DT_F32, 3), 0, NULL));
  EXPECT_ERR(run(op(OP_ADD, NULL, attrs_none(), 2, x, y), DT_F32), "dim 0 is 3, inconsistent with its declared type f32[B] where B = 2");
  fx_end();
  /* a symbol no argument binds */
  fx_begin();
  arg("f32[B]", T(DT_F32, 2), 0, NULL));
  EXPECT_ERR(run(op(OP_IOTA, "i64[L]", ia(1, 0), 0), DT_F32), "symbol L is not bound");
  fx_end();
}

static void test_arg_checks(void) {
  fx_begin();
  int x = arg("f32[3]", T(DT_F32, 4), 0, NULL));
  EXPECT_ERR(run(op(OP_NEG, NULL, attrs_none(), 1, x), DT_F32), "dim 0 is 4");
  fx_end();
  fx_begin();
  x = arg("f32[3]", T(DT_F32, 1, 3), 0, NULL));
  EXPECT_ERR(run(op(OP_NEG, NULL, attrs_none(), 1, x), DT_F32), "rank 2, expected 1");
  fx_end();
  fx_begin();
  x = arg("i64[3]", T(DT_F32, 3), 0, NULL));
  EXPECT_ERR(run(op(OP_NEG, NULL, attrs_none(), 1, x), DT_F32), "not convertible to i64");
  fx_end();
  /* i32 and bool tensors convert to i64; an i64 value beyond the i32 range does not fit an i32 arg */
  fx_begin();
  x = arg("i64[2]", T(DT_I32, 2), VALS(-5, 7)));
  EXPECT(run(op(OP_NEG, NULL, attrs_none(), 1, x), DT_F32), 1, SHAPE(2), VALS(5, -7), EXACT);
  fx_end();
  fx_begin();
  x = arg("i32[2]", T(DT_I64, 2), VALS(1, 3000000000.0)));
  EXPECT_ERR(run(op(OP_NEG, NULL, attrs_none(), 1, x), DT_F32), "does not fit in i32");
  fx_end();
  /* a missing argument tensor */
  fx_begin();
  x = arg("f32[2]", NULL);
  EXPECT_ERR(run(op(OP_NEG, NULL, attrs_none(), 1, x), DT_F32), "missing");
  fx_end();
}

static void test_modes(void) {
  /* (1 + 1e-8) - 1: float32 rounds 1 + 1e-8 to 1 (spacing 2^-23 ~ 1.2e-7), so the result is 0;
   * float64 keeps it: 1e-8 up to the double rounding of 1 + 1e-8 (~1.1e-16 absolute). */
  fx_begin();
  int one = arg("f32", tens(DT_F32, 0, NULL, VALS(1)));
  int tiny = op(OP_CONST, "f32", fa(1e-8), 0);
  int d = op(OP_SUB, NULL, attrs_none(), 2, op(OP_ADD, NULL, attrs_none(), 2, one, tiny), one);
  Tensor *t = run(d, DT_F32);
  CHECK(t && t->dtype == DT_F32 && tensor_get(t, 0) == 0);
  tensor_free(t);
  t = run(d, DT_F64);
  CHECK(t && t->dtype == DT_F64 && fabs(tensor_get(t, 0) - 1e-8) < 1e-15);
  tensor_free(t);
  fx_end();
  /* bf16 keeps 8 significant bits: 1.01 -> 1 + 2^-7 = 1.0078125 (nearest). f16 keeps 11: 1.001 ->
   * 1 + 2^-10 = 1.0009765625, and 1.01 -> 1 + 10 * 2^-10 = 1.009765625 (0.01 * 1024 = 10.24). Only in f32 mode; f64 mode does not round. */
  fx_begin();
  int x = arg("f64[2]", T(DT_F64, 2), VALS(1.01, 1.001)));
  int b = op(OP_CAST, "bf16[2]", attrs_none(), 1, x);
  int h = op(OP_CAST, "f16[2]", attrs_none(), 1, x);
  t = run(b, DT_F32);
  CHECK(t && t->dtype == DT_F32);
  EXPECT(t, 1, SHAPE(2), VALS(1.0078125, 1.0), EXACT);
  EXPECT(run(h, DT_F32), 1, SHAPE(2), VALS(1.009765625, 1.0009765625), EXACT);
  EXPECT(run(b, DT_F64), 1, SHAPE(2), VALS(1.01, 1.001), EXACT);
  fx_end();
  /* an f32 argument value is rounded to float32 on entry in f32 mode: 0.1 -> 0.100000001490116... */
  fx_begin();
  x = arg("f32", tens(DT_F64, 0, NULL, VALS(0.1)));
  t = run(x, DT_F32);
  CHECK(t && tensor_get(t, 0) == (double)0.1f);
  tensor_free(t);
  t = run(x, DT_F64);
  CHECK(t && tensor_get(t, 0) == 0.1);
  tensor_free(t);
  EXPECT_ERR(run(x, DT_I32), "mode");
  fx_end();
}

static void test_outputs_and_liveness(void) {
  fx_begin();
  int a = arg("i64[2]", T(DT_I64, 2), VALS(6, 9)));
  int z = op(OP_CONST, "i64[2]", fa(0), 0);
  op(OP_DIV, NULL, attrs_none(), 2, a, z); /* division by zero, but no output needs it */
  int n = op(OP_NEG, NULL, attrs_none(), 1, a);
  int c = op(OP_CAST, "f32[2]", attrs_none(), 1, n);
  int i32 = op(OP_CAST, "i32[2]", attrs_none(), 1, a);
  int outs[4] = {c, n, c, i32};
  ir_set_outputs(M, F, 4, outs, NULL);
  Tensor *res[4];
  memset(&E, 0, sizeof E);
  CHECK(interp_run(M, F, NULL, ARGS, res, DT_F64, &E));
  CHECK(res[0] && res[0]->dtype == DT_F64 && res[1]->dtype == DT_I64 && res[2] != res[0] && res[3]->dtype == DT_I32);
  EXPECT(res[0], 1, SHAPE(2), VALS(-6, -9), EXACT);
  EXPECT(res[1], 1, SHAPE(2), VALS(-6, -9), EXACT);
  EXPECT(res[2], 1, SHAPE(2), VALS(-6, -9), EXACT);
  EXPECT(res[3], 1, SHAPE(2), VALS(6, 9), EXACT);
  fx_end();
}

/* a hand-corrupted graph (an input that is defined after its user) is an error, not a crash */
static void test_malformed(void) {
  fx_begin();
  int x = arg("f32[2]", T(DT_F32, 2), 0, NULL));
  int n = op(OP_NEG, NULL, attrs_none(), 1, x);
  int a = op(OP_ABS, NULL, attrs_none(), 1, x);
  int y = op(OP_ADD, NULL, attrs_none(), 2, n, a);
  F->nodes[n].in[0] = a; /* %1 now reads %2 */
  EXPECT_ERR(run(y, DT_F32), "not defined before it");
  fx_end();
}

int main(void) {
  test_binding();
  test_arg_checks();
  test_modes();
  test_outputs_and_liveness();
  test_malformed();
  return check_summary("test_interp_run");
}
