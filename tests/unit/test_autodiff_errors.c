/* test_autodiff_errors.c — what ad_grad refuses and what it leaves out: gradients through a
 * non-differentiable op (error naming the op and its source location), non-differentiable ops off
 * the gradient path, bad requests (loss, argument list, name clash), zero gradients of unused
 * inputs, and the output layout and names of the gradient function. */
#include "check.h"
#include "test_autodiff_fd.h"

#define T(...) ((int64_t[]){__VA_ARGS__})

static SrcLoc at(Module *m, int line, int col) {
  SrcLoc l = {ir_file(m, "models/x.dsl"), line, col};
  return l;
}

/* loss = sum(op(x) * x) with op emitted at models/x.dsl:12:5 */
static void nondiff_on_path(OpKind op, const char *want) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  int x = ir_arg(m, f, "x", fd_type(DT_F64, 1, T(4)), fd_noloc());
  DlmErr e = {0};
  int y = ir_emit(m, f, op, NULL, 1, &x, NULL, at(m, 12, 5), &e);
  CHECK(y >= 0);
  fd_loss(m, f, fd_op2(m, f, OP_MUL, y, x));
  Func *g = ad_grad(m, f, 0, (int[]){0}, 1, 0, &e);
  CHECK(g == NULL);
  CHECK_MSG(strcmp(e.msg, want) == 0, "got \"%s\"", e.msg);
  CHECK(e.loc.line == 12 && e.loc.col == 5);
  CHECK(ir_func_find(m, "f.grad") == NULL); /* nothing half-built is left behind */
  ir_module_free(m);
}

/* floor of a differentiated value that only feeds a comparison (a where condition) is fine */
static void nondiff_off_path(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  int x = ir_arg(m, f, "x", fd_type(DT_F64, 1, T(5)), fd_noloc());
  int half = fd_emit(m, f, OP_CONST, &(Type){.dtype = DT_F64}, 0, NULL, &(Attrs){.f = {0.5}});
  int c = fd_op2(m, f, OP_GT, x, fd_op2(m, f, OP_ADD, fd_op1(m, f, OP_FLOOR, x), half));
  fd_loss(m, f, fd_emit(m, f, OP_WHERE, NULL, 3, (int[]){c, fd_op1(m, f, OP_SIN, x), x}, NULL));
  Tensor *args[2] = {fd_rand_arg(f, 0, -3, 3), fd_rand_arg(f, 1, -1, 1)};
  fd_check("floor off the gradient path", m, f, args, (int[]){0}, 1, NULL, 0);
  tensor_free(args[0]);
  tensor_free(args[1]);
  ir_module_free(m);
}

static void bad_requests(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  int x = ir_arg(m, f, "x", fd_type(DT_F64, 1, T(3)), fd_noloc());
  int n = ir_arg(m, f, "n", fd_type(DT_I64, 1, T(3)), fd_noloc());
  int s = fd_emit(m, f, OP_SUM, NULL, 1, &x, &(Attrs){.i = {0, 0}, .ni = 2});
  ir_set_outputs(m, f, 3, (int[]){s, x, n}, NULL);
  DlmErr e = {0};
  CHECK(ad_grad(m, f, 1, (int[]){0}, 1, 0, &e) == NULL && strstr(e.msg, "must be a float scalar"));
  e = (DlmErr){0};
  CHECK(ad_grad(m, f, 3, (int[]){0}, 1, 0, &e) == NULL && strstr(e.msg, "has no output 3"));
  e = (DlmErr){0};
  CHECK(ad_grad(m, f, 0, (int[]){1}, 1, 0, &e) == NULL && strstr(e.msg, "is not a float tensor"));
  e = (DlmErr){0};
  CHECK(ad_grad(m, f, 0, (int[]){0, 0}, 2, 0, &e) == NULL && strstr(e.msg, "listed twice"));
  e = (DlmErr){0};
  CHECK(ad_grad(m, f, 0, (int[]){2}, 1, 0, &e) == NULL && strstr(e.msg, "out of range"));
  e = (DlmErr){0};
  CHECK(ad_grad(m, f, 0, (int[]){0}, 1, 0, &e) != NULL);
  CHECK(ad_grad(m, f, 0, (int[]){0}, 1, 0, &e) == NULL && strstr(e.msg, "f.grad already exists"));
  ir_module_free(m);
}

/* loss = sum(p * x) + 2 (y unused, q declared but not read): outputs loss, x, n passed through,
 * then grad:x = p, grad:y = 0, grad:p = x, and no entry for q */
static void layout_and_zeros(void) {
  Module *m = ir_module_new("t");
  ir_param_add(m, "p", fd_type(DT_F64, 1, T(3)), INIT_ZEROS, 0, 0, fd_noloc());
  ir_param_add(m, "q", fd_type(DT_F64, 1, T(2)), INIT_ZEROS, 0, 0, fd_noloc());
  Func *f = ir_func_new(m, "f");
  int x = ir_arg(m, f, "x", fd_type(DT_F64, 1, T(3)), fd_noloc());
  ir_arg(m, f, "y", fd_type(DT_F64, 2, T(2, 2)), fd_noloc());
  int p = fd_emit(m, f, OP_PARAM, NULL, 0, NULL, &(Attrs){.s = "p"});
  int s = fd_emit(m, f, OP_SUM, NULL, 1, (int[]){fd_op2(m, f, OP_MUL, p, x)}, &(Attrs){.i = {0, 0}, .ni = 2});
  int two = fd_emit(m, f, OP_CONST, &(Type){.dtype = DT_F64}, 0, NULL, &(Attrs){.f = {2}});
  ir_set_outputs(m, f, 2, (int[]){fd_op2(m, f, OP_ADD, s, two), x}, (const char *[]){"loss", "x"});
  DlmErr e = {0};
  Func *g = ad_grad(m, f, 0, (int[]){0, 1}, 2, 1, &e);
  CHECK_MSG(g != NULL, "%s", e.msg);
  if (!g) { ir_module_free(m); return; }
  CHECK(strcmp(g->name, "f.grad") == 0 && g->nargs == 2 && g->nout == 5);
  static const char *const names[] = {"loss", "x", "grad:x", "grad:y", "grad:p"};
  for (int i = 0; i < 5 && i < g->nout; i++) CHECK_MSG(g->outnames && strcmp(g->outnames[i], names[i]) == 0, "output %d", i);
  ParamStore *ps = pstore_new();
  Tensor *pt = tensor_new(DT_F64, 1, T(3)), *args[2] = {tensor_new(DT_F64, 1, T(3)), tensor_new(DT_F64, 2, T(2, 2))};
  for (int i = 0; i < 3; i++) { tensor_set(pt, i, i + 1); tensor_set(args[0], i, 10 * (i + 1)); }
  pstore_put(ps, "p", pt);
  pstore_put(ps, "q", tensor_new(DT_F64, 1, T(2)));
  Tensor *outs[5] = {0};
  CHECK_MSG(interp_run(m, g, ps, args, outs, DT_F64, &e), "%s", e.msg);
  if (outs[0]) {
    CHECK_NEAR(tensor_get(outs[0], 0), 10 + 40 + 90 + 2, 0);
    for (int i = 0; i < 3; i++) {
      CHECK_NEAR(tensor_get(outs[1], i), 10 * (i + 1), 0);
      CHECK_NEAR(tensor_get(outs[2], i), i + 1, 0);
      CHECK_NEAR(tensor_get(outs[4], i), 10 * (i + 1), 0);
    }
    CHECK(outs[3]->numel == 4);
    for (int i = 0; i < 4; i++) CHECK(tensor_get(outs[3], i) == 0);
  }
  for (int i = 0; i < 5; i++) tensor_free(outs[i]);
  tensor_free(args[0]);
  tensor_free(args[1]);
  pstore_free(ps);
  ir_module_free(m);
}

int main(void) {
  nondiff_on_path(OP_FLOOR, "autodiff: floor is not differentiable (models/x.dsl:12:5)");
  nondiff_on_path(OP_SORT_DESC, "autodiff: sort_desc is not differentiable (models/x.dsl:12:5)");
  nondiff_off_path();
  bad_requests();
  layout_and_zeros();
  return check_summary("test_autodiff_errors");
}
