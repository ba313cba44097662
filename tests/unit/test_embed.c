/* test_embed.c — a program that uses libdlm only through the public header <dlm.h>: compiles a
 * small DSL program from memory, runs the pass pipeline and autodiff, and evaluates the function and
 * its gradient with the interpreter, checking the values by hand. */
#include <dlm.h>
#include "check.h"
#include <string.h>

static const char *program =
  "sym B\n"
  "param w: f32[3] = ones @ \"w\"\n"
  "export fn loss(x: f32[B, 3]) -> f32 {\n"
  "  return sum(sum(x * w * x, axis = 1), axis = 0)\n"
  "}\n";

int main(void) {
  DlmErr e = {0};
  Module *m = dsl_compile_string("embed.dsl", program, strlen(program), NULL, 0, stderr);
  CHECK(m != NULL);
  if (!m) return check_summary("embed");
  PassOptions o = {0};
  CHECK_MSG(pass_pipeline_run(m, &o, &e), "%s", e.msg);
  Func *f = ir_func_find(m, "loss");
  Func *g = f ? ad_grad(m, f, 0, NULL, 0, 1, &e) : NULL;
  CHECK_MSG(g != NULL, "%s", e.msg);
  ParamStore *ps = pstore_init(m, 1);
  int64_t shape[2] = {2, 3};
  Tensor *x = tensor_new(DT_F32, 2, shape);
  for (int i = 0; i < 6; i++) tensor_set(x, i, i + 1); /* x = [[1,2,3],[4,5,6]], w = ones */
  Tensor *outs[2] = {0};
  if (g && ps && x && interp_run(m, g, ps, &x, outs, DT_F64, &e)) {
    CHECK_NEAR(tensor_get(outs[0], 0), 91.0, 1e-12);        /* sum of squares 1..6 */
    CHECK_NEAR(tensor_get(outs[1], 0), 1 + 16, 1e-12);      /* d/dw_0 = sum_b x_b0^2 */
    CHECK_NEAR(tensor_get(outs[1], 2), 9 + 36, 1e-12);
  } else CHECK_MSG(0, "interp: %s", e.msg);
  for (int k = 0; k < 2; k++) tensor_free(outs[k]);
  tensor_free(x);
  pstore_free(ps);
  ir_module_free(m);
  return check_summary("embed");
}
