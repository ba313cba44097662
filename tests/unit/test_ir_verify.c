/* test_ir_verify.c — the verifier accepts the hand-built sample module and rejects hand-broken
 * copies of it (wrong type, forward or out-of-range ids, bad arity, argument positions, outputs,
 * undeclared parameters, attribute counts, schedule calls and loops), naming the function and value
 * and carrying the node's source location. */
#include "check.h"
#include "test_ir_sample.h"

/* Run the verifier on m and check it fails with a message containing both fragments. */
static void expect_bad(const Module *m, const char *frag1, const char *frag2, int line) {
  DlmErr e = {0};
  int ok = ir_verify(m, &e);
  CHECK_MSG(!ok && strstr(e.msg, frag1) && strstr(e.msg, frag2), "verify %s: '%s' (expected '%s' and '%s')",
            ok ? "passed" : "failed", e.msg, frag1, frag2);
  if (line >= 0) CHECK_MSG(e.loc.line == line, "error at line %d, expected %d", e.loc.line, line);
}

static void expect_good(const Module *m) {
  DlmErr e = {0};
  CHECK_MSG(ir_verify(m, &e), "verify failed: %s", e.msg);
}

int main(void) {
  Module *m = sample_module();
  Func *f = m->funcs[0];
  Sched *s = m->scheds[0];
  expect_good(m);

  /* a node whose recorded type disagrees with its shape rule */
  Node *mm = &f->nodes[8];
  mm->type.dims[2] = dim_const(191);
  expect_bad(m, "function @block: %8 (matmul): type is f32[B,L,191] but its operands give f32[B,L,192]", "", 8);
  mm->type.dims[2] = dim_const(192);

  /* a node whose operands no longer satisfy the shape rule */
  int saved = mm->in[1];
  mm->in[1] = 6;
  expect_bad(m, "function @block: %8: matmul: inner dimensions differ: f32[B,L,64] and f32[B,L,64]", "", 8);
  mm->in[1] = saved;

  /* forward reference and self reference */
  f->nodes[3].in[0] = 3;
  expect_bad(m, "%3 (gather): input 0 refers to %3, which is not an earlier value", "", 6);
  f->nodes[3].in[0] = 40;
  expect_bad(m, "refers to %40", "", 6);
  f->nodes[3].in[0] = 2;

  /* arity */
  f->nodes[6].nin = 1;
  expect_bad(m, "%6 (mul): takes 2 inputs, has 1", "@block", 7);
  f->nodes[6].nin = 2;

  /* attribute count and string attribute */
  f->nodes[9].attr.ni = 5;
  expect_bad(m, "%9 (slice): invalid integer attribute count 5", "", 9);
  f->nodes[9].attr.ni = 4;
  const char *pn = f->nodes[5].attr.s;
  f->nodes[5].attr.s = "missing.weight";
  expect_bad(m, "no parameter named \"missing.weight\"", "%5", 7);
  f->nodes[5].attr.s = NULL;
  expect_bad(m, "%5 (param): missing its name attribute", "", 7);
  f->nodes[5].attr.s = pn;
  f->nodes[6].attr.s = "x";
  expect_bad(m, "%6 (mul): has an unexpected name attribute", "", 7);
  f->nodes[6].attr.s = NULL;

  /* argument positions */
  f->nodes[1].attr.i[0] = 0;
  expect_bad(m, "function @block: %1: argument position 0 is also taken by %0", "", 5);
  f->nodes[1].attr.i[0] = 2;
  expect_bad(m, "argument position 2 is out of range 0..1", "", 5);
  f->nodes[1].attr.i[0] = 1;
  f->nargs = 3;
  expect_bad(m, "declares 3 arguments but has 2 arg nodes", "@block", -1);
  f->nargs = 2;

  /* outputs */
  f->outs[1] = 33;
  expect_bad(m, "function @block: output 1 refers to %33", "", -1);
  f->outs[1] = 32;
  expect_good(m);

  /* parameters */
  m->params[2].type.dims[0] = dim_sym(0);
  expect_bad(m, "parameter 2 (blk.out.weight) is malformed", "", -1);
  m->params[2].type.dims[0] = dim_const(64);
  m->params[3].name = m->params[0].name;
  expect_bad(m, "parameter blk.norm.weight is declared twice", "", -1);
  m->params[3].name = "emb";

  /* schedule: call argument type, count, results, loop and break_if */
  SchedStmt *loop = &s->body[0], *call = &loop->body[0], *brk = &loop->body[1];
  s->vars[1].type = type_scalar(DT_F32);
  expect_bad(m, "schedule @sample: call of @block: argument 1 (t) is f32, the function takes f32[B]", "", 20);
  s->vars[1].type = sample_type(DT_F32, 1, dim_sym(0));
  call->nargs = 1;
  expect_bad(m, "call of @block with 1 argument and 2 results; it takes 2 and returns 2", "", 20);
  call->nargs = 2;
  call->res[1] = 5;
  expect_bad(m, "call of @block: result 1 is i32[B,L] but variable score is f32[B,L]", "", 20);
  call->res[1] = 6;
  call->func = 9;
  expect_bad(m, "call of undefined function #9", "", 20);
  call->func = 0;
  loop->var = 3;
  expect_bad(m, "loop index zero is not a loop variable", "", 19);
  loop->var = 4;
  loop->hi = 1;
  expect_bad(m, "loop bound or index t must be an integer scalar, is f32[B]", "", 19);
  loop->hi = 2;
  brk->args[0] = 2;
  expect_bad(m, "break_if needs one bool scalar variable", "", -1);
  brk->args[0] = 7;
  s->body = brk;
  expect_bad(m, "schedule @sample: break_if outside a loop", "", -1);
  s->body = loop;
  s->outs[0] = 8;
  expect_bad(m, "schedule @sample: output 0 is not a variable", "", 19);
  s->outs[0] = 6;
  expect_good(m);

  /* ir_verify_func alone on the second function */
  DlmErr e = {0};
  CHECK(ir_verify_func(m, m->funcs[1], &e));
  m->funcs[1]->nodes[2].type.dtype = DT_I32;
  CHECK(!ir_verify_func(m, m->funcs[1], &e) && strstr(e.msg, "@noise: %2: rand_uniform: result must be a float type"));
  ir_module_free(m);
  return check_summary("test_ir_verify");
}
