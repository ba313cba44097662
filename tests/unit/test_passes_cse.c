/* test_passes_cse.c — common subexpression elimination: identical nodes merge (including chains
 * that become identical once their inputs merge), nodes that differ in an attribute, the type or an
 * input do not, rand_uniform nodes of different streams stay apart, arguments are never merged;
 * interpreter outputs are exactly equal before and after (float64 mode). */
#include "passes_check.h"

static const int64_t S23[2] = {2, 3};

static int rand_node(Module *m, Func *f, int seed, int offset, int stream) {
  Attrs a = attrs_none();
  a.i[0] = stream;
  a.ni = 1;
  Type t = pc_type(DT_F32, 2, S23);
  int in[2] = {seed, offset};
  DlmErr e = {0};
  int id = ir_emit(m, f, OP_RAND, &t, 2, in, &a, pc_loc(4), &e);
  if (id < 0) fprintf(stderr, "rand: %s\n", e.msg);
  return id;
}

static void test_merge(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  Type t23 = pc_type(DT_F32, 2, S23);
  int x = ir_arg(m, f, "x", t23, pc_loc(1));
  int x2 = ir_arg(m, f, "x2", t23, pc_loc(1));   /* same type as x: must stay a separate argument */
  int e1 = pc_op(m, f, OP_EXP, x, -1);
  int e2 = pc_op(m, f, OP_EXP, x, -1);            /* = e1 */
  int t1 = pc_op(m, f, OP_TANH, e1, -1);
  int t2 = pc_op(m, f, OP_TANH, e2, -1);          /* = t1 once e2 = e1 */
  int e3 = pc_op(m, f, OP_EXP, x2, -1);           /* different input */
  int c1 = pc_const(m, f, type_scalar(DT_F32), 2);
  int c2 = pc_const(m, f, type_scalar(DT_F32), 2);  /* = c1 */
  int c3 = pc_const(m, f, type_scalar(DT_F64), 2);  /* different type */
  int c4 = pc_const(m, f, type_scalar(DT_F32), 3);  /* different value */
  int y1 = pc_op(m, f, OP_MUL, t1, c1);
  int y2 = pc_op(m, f, OP_MUL, t2, c2);           /* = y1 */
  Type st = type_scalar(DT_I64);
  int seed = pc_const(m, f, st, 5), off = pc_const(m, f, st, 0);
  int r1 = rand_node(m, f, seed, off, 0);
  int r2 = rand_node(m, f, seed, off, 1);         /* another stream: stays */
  int r3 = rand_node(m, f, seed, off, 0);         /* = r1: the same numbers */
  int s1 = pc_op(m, f, OP_SUM, y1, -1);
  int in1[1] = {y1};
  Attrs ax = attrs_none();
  ax.i[0] = 1;
  DlmErr e = {0};
  int s2 = ir_emit(m, f, OP_SUM, NULL, 1, in1, &ax, pc_loc(5), &e);  /* sum over another axis: stays */
  int outs[10] = {y1, y2, e3, c3, c4, r1, r2, r3, s1, s2};
  ir_set_outputs(m, f, 10, outs, NULL);
  CHECK(s2 >= 0 && f->nargs == 2);
  int changes;
  CHECK(pc_pass_diff(m, pass_cse, NULL, 1, DT_F64, &changes) == 0);
  CHECK_MSG(changes == 5, "changes = %d", changes);  /* e2, t2, c2, y2, r3 */
  CHECK(f->outs[0] == f->outs[1]);
  CHECK(f->outs[5] == f->outs[7]);
  CHECK(f->outs[5] != f->outs[6]);
  CHECK(f->outs[8] != f->outs[9]);
  CHECK(f->outs[3] != f->outs[4]);
  CHECK(f->nargs == 2 && pc_count(f, OP_ARG) == 2);
  CHECK(pc_count(f, OP_EXP) == 2);
  CHECK(pc_count(f, OP_TANH) == 1);
  CHECK(pc_count(f, OP_RAND) == 2);
  DlmErr e2x = {0};
  CHECK(pass_cse(m, &e2x) == 0);
  ir_module_free(m);
}

int main(void) {
  test_merge();
  return check_summary("test_passes_cse");
}
