/* test_autodiff_scatter_add.c — the scatter_add op added for autodiff: its shape rule (accepted and
 * rejected operands), its interpreter kernel on a hand-computed example, out-of-range indices, its
 * gradient (a gather) against finite differences, and the text round trip of a gradient function
 * that uses it. */
#include "check.h"
#include "test_autodiff_fd.h"

#define T(...) ((int64_t[]){__VA_ARGS__})

static int emit_scatter(Module *m, Func *f, int src, int idx, const Type *t, DlmErr *e) {
  return ir_emit(m, f, OP_SCATTER_ADD, t, 2, (int[]){src, idx}, NULL, fd_noloc(), e);
}

static void shapes(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  int src = ir_arg(m, f, "src", fd_type(DT_F32, 3, T(2, 3, 4)), fd_noloc());
  int idx = ir_arg(m, f, "idx", fd_type(DT_I32, 2, T(2, 3)), fd_noloc());
  int fidx = ir_arg(m, f, "fidx", fd_type(DT_F32, 2, T(2, 3)), fd_noloc());
  DlmErr e = {0};
  Type ok = fd_type(DT_F32, 2, T(7, 4));
  int v = emit_scatter(m, f, src, idx, &ok, &e);
  CHECK_MSG(v >= 0, "%s", e.msg);
  if (v >= 0) CHECK(type_eq(&f->nodes[v].type, &ok));
  static const struct { int64_t dims[3]; int rank; const char *msg; } bad[] = {
      {{7, 5}, 2, "trailing source dimensions differ"},
      {{7, 4, 1}, 3, "source rank is not"},
      {{0}, 0, "at least one axis"}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    e = (DlmErr){0};
    Type t = fd_type(DT_F32, bad[i].rank, bad[i].dims);
    CHECK(emit_scatter(m, f, src, idx, &t, &e) < 0);
    CHECK_MSG(strstr(e.msg, bad[i].msg) != NULL, "got \"%s\"", e.msg);
  }
  e = (DlmErr){0};
  CHECK(emit_scatter(m, f, src, fidx, &ok, &e) < 0 && strstr(e.msg, "indices must be i32 or i64"));
  int idx2 = ir_arg(m, f, "idx2", fd_type(DT_I64, 2, T(3, 2)), fd_noloc());
  e = (DlmErr){0};
  CHECK(emit_scatter(m, f, src, idx2, &ok, &e) < 0 && strstr(e.msg, "leading source dimensions differ"));
  ir_module_free(m);
}

/* rows [1 2], [3 4], [5 6] into 3 rows at indices 2, 0, 2: [3 4], [0 0], [6 8]; index 3 is an error */
static void kernel(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  int src = ir_arg(m, f, "src", fd_type(DT_F64, 2, T(3, 2)), fd_noloc());
  int idx = ir_arg(m, f, "idx", fd_type(DT_I64, 1, T(3)), fd_noloc());
  Type t = fd_type(DT_F64, 2, T(3, 2));
  DlmErr e = {0};
  int v = emit_scatter(m, f, src, idx, &t, &e);
  ir_set_outputs(m, f, 1, &v, NULL);
  Tensor *args[2] = {tensor_new(DT_F64, 2, T(3, 2)), tensor_new(DT_I64, 1, T(3))}, *out = NULL;
  for (int i = 0; i < 6; i++) tensor_set(args[0], i, i + 1);
  const double iv[3] = {2, 0, 2}, want[6] = {3, 4, 0, 0, 6, 8};
  for (int i = 0; i < 3; i++) tensor_set(args[1], i, iv[i]);
  CHECK_MSG(interp_run(m, f, NULL, args, &out, DT_F64, &e), "%s", e.msg);
  if (out)
    for (int i = 0; i < 6; i++) CHECK_NEAR(tensor_get(out, i), want[i], 0);
  tensor_free(out);
  out = NULL;
  tensor_set(args[1], 1, 3);
  e = (DlmErr){0};
  CHECK(!interp_run(m, f, NULL, args, &out, DT_F64, &e) && strstr(e.msg, "out of range"));
  tensor_free(out);
  tensor_free(args[0]);
  tensor_free(args[1]);
  ir_module_free(m);
}

static void gradient(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  int src = ir_arg(m, f, "src", fd_type(DT_F64, 3, T(2, 3, 2)), fd_noloc());
  int idx = ir_arg(m, f, "idx", fd_type(DT_I32, 2, T(2, 3)), fd_noloc());
  Type t = fd_type(DT_F64, 2, T(4, 2));
  DlmErr e = {0};
  fd_loss(m, f, emit_scatter(m, f, src, idx, &t, &e));
  Tensor *args[3] = {fd_rand_arg(f, 0, -2, 2), fd_rand_arg(f, 1, 0, 3.999), fd_rand_arg(f, 2, -1, 1)};
  fd_check("scatter_add", m, f, args, (int[]){0}, 1, NULL, 0);
  for (int i = 0; i < 3; i++) tensor_free(args[i]);
  ir_module_free(m);
}

static char *print_module(const Module *m) {
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  ir_print(m, out);
  fclose(out);
  return buf;
}

/* d table of gather is a scatter_add; the printed gradient module parses back and prints the same */
static void round_trip(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  int tab = ir_arg(m, f, "table", fd_type(DT_F32, 2, T(5, 3)), fd_noloc());
  int idx = ir_arg(m, f, "idx", fd_type(DT_I64, 1, T(4)), fd_noloc());
  fd_loss(m, f, fd_op2(m, f, OP_GATHER, tab, idx));
  DlmErr e = {0};
  Func *g = ad_grad(m, f, 0, (int[]){0}, 1, 0, &e);
  CHECK_MSG(g != NULL, "%s", e.msg);
  int scatters = 0;
  for (int i = 0; g && i < g->nnodes; i++) scatters += g->nodes[i].op == OP_SCATTER_ADD;
  CHECK(scatters == 1);
  char *text = print_module(m);
  Module *back = ir_parse(text, "grad.ir", &e);
  CHECK_MSG(back != NULL, "%s", e.msg);
  if (back) {
    char *again = print_module(back);
    CHECK(strcmp(text, again) == 0);
    free(again);
    ir_module_free(back);
  }
  free(text);
  ir_module_free(m);
}

int main(void) {
  shapes();
  kernel();
  gradient();
  round_trip();
  return check_summary("test_autodiff_scatter_add");
}
