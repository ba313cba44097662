/* test_passes_fold.c — constant folding and the algebraic identities: which nodes fold, to which
 * values (worked out by hand), what must not fold, and that the interpreter gives exactly the same
 * outputs before and after the pass (float64 mode) on random inputs. */
#include "passes_check.h"

static const int64_t S23[2] = {2, 3};
static const int64_t S3[1] = {3};

/* value of output k if it is a const, else NAN */
static double out_const(const Func *f, int k) {
  double v;
  return node_const_value(f, f->outs[k], &v) ? v : NAN;
}

static void test_constants(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  Type s32 = type_scalar(DT_F32), si = type_scalar(DT_I32);
  int six = pc_op(m, f, OP_MUL, pc_const(m, f, s32, 2), pc_const(m, f, s32, 3));      /* 6 */
  int neg = pc_op(m, f, OP_NEG, six, -1);                                               /* -6 */
  int fdiv = pc_op(m, f, OP_DIV, pc_const(m, f, si, 7), pc_const(m, f, si, -2));        /* floor(-3.5) = -4 */
  int fmod = pc_op(m, f, OP_MOD, pc_const(m, f, si, 7), pc_const(m, f, si, -2));        /* 7 - (-2)(-4) = -1 */
  int lt = pc_op(m, f, OP_LT, pc_const(m, f, s32, 1), pc_const(m, f, s32, 2));          /* true */
  int ex = pc_op(m, f, OP_EXP, pc_const(m, f, s32, 0), -1);                             /* 1 */
  int lg = pc_op(m, f, OP_LOG, pc_const(m, f, s32, 0), -1);                             /* -inf: stays */
  int bc = pc_op(m, f, OP_ADD, pc_const(m, f, pc_type(DT_F32, 2, S23), 1.5), six);      /* 7.5 over [2,3] */
  int outs[8] = {six, neg, fdiv, fmod, lt, ex, lg, bc};
  ir_set_outputs(m, f, 8, outs, NULL);
  int changes;
  double d = pc_pass_diff(m, pass_fold, NULL, 1, DT_F64, &changes);
  CHECK(d == 0);
  CHECK(changes == 7);
  CHECK(out_const(f, 0) == 6);
  CHECK(out_const(f, 1) == -6);
  CHECK(out_const(f, 2) == -4);
  CHECK(out_const(f, 3) == -1);
  CHECK(out_const(f, 4) == 1 && f->nodes[f->outs[4]].type.dtype == DT_BOOL);
  CHECK(out_const(f, 5) == 1);
  CHECK(f->nodes[f->outs[6]].op == OP_LOG);
  CHECK(out_const(f, 7) == 7.5 && f->nodes[f->outs[7]].type.rank == 2);
  DlmErr e = {0};
  CHECK(pass_fold(m, &e) == 0);  /* nothing left to fold */
  ir_module_free(m);
}

static void test_identities(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  Type t23 = pc_type(DT_F32, 2, S23), t3 = pc_type(DT_F32, 1, S3), s32 = type_scalar(DT_F32);
  int x = ir_arg(m, f, "x", t23, pc_loc(1));
  int v = ir_arg(m, f, "v", t3, pc_loc(1));
  int a = pc_op(m, f, OP_MUL, x, pc_const(m, f, s32, 1));      /* x*1 -> x */
  int b = pc_op(m, f, OP_ADD, pc_const(m, f, s32, 0), a);      /* 0+x -> x */
  int c = pc_op(m, f, OP_SUB, b, pc_const(m, f, t23, 0));      /* x-0 -> x */
  int d = pc_op(m, f, OP_DIV, c, pc_const(m, f, s32, 1));      /* x/1 -> x */
  int g = pc_op(m, f, OP_ADD, v, pc_const(m, f, t23, 0));      /* v+0 broadcasts to [2,3]: stays */
  int h = pc_op(m, f, OP_SUB, pc_const(m, f, s32, 0), v);      /* 0-v is not an identity */
  int k = pc_op(m, f, OP_MUL, x, pc_const(m, f, s32, 2));      /* x*2 stays */
  int outs[4] = {d, g, h, k};
  ir_set_outputs(m, f, 4, outs, NULL);
  int changes;
  double diff = pc_pass_diff(m, pass_fold, NULL, 1, DT_F64, &changes);
  CHECK(diff == 0);
  CHECK(changes == 4);
  CHECK(f->outs[0] == x);
  CHECK(f->nodes[f->outs[1]].op == OP_ADD);
  CHECK(f->nodes[f->outs[2]].op == OP_SUB);
  CHECK(f->nodes[f->outs[3]].op == OP_MUL);
  ir_module_free(m);
}

static void test_layout_of_const(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  int x = ir_arg(m, f, "x", pc_type(DT_F32, 2, S23), pc_loc(1));
  Type bt = pc_type(DT_F32, 2, S23);
  int in[1] = {pc_const(m, f, pc_type(DT_F32, 1, S3), 0.5)};
  DlmErr e = {0};
  int bcast = ir_emit(m, f, OP_BROADCAST, &bt, 1, in, NULL, pc_loc(3), &e);
  CHECK(bcast >= 0);
  int y = pc_op(m, f, OP_MUL, x, bcast);
  ir_set_outputs(m, f, 1, &y, NULL);
  int changes;
  CHECK(pc_pass_diff(m, pass_fold, NULL, 1, DT_F64, &changes) == 0);
  CHECK(changes == 1);
  double v;
  CHECK(node_const_value(f, f->nodes[f->outs[0]].in[1], &v) && v == 0.5);
  CHECK(type_eq(&f->nodes[f->nodes[f->outs[0]].in[1]].type, &bt));
  ir_module_free(m);
}

int main(void) {
  test_constants();
  test_identities();
  test_layout_of_const();
  return check_summary("test_passes_fold");
}
