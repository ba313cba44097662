/* test_autodiff_model.c — autodiff of a small transformer-style loss built like the DSL lowers one:
 * embedding gather from a parameter table, layer_norm, multi-head attention with an iota mask,
 * gelu, log_softmax, take_along of the targets, and a loss weight drawn with rand_uniform and floor
 * (off the gradient path). Gradients with respect to every parameter and a float argument are
 * compared with finite differences in float64; the gradient function then goes through the pass
 * pipeline (fold, CSE, DCE, ...) and must still compute the same values. */
#include "check.h"
#include "passes.h"
#include "test_autodiff_fd.h"

#define T(...) ((int64_t[]){__VA_ARGS__})

enum { BATCH = 2, LEN = 4, DIM = 8, HEADS = 2, HD = 4, VOCAB = 7 };

static int op_a(Module *m, Func *f, OpKind op, int x, const Attrs *a) { return fd_emit(m, f, op, NULL, 1, &x, a); }
static int retype(Module *m, Func *f, OpKind op, int x, int rank, const int64_t *d) {
  Type t = fd_type(f->nodes[x].type.dtype, rank, d);
  return fd_emit(m, f, op, &t, 1, &x, NULL);
}
static int cnst(Module *m, Func *f, DType dt, double v) {
  Type t = type_scalar(dt);
  Attrs a = attrs_none();
  a.f[0] = v;
  return fd_emit(m, f, OP_CONST, &t, 0, NULL, &a);
}
static int param(Module *m, Func *f, const char *name) {
  Attrs a = attrs_none();
  a.s = name;
  return fd_emit(m, f, OP_PARAM, NULL, 0, NULL, &a);
}

/* [B, L, D] -> [B, H, L, HD] */
static int heads(Module *m, Func *f, int x) {
  Attrs p = fd_attrs(4, T(0, 2, 1, 3));
  return op_a(m, f, OP_TRANSPOSE, retype(m, f, OP_RESHAPE, x, 4, T(BATCH, LEN, HEADS, HD)), &p);
}

static Func *build(Module *m) {
  static const char *const names[] = {"emb", "wq", "wk", "wv", "wo"};
  static const int64_t shapes[][2] = {{VOCAB, DIM}, {DIM, DIM}, {DIM, DIM}, {DIM, DIM}, {DIM, VOCAB}};
  for (int i = 0; i < 5; i++) ir_param_add(m, names[i], fd_type(DT_F64, 2, shapes[i]), INIT_NORMAL, 0, 0.5, fd_noloc());
  Func *f = ir_func_new(m, "loss");
  int tokens = ir_arg(m, f, "tokens", fd_type(DT_I64, 2, T(BATCH, LEN)), fd_noloc());
  int targets = ir_arg(m, f, "targets", fd_type(DT_I64, 3, T(BATCH, LEN, 1)), fd_noloc());
  int temp = ir_arg(m, f, "temp", type_scalar(DT_F64), fd_noloc());
  int seed = ir_arg(m, f, "seed", type_scalar(DT_I64), fd_noloc());

  int h0 = fd_op2(m, f, OP_GATHER, param(m, f, "emb"), tokens);
  Attrs ln = attrs_none();
  ln.f[0] = 1e-5;
  int h = op_a(m, f, OP_LAYER_NORM, h0, &ln);
  Attrs nt = fd_attrs(2, T(0, 0));
  int q = heads(m, f, fd_emit(m, f, OP_MATMUL, NULL, 2, (int[]){h, param(m, f, "wq")}, &nt));
  int k = heads(m, f, fd_emit(m, f, OP_MATMUL, NULL, 2, (int[]){h, param(m, f, "wk")}, &nt));
  int v = heads(m, f, fd_emit(m, f, OP_MATMUL, NULL, 2, (int[]){h, param(m, f, "wv")}, &nt));
  /* block-causal mask with block size 2: k / 2 <= q / 2 */
  Type it = fd_type(DT_I32, 2, T(LEN, LEN));
  Attrs ax0 = fd_attrs(1, T(0)), ax1 = fd_attrs(1, T(1));
  int two = cnst(m, f, DT_I32, 2);
  int qb = fd_op2(m, f, OP_DIV, fd_emit(m, f, OP_IOTA, &it, 0, NULL, &ax0), two);
  int kb = fd_op2(m, f, OP_DIV, fd_emit(m, f, OP_IOTA, &it, 0, NULL, &ax1), two);
  Attrs sc = attrs_none();
  sc.f[0] = 0.5;
  int att = fd_emit(m, f, OP_ATTENTION, NULL, 4, (int[]){q, k, v, fd_op2(m, f, OP_LE, kb, qb)}, &sc);
  Attrs back = fd_attrs(4, T(0, 2, 1, 3));
  int merged = retype(m, f, OP_RESHAPE, op_a(m, f, OP_TRANSPOSE, att, &back), 3, T(BATCH, LEN, DIM));
  int x = fd_op2(m, f, OP_ADD, h0, fd_op1(m, f, OP_GELU_TANH, merged));
  int logits = fd_op2(m, f, OP_MUL, fd_emit(m, f, OP_MATMUL, NULL, 2, (int[]){x, param(m, f, "wo")}, &nt), temp);
  Attrs last = fd_attrs(1, T(-1));
  int lp = fd_op2(m, f, OP_TAKE, op_a(m, f, OP_LOG_SOFTMAX, logits, &last), targets);
  /* per-token weight 1 + floor(4 u) / 4 with u ~ U[0,1): random, but no gradient flows into it */
  Type ut = fd_type(DT_F64, 3, T(BATCH, LEN, 1));
  Attrs stream = fd_attrs(1, T(3));
  int u = fd_emit(m, f, OP_RAND, &ut, 2, (int[]){seed, cnst(m, f, DT_I64, 0)}, &stream);
  int wgt = fd_op2(m, f, OP_ADD, cnst(m, f, DT_F64, 1),
                   fd_op2(m, f, OP_MUL, fd_op1(m, f, OP_FLOOR, fd_op2(m, f, OP_MUL, u, cnst(m, f, DT_F64, 4))),
                          cnst(m, f, DT_F64, 0.25)));
  int l = fd_op2(m, f, OP_MUL, lp, wgt);
  for (int r = 0; r < 3; r++) l = op_a(m, f, OP_MEAN, l, &(Attrs){.i = {0, 0}, .ni = 2});
  int loss = fd_op1(m, f, OP_NEG, l);
  ir_set_outputs(m, f, 1, &loss, NULL);
  return f;
}

/* run loss.grad, optimize the module, run it again: same outputs, fewer nodes */
static void through_pipeline(Module *m, const ParamStore *ps, Tensor *const *args) {
  Func *g = ir_func_find(m, "loss.grad");
  CHECK(g != NULL);
  if (!g) return;
  int nout = g->nout, before = g->nnodes;
  Tensor **ref = calloc((size_t)nout, sizeof *ref), **got = calloc((size_t)nout, sizeof *got);
  DlmErr e = {0};
  CHECK_MSG(interp_run(m, g, ps, args, ref, DT_F64, &e), "%s", e.msg);
  CHECK_MSG(pass_pipeline_run(m, NULL, &e), "%s", e.msg);
  CHECK(g->nnodes < before && g->nout == nout);
  CHECK_MSG(interp_run(m, g, ps, args, got, DT_F64, &e), "%s", e.msg);
  for (int o = 0; o < nout; o++) {
    int same = ref[o] && got[o] && ref[o]->numel == got[o]->numel;
    for (int64_t i = 0; same && i < ref[o]->numel; i++)
      same = fabs(tensor_get(ref[o], i) - tensor_get(got[o], i)) <= 1e-12 * (1 + fabs(tensor_get(ref[o], i)));
    CHECK_MSG(same, "output %d changed in the pass pipeline", o);
    tensor_free(ref[o]);
    tensor_free(got[o]);
  }
  free(ref);
  free(got);
}

int main(void) {
  Module *m = ir_module_new("model");
  Func *f = build(m);
  ParamStore *ps = pstore_new();
  for (int p = 0; p < m->nparams; p++) {
    int64_t d[2] = {m->params[p].type.dims[0].k, m->params[p].type.dims[1].k};
    pstore_put(ps, m->params[p].name, fd_rand(2, d, -0.8, 0.8));
  }
  Tensor *args[4] = {tensor_new(DT_I64, 2, T(BATCH, LEN)), tensor_new(DT_I64, 3, T(BATCH, LEN, 1)),
                     tensor_new(DT_F64, 0, NULL), tensor_new(DT_I64, 0, NULL)};
  const int64_t tok[BATCH * LEN] = {1, 6, 6, 0, 3, 2, 1, 1}, tgt[BATCH * LEN] = {2, 2, 5, 0, 6, 1, 3, 4};
  for (int i = 0; i < BATCH * LEN; i++) {
    tensor_set(args[0], i, (double)tok[i]);
    tensor_set(args[1], i, (double)tgt[i]);
  }
  tensor_set(args[2], 0, 1.3);
  tensor_set(args[3], 0, 42);
  fd_check("model loss", m, f, args, (int[]){2}, 1, ps, 1);
  through_pipeline(m, ps, args);
  for (int i = 0; i < 4; i++) tensor_free(args[i]);
  pstore_free(ps);
  ir_module_free(m);
  return check_summary("test_autodiff_model");
}
