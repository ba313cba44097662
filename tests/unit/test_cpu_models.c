/* test_cpu_models.c — the CPU backend against the interpreter on every function of
 * models/mdlm.dsl and models/duo.dsl (the exported ones and the sampler step functions) at a tiny
 * size, and on the autodiff gradient function of each objective (`loss`, Duo's `curriculum_loss`
 * and `distill_loss`: every parameter's gradient), after the pass pipeline; random parameters and
 * arguments. */
#include "test_cpu_fixture.h"

static const DslDefine tiny[] = {{"vocab", "5"}, {"seq_len", "4"}, {"layers", "1"},
                                 {"dim", "8"}, {"heads", "2"}, {"cond_dim", "4"}};

/* arguments for f with every symbol = 2: tokens in [0, 5), floats in [0.1, 0.9), i64 scalars small */
static void make_args(const Func *f, Tensor **args) {
  for (int id = 0; id < f->nnodes; id++) {
    const Node *n = &f->nodes[id];
    if (n->op != OP_ARG) continue;
    int64_t shape[DLM_MAX_RANK];
    for (int d = 0; d < n->type.rank; d++) shape[d] = n->type.dims[d].k * (n->type.dims[d].syms ? 2 : 1);
    DType t = n->type.dtype;
    double lo = dtype_is_float(t) ? 0.1 : t == DT_BOOL ? 0 : n->type.rank ? 0 : 3;
    double hi = dtype_is_float(t) ? 0.9 : t == DT_BOOL ? 2 : n->type.rank ? 5 : 40;
    args[n->attr.i[0]] = cpu_rand_tensor(t, n->type.rank, shape, lo, hi);
  }
}

static void check_model(const char *path) {
  Module *m = cpu_compile_model(path, tiny, (int)(sizeof tiny / sizeof *tiny), 1);
  if (!m) return;
  DlmErr e = {0};
  ParamStore *ps = cpu_random_params(m);
  BackendState *st = backend_cpu.open(m, &e);
  CHECK_MSG(st != NULL, "%s: cpu open: %s", path, e.msg);
  int saw_grad = 0;
  for (int i = 0; st && i < m->nfuncs; i++) {
    const Func *f = m->funcs[i];
    Tensor *args[64] = {0};
    if (f->nargs > 64) continue;
    make_args(f, args);
    char what[256];
    snprintf(what, sizeof what, "%.100s %.100s", path, f->name);
    cpu_compare(what, m, f, st, ps, args, CPU_TOL);
    saw_grad |= strcmp(f->name, "loss.grad") == 0;
    for (int a = 0; a < f->nargs; a++) tensor_free(args[a]);
  }
  CHECK_MSG(saw_grad, "%s: no loss.grad function was checked", path);
  if (st) backend_cpu.close(st);
  pstore_free(ps);
  ir_module_free(m);
}

int main(void) {
  cpu_test_env();
  check_model("models/mdlm.dsl");
  check_model("models/duo.dsl");
  return check_summary("test_cpu_models");
}
