/* test_interp_reduce.c — interpreter kernels for the reductions (sum, mean, reduce_max, logsumexp,
 * argmax, sum_to), normalizations (softmax, log_softmax, layer_norm) and scans (cumsum, sort_desc),
 * against values worked out by hand in the comments. */
#include "interp_fixture.h"

#define T(dt, ...) tens(dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), SHAPE(__VA_ARGS__)
static const double EXACT = 0;
static const double LN2 = 0.6931471805599453, LN3 = 1.0986122886681098;

static void test_reduce(void) {
  /* x = [[1,2,3],[4,5,6]] */
  fx_begin();
  int x = arg("f32[2,3]", T(DT_F32, 2, 3), VALS(1, 2, 3, 4, 5, 6)));
  EXPECT(run(op(OP_SUM, NULL, ia(2, 0, 0), 1, x), DT_F32), 1, SHAPE(3), VALS(5, 7, 9), EXACT);
  EXPECT(run(op(OP_SUM, NULL, ia(2, -1, 1), 1, x), DT_F32), 2, SHAPE(2, 1), VALS(6, 15), EXACT);
  EXPECT(run(op(OP_MEAN, NULL, ia(2, 1, 0), 1, x), DT_F32), 1, SHAPE(2), VALS(2, 5), EXACT);
  EXPECT(run(op(OP_RMAX, NULL, ia(2, 0, 1), 1, x), DT_F32), 2, SHAPE(1, 3), VALS(4, 5, 6), EXACT);
  fx_end();
  /* integer sum and max: [[3,-1],[2,7]] */
  fx_begin();
  x = arg("i64[2,2]", T(DT_I64, 2, 2), VALS(3, -1, 2, 7)));
  EXPECT(run(op(OP_SUM, NULL, ia(2, 1, 0), 1, x), DT_F32), 1, SHAPE(2), VALS(2, 9), EXACT);
  EXPECT(run(op(OP_RMAX, NULL, ia(2, 0, 0), 1, x), DT_F32), 1, SHAPE(2), VALS(3, 7), EXACT);
  fx_end();
  /* logsumexp([0,0]) = ln 2; logsumexp([1000,1000]) = 1000 + ln 2 (no overflow);
   * logsumexp([-inf,-inf]) = -inf */
  fx_begin();
  x = arg("f64[3,2]", T(DT_F64, 3, 2), VALS(0, 0, 1000, 1000, -INFINITY, -INFINITY)));
  EXPECT(run(op(OP_LOGSUMEXP, NULL, ia(2, 1, 0), 1, x), DT_F64), 1, SHAPE(3), VALS(LN2, 1000 + LN2, -INFINITY), 1e-15);
  fx_end();
  /* argmax returns the first maximum: [1,3,3,2] -> 1; [5,1,5,0] -> 0; declared i32 */
  fx_begin();
  x = arg("f32[2,4]", T(DT_F32, 2, 4), VALS(1, 3, 3, 2, 5, 1, 5, 0)));
  Tensor *t = run(op(OP_ARGMAX, "i32[2]", ia(2, 1, 0), 1, x), DT_F32);
  CHECK(t && t->dtype == DT_I32);
  EXPECT(t, 1, SHAPE(2), VALS(1, 0), EXACT);
  /* along axis 0: columns [1,5] [3,1] [3,5] [2,0] -> [1,0,1,0] */
  EXPECT(run(op(OP_ARGMAX, "i64[4]", ia(2, 0, 0), 1, x), DT_F32), 1, SHAPE(4), VALS(1, 0, 1, 0), EXACT);
  fx_end();
  /* max / argmax / mean over an empty axis are errors; sum over it is 0 */
  fx_begin();
  x = arg("f32[2,0]", T(DT_F32, 2, 0), 0, NULL));
  EXPECT_ERR(run(op(OP_RMAX, NULL, ia(2, 1, 0), 1, x), DT_F32), "empty axis");
  EXPECT_ERR(run(op(OP_ARGMAX, "i64[2]", ia(2, 1, 0), 1, x), DT_F32), "empty axis");
  EXPECT(run(op(OP_SUM, NULL, ia(2, 1, 0), 1, x), DT_F32), 1, SHAPE(2), VALS(0, 0), EXACT);
  fx_end();
}

static void test_sum_to(void) {
  /* [[1,2,3],[4,5,6]] summed to [3] = [5,7,9]; to [2,1] = [6,15]; to [] = 21 */
  fx_begin();
  int x = arg("f32[2,3]", T(DT_F32, 2, 3), VALS(1, 2, 3, 4, 5, 6)));
  EXPECT(run(op(OP_SUM_TO, "f32[3]", attrs_none(), 1, x), DT_F32), 1, SHAPE(3), VALS(5, 7, 9), EXACT);
  EXPECT(run(op(OP_SUM_TO, "f32[2,1]", attrs_none(), 1, x), DT_F32), 2, SHAPE(2, 1), VALS(6, 15), EXACT);
  EXPECT(run(op(OP_SUM_TO, "f32", attrs_none(), 1, x), DT_F32), 0, NULL, VALS(21), EXACT);
  EXPECT(run(op(OP_SUM_TO, "f32[2,3]", attrs_none(), 1, x), DT_F32), 2, SHAPE(2, 3), VALS(1, 2, 3, 4, 5, 6), EXACT);
  fx_end();
}

static void test_softmax_layer_norm(void) {
  /* softmax([0, ln 3]) = [1/4, 3/4]; shifting by 1000 changes nothing (stability) */
  fx_begin();
  int x = arg("f64[2,2]", T(DT_F64, 2, 2), VALS(0, LN3, 1000, 1000 + LN3)));
  EXPECT(run(op(OP_SOFTMAX, NULL, ia(1, -1), 1, x), DT_F64), 2, SHAPE(2, 2), VALS(0.25, 0.75, 0.25, 0.75), 1e-12);
  /* log_softmax = [ln 1/4, ln 3/4] = [-1.3862943611198906, -0.2876820724517809] */
  EXPECT(run(op(OP_LOG_SOFTMAX, NULL, ia(1, 1), 1, x), DT_F64), 2, SHAPE(2, 2),
         VALS(-1.3862943611198906, -0.2876820724517809, -1.3862943611198906, -0.2876820724517809), 1e-12);
  fx_end();
  /* softmax along axis 0 of [[0,5],[ln 3, 5]]: columns [0, ln 3] -> [1/4, 3/4]; [5,5] -> [1/2, 1/2] */
  fx_begin();
  x = arg("f64[2,2]", T(DT_F64, 2, 2), VALS(0, 5, LN3, 5)));
  EXPECT(run(op(OP_SOFTMAX, NULL, ia(1, 0), 1, x), DT_F64), 2, SHAPE(2, 2), VALS(0.25, 0.5, 0.75, 0.5), 1e-12);
  fx_end();
  /* layer_norm([1,2,3,4]): mean 2.5, biased variance (2.25+0.25+0.25+2.25)/4 = 1.25.
   * eps = 1: sqrt(1.25 + 1) = 1.5 -> [-1, -1/3, 1/3, 1].
   * eps = 0: 1/sqrt(1.25) = 0.894427191 -> [-1.3416407865, -0.4472135955, 0.4472135955, 1.3416407865] */
  fx_begin();
  x = arg("f64[2,4]", T(DT_F64, 2, 4), VALS(1, 2, 3, 4, 10, 20, 30, 40)));
  /* second row: mean 25, variance 125, eps 1 -> sqrt(126) = 11.224972160321824 */
  const double s = 11.224972160321824;
  EXPECT(run(op(OP_LAYER_NORM, NULL, fa(1), 1, x), DT_F64), 2, SHAPE(2, 4),
         VALS(-1, -1.0 / 3, 1.0 / 3, 1, -15 / s, -5 / s, 5 / s, 15 / s), 1e-12);
  EXPECT(run(op(OP_LAYER_NORM, NULL, fa(0), 1, x), DT_F64), 2, SHAPE(2, 4),
         VALS(-1.3416407864998738, -0.4472135954999579, 0.4472135954999579, 1.3416407864998738,
              -1.3416407864998738, -0.4472135954999579, 0.4472135954999579, 1.3416407864998738), 1e-12);
  fx_end();
}

static void test_scans(void) {
  /* cumsum of [[1,2,3],[4,5,6]] along axis 1: [[1,3,6],[4,9,15]]; along axis 0: [[1,2,3],[5,7,9]] */
  fx_begin();
  int x = arg("f32[2,3]", T(DT_F32, 2, 3), VALS(1, 2, 3, 4, 5, 6)));
  EXPECT(run(op(OP_CUMSUM, NULL, ia(1, 1), 1, x), DT_F32), 2, SHAPE(2, 3), VALS(1, 3, 6, 4, 9, 15), EXACT);
  EXPECT(run(op(OP_CUMSUM, NULL, ia(1, 0), 1, x), DT_F32), 2, SHAPE(2, 3), VALS(1, 2, 3, 5, 7, 9), EXACT);
  fx_end();
  fx_begin();
  x = arg("i32[4]", T(DT_I32, 4), VALS(5, -2, 7, 0)));
  EXPECT(run(op(OP_CUMSUM, NULL, ia(1, 0), 1, x), DT_F32), 1, SHAPE(4), VALS(5, 3, 10, 10), EXACT);
  /* sort_desc [5,-2,7,0] -> [7,5,0,-2] */
  EXPECT(run(op(OP_SORT_DESC, NULL, attrs_none(), 1, x), DT_F32), 1, SHAPE(4), VALS(7, 5, 0, -2), EXACT);
  fx_end();
  /* rows sorted independently: [[3,1,2,3],[NaN,0.5,9,-1]] -> [[3,3,2,1],[NaN,9,0.5,-1]] (NaN first) */
  fx_begin();
  x = arg("f64[2,4]", T(DT_F64, 2, 4), VALS(3, 1, 2, 3, NAN, 0.5, 9, -1)));
  EXPECT(run(op(OP_SORT_DESC, NULL, attrs_none(), 1, x), DT_F64), 2, SHAPE(2, 4), VALS(3, 3, 2, 1, NAN, 9, 0.5, -1), EXACT);
  fx_end();
  /* stability is visible with +0 and -0 (equal keys): [0, -0, 1, -0, 0] -> [1, 0, -0, -0, 0] */
  fx_begin();
  x = arg("f64[5]", T(DT_F64, 5), VALS(0.0, -0.0, 1, -0.0, 0.0)));
  Tensor *t = run(op(OP_SORT_DESC, NULL, attrs_none(), 1, x), DT_F64);
  CHECK(t && tensor_get(t, 0) == 1);
  CHECK(t && !signbit(tensor_get(t, 1)) && signbit(tensor_get(t, 2)) && signbit(tensor_get(t, 3)) && !signbit(tensor_get(t, 4)));
  tensor_free(t);
  fx_end();
}

int main(void) {
  test_reduce();
  test_sum_to();
  test_softmax_layer_norm();
  test_scans();
  return check_summary("test_interp_reduce");
}
