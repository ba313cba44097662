/* test_cuda_emul_ops.c — every op's generated CUDA kernel run on the CPU (tests/unit/cuda_emul.h)
 * against the interpreter (f32 mode), on the op cases of test_cpu_ops.c (float, integer and f64
 * ops, reductions on each axis, layout, gather/take/scatter, matmuls with broadcast batches,
 * attention with a mask that blanks a row, fused chains), fused (blocks of 1 and of 4 threads) and
 * unfused.
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

/* run the function with outputs OUTS on the interpreter and emulated: fused with blocks of 1 and of
 * 4 threads, unfused with 1 */
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
  setenv("DLM_CUDA_GEMM", "f32", 1);
  for (int mode = 0; ok1 && mode < 3; mode++) {
    int fuse = mode < 2;
    unsigned threads = mode == 1 ? 4 : 1;
    setenv("DLM_CUDA_FUSE", fuse ? "1" : "0", 1);
    CudaUnit u;
    Tensor *got[256] = {0};
    int ok = cuda_emit_func(M, F, &u, &e);
    CHECK_MSG(ok, "%s: %s", what, e.msg);
    char *src = ok ? emul_source(u.src) : NULL;
    void *lib = src ? build(src, DIR_) : NULL;
    CHECK_MSG(!ok || lib, "%s: the emulation unit does not compile", what);
    int ok2 = lib && run_emul(F, &u, lib, NULL, ARGS, got, sv, threads);
    CHECK_MSG(!lib || ok2, "%s: emulation failed", what);
    for (int k = 0; ok2 && k < F->nout; k++) {
      char nm[200];
      snprintf(nm, sizeof nm, "%s (%s, %u threads) output %d (%s)", what, fuse ? "fused" : "unfused", threads, k, op_info[F->nodes[F->outs[k]].op].name);
      CHECK_MSG(cpu_close_enough(nm, got[k], want[k], tol), "%s differs from the interpreter", nm);
    }
    for (int k = 0; k < F->nout; k++) tensor_free(got[k]);
    if (lib) dlclose(lib);
    free(src);
    if (ok) cuda_unit_free(&u);
  }
  unsetenv("DLM_CUDA_FUSE");
  unsetenv("DLM_CUDA_GEMM");
  for (int k = 0; k < F->nout; k++) tensor_free(want[k]);
  NOUT = 0;
}

#include "op_cases.h"

/* The fusion classes beyond elementwise chains: layer_norm -> scale/shift maps -> matmul operand A
 * (a sink: the norm's kernel writes the operand), softmax -> operand B, attention -> transpose ->
 * reshape -> matmul (the attention kernel writes the operand), a rotary-like slice/neg/concat chain
 * fused into attention's queries, masks built from iotas (index expressions, one with a fully
 * masked row, one block-causal by integer division and read by two attentions), a long key axis whose later tiles are fully masked for some rows (skipped), a value
 * read by several kernels (recomputed by each), one too costly for that (stored by its first
 * reader, a layer_norm) and reductions of fused producers. */
static void test_sinks(void) {
  fx_begin();
  Attrs none = attrs_none();
  int x = rarg("f32[B,5,8]", DT_F32, R(3, 2, 5, 8), -2, 2), g = rarg("f32[8]", DT_F32, R(1, 8), 0.5, 1.5);
  int sh = rarg("f32[B,1,8]", DT_F32, R(3, 2, 1, 8), -1, 1), w = rarg("f32[6,8]", DT_F32, R(2, 6, 8), -1, 1);
  int ln = op(OP_LAYER_NORM, NULL, fa(1e-5), 1, x);
  int h = op(OP_ADD, NULL, none, 2, op(OP_MUL, NULL, none, 2, ln, g), sh);
  out(op(OP_MATMUL, "f32[B,5,6]", ia(2, 0, 1), 2, h, w));
  int y = rarg("f32[B,4,5]", DT_F32, R(3, 2, 4, 5), -1, 1), x2 = rarg("f32[B,5,5]", DT_F32, R(3, 2, 5, 5), -3, 3);
  out(op(OP_MATMUL, "f32[B,4,5]", ia(2, 0, 0), 2, y, op(OP_SOFTMAX, NULL, ia(1, -1), 1, x2)));
  /* attention with a rotary-like query chain and an iota mask (row 0 sees no key) */
  int q = rarg("f32[B,2,4,8]", DT_F32, R(4, 2, 2, 4, 8), -1, 1), k = rarg("f32[B,2,6,8]", DT_F32, R(4, 2, 2, 6, 8), -1, 1);
  int v = rarg("f32[B,2,6,4]", DT_F32, R(4, 2, 2, 6, 4), -1, 1), w2 = rarg("f32[8,3]", DT_F32, R(2, 8, 3), -1, 1);
  int q1 = op(OP_SLICE, NULL, ia(4, 3, 0, 4, 1), 1, q), q2 = op(OP_SLICE, NULL, ia(4, 3, 4, 8, 1), 1, q);
  int rot = op(OP_CONCAT, NULL, ia(1, 3), 2, op(OP_NEG, NULL, none, 1, q2), q1);
  int qr = op(OP_ADD, NULL, none, 2, q, op(OP_MUL, NULL, none, 2, rot, op(OP_CONST, "f32[]", fa(0.5), 0)));
  int row = op(OP_IOTA, "i32[4,6]", ia(1, 0), 0), col = op(OP_IOTA, "i32[4,6]", ia(1, 1), 0);
  int mask = op(OP_LT, NULL, none, 2, col, row);
  int o = op(OP_ATTENTION, NULL, fa(0.4), 4, qr, k, v, mask);
  int om = op(OP_RESHAPE, "f32[B,4,8]", none, 1, op(OP_TRANSPOSE, NULL, ia(4, 0, 2, 1, 3), 1, o));
  out(op(OP_MATMUL, "f32[B,4,3]", ia(2, 0, 0), 2, om, w2));
  /* 300 keys (three tiles): query row i sees keys j < 100 (i + 1) */
  int ql = rarg("f32[3,4]", DT_F32, R(2, 3, 4), -1, 1), kl = rarg("f32[300,4]", DT_F32, R(2, 300, 4), -1, 1);
  int vl = rarg("f32[300,2]", DT_F32, R(2, 300, 2), -1, 1);
  int rl = op(OP_IOTA, "i32[3,300]", ia(1, 0), 0), cl = op(OP_IOTA, "i32[3,300]", ia(1, 1), 0);
  int lim = op(OP_MUL, NULL, none, 2, op(OP_ADD, NULL, none, 2, rl, op(OP_CONST, "i32[]", fa(1), 0)), op(OP_CONST, "i32[]", fa(100), 0));
  out(op(OP_ATTENTION, NULL, fa(0.3), 4, ql, kl, vl, op(OP_LT, NULL, none, 2, cl, lim)));
  /* keys j < 40 + row only: the key tiles from 64 on are masked for the whole query tile (skipped) */
  int lim2 = op(OP_ADD, NULL, none, 2, rl, op(OP_CONST, "i32[]", fa(40), 0));
  out(op(OP_ATTENTION, NULL, fa(0.3), 4, ql, kl, vl, op(OP_LT, NULL, none, 2, cl, lim2)));
  /* a symbolic query length (one query row per block) */
  int qs = rarg("f32[B,4]", DT_F32, R(2, 2, 4), -1, 1);
  out(op(OP_ATTENTION, NULL, fa(0.5), 3, qs, op(OP_SLICE, NULL, ia(4, 0, 0, 6, 1), 1, kl), op(OP_SLICE, NULL, ia(4, 0, 0, 6, 1), 1, vl)));
  /* a block-causal mask (integer division by a constant: cannot fail, so fusable) read by two
   * attentions: fused into both */
  int two = op(OP_CONST, "i32[]", fa(2), 0);
  int bmask = op(OP_LE, NULL, none, 2, op(OP_DIV, NULL, none, 2, col, two), op(OP_DIV, NULL, none, 2, row, two));
  out(op(OP_ATTENTION, NULL, fa(0.4), 4, q, k, v, bmask));
  out(op(OP_ATTENTION, NULL, fa(0.2), 4, qr, k, v, bmask));
  /* store-through: a chain too costly to recompute in two readers, read first by a layer_norm
   * (whose first pass computes and stores it) and then by a map */
  int chain = x;
  for (int i = 0; i < 8; i++) chain = op(OP_ADD, NULL, none, 2, op(OP_SIN, NULL, none, 1, chain), x);
  int ln2 = op(OP_LAYER_NORM, NULL, fa(1e-5), 1, chain);
  out(ln2);
  out(op(OP_EXP, NULL, none, 1, chain));
  /* one value, several readers; reductions over fused producers */
  int z = op(OP_MUL, NULL, none, 2, x, op(OP_CONST, "f32[]", fa(2), 0));
  out(op(OP_SUM, NULL, ia(2, 1, 0), 1, z));
  out(op(OP_LOGSUMEXP, NULL, ia(2, -1, 0), 1, op(OP_SIN, NULL, none, 1, z)));
  out(op(OP_EXP, NULL, none, 1, z));
  /* the plan: three sinks (norm, softmax, attention write their matmul operands), masks inlined */
  ir_set_outputs(M, F, NOUT, OUTS, NULL);
  CudaUnit u;
  DlmErr e = {0};
  int ok = cuda_emit_func_fuse(M, F, 1, &u, &e);
  CHECK_MSG(ok, "sinks: %s", e.msg);
  if (ok) {
    CHECK_MSG(u.nsinks == 3, "sinks: %d sink kernels, expected 3", u.nsinks);
    CHECK_MSG(u.inl[mask] && u.inl[row] && u.inl[lim] && u.inl[bmask], "sinks: the attention masks are not index expressions");
    CHECK_MSG(u.inl[qr] && u.inl[rot], "sinks: the query chain is not fused into attention");
    CHECK_MSG(u.store_at[chain] == ln2, "sinks: the chain is not stored through by the layer_norm (%d)", u.store_at[chain]);
    cuda_unit_free(&u);
  }
  compare_all("sinks and index fusion", CPU_TOL);
  fx_end();
}

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
  test_sinks();
  test_int_ops();
  test_f64_ops();
  rmdir(DIR_);
  return check_summary("test_cuda_emul_ops");
}
