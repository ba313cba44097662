/* test_models_dcd.c — Duo's Discrete Consistency Distillation section of models/duo.dsl at a tiny
 * size, run by the interpreter in float64:
 *   the teacher is a frozen copy: every teacher.* parameter maps to the backbone.* parameter of the
 *   same type, and the model's trained parameter count excludes it;
 *   dcd_delta(round) = 2^round / 512 exactly (the step size doubles every round);
 *   distill_loss (a KL divergence) is >= 0, depends on the teacher's weights, and its gradient
 *   (student parameters only: the gradient function has no teacher output) matches finite
 *   differences with the teacher held fixed. */
#include "check.h"
#include "frontend.h"
#include "passes.h"
#include "test_autodiff_fd.h"
#include <math.h>

#define T(...) ((int64_t[]){__VA_ARGS__})

static const DslDefine tiny[] = {{"vocab", "5"}, {"seq_len", "4"}, {"layers", "1"},
                                 {"dim", "8"}, {"heads", "2"}, {"cond_dim", "4"}};

static void randomize(const Module *m, ParamStore *ps, int teacher_only) {
  for (int p = 0; p < m->nparams; p++) {
    if ((ir_param_copy_source(m, p) >= 0) != teacher_only) continue;
    const Type *t = &m->params[p].type;
    int64_t d[DLM_MAX_RANK];
    for (int i = 0; i < t->rank; i++) d[i] = t->dims[i].k;
    pstore_put(ps, m->params[p].name, fd_rand(t->rank, d, -0.5, 0.5));
  }
}

static double run_scalar(const Module *m, const char *fn, const ParamStore *ps, Tensor *const *args) {
  Tensor *out = NULL;
  DlmErr e = {0};
  const Func *f = ir_func_find(m, fn);
  int ok = f && interp_run(m, f, ps, args, &out, DT_F64, &e);
  CHECK_MSG(ok, "%s: %s", fn, f ? e.msg : "missing");
  double v = ok ? tensor_get(out, 0) : NAN;
  tensor_free(out);
  return v;
}

int main(void) {
  Module *m = dsl_compile_file("models/duo.dsl", tiny, 6, stderr);
  CHECK(m != NULL);
  if (!m) return check_summary("test_models_dcd");

  int copies = 0, n_backbone = 0;
  for (int p = 0; p < m->nparams; p++) {
    const char *name = m->params[p].name;
    int s = ir_param_copy_source(m, p);
    if (!strncmp(name, "teacher.", 8)) {
      copies++;
      char want[256];
      snprintf(want, sizeof want, "backbone.%s", name + 8);
      CHECK_MSG(s >= 0 && !strcmp(m->params[s].name, want) && type_eq(&m->params[s].type, &m->params[p].type),
                "%s is not a copy of %s", name, want);
    } else {
      CHECK_MSG(s < 0, "%s is a copy", name);
      n_backbone += !strncmp(name, "backbone.", 9);
    }
  }
  CHECK(copies == n_backbone && copies == 1 + 4 + 10 + 5);
  int64_t trained = 0, n;
  for (int p = 0; p < m->nparams; p++)
    if (!strncmp(m->params[p].name, "backbone.", 9) && type_numel_const(&m->params[p].type, &n)) trained += n;
  CHECK(stats_param_count(m) == trained);

  for (int r = 0; r < 6; r++) {
    Tensor *round = tensor_new(DT_I64, 0, NULL);
    tensor_set(round, 0, r);
    CHECK(run_scalar(m, "dcd_delta", NULL, &round) == ldexp(1.0, r) / 512.0);
    tensor_free(round);
  }

  ParamStore *ps = pstore_new();
  randomize(m, ps, 0);
  CHECK(pstore_fill_copies(m, ps));
  Tensor *args[4] = {tensor_new(DT_I32, 2, T(2, 4)), tensor_new(DT_I64, 0, NULL), tensor_new(DT_I64, 0, NULL),
                     tensor_new(DT_I64, 0, NULL)};
  const int x0[8] = {0, 4, 2, 2, 1, 3, 0, 4};
  for (int i = 0; i < 8; i++) tensor_set(args[0], i, x0[i]);
  tensor_set(args[1], 0, 7);
  tensor_set(args[2], 0, 3);
  tensor_set(args[3], 0, 6);   /* delta = 1/8: z_t and z_s differ somewhere */
  double same = run_scalar(m, "distill_loss", ps, args);
  CHECK_MSG(same >= 0, "KL %g < 0", same);
  randomize(m, ps, 1);
  double other = run_scalar(m, "distill_loss", ps, args);
  CHECK_MSG(other >= 0 && fabs(other - same) > 1e-9, "teacher weights do not matter: %g vs %g", other, same);

  Func *f = ir_func_find(m, "distill_loss");
  if (f) {
    int live = fd_live_tensors;
    fd_check_some("distill_loss", m, f, args, NULL, 0, ps, 1, 6);
    CHECK_MSG(fd_live_tensors - live == copies, "%d of %d student tensors have a nonzero gradient sample", fd_live_tensors - live, copies);
    const Func *g = ir_func_find(m, "distill_loss.grad");
    for (int k = 0; g && k < g->nout; k++)
      CHECK_MSG(!g->outnames || !g->outnames[k] || strncmp(g->outnames[k], "grad:teacher.", 13) != 0, "gradient output %s", g->outnames[k]);
  }
  for (int i = 0; i < 4; i++) tensor_free(args[i]);
  pstore_free(ps);
  ir_module_free(m);
  return check_summary("test_models_dcd");
}
