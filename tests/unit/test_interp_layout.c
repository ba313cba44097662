/* test_interp_layout.c — interpreter kernels for the layout ops (reshape, transpose, broadcast_to,
 * slice, pad, concat, gather, take_along), against values worked out by hand in the comments;
 * out-of-range gather/take_along indices are errors. */
#include "interp_fixture.h"

#define T(dt, ...) tens(dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), SHAPE(__VA_ARGS__)
static const double EXACT = 0;

static void test_reshape_transpose_broadcast(void) {
  /* x = [[1,2,3],[4,5,6]] */
  fx_begin();
  int x = arg("f32[2,3]", T(DT_F32, 2, 3), VALS(1, 2, 3, 4, 5, 6)));
  EXPECT(run(op(OP_RESHAPE, "f32[3,2]", attrs_none(), 1, x), DT_F32), 2, SHAPE(3, 2), VALS(1, 2, 3, 4, 5, 6), EXACT);
  /* x^T = [[1,4],[2,5],[3,6]] */
  EXPECT(run(op(OP_TRANSPOSE, NULL, ia(2, 1, 0), 1, x), DT_F32), 2, SHAPE(3, 2), VALS(1, 4, 2, 5, 3, 6), EXACT);
  fx_end();
  /* y[a][b][c] = 100a + 10b + c for shape [2,2,3]; transpose perm [2,0,1] gives out[c][a][b] = y[a][b][c] */
  fx_begin();
  x = arg("i64[2,2,3]", T(DT_I64, 2, 2, 3), VALS(0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112)));
  EXPECT(run(op(OP_TRANSPOSE, NULL, ia(3, 2, 0, 1), 1, x), DT_F32), 3, SHAPE(3, 2, 2),
         VALS(0, 10, 100, 110, 1, 11, 101, 111, 2, 12, 102, 112), EXACT);
  fx_end();
  /* broadcast_to [3] -> [2,3] and [2,1] -> [2,3] */
  fx_begin();
  x = arg("f32[3]", T(DT_F32, 3), VALS(7, 8, 9)));
  int y = arg("f32[2,1]", T(DT_F32, 2, 1), VALS(1, 2)));
  EXPECT(run(op(OP_BROADCAST, "f32[2,3]", attrs_none(), 1, x), DT_F32), 2, SHAPE(2, 3), VALS(7, 8, 9, 7, 8, 9), EXACT);
  EXPECT(run(op(OP_BROADCAST, "f32[2,3]", attrs_none(), 1, y), DT_F32), 2, SHAPE(2, 3), VALS(1, 1, 1, 2, 2, 2), EXACT);
  fx_end();
}

static void test_slice_pad_concat(void) {
  /* x = [[1,2,3],[4,5,6]] */
  fx_begin();
  int x = arg("f32[2,3]", T(DT_F32, 2, 3), VALS(1, 2, 3, 4, 5, 6)));
  /* axis 1, 0:3:2 -> columns 0 and 2: [[1,3],[4,6]]; axis 0, 1:2:1 -> [[4,5,6]]; axis -1, 1:3:1 -> [[2,3],[5,6]] */
  EXPECT(run(op(OP_SLICE, NULL, ia(4, 1, 0, 3, 2), 1, x), DT_F32), 2, SHAPE(2, 2), VALS(1, 3, 4, 6), EXACT);
  EXPECT(run(op(OP_SLICE, NULL, ia(4, 0, 1, 2, 1), 1, x), DT_F32), 2, SHAPE(1, 3), VALS(4, 5, 6), EXACT);
  EXPECT(run(op(OP_SLICE, NULL, ia(4, -1, 1, 3, 1), 1, x), DT_F32), 2, SHAPE(2, 2), VALS(2, 3, 5, 6), EXACT);
  /* pad axis 1 by 1 before, 2 after: [[0,1,2,3,0,0],[0,4,5,6,0,0]]; axis 0 by 0/1: add a zero row */
  EXPECT(run(op(OP_PAD, NULL, ia(3, 1, 1, 2), 1, x), DT_F32), 2, SHAPE(2, 6), VALS(0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0, 0), EXACT);
  EXPECT(run(op(OP_PAD, NULL, ia(3, 0, 0, 1), 1, x), DT_F32), 2, SHAPE(3, 3), VALS(1, 2, 3, 4, 5, 6, 0, 0, 0), EXACT);
  /* concat along axis 1 of x, [[7],[8]] and x: [[1,2,3,7,1,2,3],[4,5,6,8,4,5,6]] */
  int y = arg("f32[2,1]", T(DT_F32, 2, 1), VALS(7, 8)));
  EXPECT(run(op(OP_CONCAT, NULL, ia(1, 1), 3, x, y, x), DT_F32), 2, SHAPE(2, 7),
         VALS(1, 2, 3, 7, 1, 2, 3, 4, 5, 6, 8, 4, 5, 6), EXACT);
  /* concat along axis 0: [[1,2,3],[4,5,6],[1,2,3],[4,5,6]] */
  EXPECT(run(op(OP_CONCAT, NULL, ia(1, 0), 2, x, x), DT_F32), 2, SHAPE(4, 3), VALS(1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6), EXACT);
  fx_end();
}

static void test_gather_take(void) {
  /* table [[1,2],[3,4],[5,6]], idx [[2,0],[1,1]] -> [[[5,6],[1,2]],[[3,4],[3,4]]] */
  fx_begin();
  int tab = arg("f32[3,2]", T(DT_F32, 3, 2), VALS(1, 2, 3, 4, 5, 6)));
  int idx = arg("i64[2,2]", T(DT_I64, 2, 2), VALS(2, 0, 1, 1)));
  EXPECT(run(op(OP_GATHER, NULL, attrs_none(), 2, tab, idx), DT_F32), 3, SHAPE(2, 2, 2), VALS(5, 6, 1, 2, 3, 4, 3, 4), EXACT);
  fx_end();
  fx_begin();
  tab = arg("f32[3,2]", T(DT_F32, 3, 2), VALS(1, 2, 3, 4, 5, 6)));
  idx = arg("i32[2]", T(DT_I32, 2), VALS(1, 3)));
  EXPECT_ERR(run(op(OP_GATHER, NULL, attrs_none(), 2, tab, idx), DT_F32), "out of range");
  int neg = arg("i32[1]", T(DT_I32, 1), VALS(-1)));
  EXPECT_ERR(run(op(OP_GATHER, NULL, attrs_none(), 2, tab, neg), DT_F32), "out of range");
  fx_end();
  /* take_along x [[10,20,30],[40,50,60]] with idx [[2,0],[1,1]] -> [[30,10],[50,50]] */
  fx_begin();
  int x = arg("f32[2,3]", T(DT_F32, 2, 3), VALS(10, 20, 30, 40, 50, 60)));
  idx = arg("i64[2,2]", T(DT_I64, 2, 2), VALS(2, 0, 1, 1)));
  EXPECT(run(op(OP_TAKE, NULL, attrs_none(), 2, x, idx), DT_F32), 2, SHAPE(2, 2), VALS(30, 10, 50, 50), EXACT);
  int bad = arg("i64[2,1]", T(DT_I64, 2, 1), VALS(0, 3)));
  EXPECT_ERR(run(op(OP_TAKE, NULL, attrs_none(), 2, x, bad), DT_F32), "out of range");
  fx_end();
}

int main(void) {
  test_reshape_transpose_broadcast();
  test_slice_pad_concat();
  test_gather_take();
  return check_summary("test_interp_layout");
}
