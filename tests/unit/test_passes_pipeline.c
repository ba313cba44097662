/* test_passes_pipeline.c — the pass manager: unique names and letters, letter validation, dumps
 * after the passes named by -d letters or --dump-after and only those, the fixpoint (a second run
 * changes nothing and the printed IR is the same), and shape_infer's error for a node whose type
 * does not follow from its inputs, at the node's location. */
#include "passes_check.h"

static const int64_t S23[2] = {2, 3};

static Module *sample_module(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  Type s = type_scalar(DT_F32);
  int x = ir_arg(m, f, "x", pc_type(DT_F32, 2, S23), pc_loc(1));
  int a = pc_op(m, f, OP_EXP, x, -1);
  int b = pc_op(m, f, OP_EXP, x, -1);
  int c = pc_op(m, f, OP_MUL, pc_op(m, f, OP_ADD, a, b), pc_op(m, f, OP_MUL, pc_const(m, f, s, 2), pc_const(m, f, s, 3)));
  pc_op(m, f, OP_TANH, c, -1);  /* dead */
  ir_set_outputs(m, f, 1, &c, NULL);
  return m;
}

static char *run_dumps(const char *letters, const char *after) {
  Module *m = sample_module();
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  PassOptions o = {letters, after, 1, out};
  DlmErr e = {0};
  CHECK(pass_pipeline_run(m, &o, &e));
  fclose(out);
  ir_module_free(m);
  return buf;
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p++) n++;
  return n;
}

static void test_table(void) {
  int n;
  const Pass *p = pass_table(&n);
  CHECK(n >= 5);
  for (int i = 0; i < n; i++) {
    CHECK(p[i].letter != PASS_DUMP_INPUT);
    CHECK(pass_find(p[i].name) == &p[i]);
    for (int j = i + 1; j < n; j++) CHECK(p[i].letter != p[j].letter && strcmp(p[i].name, p[j].name));
  }
  char bad = 0;
  CHECK(pass_letters_valid("PSKXED", &bad));
  CHECK(!pass_letters_valid("SQ", &bad) && bad == 'Q');
  CHECK(pass_find("nosuchpass") == NULL);
}

static void test_dumps(void) {
  char *d = run_dumps("KD", NULL);
  CHECK(count(d, "# ---- after fold\n") == 1);
  CHECK(count(d, "# ---- after dce\n") == 1);
  CHECK(count(d, "after cse") == 0 && count(d, "after shape_infer") == 0 && count(d, "after input") == 0);
  free(d);
  d = run_dumps("P", "cse");
  CHECK(count(d, "# ---- after input\n") == 1);
  CHECK(count(d, "# ---- after cse\n") == 1);
  CHECK(count(d, "after fold") == 0);
  free(d);
  d = run_dumps(NULL, NULL);
  CHECK(d && d[0] == 0);
  free(d);
}

static char *print_to_string(const Module *m) {
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  ir_print(m, out);
  fclose(out);
  return buf;
}

static void test_fixpoint(void) {
  Module *m = sample_module();
  DlmErr e = {0};
  CHECK(pass_pipeline_run(m, NULL, &e));
  Func *f = m->funcs[0];
  /* x, exp, add, const 6, mul: the duplicate exp merged, 2*3 folded, tanh removed */
  CHECK_MSG(f->nnodes == 5, "nnodes = %d", f->nnodes);
  char *first = print_to_string(m);
  int n;
  const Pass *p = pass_table(&n);
  for (int i = 0; i < n; i++) CHECK_MSG(p[i].run(m, &e) == 0, "%s changed a fixpoint", p[i].name);
  char *second = print_to_string(m);
  CHECK(strcmp(first, second) == 0);
  DlmErr pe = {0};
  Module *back = ir_parse(first, "t.ir", &pe);
  CHECK_MSG(back != NULL, "%s", pe.msg);
  if (back) {
    CHECK(pass_pipeline_run(back, NULL, &e));
    char *third = print_to_string(back);
    CHECK(strcmp(first, third) == 0);
    free(third);
    ir_module_free(back);
  }
  free(first);
  free(second);
  ir_module_free(m);
}

static void test_shape_error(void) {
  Module *m = sample_module();
  Func *f = m->funcs[0];
  f->nodes[1].type.dims[1] = dim_const(4);  /* exp(x) claims f32[2,4] */
  f->nodes[1].loc = (SrcLoc){0, 17, 5};
  DlmErr e = {0};
  CHECK(pass_shape_infer(m, &e) == -1);
  CHECK(e.set && e.loc.line == 17 && e.loc.col == 5);
  CHECK_MSG(strstr(e.msg, "f32[2,4]") && strstr(e.msg, "f32[2,3]"), "%s", e.msg);
  ir_module_free(m);
  m = sample_module();
  DlmErr ok = {0};
  CHECK(pass_shape_infer(m, &ok) == 0 && !ok.set);
  ir_module_free(m);
}

int main(void) {
  test_table();
  test_dumps();
  test_fixpoint();
  test_shape_error();
  return check_summary("test_passes_pipeline");
}
