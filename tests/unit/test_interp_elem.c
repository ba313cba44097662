/* test_interp_elem.c — interpreter kernels for the source and elementwise ops (const, iota,
 * rand_uniform, unary math, cast, binary with numpy broadcasting, comparisons, logic, where),
 * against values worked out by hand in the comments. */
#include "interp_fixture.h"

#define T(dt, ...) tens(dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), SHAPE(__VA_ARGS__)
static const double F32 = 1e-6, EXACT = 0;

static void test_binary_broadcast(void) {
  /* [[1,2,3],[4,5,6]] + [10,20,30] = [[11,22,33],[14,25,36]] */
  fx_begin();
  int a = arg("f32[2,3]", T(DT_F32, 2, 3), VALS(1, 2, 3, 4, 5, 6)));
  int b = arg("f32[3]", T(DT_F32, 3), VALS(10, 20, 30)));
  EXPECT(run(op(OP_ADD, NULL, attrs_none(), 2, a, b), DT_F32), 2, SHAPE(2, 3), VALS(11, 22, 33, 14, 25, 36), EXACT);
  fx_end();
  /* column [100,200] (shape [2,1]) - row [1,2,3] (shape [1,3]) = [[99,98,97],[199,198,197]] */
  fx_begin();
  a = arg("f64[2,1]", T(DT_F64, 2, 1), VALS(100, 200)));
  b = arg("f64[1,3]", T(DT_F64, 1, 3), VALS(1, 2, 3)));
  EXPECT(run(op(OP_SUB, NULL, attrs_none(), 2, a, b), DT_F64), 2, SHAPE(2, 3), VALS(99, 98, 97, 199, 198, 197), EXACT);
  fx_end();
  /* scalar broadcast: [1,2,3] * 2.5 (rank 0) = [2.5,5,7.5]; [1,2,3] / 4 = [0.25,0.5,0.75] */
  fx_begin();
  a = arg("f32[3]", T(DT_F32, 3), VALS(1, 2, 3)));
  b = arg("f32", tens(DT_F32, 0, NULL, VALS(2.5)));
  EXPECT(run(op(OP_MUL, NULL, attrs_none(), 2, a, b), DT_F32), 1, SHAPE(3), VALS(2.5, 5, 7.5), EXACT);
  int c = op(OP_CONST, "f32", fa(4), 0);
  EXPECT(run(op(OP_DIV, NULL, attrs_none(), 2, a, c), DT_F32), 1, SHAPE(3), VALS(0.25, 0.5, 0.75), EXACT);
  fx_end();
}

static void test_binary_float(void) {
  fx_begin();
  int a = arg("f64[4]", T(DT_F64, 4), VALS(5.5, -5.5, 2, 3)));
  int b = arg("f64[4]", T(DT_F64, 4), VALS(2, 2, 10, -1)));
  /* floor modulo takes the divisor's sign: 5.5 mod 2 = 1.5; -5.5 mod 2 = 0.5; 2 mod 10 = 2; 3 mod -1 = 0 */
  EXPECT(run(op(OP_MOD, NULL, attrs_none(), 2, a, b), DT_F64), 1, SHAPE(4), VALS(1.5, 0.5, 2, 0), EXACT);
  /* pow: 5.5^2 = 30.25, (-5.5)^2 = 30.25, 2^10 = 1024, 3^-1 = 1/3 */
  EXPECT(run(op(OP_POW, NULL, attrs_none(), 2, a, b), DT_F64), 1, SHAPE(4), VALS(30.25, 30.25, 1024, 1.0 / 3), 1e-15);
  EXPECT(run(op(OP_MAXIMUM, NULL, attrs_none(), 2, a, b), DT_F64), 1, SHAPE(4), VALS(5.5, 2, 10, 3), EXACT);
  EXPECT(run(op(OP_MINIMUM, NULL, attrs_none(), 2, a, b), DT_F64), 1, SHAPE(4), VALS(2, -5.5, 2, -1), EXACT);
  fx_end();
}

static void test_binary_int(void) {
  /* floor division and modulo: 7/2=3 r1; -7/2=-4 r1; 7/-2=-4 r-1; -7/-2=3 r-1 */
  fx_begin();
  int a = arg("i64[4]", T(DT_I64, 4), VALS(7, -7, 7, -7)));
  int b = arg("i64[4]", T(DT_I64, 4), VALS(2, 2, -2, -2)));
  EXPECT(run(op(OP_DIV, NULL, attrs_none(), 2, a, b), DT_F32), 1, SHAPE(4), VALS(3, -4, -4, 3), EXACT);
  EXPECT(run(op(OP_MOD, NULL, attrs_none(), 2, a, b), DT_F32), 1, SHAPE(4), VALS(1, 1, -1, -1), EXACT);
  /* 7^2 = 49, (-7)^2 = 49 */
  int two = op(OP_CONST, "i64", fa(2), 0);
  EXPECT(run(op(OP_POW, NULL, attrs_none(), 2, a, two), DT_F32), 1, SHAPE(4), VALS(49, 49, 49, 49), EXACT);
  fx_end();
  /* i32 arithmetic wraps: 2147483647 + 1 = -2147483648; 3^4 = 81 */
  fx_begin();
  a = arg("i32[2]", T(DT_I32, 2), VALS(2147483647, 3)));
  b = arg("i32[2]", T(DT_I32, 2), VALS(1, 4)));
  Tensor *t = run(op(OP_ADD, NULL, attrs_none(), 2, a, b), DT_F32);
  CHECK(t && t->dtype == DT_I32 && ((int32_t *)t->data)[0] == INT32_MIN && ((int32_t *)t->data)[1] == 7);
  tensor_free(t);
  EXPECT(run(op(OP_POW, NULL, attrs_none(), 2, a, b), DT_F32), 1, SHAPE(2), VALS(2147483647, 81), EXACT);
  fx_end();
  /* division and modulo by zero are errors; a negative integer power too */
  fx_begin();
  a = arg("i64[2]", T(DT_I64, 2), VALS(1, 2)));
  b = arg("i64[2]", T(DT_I64, 2), VALS(1, 0)));
  EXPECT_ERR(run(op(OP_DIV, NULL, attrs_none(), 2, a, b), DT_F32), "division by zero");
  EXPECT_ERR(run(op(OP_MOD, NULL, attrs_none(), 2, a, b), DT_F64), "division by zero");
  int m1 = op(OP_CONST, "i64", fa(-1), 0);
  EXPECT_ERR(run(op(OP_POW, NULL, attrs_none(), 2, a, m1), DT_F32), "negative");
  fx_end();
}

static void test_compare_logic_where(void) {
  fx_begin();
  int a = arg("f32[3]", T(DT_F32, 3), VALS(1, 2, 3)));
  int b = arg("f32", tens(DT_F32, 0, NULL, VALS(2)));
  /* [1,2,3] against 2 */
  EXPECT(run(op(OP_EQ, NULL, attrs_none(), 2, a, b), DT_F32), 1, SHAPE(3), VALS(0, 1, 0), EXACT);
  EXPECT(run(op(OP_NE, NULL, attrs_none(), 2, a, b), DT_F32), 1, SHAPE(3), VALS(1, 0, 1), EXACT);
  EXPECT(run(op(OP_LT, NULL, attrs_none(), 2, a, b), DT_F32), 1, SHAPE(3), VALS(1, 0, 0), EXACT);
  EXPECT(run(op(OP_LE, NULL, attrs_none(), 2, a, b), DT_F32), 1, SHAPE(3), VALS(1, 1, 0), EXACT);
  EXPECT(run(op(OP_GT, NULL, attrs_none(), 2, a, b), DT_F32), 1, SHAPE(3), VALS(0, 0, 1), EXACT);
  Tensor *t = run(op(OP_GE, NULL, attrs_none(), 2, a, b), DT_F32);
  CHECK(t && t->dtype == DT_BOOL);
  EXPECT(t, 1, SHAPE(3), VALS(0, 1, 1), EXACT);
  fx_end();
  fx_begin();
  int p = arg("bool[4]", T(DT_BOOL, 4), VALS(0, 0, 1, 1)));
  int q = arg("bool[4]", T(DT_BOOL, 4), VALS(0, 1, 0, 1)));
  EXPECT(run(op(OP_AND, NULL, attrs_none(), 2, p, q), DT_F32), 1, SHAPE(4), VALS(0, 0, 0, 1), EXACT);
  EXPECT(run(op(OP_OR, NULL, attrs_none(), 2, p, q), DT_F32), 1, SHAPE(4), VALS(0, 1, 1, 1), EXACT);
  EXPECT(run(op(OP_NOT, NULL, attrs_none(), 1, p), DT_F32), 1, SHAPE(4), VALS(1, 1, 0, 0), EXACT);
  fx_end();
  /* where(cond [2,1], x [2,2], y scalar): rows picked by cond: [[1,2],[-1,-1]] */
  fx_begin();
  int c = arg("bool[2,1]", T(DT_BOOL, 2, 1), VALS(1, 0)));
  int x = arg("i64[2,2]", T(DT_I64, 2, 2), VALS(1, 2, 3, 4)));
  int y = op(OP_CONST, "i64", fa(-1), 0);
  EXPECT(run(op(OP_WHERE, NULL, attrs_none(), 3, c, x, y), DT_F32), 2, SHAPE(2, 2), VALS(1, 2, -1, -1), EXACT);
  fx_end();
}

static void test_unary(void) {
  fx_begin();
  int x = arg("f64[3]", T(DT_F64, 3), VALS(0, 1, -2)));
  const double e1 = 2.718281828459045, e2inv = 0.1353352832366127; /* e, e^-2 */
  EXPECT(run(op(OP_EXP, NULL, attrs_none(), 1, x), DT_F64), 1, SHAPE(3), VALS(1, e1, e2inv), 1e-15);
  EXPECT(run(op(OP_NEG, NULL, attrs_none(), 1, x), DT_F64), 1, SHAPE(3), VALS(0, -1, 2), EXACT);
  EXPECT(run(op(OP_ABS, NULL, attrs_none(), 1, x), DT_F64), 1, SHAPE(3), VALS(0, 1, 2), EXACT);
  /* log1p(0)=0, log1p(1)=ln 2, log1p(-2)=NaN; expm1(0)=0, expm1(1)=e-1, expm1(-2)=e^-2-1 */
  EXPECT(run(op(OP_LOG1P, NULL, attrs_none(), 1, x), DT_F64), 1, SHAPE(3), VALS(0, 0.6931471805599453, NAN), 1e-15);
  EXPECT(run(op(OP_EXPM1, NULL, attrs_none(), 1, x), DT_F64), 1, SHAPE(3), VALS(0, e1 - 1, e2inv - 1), 1e-15);
  /* tanh(1) = (e^2-1)/(e^2+1) = 0.7615941559557649 */
  EXPECT(run(op(OP_TANH, NULL, attrs_none(), 1, x), DT_F64), 1, SHAPE(3), VALS(0, 0.7615941559557649, -0.9640275800758169), 1e-15);
  /* sigmoid(0)=1/2, sigmoid(1)=1/(1+e^-1)=0.7310585786300049, sigmoid(-2)=1/(1+e^2)=0.11920292202211755 */
  EXPECT(run(op(OP_SIGMOID, NULL, attrs_none(), 1, x), DT_F64), 1, SHAPE(3), VALS(0.5, 0.7310585786300049, 0.11920292202211755), 1e-15);
  /* silu = x*sigmoid(x): 0, 0.7310585786300049, -0.2384058440442351 */
  EXPECT(run(op(OP_SILU, NULL, attrs_none(), 1, x), DT_F64), 1, SHAPE(3), VALS(0, 0.7310585786300049, -0.2384058440442351), 1e-15);
  /* gelu_tanh(1) = 0.5*(1+tanh(0.7978845608*(1+0.044715))) = 0.5*(1+tanh(0.8335594)) = 0.8411919906082768
   * gelu_tanh(-2) = -1*(1+tanh(0.7978845608*(-2-0.35772))) = -0.04540230591222494 */
  EXPECT(run(op(OP_GELU_TANH, NULL, attrs_none(), 1, x), DT_F64), 1, SHAPE(3), VALS(0, 0.8411919906082768, -0.04540230591222494), 1e-12);
  /* log_ndtr(x) = log Phi(x) = log(erfc(-x/sqrt 2)/2): log(1/2) at 0; Phi(1) = 0.8413447460685429,
   * Phi(-2) = 0.022750131948179195; the tails (mpmath, 40 digits: log(ncdf(x))): x = 8 (the
   * log1p branch), -15 (erfc), -30 and -1000 (the asymptotic series) */
  EXPECT(run(op(OP_LOG_NDTR, NULL, attrs_none(), 1, x), DT_F64), 1, SHAPE(3), VALS(-0.6931471805599453, -0.17275377902344989, -3.78318433368203195), 1e-15);
  fx_end();
  fx_begin();
  x = arg("f64[4]", T(DT_F64, 4), VALS(8, -15, -30, -1000)));
  Tensor *ln = run(op(OP_LOG_NDTR, NULL, attrs_none(), 1, x), DT_F64);
  CHECK(ln != NULL);
  if (ln) {
    CHECK_NEAR(tensor_get(ln, 0) / -6.22096057427178606e-16, 1, 1e-14);
    CHECK_NEAR(tensor_get(ln, 1) / -116.131384845711695, 1, 1e-14);
    CHECK_NEAR(tensor_get(ln, 2) / -454.321243956343197, 1, 1e-14);
    CHECK_NEAR(tensor_get(ln, 3) / -500007.826694812184, 1, 1e-14);
    tensor_free(ln);
  }
  fx_end();
  fx_begin();
  x = arg("f64[3]", T(DT_F64, 3), VALS(0, 1, -2)));
  /* sin(0)=0, sin(1)=0.8414709848078965; cos(-2)=-0.4161468365471424 */
  EXPECT(run(op(OP_SIN, NULL, attrs_none(), 1, x), DT_F64), 1, SHAPE(3), VALS(0, 0.8414709848078965, -0.9092974268256817), 1e-15);
  EXPECT(run(op(OP_COS, NULL, attrs_none(), 1, x), DT_F64), 1, SHAPE(3), VALS(1, 0.5403023058681398, -0.4161468365471424), 1e-15);
  fx_end();
  fx_begin();
  x = arg("f32[3]", T(DT_F32, 3), VALS(4, 0.25, -1.5)));
  EXPECT(run(op(OP_SQRT, NULL, attrs_none(), 1, x), DT_F32), 1, SHAPE(3), VALS(2, 0.5, NAN), EXACT);
  EXPECT(run(op(OP_RSQRT, NULL, attrs_none(), 1, x), DT_F32), 1, SHAPE(3), VALS(0.5, 2, NAN), EXACT);
  EXPECT(run(op(OP_FLOOR, NULL, attrs_none(), 1, x), DT_F32), 1, SHAPE(3), VALS(4, 0, -2), EXACT);
  /* log(4) = 2 ln 2 = 1.3862943611198906, log(0.25) = -1.3862943611198906 */
  EXPECT(run(op(OP_LOG, NULL, attrs_none(), 1, x), DT_F32), 1, SHAPE(3), VALS(1.3862943611198906, -1.3862943611198906, NAN), F32);
  fx_end();
  /* integer neg/abs (wrapping at the i64 minimum is not exercised: -(-3) = 3) */
  fx_begin();
  x = arg("i64[2]", T(DT_I64, 2), VALS(-3, 5)));
  EXPECT(run(op(OP_NEG, NULL, attrs_none(), 1, x), DT_F32), 1, SHAPE(2), VALS(3, -5), EXACT);
  EXPECT(run(op(OP_ABS, NULL, attrs_none(), 1, x), DT_F32), 1, SHAPE(2), VALS(3, 5), EXACT);
  fx_end();
}

static void test_cast(void) {
  fx_begin();
  int x = arg("f32[4]", T(DT_F32, 4), VALS(1.75, -1.75, 0, 3)));
  /* float -> int truncates toward zero; -> bool is != 0 */
  EXPECT(run(op(OP_CAST, "i32[4]", attrs_none(), 1, x), DT_F32), 1, SHAPE(4), VALS(1, -1, 0, 3), EXACT);
  EXPECT(run(op(OP_CAST, "bool[4]", attrs_none(), 1, x), DT_F32), 1, SHAPE(4), VALS(1, 1, 0, 1), EXACT);
  /* 1.75 is exact in bf16 and f16; 3 too */
  EXPECT(run(op(OP_CAST, "bf16[4]", attrs_none(), 1, x), DT_F32), 1, SHAPE(4), VALS(1.75, -1.75, 0, 3), EXACT);
  fx_end();
  fx_begin();
  x = arg("bool[2]", T(DT_BOOL, 2), VALS(1, 0)));
  EXPECT(run(op(OP_CAST, "f64[2]", attrs_none(), 1, x), DT_F64), 1, SHAPE(2), VALS(1, 0), EXACT);
  fx_end();
  /* i64 -> i32 wraps: 2^32 + 5 -> 5; out-of-range float -> int is an error */
  fx_begin();
  x = arg("i64[1]", T(DT_I64, 1), VALS(4294967301.0)));
  EXPECT(run(op(OP_CAST, "i32[1]", attrs_none(), 1, x), DT_F32), 1, SHAPE(1), VALS(5), EXACT);
  fx_end();
  fx_begin();
  x = arg("f32[1]", T(DT_F32, 1), VALS(3e9)));
  EXPECT_ERR(run(op(OP_CAST, "i32[1]", attrs_none(), 1, x), DT_F32), "out of range");
  fx_end();
}

static void test_sources(void) {
  fx_begin();
  EXPECT(run(op(OP_CONST, "f32[2,2]", fa(0.5), 0), DT_F32), 2, SHAPE(2, 2), VALS(0.5, 0.5, 0.5, 0.5), EXACT);
  /* iota along axis 1 of [2,3]: [[0,1,2],[0,1,2]]; along axis 0 (-2): [[0,0,0],[1,1,1]] */
  EXPECT(run(op(OP_IOTA, "i32[2,3]", ia(1, 1), 0), DT_F32), 2, SHAPE(2, 3), VALS(0, 1, 2, 0, 1, 2), EXACT);
  EXPECT(run(op(OP_IOTA, "f32[2,3]", ia(1, -2), 0), DT_F32), 2, SHAPE(2, 3), VALS(0, 0, 0, 1, 1, 1), EXACT);
  fx_end();
  /* rand_uniform with seed 0, offset 0, stream 0: element 0 uses counter {0,0,0,0}, key {0,0}, whose
   * Philox output is {0x6627e8d5, 0xe169c58d, ...} (Random123 kat vector):
   * f32 form (0x6627e8d5 >> 8) / 2^24 = 6694888 / 16777216; f64 form (0x6627e8d5e169c58d >> 11) / 2^53. */
  fx_begin();
  int seed = arg("i64", tens(DT_I64, 0, NULL, VALS(0)));
  int off = arg("i64", tens(DT_I64, 0, NULL, VALS(0)));
  Tensor *t = run(op(OP_RAND, "f32[3]", ia(1, 0), 2, seed, off), DT_F32);
  CHECK(t && tensor_get(t, 0) == 6694888.0 / 16777216.0);
  for (int j = 0; t && j < 3; j++) CHECK(tensor_get(t, j) >= 0 && tensor_get(t, j) < 1);
  CHECK(t && tensor_get(t, 1) != tensor_get(t, 2));
  tensor_free(t);
  t = run(op(OP_RAND, "f64[2]", ia(1, 0), 2, seed, off), DT_F64);
  CHECK(t && tensor_get(t, 0) == (double)(0x6627e8d5e169c58dull >> 11) / 9007199254740992.0);
  tensor_free(t);
  /* another stream gives other numbers */
  t = run(op(OP_RAND, "f32[1]", ia(1, 1), 2, seed, off), DT_F32);
  CHECK(t && tensor_get(t, 0) != 6694888.0 / 16777216.0);
  tensor_free(t);
  fx_end();
}

int main(void) {
  test_binary_broadcast();
  test_binary_float();
  test_binary_int();
  test_compare_logic_where();
  test_unary();
  test_cast();
  test_sources();
  return check_summary("test_interp_elem");
}
