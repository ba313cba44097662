/* test_autodiff_dsl.c — autodiff of DSL-built training losses: the losses of models/mdlm.dsl and
 * models/duo.dsl at a tiny size (lowered by the frontend: gather embeddings, adaLN DiT blocks,
 * rotary attention, SUBS, rand_uniform masking, where, iota, take_along), with the gradient of
 * every parameter compared with finite differences in float64 on a sample of elements.
 * The graphs are f32 but the interpreter runs them in float64 with float64 parameter copies. */
#include "check.h"
#include "frontend.h"
#include "test_autodiff_fd.h"

#define T(...) ((int64_t[]){__VA_ARGS__})

static const DslDefine tiny[] = {{"vocab", "5"}, {"seq_len", "4"}, {"layers", "1"},
                                 {"dim", "8"}, {"heads", "2"}, {"cond_dim", "4"}};

/* every parameter as a float64 tensor with values uniform in [-0.5, 0.5] (so no path is switched
 * off by a zero initialization) */
static void check_model(const char *path) {
  Module *m = dsl_compile_file(path, tiny, (int)(sizeof tiny / sizeof *tiny), stderr);
  CHECK_MSG(m != NULL, "%s does not compile", path);
  if (!m) return;
  Func *f = ir_func_find(m, "loss");
  CHECK_MSG(f != NULL, "%s has no loss function", path);
  if (f) {
    ParamStore *ps = fd_random_params(m);
    Tensor *args[3] = {tensor_new(DT_I32, 2, T(2, 4)), tensor_new(DT_I64, 0, NULL), tensor_new(DT_I64, 0, NULL)};
    const int64_t x0[8] = {0, 4, 2, 2, 1, 3, 0, 4};
    for (int i = 0; i < 8; i++) tensor_set(args[0], i, (double)x0[i]);
    tensor_set(args[1], 0, 11);
    tensor_set(args[2], 0, 3);
    int live = fd_live_tensors;
    fd_check_some(path, m, f, args, NULL, 0, ps, 1, 16);
    int trained = 0;   /* frozen copies (Duo's DCD teacher) are not read by loss and get no gradient */
    for (int p = 0; p < m->nparams; p++) trained += ir_param_copy_source(m, p) < 0;
    CHECK_MSG(fd_live_tensors - live == trained, "%s: %d of %d parameters have a nonzero gradient sample", path,
              fd_live_tensors - live, trained);
    for (int i = 0; i < 3; i++) tensor_free(args[i]);
    pstore_free(ps);
  }
  ir_module_free(m);
}

int main(void) {
  check_model("models/mdlm.dsl");
  check_model("models/duo.dsl");
  return check_summary("test_autodiff_dsl");
}
