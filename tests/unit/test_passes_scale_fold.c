/* test_passes_scale_fold.c — the example pass: mul(mul(x, a), b) becomes mul(x, a*b) in either
 * operand order; exactly equal results when a constant is a power of two, within rounding
 * otherwise; no rewrite when a constant would change the shape; a shared inner product stays. */
#include "passes_check.h"

static const int64_t S23[2] = {2, 3};
static const int64_t S3[1] = {3};

static void test_chain(double a, double b, double tol) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  Type s = type_scalar(DT_F32);
  int x = ir_arg(m, f, "x", pc_type(DT_F32, 2, S23), pc_loc(1));
  int inner = pc_op(m, f, OP_MUL, pc_const(m, f, s, a), x);
  int outer = pc_op(m, f, OP_MUL, inner, pc_const(m, f, s, b));
  ir_set_outputs(m, f, 1, &outer, NULL);
  int changes;
  double d = pc_pass_diff(m, pass_scale_fold, NULL, 1, DT_F64, &changes);
  CHECK_MSG(d >= 0 && d <= tol, "a=%g b=%g diff=%g", a, b, d);
  CHECK(changes == 1);
  const Node *n = &f->nodes[f->outs[0]];
  double v;
  CHECK(n->op == OP_MUL && n->in[0] == x && node_const_value(f, n->in[1], &v) && v == a * b);
  ir_module_free(m);
}

static void test_not_applicable(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  Type s = type_scalar(DT_F32);
  int v = ir_arg(m, f, "v", pc_type(DT_F32, 1, S3), pc_loc(1));
  /* the inner constant broadcasts v up to [2,3]: a*b would not keep the shape of v */
  int inner = pc_op(m, f, OP_MUL, v, pc_const(m, f, pc_type(DT_F32, 2, S23), 2));
  int outer = pc_op(m, f, OP_MUL, inner, pc_const(m, f, s, 4));
  /* a shared inner product: the outer one is rewritten, the inner one stays for its other use */
  int w = ir_arg(m, f, "w", pc_type(DT_F32, 1, S3), pc_loc(1));
  int in2 = pc_op(m, f, OP_MUL, w, pc_const(m, f, s, 3));
  int out2 = pc_op(m, f, OP_MUL, pc_const(m, f, s, 0.5), in2);
  int outs[3] = {outer, out2, in2};
  ir_set_outputs(m, f, 3, outs, NULL);
  int changes;
  CHECK(pc_pass_diff(m, pass_scale_fold, NULL, 1, DT_F64, &changes) == 0);
  CHECK(changes == 1);
  CHECK(f->nodes[f->outs[0]].in[0] == inner);
  CHECK(f->nodes[f->outs[1]].in[0] == w);
  CHECK(f->nodes[f->outs[2]].op == OP_MUL && f->nodes[f->outs[2]].in[0] == w);
  ir_module_free(m);
}

/* x*2*3*0.25 folds in one sweep (the second rewrite sees the first): mul(x, 1.5). */
static void test_long_chain(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  Type s = type_scalar(DT_F32);
  int x = ir_arg(m, f, "x", pc_type(DT_F32, 2, S23), pc_loc(1));
  int y = pc_op(m, f, OP_MUL, x, pc_const(m, f, s, 2));
  y = pc_op(m, f, OP_MUL, y, pc_const(m, f, s, 3));
  y = pc_op(m, f, OP_MUL, pc_const(m, f, s, 0.25), y);
  ir_set_outputs(m, f, 1, &y, NULL);
  int changes;
  CHECK(pc_pass_diff(m, pass_scale_fold, NULL, 1, DT_F64, &changes) == 0);
  CHECK(changes == 2);
  const Node *n = &f->nodes[f->outs[0]];
  double v;
  CHECK(n->in[0] == x && node_const_value(f, n->in[1], &v) && v == 1.5);
  ir_module_free(m);
}

/* The whole pipeline turns x*2*0.5 into x: scale_fold makes x*1, fold forwards x, dce cleans up. */
static void test_pipeline_to_identity(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  Type s = type_scalar(DT_F32);
  int x = ir_arg(m, f, "x", pc_type(DT_F32, 2, S23), pc_loc(1));
  int y = pc_op(m, f, OP_MUL, pc_op(m, f, OP_MUL, x, pc_const(m, f, s, 2)), pc_const(m, f, s, 0.5));
  ir_set_outputs(m, f, 1, &y, NULL);
  DlmErr e = {0};
  CHECK(pass_pipeline_run(m, NULL, &e));
  CHECK(f->nnodes == 1 && f->outs[0] == 0);
  ir_module_free(m);
}

int main(void) {
  test_chain(2, 0.25, 0);
  test_chain(0.125, 3, 0);
  test_chain(3, 5.5, 1e-15);
  test_chain(0.1, 0.7, 1e-15);
  test_not_applicable();
  test_long_chain();
  test_pipeline_to_identity();
  return check_summary("test_passes_scale_fold");
}
