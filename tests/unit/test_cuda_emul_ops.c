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

#include "op_cases.h"

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
