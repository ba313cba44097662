/* test_autodiff_ops.c — the gradient rule of every differentiable op in ir/ops.def, checked against
 * central finite differences in float64: each case is a tiny function y = op(inputs) with the loss
 * sum(y * W) for a fixed random W, shapes chosen to exercise broadcasting, axes and attributes. */
#include "check.h"
#include "test_autodiff_fd.h"

#define T(...) ((int64_t[]){__VA_ARGS__})
#define W(...) ((int[]){__VA_ARGS__})

typedef struct {
  int nin;
  Type in[4];
  double lo[4], hi[4]; /* argument value ranges */
  int wrt[4], nwrt;
} Spec;

static Spec spec1(int rank, const int64_t *d, double lo, double hi) {
  Spec s;
  memset(&s, 0, sizeof s);
  s.nin = 1;
  s.in[0] = fd_type(DT_F64, rank, d);
  s.lo[0] = lo;
  s.hi[0] = hi;
  s.wrt[0] = 0;
  s.nwrt = 1;
  return s;
}

static Spec spec2(int ra, const int64_t *a, int rb, const int64_t *b, double lo, double hi) {
  Spec s = spec1(ra, a, lo, hi);
  s.nin = 2;
  s.in[1] = fd_type(DT_F64, rb, b);
  s.lo[1] = lo;
  s.hi[1] = hi;
  s.wrt[1] = 1;
  s.nwrt = 2;
  return s;
}

/* y = op(args...) with the given attributes / declared type; checks d loss / d wrt args */
static void run_case(const char *what, OpKind op, const Spec *s, const Attrs *a, const Type *given) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  int in[4];
  for (int i = 0; i < s->nin; i++) {
    char nm[16];
    snprintf(nm, sizeof nm, "x%d", i);
    in[i] = ir_arg(m, f, nm, s->in[i], fd_noloc());
  }
  fd_loss(m, f, fd_emit(m, f, op, given, s->nin, in, a));
  Tensor *args[5];
  for (int i = 0; i < s->nin; i++) args[i] = fd_rand_arg(f, i, s->lo[i], s->hi[i]);
  args[s->nin] = fd_rand_arg(f, s->nin, -1, 1);
  fd_check(what, m, f, args, s->wrt, s->nwrt, NULL, 0);
  for (int i = 0; i <= s->nin; i++) tensor_free(args[i]);
  ir_module_free(m);
}

static void test_unary(void) {
  static const struct { OpKind op; double lo, hi; } u[] = {
      {OP_NEG, -2, 2}, {OP_ABS, 0.1, 2}, {OP_EXP, -2, 2}, {OP_LOG, 0.2, 3}, {OP_LOG1P, -0.5, 2},
      {OP_EXPM1, -2, 2}, {OP_SQRT, 0.2, 3}, {OP_RSQRT, 0.2, 3}, {OP_SIN, -3, 3}, {OP_COS, -3, 3},
      {OP_TANH, -2, 2}, {OP_SIGMOID, -3, 3}, {OP_SILU, -3, 3}, {OP_GELU_TANH, -3, 3}, {OP_LOG_NDTR, -4, 4}};
  for (size_t i = 0; i < sizeof u / sizeof *u; i++) {
    Spec s = spec1(2, T(3, 4), u[i].lo, u[i].hi);
    run_case(op_info[u[i].op].name, u[i].op, &s, NULL, NULL);
  }
  Spec s = spec1(2, T(3, 4), -2, -0.1); /* abs on negatives */
  run_case("abs<0", OP_ABS, &s, NULL, NULL);
  s = spec1(2, T(3, 4), -40, -21); /* log_ndtr's asymptotic branch */
  run_case("log_ndtr tail", OP_LOG_NDTR, &s, NULL, NULL);
}

static void test_cast(void) {
  Spec s = spec1(2, T(2, 3), -2, 2);
  Type t = fd_type(DT_F32, 2, T(2, 3));
  run_case("cast f64->f32", OP_CAST, &s, NULL, &t);
}

static void test_binary(void) {
  static const OpKind ops[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW, OP_MAXIMUM, OP_MINIMUM};
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
    double lo = ops[i] == OP_DIV || ops[i] == OP_POW ? 0.3 : -2;
    Spec same = spec2(2, T(3, 4), 2, T(3, 4), lo, 2);
    Spec bc1 = spec2(3, T(2, 3, 4), 2, T(3, 1), lo, 2);  /* b broadcast on two axes, lower rank */
    Spec bc2 = spec2(1, T(4), 3, T(2, 1, 4), lo, 2);     /* a broadcast, both sides grow */
    char nm[64];
    snprintf(nm, sizeof nm, "%s same", op_info[ops[i]].name);
    run_case(nm, ops[i], &same, NULL, NULL);
    snprintf(nm, sizeof nm, "%s bcast b", op_info[ops[i]].name);
    run_case(nm, ops[i], &bc1, NULL, NULL);
    snprintf(nm, sizeof nm, "%s bcast a", op_info[ops[i]].name);
    run_case(nm, ops[i], &bc2, NULL, NULL);
  }
  Spec self = spec1(2, T(2, 3), -2, 2); /* one value used twice: gradients accumulate */
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  int x = ir_arg(m, f, "x", self.in[0], fd_noloc());
  fd_loss(m, f, fd_op2(m, f, OP_ADD, fd_op2(m, f, OP_MUL, x, x), fd_op1(m, f, OP_EXP, x)));
  Tensor *args[2] = {fd_rand_arg(f, 0, -2, 2), fd_rand_arg(f, 1, -1, 1)};
  fd_check("x*x + exp(x)", m, f, args, self.wrt, 1, NULL, 0);
  tensor_free(args[0]);
  tensor_free(args[1]);
  ir_module_free(m);
}

static void test_where(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  int a = ir_arg(m, f, "a", fd_type(DT_F64, 2, T(3, 4)), fd_noloc());
  int b = ir_arg(m, f, "b", fd_type(DT_F64, 3, T(2, 3, 1)), fd_noloc());
  int c = ir_arg(m, f, "c", fd_type(DT_F64, 3, T(2, 1, 4)), fd_noloc());
  Type zt = type_scalar(DT_F64);
  int zero = fd_emit(m, f, OP_CONST, &zt, 0, NULL, NULL);
  int in[3] = {fd_op2(m, f, OP_GT, c, zero), a, b};
  fd_loss(m, f, fd_emit(m, f, OP_WHERE, NULL, 3, in, NULL));
  Tensor *args[4] = {fd_rand_arg(f, 0, -2, 2), fd_rand_arg(f, 1, -2, 2), fd_rand_arg(f, 2, -1, 1), fd_rand_arg(f, 3, -1, 1)};
  fd_check("where", m, f, args, W(0, 1), 2, NULL, 0);
  for (int i = 0; i < 4; i++) tensor_free(args[i]);
  ir_module_free(m);
}

static void test_reductions(void) {
  static const OpKind ops[] = {OP_SUM, OP_MEAN, OP_RMAX, OP_LOGSUMEXP};
  static const int64_t axes[][2] = {{0, 0}, {1, 1}, {-1, 0}, {2, 1}};
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
    for (size_t k = 0; k < sizeof axes / sizeof *axes; k++) {
      Spec s = spec1(3, T(2, 3, 4), -2, 2);
      Attrs a = fd_attrs(2, axes[k]);
      char nm[64];
      snprintf(nm, sizeof nm, "%s axis %lld keepdim %lld", op_info[ops[i]].name, (long long)axes[k][0], (long long)axes[k][1]);
      run_case(nm, ops[i], &s, &a, NULL);
    }
  Spec s = spec1(3, T(2, 3, 4), -2, 2);
  Type t = fd_type(DT_F64, 2, T(3, 1));
  run_case("sum_to [3,1]", OP_SUM_TO, &s, NULL, &t);
  Type t0 = type_scalar(DT_F64);
  run_case("sum_to []", OP_SUM_TO, &s, NULL, &t0);
}

/* reduce_max ties share the gradient: max of [1, 3, 3, 2] has gradient [0, 1/2, 1/2, 0] */
static void test_max_ties(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  int x = ir_arg(m, f, "x", fd_type(DT_F64, 1, T(4)), fd_noloc());
  Attrs a = fd_attrs(2, T(0, 0));
  int y = fd_emit(m, f, OP_RMAX, NULL, 1, &x, &a);
  ir_set_outputs(m, f, 1, &y, NULL);
  DlmErr e = {0};
  Func *g = ad_grad(m, f, 0, W(0), 1, 0, &e);
  CHECK_MSG(g != NULL, "%s", e.msg);
  Tensor *xs = tensor_new(DT_F64, 1, T(4)), *outs[2] = {0};
  const double v[4] = {1, 3, 3, 2}, want[4] = {0, 0.5, 0.5, 0};
  for (int i = 0; i < 4; i++) tensor_set(xs, i, v[i]);
  if (g && interp_run(m, g, NULL, &xs, outs, DT_F64, &e)) {
    CHECK_NEAR(tensor_get(outs[0], 0), 3, 0);
    for (int i = 0; i < 4; i++) CHECK_NEAR(tensor_get(outs[1], i), want[i], 0);
  } else {
    CHECK_MSG(0, "%s", e.msg);
  }
  tensor_free(outs[0]);
  tensor_free(outs[1]);
  tensor_free(xs);
  ir_module_free(m);
}

static void test_normalizations(void) {
  static const int64_t axes[] = {-1, 1, 0};
  for (size_t k = 0; k < sizeof axes / sizeof *axes; k++) {
    Spec s = spec1(3, T(2, 3, 4), -2, 2);
    Attrs a = fd_attrs(1, &axes[k]);
    char nm[64];
    snprintf(nm, sizeof nm, "softmax axis %lld", (long long)axes[k]);
    run_case(nm, OP_SOFTMAX, &s, &a, NULL);
    snprintf(nm, sizeof nm, "log_softmax axis %lld", (long long)axes[k]);
    run_case(nm, OP_LOG_SOFTMAX, &s, &a, NULL);
    snprintf(nm, sizeof nm, "cumsum axis %lld", (long long)axes[k]);
    run_case(nm, OP_CUMSUM, &s, &a, NULL);
  }
  Spec s = spec1(3, T(2, 3, 5), -2, 2);
  Attrs a = attrs_none();
  a.f[0] = 1e-5;
  run_case("layer_norm", OP_LAYER_NORM, &s, &a, NULL);
  a.f[0] = 0.5;
  run_case("layer_norm eps 0.5", OP_LAYER_NORM, &s, &a, NULL);
}

static void test_layout(void) {
  Spec s = spec1(3, T(2, 3, 4), -2, 2);
  Type r = fd_type(DT_F64, 2, T(6, 4));
  run_case("reshape", OP_RESHAPE, &s, NULL, &r);
  Attrs p = fd_attrs(3, T(2, 0, 1));
  run_case("transpose", OP_TRANSPOSE, &s, &p, NULL);
  Spec sb = spec1(2, T(3, 1), -2, 2);
  Type bt = fd_type(DT_F64, 3, T(2, 3, 4));
  run_case("broadcast_to", OP_BROADCAST, &sb, NULL, &bt);

  Spec ss = spec1(3, T(2, 7, 3), -2, 2);
  static const int64_t slices[][4] = {{1, 1, 5, 1}, {1, 0, 7, 2}, {-2, 1, 7, 4}, {1, 2, 6, 3}, {0, 0, 2, 1}, {2, 0, 3, 2}};
  for (size_t k = 0; k < sizeof slices / sizeof *slices; k++) {
    Attrs a = fd_attrs(4, slices[k]);
    char nm[80];
    snprintf(nm, sizeof nm, "slice axis %lld %lld:%lld:%lld", (long long)slices[k][0], (long long)slices[k][1],
             (long long)slices[k][2], (long long)slices[k][3]);
    run_case(nm, OP_SLICE, &ss, &a, NULL);
  }
  Attrs pa = fd_attrs(3, T(0, 1, 2));
  run_case("pad axis 0", OP_PAD, &s, &pa, NULL);
  Attrs pb = fd_attrs(3, T(-1, 0, 3));
  run_case("pad axis -1", OP_PAD, &s, &pb, NULL);

  Spec sc = spec2(3, T(2, 3, 4), 3, T(2, 1, 4), -2, 2);
  sc.nin = 3;
  sc.in[2] = fd_type(DT_F64, 3, T(2, 2, 4));
  sc.lo[2] = -2;
  sc.hi[2] = 2;
  sc.wrt[1] = 2; /* the middle input is not differentiated */
  Attrs ca = fd_attrs(1, T(1));
  run_case("concat axis 1", OP_CONCAT, &sc, &ca, NULL);
}

/* gather / take_along with repeated indices, so the scatter-add must accumulate */
static void test_indexing(void) {
  Module *m = ir_module_new("t");
  Func *f = ir_func_new(m, "f");
  int tab = ir_arg(m, f, "table", fd_type(DT_F64, 2, T(5, 3)), fd_noloc());
  int idx = ir_arg(m, f, "idx", fd_type(DT_I64, 2, T(2, 4)), fd_noloc());
  fd_loss(m, f, fd_op2(m, f, OP_GATHER, tab, idx));
  Tensor *args[3] = {fd_rand_arg(f, 0, -2, 2), tensor_new(DT_I64, 2, T(2, 4)), fd_rand_arg(f, 2, -1, 1)};
  const int64_t iv[8] = {0, 3, 3, 1, 4, 0, 3, 0};
  for (int i = 0; i < 8; i++) tensor_set(args[1], i, (double)iv[i]);
  fd_check("gather", m, f, args, W(0), 1, NULL, 0);
  for (int i = 0; i < 3; i++) tensor_free(args[i]);
  ir_module_free(m);

  m = ir_module_new("t");
  f = ir_func_new(m, "f");
  int x = ir_arg(m, f, "x", fd_type(DT_F64, 3, T(2, 3, 5)), fd_noloc());
  idx = ir_arg(m, f, "idx", fd_type(DT_I32, 3, T(2, 3, 2)), fd_noloc());
  fd_loss(m, f, fd_op2(m, f, OP_TAKE, x, idx));
  Tensor *targs[3] = {fd_rand_arg(f, 0, -2, 2), fd_rand_arg(f, 1, 0, 4.999), fd_rand_arg(f, 2, -1, 1)};
  tensor_set(targs[1], 1, tensor_get(targs[1], 0)); /* a repeat in the first row */
  fd_check("take_along", m, f, targs, W(0), 1, NULL, 0);
  for (int i = 0; i < 3; i++) tensor_free(targs[i]);
  ir_module_free(m);
}

static void test_matmul(void) {
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      /* op(a) = [2,3,4] (batch 2), op(b) = [4,5] (no batch: its gradient sums over the batch) */
      Spec s = spec2(3, ta ? T(2, 4, 3) : T(2, 3, 4), 2, tb ? T(5, 4) : T(4, 5), -2, 2);
      Attrs a = fd_attrs(2, T(ta, tb));
      char nm[64];
      snprintf(nm, sizeof nm, "matmul ta=%d tb=%d", ta, tb);
      run_case(nm, OP_MATMUL, &s, &a, NULL);
    }
  Spec s = spec2(3, T(1, 3, 4), 4, T(2, 2, 4, 2), -2, 2);
  Attrs a = fd_attrs(2, T(0, 0));
  run_case("matmul batch broadcast", OP_MATMUL, &s, &a, NULL);
}

/* attention over heads (v broadcast over them), unmasked, with a partial mask (key j visible from
 * query i when j <= i + 1), and with a mask that hides every key from query 0 (j <= i - 1) */
static void test_attention(void) {
  static const char *const what[] = {"attention", "attention masked", "attention fully masked row"};
  static const double shift[] = {0, 1, -1};
  for (int variant = 0; variant < 3; variant++) {
    Module *m = ir_module_new("t");
    Func *f = ir_func_new(m, "f");
    int in[4];
    in[0] = ir_arg(m, f, "q", fd_type(DT_F64, 4, T(2, 2, 3, 4)), fd_noloc());
    in[1] = ir_arg(m, f, "k", fd_type(DT_F64, 4, T(2, 2, 5, 4)), fd_noloc());
    in[2] = ir_arg(m, f, "v", fd_type(DT_F64, 3, T(2, 5, 6)), fd_noloc());
    int masked = variant > 0;
    if (masked) {
      Type it = fd_type(DT_I64, 2, T(3, 5));
      Attrs a0 = fd_attrs(1, T(0)), a1 = fd_attrs(1, T(1));
      int qi = fd_emit(m, f, OP_IOTA, &it, 0, NULL, &a0), kj = fd_emit(m, f, OP_IOTA, &it, 0, NULL, &a1);
      Type ot = type_scalar(DT_I64);
      Attrs sh = attrs_none();
      sh.f[0] = shift[variant];
      in[3] = fd_op2(m, f, OP_LE, kj, fd_op2(m, f, OP_ADD, qi, fd_emit(m, f, OP_CONST, &ot, 0, NULL, &sh)));
    }
    Attrs sc = attrs_none();
    sc.f[0] = 0.7;
    fd_loss(m, f, fd_emit(m, f, OP_ATTENTION, NULL, 3 + masked, in, &sc));
    Tensor *args[4];
    for (int i = 0; i < 4; i++) args[i] = fd_rand_arg(f, i, -1.5, 1.5);
    fd_check(what[variant], m, f, args, W(0, 1, 2), 3, NULL, 0);
    for (int i = 0; i < 4; i++) tensor_free(args[i]);
    ir_module_free(m);
  }
}

/* symbolic batch B (bound to 2 at run time): mean over B and gather with [B, 2] indices */
static void test_symbolic(void) {
  Module *m = ir_module_new("t");
  int b = ir_sym(m, "B");
  Func *f = ir_func_new(m, "f");
  Type xt = fd_type(DT_F64, 2, T(1, 3)), it = fd_type(DT_I64, 2, T(1, 2));
  xt.dims[0] = dim_sym(b);
  it.dims[0] = dim_sym(b);
  int x = ir_arg(m, f, "x", xt, fd_noloc());
  int tab = ir_arg(m, f, "table", fd_type(DT_F64, 2, T(5, 3)), fd_noloc());
  int idx = ir_arg(m, f, "idx", it, fd_noloc());
  Attrs mean0 = fd_attrs(2, T(0, 1)), sum1 = fd_attrs(2, T(1, 0));
  int mx = fd_emit(m, f, OP_MEAN, NULL, 1, &x, &mean0);
  int rows = fd_op2(m, f, OP_GATHER, tab, idx);
  fd_loss(m, f, fd_op2(m, f, OP_MUL, fd_emit(m, f, OP_SUM, NULL, 1, &rows, &sum1), mx));
  Tensor *args[4] = {fd_rand(2, T(2, 3), -1, 1), fd_rand(2, T(5, 3), -1, 1), tensor_new(DT_I64, 2, T(2, 2)),
                     fd_rand(2, T(2, 3), -1, 1)};
  const int64_t iv[4] = {4, 1, 1, 0};
  for (int i = 0; i < 4; i++) tensor_set(args[2], i, (double)iv[i]);
  fd_check("symbolic batch", m, f, args, W(0, 1), 2, NULL, 0);
  for (int i = 0; i < 4; i++) tensor_free(args[i]);
  ir_module_free(m);
}

int main(void) {
  test_unary();
  test_cast();
  test_binary();
  test_where();
  test_reductions();
  test_max_ties();
  test_normalizations();
  test_layout();
  test_indexing();
  test_matmul();
  test_attention();
  test_symbolic();
  return check_summary("test_autodiff_ops");
}
