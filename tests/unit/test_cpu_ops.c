/* test_cpu_ops.c — every op of ir/ops.def on the CPU backend against the interpreter (f32 mode),
 * on random inputs: float ops (unary, broadcasting binary, comparisons, where, casts to every
 * dtype, reductions on each axis, normalizations, layout ops, gather / take_along / scatter_add,
 * matmul with transposes and broadcast batches, attention with and without a mask that blanks a
 * row, iota, const), integer ops (floor division, modulo, powers, wrapping i32), f64 ops (dgemm),
 * rand_uniform bit-identical with philox_uniform in f32 and f64, and kernel errors (index out of
 * range, integer division by zero) reported like the interpreter, and a failing C compiler reported
 * with the generated source path. Each function is compiled once. */
#include "interp_fixture.h"
#include "test_cpu_fixture.h"

#define R(dt, ...) (sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), ((const int64_t[]){__VA_ARGS__})
static int OUTS[256], NOUT;
static void out(int id) {
  if (id < 0) { CHECK_MSG(0, "an op failed to emit"); return; }
  OUTS[NOUT++] = id;
}
static int rarg(const char *decl, DType dt, int rank, const int64_t *shape, double lo, double hi) {
  return arg(decl, cpu_rand_tensor(dt, rank, shape, lo, hi));
}
static Attrs axk(int axis, int keep) { return ia(2, axis, keep); }

/* run the function with outputs OUTS on both and compare */
static void compare_all(const char *what, double tol) {
  ir_set_outputs(M, F, NOUT, OUTS, NULL);
  DlmErr e = {0};
  CHECK_MSG(ir_verify_func(M, F, &e), "%s: invalid function: %s", what, e.msg);
  BackendState *st = backend_cpu.open(M, &e);
  cpu_compare(what, M, F, st, NULL, ARGS, tol);
  backend_cpu.close(st);
  NOUT = 0;
}

#include "op_cases.h"

/* rand_uniform against philox_uniform itself: f32 exactly, f64 through its top 53 bits */
static void test_rand(void) {
  fx_begin();
  Tensor *seed = tensor_new(DT_I64, 0, NULL), *off = tensor_new(DT_I64, 0, NULL);
  tensor_set(seed, 0, 123456789);
  tensor_set(off, 0, 42);
  int s = arg("i64", seed), o = arg("i64", off);
  int x = rarg("f32[B]", DT_F32, R(1, 37), 0, 1);
  int r32 = op(OP_RAND, "f32[B,5]", ia(1, 3), 2, s, o);
  int r64 = op(OP_RAND, "f64[B,5]", ia(1, 9), 2, s, o);
  int scale = op(OP_CONST, "f64[]", fa(0x1p53), 0);
  out(r32);
  out(op(OP_CAST, "i64[B,5]", attrs_none(), 1, op(OP_MUL, NULL, attrs_none(), 2, r64, scale)));
  out(op(OP_SUM, NULL, axk(0, 0), 1, x)); /* B = 37 from x */
  ir_set_outputs(M, F, NOUT, OUTS, NULL);
  DlmErr e = {0};
  BackendState *st = backend_cpu.open(M, &e);
  Tensor *res[3] = {0};
  int ok = backend_cpu.run(st, F, NULL, ARGS, res, NULL, &e);
  CHECK_MSG(ok, "rand: %s", e.msg);
  if (ok) {
    int same32 = res[0]->numel == 37 * 5, same64 = res[1]->numel == 37 * 5;
    for (int64_t j = 0; same32 && j < res[0]->numel; j++)
      same32 = ((float *)res[0]->data)[j] == (float)philox_uniform(123456789, 42, 3, (uint64_t)j, 0);
    for (int64_t j = 0; same64 && j < res[1]->numel; j++)
      same64 = ((int64_t *)res[1]->data)[j] == (int64_t)(philox_uniform(123456789, 42, 9, (uint64_t)j, 1) * 0x1p53);
    CHECK_MSG(same32, "rand_uniform f32 differs from philox_uniform");
    CHECK_MSG(same64, "rand_uniform f64 differs from philox_uniform");
  }
  for (int i = 0; i < 3; i++) tensor_free(res[i]);
  backend_cpu.close(st);
  NOUT = 0;
  fx_end();
}

/* slice, pad and concat on every axis of a tensor large enough for the threaded copies: the
 * contiguous runs of step-1 slices, pads (zeroing around the copy) and concats, a step-2 slice,
 * and last-axis pads read inside an elementwise loop (a sum of the padded pieces) */
static void test_layout_runs(void) {
  fx_begin();
  int x = rarg("f32[2,30,40,50]", DT_F32, R(4, 2, 30, 40, 50), -1, 1), y = rarg("f32[2,30,40,7]", DT_F32, R(4, 2, 30, 40, 7), -1, 1);
  Attrs none = attrs_none();
  /* a dead temporary first, so the outputs' workspace holds nonzero values the pads must clear */
  out(op(OP_SUM, NULL, ia(2, 3, 0), 1, op(OP_EXP, NULL, none, 1, op(OP_CONCAT, NULL, ia(1, 3), 2, x, x))));
  for (int ax = 0; ax < 4; ax++) {
    out(op(OP_SLICE, NULL, ia(4, ax, 1, 2 + ax, 1), 1, x));
    out(op(OP_PAD, NULL, ia(3, ax, ax, 3 - ax), 1, x));
  }
  out(op(OP_SLICE, NULL, ia(4, 3, 3, 50, 2), 1, x));
  out(op(OP_CONCAT, NULL, ia(1, 3), 3, y, x, y));
  out(op(OP_ADD, NULL, none, 2, op(OP_PAD, NULL, ia(3, 3, 0, 7), 1, x), op(OP_PAD, NULL, ia(3, 3, 50, 0), 1, y)));
  compare_all("layout ops on every axis", CPU_TOL);
  fx_end();
}

/* transposes reading a last-axis slice in place (directly, through a reshape splitting the slice's
 * axis as split_heads does, and through one the view cannot follow, which keeps the copy), one
 * read only inside an elementwise loop, which reads the slice's input itself, and transposes read
 * in place by attention */
static void test_slice_views(void) {
  fx_begin();
  int x = rarg("f32[B,6,24]", DT_F32, R(3, 2, 6, 24), -1, 1);
  Attrs none = attrs_none();
  int heads = op(OP_RESHAPE, "f32[B,6,3,4]", none, 1, op(OP_SLICE, NULL, ia(4, 2, 8, 20, 1), 1, x));
  out(op(OP_TRANSPOSE, NULL, ia(4, 0, 2, 1, 3), 1, heads));
  out(op(OP_TRANSPOSE, NULL, ia(3, 2, 0, 1), 1, op(OP_SLICE, NULL, ia(4, -1, 3, 10, 1), 1, x)));
  int flat = op(OP_RESHAPE, "f32[B,4,9]", none, 1, op(OP_SLICE, NULL, ia(4, 2, 0, 6, 1), 1, x));
  out(op(OP_TRANSPOSE, NULL, ia(3, 0, 2, 1), 1, flat));
  /* a transpose of a view read only by one elementwise loop, at shifted positions too */
  int qh = op(OP_TRANSPOSE, NULL, ia(4, 0, 2, 1, 3), 1, op(OP_RESHAPE, "f32[B,6,3,4]", none, 1, op(OP_SLICE, NULL, ia(4, 2, 12, 24, 1), 1, x)));
  int half = op(OP_CONCAT, NULL, ia(1, 3), 2, op(OP_NEG, NULL, none, 1, op(OP_SLICE, NULL, ia(4, 3, 2, 4, 1), 1, qh)),
                op(OP_SLICE, NULL, ia(4, 3, 0, 2, 1), 1, qh));
  out(op(OP_ADD, NULL, none, 2, op(OP_MUL, NULL, none, 2, qh, qh), half));
  /* attention reading its operands in place: q and k transposed from [B, L, H, D], v a transpose
   * of a slice view (split_heads of a chunk) */
  int qk = rarg("f32[B,6,3,4]", DT_F32, R(4, 2, 6, 3, 4), -1, 1);
  int tq = op(OP_TRANSPOSE, NULL, ia(4, 0, 2, 1, 3), 1, qk), tk = op(OP_TRANSPOSE, NULL, ia(4, 0, 2, 1, 3), 1, qk);
  int tv = op(OP_TRANSPOSE, NULL, ia(4, 0, 2, 1, 3), 1, op(OP_RESHAPE, "f32[B,6,3,4]", none, 1, op(OP_SLICE, NULL, ia(4, 2, 4, 16, 1), 1, x)));
  out(op(OP_ATTENTION, NULL, fa(0.5), 3, tq, tk, tv));
  compare_all("transposes of slice views", CPU_TOL);
  fx_end();
}

/* last-axis slices, pads and concats computed inside an elementwise loop at shifted positions:
 * rotate-half (x cos + concat(-x2, x1) sin), a pad of an expression of a slice, step-2 slices, a
 * three-piece concat of expressions and leaves, and a last-axis iota inside a concat piece */
static void test_shifted_fusion(void) {
  fx_begin();
  int x = rarg("f32[B,3,8,10]", DT_F32, R(4, 2, 3, 8, 10), -1, 1), cs = rarg("f32[8,10]", DT_F32, R(2, 8, 10), -1, 1);
  int sn = rarg("f32[8,10]", DT_F32, R(2, 8, 10), -1, 1), y = rarg("f32[B,3,8,2]", DT_F32, R(4, 2, 3, 8, 2), -1, 1);
  Attrs none = attrs_none();
  int x1 = op(OP_SLICE, NULL, ia(4, 3, 0, 5, 1), 1, x), x2 = op(OP_SLICE, NULL, ia(4, -1, 5, 10, 1), 1, x);
  int rot = op(OP_CONCAT, NULL, ia(1, -1), 2, op(OP_NEG, NULL, none, 1, x2), x1);
  out(op(OP_ADD, NULL, none, 2, op(OP_MUL, NULL, none, 2, x, cs), op(OP_MUL, NULL, none, 2, rot, sn)));
  int part = op(OP_NEG, NULL, none, 1, op(OP_SLICE, NULL, ia(4, 3, 1, 4, 1), 1, op(OP_EXP, NULL, none, 1, x)));
  out(op(OP_ADD, NULL, none, 2, x, op(OP_PAD, NULL, ia(3, 3, 2, 5), 1, part)));
  out(op(OP_MUL, NULL, none, 2, op(OP_SLICE, NULL, ia(4, 3, 1, 10, 2), 1, x), op(OP_SLICE, NULL, ia(4, 3, 0, 9, 2), 1, x)));
  int e3 = op(OP_SIN, NULL, none, 1, op(OP_SLICE, NULL, ia(4, 3, 2, 8, 1), 1, x));
  int io = op(OP_IOTA, "f32[B,3,8,2]", ia(1, 3), 0);
  int cat = op(OP_CONCAT, NULL, ia(1, 3), 3, op(OP_ADD, NULL, none, 2, y, io), e3, y);
  out(op(OP_MUL, NULL, none, 2, cat, x));
  compare_all("last-axis layout ops fused at shifted positions", CPU_TOL);
  fx_end();
}

/* elementwise values computed inside the reductions that read them: sum_to over the batch (a
 * product), and sums and means over the last axis (a layer-norm-like gradient), one of them large
 * enough for threads and one with a broadcast operand; sums over an axis of length 1 */
static void test_fused_reductions(void) {
  fx_begin();
  int x = rarg("f32[B,64,40]", DT_F32, R(3, 20, 64, 40), -1, 1), y = rarg("f32[B,64,40]", DT_F32, R(3, 20, 64, 40), -1, 1);
  int r = rarg("f32[B,64,1]", DT_F32, R(3, 20, 64, 1), -1, 1);
  Attrs none = attrs_none();
  out(op(OP_SUM_TO, "f32[B,1,40]", none, 1, op(OP_MUL, NULL, none, 2, x, y)));
  out(op(OP_SUM_TO, "f32[40]", none, 1, op(OP_SUB, NULL, none, 2, x, op(OP_EXP, NULL, none, 1, y))));
  out(op(OP_MEAN, NULL, ia(2, 2, 1), 1, op(OP_MUL, NULL, none, 2, op(OP_SUB, NULL, none, 2, x, r), y)));
  out(op(OP_SUM, NULL, ia(2, -1, 0), 1, op(OP_TANH, NULL, none, 1, x)));
  /* sums over an axis of length 1 share their input's buffer: read by a later kernel, by a reshape,
   * and of an elementwise product */
  int w = rarg("f32[B,64,1,40]", DT_F32, R(4, 20, 64, 1, 40), -1, 1);
  int sw = op(OP_SUM, NULL, axk(2, 0), 1, w);
  out(op(OP_ADD, NULL, none, 2, sw, x));
  out(op(OP_RESHAPE, "f32[B,2560]", none, 1, sw));
  out(op(OP_MEAN, NULL, axk(2, 1), 1, op(OP_MUL, NULL, none, 2, w, w)));
  compare_all("reductions of fused elementwise inputs", CPU_TOL);
  fx_end();
}

/* compare_all, then the outputs bit for bit against the unfused kernels (DLM_CPU_NOFUSE) */
static void compare_all_bits(const char *what) {
  int nout = NOUT; /* compare_all resets NOUT */
  compare_all(what, CPU_TOL);
  Tensor *r[2][64] = {{0}};
  CHECK_MSG(nout <= 64, "%s: %d outputs, at most 64 compared", what, nout);
  for (int pass = 0; pass < 2; pass++) {
    if (pass) setenv("DLM_CPU_NOFUSE", "1", 1);
    DlmErr e = {0};
    BackendState *st = backend_cpu.open(M, &e);
    CHECK_MSG(st != NULL, "%s: %s", what, e.msg);
    if (st) CHECK_MSG(backend_cpu.run(st, F, NULL, ARGS, r[pass], NULL, &e), "%s: %s", what, e.msg);
    if (st) backend_cpu.close(st);
  }
  unsetenv("DLM_CPU_NOFUSE");
  for (int k = 0; k < nout && k < 64; k++) {
    CHECK_MSG(r[0][k] && r[1][k] && r[0][k]->numel == r[1][k]->numel &&
              memcmp(r[0][k]->data, r[1][k]->data, (size_t)r[0][k]->numel * sizeof(float)) == 0,
              "%s: output %d differs from the unfused kernels", what, k);
    tensor_free(r[0][k]);
    tensor_free(r[1][k]);
  }
}

/* softmax and log_softmax over the last axis of fused elementwise inputs (the masked logits of
 * the SUBS parameterization), large enough for threads */
static void test_softmax_fused(void) {
  fx_begin();
  int x = rarg("f32[B,64,40]", DT_F32, R(3, 20, 64, 40), -3, 3), y = rarg("f32[40]", DT_F32, R(1, 40), -1, 1);
  int c = rarg("i32[B,64,40]", DT_I32, R(3, 20, 64, 40), 0, 2);
  Attrs none = attrs_none();
  int cond = op(OP_EQ, NULL, none, 2, c, op(OP_CONST, "i32[]", fa(1), 0));
  int logits = op(OP_ADD, NULL, none, 2, x, y);
  int masked = op(OP_WHERE, NULL, none, 3, cond, op(OP_SUB, NULL, none, 2, logits, op(OP_CONST, "f32[]", fa(1e6), 0)), logits);
  out(op(OP_LOG_SOFTMAX, NULL, ia(1, -1), 1, masked));
  out(op(OP_SOFTMAX, NULL, ia(1, 2), 1, op(OP_MUL, NULL, none, 2, x, y)));
  compare_all_bits("softmax of fused inputs");
  fx_end();
}

/* reductions computed in the loop of another elementwise kernel over their input's shape: sum_tos
 * of its stored output (two of one large product, over threads; one of a small sum), a sum_to of
 * a product of the same inputs that comes before the kernel, and a mean and a sum over the last
 * axis (of a product with the kernel's value, and of the value itself): against the interpreter,
 * and bit for bit against the unfused kernels (DLM_CPU_NOFUSE), which sum in the same order */
static void test_side_sums(void) {
  fx_begin();
  int x = rarg("f32[B,64,40]", DT_F32, R(3, 20, 64, 40), -1, 1), y = rarg("f32[B,64,40]", DT_F32, R(3, 20, 64, 40), -1, 1);
  int a = rarg("f32[3,5]", DT_F32, R(2, 3, 5), -1, 1);
  Attrs none = attrs_none();
  int early = op(OP_SUM_TO, "f32[B,1,40]", none, 1, op(OP_MUL, NULL, none, 2, x, op(OP_EXP, NULL, none, 1, y)));
  int p = op(OP_MUL, NULL, none, 2, x, y), q = op(OP_ADD, NULL, none, 2, a, a);
  out(p);
  out(op(OP_SUM_TO, "f32[40]", none, 1, p));
  out(op(OP_SUM_TO, "f32[B,1,40]", none, 1, p));
  out(q);
  out(op(OP_SUM_TO, "f32[5]", none, 1, q));
  out(early);
  out(op(OP_MEAN, NULL, ia(2, 2, 1), 1, op(OP_MUL, NULL, none, 2, p, x)));
  out(op(OP_SUM, NULL, ia(2, -1, 0), 1, p));
  compare_all_bits("reductions in another kernel's loop");
  fx_end();
  /* a row mean of the kernel's value and the mean of the squared deviations from it (a
   * layer-norm variance): the second reads the first, so it takes a second pass over the row; and
   * the layer norm of the kernel's value, normalized row by row in its loop */
  fx_begin();
  x = rarg("f32[B,64,40]", DT_F32, R(3, 20, 64, 40), -1, 1);
  y = rarg("f32[B,64,40]", DT_F32, R(3, 20, 64, 40), -1, 1);
  p = op(OP_ADD, NULL, none, 2, x, y);
  int mean = op(OP_MEAN, NULL, ia(2, -1, 1), 1, p), dev = op(OP_SUB, NULL, none, 2, p, mean);
  int var = op(OP_MEAN, NULL, ia(2, -1, 1), 1, op(OP_MUL, NULL, none, 2, dev, dev));
  int ln = op(OP_LAYER_NORM, NULL, fa(1e-5), 1, p);
  out(p);
  out(mean);
  out(var);
  out(op(OP_MUL, NULL, none, 2, ln, y));
  char frag[64], frag2[64];
  snprintf(frag, sizeof frag, "reduced here: %%%d = mean", var);
  snprintf(frag2, sizeof frag2, "reduced here: %%%d = layer_norm", ln);
  ir_set_outputs(M, F, NOUT, OUTS, NULL);
  CHECK_MSG(cpu_source_count(M, F, frag) == 1, "the variance is not computed in the kernel of its input");
  CHECK_MSG(cpu_source_count(M, F, frag2) == 1, "the layer norm is not computed in the kernel of its input");
  compare_all_bits("a row sum after another, and a layer norm, in one loop");
  fx_end();
}

/* f32 sum_tos over 2^17 rows of 1 + 2^-10 (alone, and of a product in another kernel's loop): a
 * float running sum past 2^15 drops the 2^-10 of each row (5e-4 of the sum); the per-thread sums
 * stay float over only a few rows before they go into double, so they are exact. Then sums over
 * 13 rows per output row, so that the target moves inside a block of staged rows. */
static void test_long_sums(void) {
  fx_begin();
  int x = rarg("f32[B,512,16]", DT_F32, R(3, 256, 512, 16), 1.0009765625, 1.0009765625);
  Attrs none = attrs_none();
  int p = op(OP_MUL, NULL, none, 2, x, x);
  out(op(OP_SUM_TO, "f32[16]", none, 1, x));
  out(p);
  out(op(OP_SUM_TO, "f32[16]", none, 1, p));
  compare_all_bits("long sums");
  fx_end();
  /* targets that change every 13 rows, in the middle of a staged block of 8 */
  fx_begin();
  x = rarg("f32[B,13,40]", DT_F32, R(3, 97, 13, 40), -1, 1);
  int y = rarg("f32[B,13,40]", DT_F32, R(3, 97, 13, 40), -1, 1);
  p = op(OP_MUL, NULL, none, 2, x, y);
  out(op(OP_SUM_TO, "f32[B,1,40]", none, 1, x));
  out(p);
  out(op(OP_SUM_TO, "f32[B,1,40]", none, 1, p));
  compare_all_bits("sums whose target moves inside a staged block");
  fx_end();
}

/* layer_norm of rows whose mean is 1e5 times their spread (the float normalization subtracts the
 * mean in two parts; with the mean rounded to float alone the error would be ~1e-3) and of rows
 * around 0, against the interpreter's double statistics */
static void test_layer_norm_offset(void) {
  fx_begin();
  int x = rarg("f32[B,96]", DT_F32, R(2, 70, 96), 999.99, 1000.01), y = rarg("f32[B,96]", DT_F32, R(2, 70, 96), -2, 2);
  out(op(OP_LAYER_NORM, NULL, fa(1e-12), 1, x));
  out(op(OP_LAYER_NORM, NULL, fa(1e-5), 1, y));
  compare_all("layer norm of offset rows", CPU_TOL);
  fx_end();
}

/* iota read only by an elementwise node is computed inside that node's loop: along the last axis
 * (the loop index) and along a middle one; exp over the whole float range (overflow to inf,
 * subnormal results, NaN) by the vectorizing polynomial; an add read by two loops */
static void test_fused_iota_exp(void) {
  fx_begin();
  int x = rarg("f32[B,3,70]", DT_F32, R(3, 2, 3, 70), -1, 1), ix = rarg("i32[B,3,70]", DT_I32, R(3, 2, 3, 70), 0, 70);
  Attrs none = attrs_none();
  out(op(OP_ADD, NULL, none, 2, x, op(OP_IOTA, "f32[B,3,70]", ia(1, 1), 0)));
  out(op(OP_EQ, NULL, none, 2, ix, op(OP_IOTA, "i32[B,3,70]", ia(1, -1), 0)));
  int big = op(OP_MUL, NULL, none, 2, x, op(OP_CONST, "f32[]", fa(120), 0));
  out(op(OP_EXP, NULL, none, 1, big));
  out(op(OP_EXP, NULL, none, 1, op(OP_LOG, NULL, none, 1, x))); /* NaN for x < 0 */
  /* a bias add read by two loops, recomputed in each */
  int bias = rarg("f32[70]", DT_F32, R(1, 70), -1, 1), pre = op(OP_ADD, NULL, none, 2, x, bias);
  out(op(OP_GELU_TANH, NULL, none, 1, pre));
  out(op(OP_MUL, NULL, none, 2, op(OP_TANH, NULL, none, 1, pre), x));
  compare_all("fused iota, exp over the float range, a recomputed add", CPU_TOL);
  fx_end();
  /* a recomputed add whose earlier reader (by node) joins a later loop: its inputs must stay until
   * that loop, not be overwritten by a buffer made in between (t) */
  fx_begin();
  int a1 = rarg("f32[B,40]", DT_F32, R(2, 3, 40), -1, 1), a2 = rarg("f32[B,40]", DT_F32, R(2, 3, 40), -1, 1);
  int v = op(OP_ADD, NULL, none, 2, op(OP_SOFTMAX, NULL, ia(1, -1), 1, a1), op(OP_SOFTMAX, NULL, ia(1, -1), 1, a2));
  int ea = op(OP_EXP, NULL, none, 1, v);
  out(op(OP_NEG, NULL, none, 1, v));
  int t = op(OP_SOFTMAX, NULL, ia(1, -1), 1, op(OP_ADD, NULL, none, 2, a2, a1));
  out(op(OP_MUL, NULL, none, 2, ea, t));
  compare_all("a recomputed add read by an earlier node of a later loop", CPU_TOL);
  fx_end();
}

/* a kernel error must fail the call with the op named, as the interpreter does */
static void expect_cpu_error(const char *frag) {
  ir_set_outputs(M, F, NOUT, OUTS, NULL);
  DlmErr e = {0}, ei = {0};
  BackendState *st = backend_cpu.open(M, &e);
  Tensor *res[1] = {0}, *ri[1] = {0};
  int ok = backend_cpu.run(st, F, NULL, ARGS, res, NULL, &e);
  int oki = interp_run(M, F, NULL, ARGS, ri, DT_F32, &ei);
  CHECK_MSG(!ok && strstr(e.msg, frag) && e.loc.line == 1, "expected a cpu error with \"%s\", got \"%s\"", frag, ok ? "success" : e.msg);
  CHECK_MSG(!oki, "the interpreter accepts what the cpu backend refused");
  tensor_free(res[0]);
  tensor_free(ri[0]);
  backend_cpu.close(st);
  NOUT = 0;
}

/* integer scatter_add (wrapping i32 sums), with output rows no index reaches */
static void test_int_scatter_add(void) {
  fx_begin();
  int src = rarg("i32[B,6,3]", DT_I32, R(3, 2, 6, 3), 1e9, 2e9), ix = rarg("i32[B,6]", DT_I32, R(2, 2, 6), 0, 4);
  out(op(OP_SCATTER_ADD, "i32[9,3]", attrs_none(), 2, src, ix));
  compare_all("integer scatter_add", 0);
  fx_end();
}

static void test_errors(void) {
  fx_begin();
  int y = rarg("f32[4,5]", DT_F32, R(2, 4, 5), -1, 1);
  Tensor *it = tensor_new(DT_I32, 1, SHAPE(3));
  tensor_set(it, 1, 4); /* one past the last row */
  int idx = arg("i32[3]", it);
  out(op(OP_GATHER, NULL, attrs_none(), 2, y, idx));
  expect_cpu_error("gather");
  fx_end();
  fx_begin();
  int src = rarg("f32[3,5]", DT_F32, R(2, 3, 5), -1, 1);
  Tensor *sit = tensor_new(DT_I32, 1, SHAPE(3));
  tensor_set(sit, 2, -1);
  out(op(OP_SCATTER_ADD, "f32[4,5]", attrs_none(), 2, src, arg("i32[3]", sit)));
  expect_cpu_error("scatter_add: index out of range");
  fx_end();
  fx_begin();
  int a = rarg("i64[4]", DT_I64, R(1, 4), 1, 9);
  int z = arg("i64[4]", tensor_new(DT_I64, 1, SHAPE(4)));
  out(op(OP_MOD, NULL, attrs_none(), 2, a, z));
  expect_cpu_error("division by zero");
  fx_end();
  /* argument checks come before any compilation */
  fx_begin();
  int x = rarg("f32[B,3]", DT_F32, R(2, 2, 4), 0, 1);
  out(op(OP_EXP, NULL, attrs_none(), 1, x));
  ir_set_outputs(M, F, NOUT, OUTS, NULL);
  DlmErr e = {0};
  BackendState *st = backend_cpu.open(M, &e);
  Tensor *res[1] = {0};
  CHECK(!backend_cpu.run(st, F, NULL, ARGS, res, NULL, &e) && strstr(e.msg, "inconsistent with its declared type"));
  backend_cpu.close(st);
  NOUT = 0;
  fx_end();
  /* a compiler failure names the compiler and the generated source */
  fx_begin();
  x = rarg("f32[3]", DT_F32, R(1, 3), 0, 1);
  out(op(OP_SQRT, NULL, attrs_none(), 1, x));
  ir_set_outputs(M, F, NOUT, OUTS, NULL);
  setenv("CC", "false", 1);
  memset(&e, 0, sizeof e);
  st = backend_cpu.open(M, &e);
  CHECK_MSG(!backend_cpu.run(st, F, NULL, ARGS, res, NULL, &e) && strstr(e.msg, "C compiler failed on") && strstr(e.msg, ".c"),
            "compiler failure message: %s", e.msg);
  unsetenv("CC");
  backend_cpu.close(st);
  NOUT = 0;
  fx_end();
}

int main(void) {
  cpu_test_env();
  test_float_ops();
  test_big_matmul();
  test_int_scatter_add();
  test_fusion();
  test_layout_runs();
  test_fused_iota_exp();
  test_slice_views();
  test_shifted_fusion();
  test_fused_reductions();
  test_side_sums();
  test_long_sums();
  test_layer_norm_offset();
  test_softmax_fused();
  test_int_ops();
  test_f64_ops();
  test_rand();
  test_errors();
  return check_summary("test_cpu_ops");
}
