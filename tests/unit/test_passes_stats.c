/* test_passes_stats.c — statistics: FLOPs of matmul, attention (with and without a mask),
 * elementwise ops and reductions worked out by hand from the formulas in docs/passes.md; symbolic
 * dims evaluated with the given values; tokens from the first argument's last dim; the parameter
 * count and its thousands separators. */
#include "passes_check.h"

static void test_flops(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  int B = ir_sym(m, "B");
  Type ta = pc_type(DT_F32, 3, (const int64_t[]){1, 3, 4});
  ta.dims[0] = dim_sym(B);                      /* f32[B,3,4] */
  int a = ir_arg(m, f, "a", ta, pc_loc(1));
  int w = ir_arg(m, f, "w", pc_type(DT_F32, 2, (const int64_t[]){4, 5}), pc_loc(1));
  int mm = pc_op(m, f, OP_MATMUL, a, w);        /* [B,3,5]: 2*B*3*5*4 = 120 B */
  int ex = pc_op(m, f, OP_EXP, mm, -1);         /* 15 B */
  int sm = pc_op(m, f, OP_SUM, ex, -1);         /* sum over axis 0 of [B,3,5]: 15 B input elements */
  Type tq = pc_type(DT_F32, 4, (const int64_t[]){1, 2, 8, 4}), tk = pc_type(DT_F32, 4, (const int64_t[]){1, 2, 6, 4});
  int q = ir_arg(m, f, "q", tq, pc_loc(1)), k = ir_arg(m, f, "k", tk, pc_loc(1)), v = ir_arg(m, f, "v", tk, pc_loc(1));
  int mask = ir_arg(m, f, "mask", pc_type(DT_BOOL, 2, (const int64_t[]){8, 6}), pc_loc(1));
  Attrs sc = attrs_none();
  sc.f[0] = 0.5;
  DlmErr e = {0};
  int at3 = ir_emit(m, f, OP_ATTENTION, NULL, 3, (const int[]){q, k, v}, &sc, pc_loc(2), &e);
  int at4 = ir_emit(m, f, OP_ATTENTION, NULL, 4, (const int[]){q, k, v, mask}, &sc, pc_loc(2), &e);
  CHECK_MSG(at3 >= 0 && at4 >= 0, "%s", e.msg);
  int outs[3] = {sm, at3, at4};
  ir_set_outputs(m, f, 3, outs, NULL);
  int64_t symval[DLM_MAX_SYMS];
  for (int i = 0; i < DLM_MAX_SYMS; i++) symval[i] = 1;
  symval[B] = 2;
  CHECK(stats_node_flops(m, f, &f->nodes[mm], symval) == 240);
  CHECK(stats_node_flops(m, f, &f->nodes[ex], symval) == 30);
  CHECK(stats_node_flops(m, f, &f->nodes[sm], symval) == 30);
  CHECK(stats_node_flops(m, f, &f->nodes[at3], symval) == 4.0 * 1 * 2 * 8 * 6 * 4);            /* 1536 */
  CHECK(stats_node_flops(m, f, &f->nodes[at4], symval) == 4.0 * 1 * 2 * 8 * 6 * 4 + 2 * 8 * 6);  /* + 96 */
  FuncStats s;
  stats_func(m, f, symval, &s);
  CHECK(s.nops == 5 && s.kernels == 5 && s.ops[OP_ATTENTION] == 2 && s.ops[OP_ARG] == 6);
  CHECK(s.flops == 240 + 30 + 30 + 1536 + 1632);
  CHECK(s.tokens == 4);                         /* last dim of a */
  ir_module_free(m);
}

static void test_params(void) {
  Module *m = ir_module_new("t");
  CHECK(stats_param_count(m) == 0);
  ir_param_add(m, "w", pc_type(DT_F32, 2, (const int64_t[]){1000, 769}), INIT_NORMAL, 0, 0.02, pc_loc(1));
  ir_param_add(m, "b", pc_type(DT_F32, 1, (const int64_t[]){7}), INIT_ZEROS, 0, 0, pc_loc(1));
  ir_param_add(m, "s", type_scalar(DT_F32), INIT_ONES, 0, 0, pc_loc(1));
  CHECK(stats_param_count(m) == 769008);
  char b[40];
  CHECK(strcmp(stats_commas(169627218, b, sizeof b), "169,627,218") == 0);
  CHECK(strcmp(stats_commas(769008, b, sizeof b), "769,008") == 0);
  CHECK(strcmp(stats_commas(999, b, sizeof b), "999") == 0);
  CHECK(strcmp(stats_commas(1000, b, sizeof b), "1,000") == 0);
  CHECK(strcmp(stats_commas(0, b, sizeof b), "0") == 0);
  char *txt = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&txt, &len);
  int64_t symval[DLM_MAX_SYMS] = {0};
  stats_print(m, symval, out);
  fclose(out);
  CHECK_MSG(strstr(txt, "parameters: 769008 (769,008)") != NULL, "%s", txt);
  free(txt);
  ir_module_free(m);
}

int main(void) {
  test_flops();
  test_params();
  return check_summary("test_passes_stats");
}
