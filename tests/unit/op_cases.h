/* op_cases.h — the per-op cases shared by the CPU backend test (test_cpu_ops.c) and the test of
 * the generated CUDA run on the CPU (test_cuda_emul_ops.c): every op on random inputs, each case
 * ending in the including file's compare_all(what, tol), which checks that backend against the
 * interpreter. Include it after the fixture helpers and compare_all. */
#ifndef DLM_OP_CASES_H
#define DLM_OP_CASES_H

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
  int wide = op(OP_MUL, NULL, none, 2, x, op(OP_CONST, "f32[]", fa(12.0), 0)); /* [-24, 24]: every branch */
  out(op(OP_LOG_NDTR, NULL, none, 1, x));
  out(op(OP_LOG_NDTR, NULL, none, 1, wide));
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

#endif
