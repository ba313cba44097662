/* test_cuda_emul_ops.c — every op's generated CUDA kernel run on the CPU (tests/unit/cuda_emul.h)
 * against the interpreter (f32 mode), on the op cases of test_cpu_ops.c (float, integer and f64
 * ops, reductions on each axis, layout, gather/take/scatter, matmuls with broadcast batches,
 * attention with a mask that blanks a row, fused chains), with and without elementwise fusion.
 * Skips (77) when no C++ compiler is found. */
#include "cuda_emul.h"
#include "interp_fixture.h"
#include "test_cpu_fixture.h"

#define R(dt, ...) (sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), ((const int64_t[]){__VA_ARGS__})
static int OUTS[256], NOUT;
static char DIR_[64];
static void out(int id) {
  if (id < 0) { CHECK_MSG(0, "an op failed to emit"); return; }
  OUTS[NOUT++] = id;
}
static int rarg(const char *decl, DType dt, int rank, const int64_t *shape, double lo, double hi) {
  return arg(decl, cpu_rand_tensor(dt, rank, shape, lo, hi));
}
static Attrs axk(int axis, int keep) { return ia(2, axis, keep); }

/* run the function with outputs OUTS on the interpreter and emulated, fused and unfused */
static void compare_all(const char *what, double tol) {
  ir_set_outputs(M, F, NOUT, OUTS, NULL);
  DlmErr e = {0};
  CHECK_MSG(ir_verify_func(M, F, &e), "%s: invalid function: %s", what, e.msg);
  int64_t sv[DLM_MAX_SYMS];
  for (int s = 0; s < DLM_MAX_SYMS; s++) sv[s] = 1;
  for (int id = 0; id < F->nnodes; id++) /* bind B from the argument shapes */
    if (F->nodes[id].op == OP_ARG)
      for (int d = 0; d < F->nodes[id].type.rank; d++) {
        Dim dm = F->nodes[id].type.dims[d];
        if (dm.syms && !(dm.syms & (dm.syms - 1)) && dm.k > 0) sv[__builtin_ctz(dm.syms)] = ARGS[F->nodes[id].attr.i[0]]->shape[d] / dm.k;
      }
  Tensor *want[256] = {0};
  int ok1 = interp_run(M, F, NULL, ARGS, want, DT_F32, &e);
  CHECK_MSG(ok1, "%s: interpreter: %s", what, e.msg);
  for (int fuse = 1; ok1 && fuse >= 0; fuse--) {
    setenv("DLM_CUDA_FUSE", fuse ? "1" : "0", 1);
    CudaUnit u;
    Tensor *got[256] = {0};
    int ok = cuda_emit_func(M, F, &u, &e);
    CHECK_MSG(ok, "%s: %s", what, e.msg);
    char *src = ok ? emul_source(u.src) : NULL;
    void *lib = src ? build(src, DIR_) : NULL;
    CHECK_MSG(!ok || lib, "%s: the emulation unit does not compile", what);
    int ok2 = lib && run_emul(F, &u, lib, NULL, ARGS, got, sv);
    CHECK_MSG(!lib || ok2, "%s: emulation failed", what);
    for (int k = 0; ok2 && k < F->nout; k++) {
      char nm[200];
      snprintf(nm, sizeof nm, "%s (%s) output %d (%s)", what, fuse ? "fused" : "unfused", k, op_info[F->nodes[F->outs[k]].op].name);
      CHECK_MSG(cpu_close_enough(nm, got[k], want[k], tol), "%s differs from the interpreter", nm);
    }
    for (int k = 0; k < F->nout; k++) tensor_free(got[k]);
    if (lib) dlclose(lib);
    free(src);
    if (ok) cuda_unit_free(&u);
  }
  unsetenv("DLM_CUDA_FUSE");
  for (int k = 0; k < F->nout; k++) tensor_free(want[k]);
  NOUT = 0;
}

static void test_float_ops(void) {
  fx_begin();
  int x = rarg("f32[B,4,5]", DT_F32, R(3, 3, 4, 5), -2, 2);
  int y = rarg("f32[4,5]", DT_F32, R(2, 4, 5), -2, 2);
  int p = rarg("f32[B,4,5]", DT_F32, R(3, 3, 4, 5), 0.1, 2);
  int c = rarg("bool[B,4,1]", DT_BOOL, R(3, 3, 4, 1), 0, 2);
  int gi = rarg("i32[B,2]", DT_I32, R(2, 3, 2), 0, 4);
  int ti = rarg("i64[B,4,3]", DT_I64, R(3, 3, 4, 3), 0, 5);
  int src = rarg("f32[B,2,5]", DT_F32, R(3, 3, 2, 5), -1, 1);
  int w = rarg("f32[5,3]", DT_F32, R(2, 5, 3), -1, 1);
  int w2 = rarg("f32[3,4]", DT_F32, R(2, 3, 4), -1, 1);
  int a4 = rarg("f32[B,1,4,5]", DT_F32, R(4, 3, 1, 4, 5), -1, 1);
  int b3 = rarg("f32[2,5,3]", DT_F32, R(3, 2, 5, 3), -1, 1);
  int q = rarg("f32[B,2,4,8]", DT_F32, R(4, 3, 2, 4, 8), -1, 1);
  int k = rarg("f32[B,2,6,8]", DT_F32, R(4, 3, 2, 6, 8), -1, 1);
  int v = rarg("f32[B,2,6,3]", DT_F32, R(4, 3, 2, 6, 3), -1, 1);
  /* mask [4,6]: row 2 sees no key */
  Tensor *mt = tensor_new(DT_BOOL, 2, SHAPE(4, 6));
  for (int i = 0; i < 24; i++) tensor_set(mt, i, i / 6 != 2 && (i % 6) <= (i / 6) + 2);
  int mask = arg("bool[4,6]", mt);
  Attrs none = attrs_none();
  const OpKind un[] = {OP_NEG, OP_ABS, OP_EXP, OP_EXPM1, OP_SIN, OP_COS, OP_TANH, OP_SIGMOID, OP_SILU, OP_GELU_TANH, OP_FLOOR};
  for (size_t i = 0; i < sizeof un / sizeof *un; i++) out(op(un[i], NULL, none, 1, x));
  const OpKind unp[] = {OP_LOG, OP_LOG1P, OP_SQRT, OP_RSQRT};
  for (size_t i = 0; i < sizeof unp / sizeof *unp; i++) out(op(unp[i], NULL, none, 1, p));
  const OpKind bin[] = {OP_ADD, OP_SUB, OP_MUL, OP_MAXIMUM, OP_MINIMUM, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE};
  for (size_t i = 0; i < sizeof bin / sizeof *bin; i++) out(op(bin[i], NULL, none, 2, x, y));
  out(op(OP_DIV, NULL, none, 2, x, p));
  out(op(OP_MOD, NULL, none, 2, x, p));
  out(op(OP_POW, NULL, none, 2, p, y));
  out(op(OP_EQ, NULL, none, 2, x, x));
  int lt = op(OP_LT, NULL, none, 2, x, y), gt = op(OP_GT, NULL, none, 2, x, p);
  out(op(OP_AND, NULL, none, 2, lt, gt));
  out(op(OP_OR, NULL, none, 2, lt, c));
  out(op(OP_NOT, NULL, none, 1, lt));
  out(op(OP_WHERE, NULL, none, 3, c, x, y));
  Attrs two = fa(2.5);
  int k25 = op(OP_CONST, "f32[]", two, 0);
  out(op(OP_MUL, NULL, none, 2, x, k25));
  out(op(OP_CONST, "f32[B,2]", fa(-1.25), 0));
  out(op(OP_CONST, "i32[3]", fa(7), 0));
  out(op(OP_CAST, "i32[B,4,5]", none, 1, x));
  out(op(OP_CAST, "i64[B,4,5]", none, 1, x));
  out(op(OP_CAST, "f64[B,4,5]", none, 1, x));
  out(op(OP_CAST, "bool[B,4,5]", none, 1, x));
  int xb = op(OP_CAST, "bf16[B,4,5]", none, 1, x), xh = op(OP_CAST, "f16[B,4,5]", none, 1, x);
  out(op(OP_EXP, NULL, none, 1, xb));
  out(op(OP_MUL, NULL, none, 2, xh, xh));
  const OpKind red[] = {OP_SUM, OP_MEAN, OP_RMAX, OP_LOGSUMEXP, OP_ARGMAX};
  const char *argmax_types[] = {"i64[B,4]", "i64[4,5]", "i64[B,1,5]", "i64[B,4]"};
  for (size_t i = 0; i < sizeof red / sizeof *red; i++)
    for (int ax = -1; ax < 3; ax++) out(op(red[i], red[i] == OP_ARGMAX ? argmax_types[ax + 1] : NULL, axk(ax, ax == 1), 1, x));
  out(op(OP_SUM_TO, "f32[4,1]", none, 1, x));
  out(op(OP_SUM_TO, "f32[1,4,5]", none, 1, x));
  out(op(OP_SOFTMAX, NULL, ia(1, 1), 1, x));
  out(op(OP_SOFTMAX, NULL, ia(1, -1), 1, x));
  out(op(OP_LOG_SOFTMAX, NULL, ia(1, 0), 1, x));
  out(op(OP_LOG_SOFTMAX, NULL, ia(1, 2), 1, x));
  out(op(OP_LAYER_NORM, NULL, fa(1e-5), 1, x));
  out(op(OP_RESHAPE, "f32[B,20]", none, 1, x));
  out(op(OP_TRANSPOSE, NULL, ia(3, 2, 0, 1), 1, x));
  out(op(OP_BROADCAST, "f32[B,4,5]", none, 1, y));
  out(op(OP_SLICE, NULL, ia(4, 2, 1, 5, 2), 1, x));
  out(op(OP_SLICE, NULL, ia(4, 1, 1, 3, 1), 1, x));
  out(op(OP_PAD, NULL, ia(3, 1, 1, 2), 1, x));
  out(op(OP_CONCAT, NULL, ia(1, 2), 3, x, p, x));
  out(op(OP_CONCAT, NULL, ia(1, 0), 2, x, p));
  out(op(OP_CUMSUM, NULL, ia(1, 1), 1, x));
  out(op(OP_SORT_DESC, NULL, none, 1, x));
  out(op(OP_GATHER, NULL, none, 2, y, gi));
  out(op(OP_TAKE, NULL, none, 2, x, ti));
  out(op(OP_SCATTER_ADD, "f32[4,5]", none, 2, src, gi));
  out(op(OP_MATMUL, NULL, ia(2, 0, 0), 2, x, w));
  out(op(OP_MATMUL, NULL, ia(2, 1, 0), 2, x, x));
  out(op(OP_MATMUL, NULL, ia(2, 0, 1), 2, x, x));
  out(op(OP_MATMUL, NULL, ia(2, 1, 1), 2, x, w2));
  out(op(OP_MATMUL, NULL, ia(2, 0, 0), 2, a4, b3));
  out(op(OP_ATTENTION, NULL, fa(0.35), 3, q, k, v));
  out(op(OP_ATTENTION, NULL, fa(0.35), 4, q, k, v, mask));
  /* one key: its rows broadcast (the loop kernel instead of gemm) */
  int k1 = op(OP_SLICE, NULL, ia(4, 2, 0, 1, 1), 1, k), v1 = op(OP_SLICE, NULL, ia(4, 2, 2, 3, 1), 1, v);
  out(op(OP_ATTENTION, NULL, fa(0.35), 3, q, k1, v1));
  out(op(OP_IOTA, "f32[B,3,2]", ia(1, 1), 0));
  out(op(OP_IOTA, "i32[B,3,2]", ia(1, -1), 0));
  compare_all("float ops", CPU_TOL);
  fx_end();
}

/* matmuls large enough to be split over threads (row blocks of one product, batch entries), and
 * sum_to / scatter_add large enough for per-thread partial sums */
static void test_big_matmul(void) {
  fx_begin();
  int bx = rarg("f32[B,70,40]", DT_F32, R(3, 3, 70, 40), -1, 1), bw = rarg("f32[100,40]", DT_F32, R(2, 100, 40), -1, 1);
  int ba = rarg("f32[B,4,70,40]", DT_F32, R(4, 3, 4, 70, 40), -1, 1), bb = rarg("f32[B,4,40,60]", DT_F32, R(4, 3, 4, 40, 60), -1, 1);
  out(op(OP_MATMUL, NULL, ia(2, 0, 1), 2, bx, bw));
  out(op(OP_MATMUL, NULL, ia(2, 0, 0), 2, ba, bb));
  /* and accumulations with per-thread partial sums */
  int big = rarg("f32[B,100,120]", DT_F32, R(3, 3, 100, 120), -1, 1), bi = rarg("i32[B,100]", DT_I32, R(2, 3, 100), 0, 7);
  out(op(OP_SUM_TO, "f32[120]", attrs_none(), 1, big));
  out(op(OP_SUM_TO, "f32[B,1,120]", attrs_none(), 1, big));
  out(op(OP_SCATTER_ADD, "f32[7,120]", attrs_none(), 2, big, bi));
  compare_all("large matmuls and accumulations", CPU_TOL);
  fx_end();
}

/* elementwise chains fused into one loop: within the limits, and one reading more distinct
 * buffers than a fused kernel takes (20 slices), which is left unfused */
static void test_fusion(void) {
  fx_begin();
  int x = rarg("f32[B,20,6]", DT_F32, R(3, 2, 20, 6), -1, 1), y = rarg("f32[6]", DT_F32, R(1, 6), -1, 1);
  Attrs none = attrs_none();
  int half = op(OP_CONST, "f32[]", fa(0.5), 0);
  int e1 = op(OP_EXP, NULL, none, 1, x), m1 = op(OP_MUL, NULL, none, 2, e1, y), s1 = op(OP_SIN, NULL, none, 1, x);
  out(op(OP_ADD, NULL, none, 2, m1, s1));
  int acc = op(OP_SLICE, NULL, ia(4, 1, 0, 1, 1), 1, x);
  for (int k = 1; k < 20; k++) {
    int sk = op(OP_SLICE, NULL, ia(4, 1, k, k + 1, 1), 1, x);
    acc = op(OP_ADD, NULL, none, 2, op(OP_MUL, NULL, none, 2, acc, half), sk);
  }
  out(op(OP_TANH, NULL, none, 1, acc));
  compare_all("fused chains", CPU_TOL);
  fx_end();
}

static void test_int_ops(void) {
  fx_begin();
  int a = rarg("i64[B,6]", DT_I64, R(2, 2, 6), -40, 40);
  Tensor *bt = cpu_rand_tensor(DT_I64, 2, SHAPE(2, 6), 1, 6);
  for (int i = 0; i < 12; i += 3) tensor_set(bt, i, -tensor_get(bt, i)); /* some negative divisors */
  int b = arg("i64[B,6]", bt);
  int e = rarg("i64[6]", DT_I64, R(1, 6), 0, 5);
  int big = rarg("i32[B,6]", DT_I32, R(2, 2, 6), 1e9, 2e9);
  Attrs none = attrs_none();
  const OpKind bin[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_MAXIMUM, OP_MINIMUM, OP_EQ, OP_LT, OP_GE};
  for (size_t i = 0; i < sizeof bin / sizeof *bin; i++) out(op(bin[i], NULL, none, 2, a, b));
  out(op(OP_POW, NULL, none, 2, a, e));
  out(op(OP_NEG, NULL, none, 1, a));
  out(op(OP_ABS, NULL, none, 1, a));
  out(op(OP_ADD, NULL, none, 2, big, big)); /* wraps in i32 */
  out(op(OP_MUL, NULL, none, 2, big, big));
  out(op(OP_SUM, NULL, axk(1, 0), 1, a));
  out(op(OP_SUM, NULL, axk(1, 0), 1, big));
  out(op(OP_RMAX, NULL, axk(0, 1), 1, a));
  out(op(OP_ARGMAX, "i32[B]", axk(1, 0), 1, a));
  out(op(OP_CUMSUM, NULL, ia(1, 1), 1, a));
  out(op(OP_SORT_DESC, NULL, none, 1, a));
  out(op(OP_SORT_DESC, NULL, none, 1, big));
  out(op(OP_CAST, "i32[B,6]", none, 1, a));
  out(op(OP_CAST, "f32[B,6]", none, 1, a));
  out(op(OP_SUM_TO, "i64[6]", none, 1, a));
  int a3 = op(OP_RESHAPE, "i64[B,2,3]", none, 1, a);
  int b3 = op(OP_RESHAPE, "i64[B,3,2]", none, 1, b);
  out(op(OP_MATMUL, NULL, ia(2, 0, 0), 2, a3, b3));
  compare_all("integer ops", 0);
  fx_end();
}

static void test_f64_ops(void) {
  fx_begin();
  int x = rarg("f64[B,3,4]", DT_F64, R(3, 2, 3, 4), -2, 2);
  int w = rarg("f64[4,5]", DT_F64, R(2, 4, 5), -1, 1);
  Attrs none = attrs_none();
  out(op(OP_EXP, NULL, none, 1, x));
  out(op(OP_GELU_TANH, NULL, none, 1, x));
  out(op(OP_MATMUL, NULL, ia(2, 0, 0), 2, x, w));
  out(op(OP_MATMUL, NULL, ia(2, 1, 0), 2, x, x));
  out(op(OP_SOFTMAX, NULL, ia(1, -1), 1, x));
  out(op(OP_LOGSUMEXP, NULL, axk(1, 0), 1, x));
  out(op(OP_ATTENTION, NULL, fa(0.5), 3, x, x, x));
  out(op(OP_SORT_DESC, NULL, none, 1, x));
  compare_all("f64 ops", CPU_TOL);
  fx_end();
}

/* rand_uniform against philox_uniform itself: f32 exactly, f64 through its top 53 bits */
int main(void) {
  if (system("c++ --version > /dev/null 2>&1") != 0) {
    printf("test_cuda_emul_ops: skipped (no C++ compiler)\n");
    return 77;
  }
  cpu_test_env();
  snprintf(DIR_, sizeof DIR_, "/tmp/dlm_cuda_emul_ops_XXXXXX");
  if (!mkdtemp(DIR_)) { perror("mkdtemp"); return 1; }
  test_float_ops();
  test_big_matmul();
  test_fusion();
  test_int_ops();
  test_f64_ops();
  rmdir(DIR_);
  return check_summary("test_cuda_emul_ops");
}
