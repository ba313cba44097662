/* test_ir_shape.c — every shape rule in ir/shape.c on good and bad operands: result types are
 * compared against hand-written type strings, errors against hand-written message fragments. */
#include "check.h"
#include "ir.h"
#include "type_text.h"
#include <stdarg.h>
#include <string.h>

static Module *M;
static Func *F;
static char result[600];

static Type ty(const char *s) { return fx_type(M, s); }


/* Emit op over fresh args of the given input types; result is its type string or "ERR: msg". */
static const char *emit(const char *opname, const char *given, Attrs a, int nin, ...) {
  OpKind op;
  if (!op_from_name(opname, &op)) return "no such op";
  int ids[8];
  va_list ap;
  va_start(ap, nin);
  for (int i = 0; i < nin; i++) ids[i] = ir_arg(M, F, "x", ty(va_arg(ap, const char *)), (SrcLoc){0, 1, 1});
  va_end(ap);
  Type g;
  if (given) g = ty(given);
  DlmErr e = {0};
  int id = ir_emit(M, F, op, given ? &g : NULL, nin, ids, &a, (SrcLoc){0, 7, 3}, &e);
  if (id < 0) {
    snprintf(result, sizeof result, "ERR: %s", e.msg);
    if (e.loc.line != 7 || e.loc.col != 3) snprintf(result, sizeof result, "ERR without location");
  } else {
    type_str(M, &F->nodes[id].type, result, sizeof result);
  }
  return result;
}

#define OK(expect, ...) do { const char *r_ = emit(__VA_ARGS__); \
  CHECK_MSG(strcmp(r_, expect) == 0, "got '%s', expected '%s'", r_, expect); } while (0)
#define BAD(frag, ...) do { const char *r_ = emit(__VA_ARGS__); \
  CHECK_MSG(strncmp(r_, "ERR: ", 5) == 0 && strstr(r_, frag), "got '%s', expected an error with '%s'", r_, frag); } while (0)

static void test_broadcast_types(void) {
  Type a = ty("f32[B,1,64]"), b = ty("f32[L,1]"), c = ty("f32[3,64]"), r;
  char buf[128];
  CHECK(shape_broadcast_types(&a, &b, &r));
  CHECK(strcmp(type_str(M, &r, buf, sizeof buf), "f32[B,L,64]") == 0);
  CHECK(!shape_broadcast_types(&b, &c, &r)); /* L against 3 */
  Type d = ty("f32[2,64]");
  CHECK(!shape_broadcast_types(&c, &d, &r));
  Type s = ty("f32");
  CHECK(shape_broadcast_types(&s, &c, &r));
  CHECK(strcmp(type_str(M, &r, buf, sizeof buf), "f32[3,64]") == 0);
}

static void test_sources(void) {
  Attrs none = attrs_none();
  OK("f32[B,4]", "const", "f32[B,4]", none, 0);
  Type t = ty("f32[768]");
  ir_param_add(M, "w", t, INIT_ONES, 0, 0, (SrcLoc){0});
  Attrs p = attrs_none();
  p.s = "w";
  OK("f32[768]", "param", "f32[768]", p, 0);
  OK("f32[768]", "param", NULL, p, 0);
  BAD("\"w\" is declared as f32[768] but used as f32[769]", "param", "f32[769]", p, 0);
  p.s = "nope";
  BAD("no parameter named \"nope\"", "param", "f32[768]", p, 0);
  OK("i32[B,16]", "iota", "i32[B,16]", ia(1, 1), 0);
  OK("i32[B,16]", "iota", "i32[B,16]", ia(1, -1), 0);
  BAD("axis 2 is out of range for i32[B,16]", "iota", "i32[B,16]", ia(1, 2), 0);
  BAD("result must be numeric", "iota", "bool[4]", ia(1, 0), 0);
  OK("f32[B,8]", "rand_uniform", "f32[B,8]", ia(1, 3), 2, "i64", "i64");
  BAD("seed must be an i64 scalar", "rand_uniform", "f32[B,8]", ia(1, 3), 2, "i32", "i64");
  BAD("offset must be an i64 scalar", "rand_uniform", "f32[B,8]", ia(1, 3), 2, "i64", "i64[2]");
  BAD("result must be a float type", "rand_uniform", "i32[8]", ia(1, 3), 2, "i64", "i64");
  BAD("takes 2 inputs", "rand_uniform", "f32[8]", ia(1, 3), 1, "i64");
}

static void test_elementwise(void) {
  Attrs none = attrs_none();
  OK("i32[B,4]", "neg", NULL, none, 1, "i32[B,4]");
  BAD("neg: expects a numeric tensor: bool[4]", "neg", NULL, none, 1, "bool[4]");
  OK("f32[B,4]", "exp", NULL, none, 1, "f32[B,4]");
  BAD("exp: expects a float tensor: i64[4]", "exp", NULL, none, 1, "i64[4]");
  OK("bool[3]", "not", NULL, none, 1, "bool[3]");
  BAD("not: expects a bool tensor: f32[3]", "not", NULL, none, 1, "f32[3]");
  OK("f64[B,3]", "cast", "f64[B,3]", none, 1, "i32[B,3]");
  OK("f32[B,3]", "cast", NULL, none, 1, "i32[B,3]");
  BAD("declared type f64[3] does not match computed type f64[B,3]", "cast", "f64[3]", none, 1, "i32[B,3]");
  OK("f32[B,L,64]", "add", NULL, none, 2, "f32[B,1,64]", "f32[L,64]");
  OK("f32[B,L]", "mul", NULL, none, 2, "f32", "f32[B,L]");
  BAD("add: shapes do not broadcast: f32[B,64] and f32[L,64]", "add", NULL, none, 2, "f32[B,64]", "f32[L,64]");
  BAD("sub: element types differ: f32[4] and f64[4]", "sub", NULL, none, 2, "f32[4]", "f64[4]");
  BAD("expects numeric tensors", "add", NULL, none, 2, "bool[4]", "bool[4]");
  OK("bool[B,4]", "lt", NULL, none, 2, "i32[B,1]", "i32[4]");
  BAD("element types differ", "eq", NULL, none, 2, "i32[4]", "i64[4]");
  OK("bool[4,4]", "and", NULL, none, 2, "bool[4,1]", "bool[4]");
  BAD("and: expects bool tensors: bool[4] and i32[4]", "and", NULL, none, 2, "bool[4]", "i32[4]");
  OK("f32[B,L,8]", "where", NULL, none, 3, "bool[L,1]", "f32[B,1,8]", "f32");
  BAD("condition must be bool", "where", NULL, none, 3, "i32[4]", "f32[4]", "f32[4]");
  BAD("branch element types differ", "where", NULL, none, 3, "bool[4]", "f32[4]", "f64[4]");
  BAD("condition does not broadcast with branches: bool[3] and f32[4]", "where", NULL, none, 3, "bool[3]", "f32[4]", "f32");
  OK("f32[B,L]", "cumsum", NULL, ia(1, -1), 1, "f32[B,L]");
  BAD("axis 2 is out of range", "cumsum", NULL, ia(1, 2), 1, "f32[B,L]");
  OK("f32[B,L]", "softmax", NULL, ia(1, -1), 1, "f32[B,L]");
  BAD("axis -3 is out of range", "log_softmax", NULL, ia(1, -3), 1, "f32[B,L]");
}

static void test_reductions(void) {
  OK("f32[B]", "sum", NULL, ia(2, -1, 0), 1, "f32[B,L]");
  OK("f32[B,1]", "sum", NULL, ia(2, 1, 1), 1, "f32[B,L]");
  OK("f32[L]", "reduce_max", NULL, ia(2, -2, 0), 1, "f32[B,L]");
  OK("f32", "logsumexp", NULL, ia(2, 0, 0), 1, "f32[4]");
  BAD("keepdim must be 0 or 1", "sum", NULL, ia(2, 0, 2), 1, "f32[4]");
  BAD("mean: expects a float tensor: i32[4]", "mean", NULL, ia(2, 0, 0), 1, "i32[4]");
  BAD("axis 0 is out of range for f32", "sum", NULL, ia(2, 0, 0), 1, "f32");
  OK("i64[B]", "argmax", NULL, ia(2, -1, 0), 1, "f32[B,V]");
  OK("i32[B,1]", "argmax", "i32[B,1]", ia(2, -1, 1), 1, "f32[B,V]");
  BAD("declared type f32[B]", "argmax", "f32[B]", ia(2, -1, 0), 1, "f32[B,V]");
  OK("f32[L,1]", "sum_to", "f32[L,1]", attrs_none(), 1, "f32[B,L,64]");
  OK("f32", "sum_to", "f32", attrs_none(), 1, "f32[B,L,64]");
  BAD("sum_to: target shape does not broadcast to the input: f32[L,2] and f32[B,L,64]", "sum_to", "f32[L,2]",
      attrs_none(), 1, "f32[B,L,64]");
}

static void test_layout(void) {
  Attrs none = attrs_none();
  OK("f32[B,L,12,64]", "reshape", "f32[B,L,12,64]", none, 1, "f32[B,L,768]");
  OK("f32[B*L,768]", "reshape", "f32[B*L,768]", none, 1, "f32[B,L,768]");
  OK("i32[L,B]", "reshape", "i32[L,B]", none, 1, "i32[B,L]");
  OK("f32[2*L,2]", "reshape", "f32[2*L,2]", none, 1, "f32[L,4]");
  BAD("reshape: element counts differ: f32[B,L] and f32[B,B]", "reshape", "f32[B,B]", none, 1, "f32[B,L]");
  BAD("element counts differ", "reshape", "f32[5]", none, 1, "f32[4]");
  OK("f32[L,64,B]", "transpose", NULL, ia(3, 1, 2, 0), 1, "f32[B,L,64]");
  BAD("perm is not a permutation", "transpose", NULL, ia(3, 1, 1, 0), 1, "f32[B,L,64]");
  BAD("permutation has 2 entries", "transpose", NULL, ia(2, 1, 0), 1, "f32[B,L,64]");
  OK("f32[B,L,64]", "broadcast_to", "f32[B,L,64]", none, 1, "f32[L,1]");
  BAD("broadcast_to: cannot broadcast: f32[L,2] and f32[B,L,64]", "broadcast_to", "f32[B,L,64]", none, 1, "f32[L,2]");
  OK("f32[B,3]", "slice", NULL, ia(4, 1, 2, 8, 2), 1, "f32[B,10]");
  OK("f32[B,0]", "slice", NULL, ia(4, -1, 4, 4, 1), 1, "f32[B,10]");
  OK("f32[B,1]", "slice", NULL, ia(4, 1, 2, 8, 2147483647), 1, "f32[B,10]");
  OK("f32[B,2]", "slice", NULL, ia(4, 1, 0, 10, 5), 1, "f32[B,10]");
  BAD("slice: range 2:11:1 is invalid for axis 1 of f32[B,10]", "slice", NULL, ia(4, 1, 2, 11, 1), 1, "f32[B,10]");
  BAD("is invalid", "slice", NULL, ia(4, 1, 2, 8, 0), 1, "f32[B,10]");
  BAD("sliced axis must have a constant size", "slice", NULL, ia(4, 0, 0, 1, 1), 1, "f32[B,10]");
  OK("f32[B,13]", "pad", NULL, ia(3, 1, 1, 2), 1, "f32[B,10]");
  OK("f32[B,10]", "pad", NULL, ia(3, 0, 0, 0), 1, "f32[B,10]");
  BAD("padded axis must have a constant size", "pad", NULL, ia(3, 0, 1, 0), 1, "f32[B,10]");
  BAD("must be in 0..", "pad", NULL, ia(3, 1, -1, 0), 1, "f32[B,10]");
  OK("f32[B,7]", "concat", NULL, ia(1, 1), 3, "f32[B,3]", "f32[B,4]", "f32[B,0]");
  OK("f32[3*L,4]", "concat", NULL, ia(1, 0), 2, "f32[2*L,4]", "f32[L,4]");
  OK("f32[B,2]", "concat", NULL, ia(1, -1), 1, "f32[B,2]");
  BAD("concat: sizes on the concatenation axis cannot be added: f32[L,4] and f32[3,4]", "concat", NULL, ia(1, 0), 2,
      "f32[L,4]", "f32[3,4]");
  BAD("dimensions off the concatenation axis differ: f32[B,3] and f32[L,3]", "concat", NULL, ia(1, 1), 2, "f32[B,3]", "f32[L,3]");
  BAD("element types differ", "concat", NULL, ia(1, 0), 2, "f32[3]", "i32[3]");
  BAD("ranks differ", "concat", NULL, ia(1, 0), 2, "f32[3]", "f32[3,1]");
  BAD("needs at least one input", "concat", NULL, ia(1, 0), 0);
  OK("f32[B,L,768]", "gather", NULL, none, 2, "f32[50258,768]", "i32[B,L]");
  OK("f32[B]", "gather", NULL, none, 2, "f32[10]", "i64[B]");
  BAD("gather: indices must be i32 or i64: f32[B,L]", "gather", NULL, none, 2, "f32[10,4]", "f32[B,L]");
  BAD("table must have at least one axis", "gather", NULL, none, 2, "f32", "i32[B]");
  OK("f32[B,L,1]", "take_along", NULL, none, 2, "f32[B,L,V]", "i64[B,L,1]");
  BAD("take_along: leading dimensions differ: f32[B,L,V] and i64[B,2,1]", "take_along", NULL, none, 2, "f32[B,L,V]", "i64[B,2,1]");
  BAD("same rank", "take_along", NULL, none, 2, "f32[B,L,V]", "i64[B,L]");
  BAD("indices must be i32 or i64", "take_along", NULL, none, 2, "f32[B,V]", "bool[B,1]");
}

static void test_contractions(void) {
  OK("f32[B,L,32]", "matmul", NULL, ia(2, 0, 0), 2, "f32[B,L,64]", "f32[64,32]");
  OK("f32[B,L,32]", "matmul", NULL, ia(2, 0, 1), 2, "f32[B,L,64]", "f32[32,64]");
  OK("f32[B,H,L,L]", "matmul", NULL, ia(2, 0, 1), 2, "f32[B,H,L,64]", "f32[B,1,L,64]");
  OK("f32[B,8,3]", "matmul", NULL, ia(2, 1, 0), 2, "f32[B,5,8]", "f32[5,3]");
  BAD("matmul: inner dimensions differ: f32[B,L,64] and f32[32,64]", "matmul", NULL, ia(2, 0, 0), 2, "f32[B,L,64]", "f32[32,64]");
  BAD("batch dimensions do not broadcast", "matmul", NULL, ia(2, 0, 0), 2, "f32[B,L,64]", "f32[L,64,3]");
  BAD("operands need at least two axes", "matmul", NULL, ia(2, 0, 0), 2, "f32[64]", "f32[64,3]");
  BAD("element types differ", "matmul", NULL, ia(2, 0, 0), 2, "f32[2,64]", "f64[64,3]");
  Attrs none = attrs_none();
  OK("f32[B,H,L,32]", "attention", NULL, none, 3, "f32[B,H,L,64]", "f32[B,H,S,64]", "f32[B,H,S,32]");
  OK("f32[B,H,L,64]", "attention", NULL, none, 4, "f32[B,H,L,64]", "f32[B,H,S,64]", "f32[B,H,S,64]", "bool[L,S]");
  OK("f32[B,H,L,64]", "attention", NULL, none, 3, "f32[B,H,L,64]", "f32[B,1,S,64]", "f32[B,1,S,64]");
  BAD("attention: q and k head dimensions differ: f32[B,L,64] and f32[B,S,32]", "attention", NULL, none, 3,
      "f32[B,L,64]", "f32[B,S,32]", "f32[B,S,32]");
  BAD("k and v sequence lengths differ", "attention", NULL, none, 3, "f32[B,L,64]", "f32[B,S,64]", "f32[B,L,64]");
  BAD("mask must be bool", "attention", NULL, none, 4, "f32[L,64]", "f32[S,64]", "f32[S,64]", "f32[L,S]");
  BAD("mask does not broadcast to the scores: bool[S,L] and bool[B,L,S]", "attention", NULL, none, 4,
      "f32[B,L,64]", "f32[B,S,64]", "f32[B,S,64]", "bool[S,L]");
  BAD("q must be a float tensor", "attention", NULL, none, 3, "i32[L,4]", "i32[S,4]", "i32[S,4]");
  BAD("takes 3 to 4 inputs", "attention", NULL, none, 2, "f32[L,4]", "f32[S,4]");
  BAD("need at least two axes", "attention", NULL, none, 3, "f32[4]", "f32[S,4]", "f32[S,4]");
}

int main(void) {
  M = ir_module_new("t");
  F = ir_func_new(M, "f");
  test_broadcast_types();
  test_sources();
  test_elementwise();
  test_reductions();
  test_layout();
  test_contractions();
  ir_module_free(M);
  return check_summary("test_ir_shape");
}
