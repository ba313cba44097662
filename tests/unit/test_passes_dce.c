/* test_passes_dce.c — dead code elimination: unused nodes go, arguments stay (even unused ones),
 * ids are renumbered compactly in topological order, outputs follow; interpreter outputs are
 * exactly equal before and after (float64 mode). */
#include "passes_check.h"

static const int64_t S4[1] = {4};

static void test_dce(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  Type t4 = pc_type(DT_F32, 1, S4);
  int x = ir_arg(m, f, "x", t4, pc_loc(1));
  int dead1 = pc_op(m, f, OP_EXP, x, -1);
  int y = pc_op(m, f, OP_TANH, x, -1);
  int dead2 = pc_op(m, f, OP_ADD, dead1, y);
  int unused = ir_arg(m, f, "unused", t4, pc_loc(1));
  int z = pc_op(m, f, OP_MUL, y, x);
  int outs[2] = {z, y};
  ir_set_outputs(m, f, 2, outs, NULL);
  CHECK(dead2 == 3 && unused == 4 && f->nnodes == 6);
  int changes;
  CHECK(pc_pass_diff(m, pass_dce, NULL, 1, DT_F64, &changes) == 0);
  CHECK(changes == 2);
  CHECK(f->nnodes == 4);
  /* the survivors in their old order: x, tanh, unused, mul */
  CHECK(f->nodes[0].op == OP_ARG && f->nodes[1].op == OP_TANH && f->nodes[2].op == OP_ARG && f->nodes[3].op == OP_MUL);
  CHECK(f->nodes[2].attr.i[0] == 1 && f->nargs == 2);
  CHECK(f->outs[0] == 3 && f->outs[1] == 1);
  CHECK(f->nodes[3].in[0] == 1 && f->nodes[3].in[1] == 0);
  for (int i = 0; i < f->nnodes; i++)
    for (int k = 0; k < f->nodes[i].nin; k++) CHECK(f->nodes[i].in[k] < i);
  DlmErr e = {0};
  CHECK(pass_dce(m, &e) == 0);
  ir_module_free(m);
}

int main(void) {
  test_dce();
  return check_summary("test_passes_dce");
}
