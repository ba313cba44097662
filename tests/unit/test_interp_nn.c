/* test_interp_nn.c — interpreter kernels for the contractions: batched matmul with transposes and
 * broadcast batch dims, and attention with scale, masks (broadcast, fully masked rows) and heads,
 * against values worked out by hand in the comments. */
#include "interp_fixture.h"

#define T(dt, ...) tens(dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), SHAPE(__VA_ARGS__)
static const double EXACT = 0;
static const double LN3 = 1.0986122886681098;

static void test_matmul(void) {
  /* [[1,2,3],[4,5,6]] @ [[7,8],[9,10],[11,12]] = [[58,64],[139,154]] */
  fx_begin();
  int a = arg("f32[2,3]", T(DT_F32, 2, 3), VALS(1, 2, 3, 4, 5, 6)));
  int b = arg("f32[3,2]", T(DT_F32, 3, 2), VALS(7, 8, 9, 10, 11, 12)));
  int at = arg("f32[3,2]", T(DT_F32, 3, 2), VALS(1, 4, 2, 5, 3, 6)));     /* a^T */
  int bt = arg("f32[2,3]", T(DT_F32, 2, 3), VALS(7, 9, 11, 8, 10, 12)));  /* b^T */
  EXPECT(run(op(OP_MATMUL, NULL, ia(2, 0, 0), 2, a, b), DT_F32), 2, SHAPE(2, 2), VALS(58, 64, 139, 154), EXACT);
  EXPECT(run(op(OP_MATMUL, NULL, ia(2, 1, 0), 2, at, b), DT_F32), 2, SHAPE(2, 2), VALS(58, 64, 139, 154), EXACT);
  EXPECT(run(op(OP_MATMUL, NULL, ia(2, 0, 1), 2, a, bt), DT_F32), 2, SHAPE(2, 2), VALS(58, 64, 139, 154), EXACT);
  EXPECT(run(op(OP_MATMUL, NULL, ia(2, 1, 1), 2, at, bt), DT_F32), 2, SHAPE(2, 2), VALS(58, 64, 139, 154), EXACT);
  fx_end();
  /* batch broadcast: a [2,1,2] = {[1,2]}, {[3,4]}; b [2,1] = [[1],[10]] shared: [[[21]],[[43]]] */
  fx_begin();
  a = arg("i64[2,1,2]", T(DT_I64, 2, 1, 2), VALS(1, 2, 3, 4)));
  b = arg("i64[2,1]", T(DT_I64, 2, 1), VALS(1, 10)));
  EXPECT(run(op(OP_MATMUL, NULL, ia(2, 0, 0), 2, a, b), DT_F32), 3, SHAPE(2, 1, 1), VALS(21, 43), EXACT);
  fx_end();
  /* both batch dims broadcast: a [2,1,1,1] = 1, 2; b [3,1,1] = 10, 20, 30 -> out [2,3,1,1] = a*b */
  fx_begin();
  a = arg("f64[2,1,1,1]", T(DT_F64, 2, 1, 1, 1), VALS(1, 2)));
  b = arg("f64[3,1,1]", T(DT_F64, 3, 1, 1), VALS(10, 20, 30)));
  EXPECT(run(op(OP_MATMUL, NULL, ia(2, 0, 0), 2, a, b), DT_F64), 4, SHAPE(2, 3, 1, 1), VALS(10, 20, 30, 20, 40, 60), EXACT);
  fx_end();
}

static void test_attention(void) {
  /* q = [[1],[1]] (Lq 2, D 1), k = [[0],[ln 3]], v = [[4],[8]], scale 1:
   * scores per row [0, ln 3] -> softmax [1/4, 3/4] -> 1 + 6 = 7 */
  fx_begin();
  int q = arg("f64[1,2,1]", T(DT_F64, 1, 2, 1), VALS(1, 1)));
  int k = arg("f64[1,2,1]", T(DT_F64, 1, 2, 1), VALS(0, LN3)));
  int v = arg("f64[1,2,1]", T(DT_F64, 1, 2, 1), VALS(4, 8)));
  EXPECT(run(op(OP_ATTENTION, NULL, fa(1), 3, q, k, v), DT_F64), 3, SHAPE(1, 2, 1), VALS(7, 7), 1e-12);
  /* scale 2 on scores [0, ln 3] -> [0, ln 9] -> softmax [1/10, 9/10] -> 0.4 + 7.2 = 7.6 */
  EXPECT(run(op(OP_ATTENTION, NULL, fa(2), 3, q, k, v), DT_F64), 3, SHAPE(1, 2, 1), VALS(7.6, 7.6), 1e-12);
  /* causal mask [[1,0],[1,1]]: row 0 only sees key 0 -> 4; row 1 sees both -> 7 */
  int mask = arg("bool[2,2]", T(DT_BOOL, 2, 2), VALS(1, 0, 1, 1)));
  EXPECT(run(op(OP_ATTENTION, NULL, fa(1), 4, q, k, v, mask), DT_F64), 3, SHAPE(1, 2, 1), VALS(4, 7), 1e-12);
  /* fully masked row 0 ([0,0]) gives a zero output row; a rank-1 mask [0,1] broadcasts over rows -> 8 */
  int m2 = arg("bool[2,2]", T(DT_BOOL, 2, 2), VALS(0, 0, 1, 1)));
  EXPECT(run(op(OP_ATTENTION, NULL, fa(1), 4, q, k, v, m2), DT_F64), 3, SHAPE(1, 2, 1), VALS(0, 7), 1e-12);
  int m3 = arg("bool[2]", T(DT_BOOL, 2), VALS(0, 1)));
  EXPECT(run(op(OP_ATTENTION, NULL, fa(1), 4, q, k, v, m3), DT_F64), 3, SHAPE(1, 2, 1), VALS(8, 8), 1e-12);
  fx_end();
  /* two heads sharing k/v (batch broadcast), D = 2, Dv = 2: q head 0 = [[0,0]] (uniform weights ->
   * mean of v rows), head 1 = [[ln 3, 0]] with k = [[0,0],[1,0]] -> scores [0, ln 3] -> [1/4, 3/4].
   * v = [[4,0],[8,2]]: head 0 -> [6,1]; head 1 -> [1+6, 0+1.5] = [7,1.5] */
  fx_begin();
  q = arg("f32[2,1,2]", T(DT_F32, 2, 1, 2), VALS(0, 0, LN3, 0)));
  k = arg("f32[2,2]", T(DT_F32, 2, 2), VALS(0, 0, 1, 0)));
  v = arg("f32[2,2]", T(DT_F32, 2, 2), VALS(4, 0, 8, 2)));
  EXPECT(run(op(OP_ATTENTION, NULL, fa(1), 3, q, k, v), DT_F32), 3, SHAPE(2, 1, 2), VALS(6, 1, 7, 1.5), 1e-6);
  fx_end();
}

int main(void) {
  test_matmul();
  test_attention();
  return check_summary("test_interp_nn");
}
