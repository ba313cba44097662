/* test_cuda_emul_bf16.c — the error of the CUDA path's bf16 matrix products, measured without a GPU:
 * logits, loss and loss.grad of models/mdlm.dsl and models/duo.dsl at the size and with the
 * parameters (uniform +-0.5) of test_cuda_models.c, generated as the GPU runs them (bf16 operands:
 * operand kernels round to bf16, parameters are read as their bf16 copies) and run by the emulation
 * of tests/unit/cuda_emul.h, whose products then differ from cuBLAS's only in the summation order
 * of an fp32-or-better accumulation; compared with the interpreter (fp32 throughout) by the
 * normalized error |a - b|_2 / |b|_2 of test_cuda_models.c. Each output must stay within the bf16
 * tolerance that tests/gpu and docs/cuda.md derive for it (BF16_TOL_FWD for forward outputs,
 * BF16_TOL_GRAD for gradients); the errors are printed. Skips (77) without a C++ compiler. */
#include "cuda_emit.h"
#include "cuda_emul.h"
#include "test_cpu_fixture.h"

#define BF16_TOL_FWD 3e-2
#define BF16_TOL_GRAD 1e-1

static const DslDefine small[] = {{"vocab", "37"}, {"seq_len", "16"}, {"layers", "2"},
                                  {"dim", "32"}, {"heads", "2"}, {"cond_dim", "16"}};

static double nerr(const Tensor *got, const Tensor *want) {
  double num = 0, den = 0;
  for (int64_t k = 0; k < want->numel; k++) {
    double a = tensor_get(got, k), b = tensor_get(want, k);
    if (!isfinite(a) || !isfinite(b)) {
      if (!((isnan(a) && isnan(b)) || a == b)) return INFINITY;
      continue;
    }
    num += (a - b) * (a - b);
    den += b * b;
  }
  return sqrt(num) / (den > 0 ? sqrt(den) : 1);
}

static void check_model(const char *path, char *dir) {
  Module *m = cpu_compile_model(path, small, (int)(sizeof small / sizeof *small), 0);
  if (!m) return;
  DlmErr e = {0};
  ParamStore *ps = cpu_random_params(m);
  int64_t sv[DLM_MAX_SYMS];
  for (int s = 0; s < DLM_MAX_SYMS; s++) sv[s] = 3;
  const char *fns[3] = {"logits", "loss", "loss.grad"};
  for (int i = 0; i < 3; i++) {
    const Func *f = ir_func_find(m, fns[i]);
    CHECK_MSG(f != NULL, "%s: no %s", path, fns[i]);
    if (!f || f->nargs > 8 || f->nout > 128) continue;
    Tensor *args[8] = {0}, *want[128] = {0}, *got[128] = {0};
    for (int id = 0; id < f->nnodes; id++) {
      const Node *n = &f->nodes[id];
      if (n->op != OP_ARG) continue;
      int64_t shape[DLM_MAX_RANK];
      for (int d = 0; d < n->type.rank; d++) shape[d] = n->type.dims[d].k * (n->type.dims[d].syms ? 3 : 1);
      DType t = n->type.dtype;
      args[n->attr.i[0]] = cpu_rand_tensor(t, n->type.rank, shape, dtype_is_float(t) ? 0.1 : n->type.rank ? 0 : 3,
                                           dtype_is_float(t) ? 0.9 : n->type.rank ? 37 : 40);
    }
    CudaUnit u;
    int ok = cuda_emit_func_fuse(m, f, 1, &u, &e);
    CHECK_MSG(ok && !u.gemm_f32, "%s %s: %s", path, f->name, e.msg);
    char *src = ok ? emul_source(u.src) : NULL;
    void *lib = src ? build(src, dir) : NULL;
    DlmErr e1 = {0};
    int ok1 = lib && interp_run(m, f, ps, args, want, DT_F32, &e1);
    int ok2 = ok1 && run_emul(f, &u, lib, ps, args, got, sv, 1);
    CHECK_MSG(ok2, "%s %s: the bf16 emulation did not run (%s)", path, f->name, e1.msg);
    for (int k = 0; ok2 && k < f->nout; k++) {
      double err = nerr(got[k], want[k]), tol = strcmp(f->name, "loss.grad") == 0 && k > 0 ? BF16_TOL_GRAD : BF16_TOL_FWD;
      const char *nm = f->outnames && f->outnames[k] ? f->outnames[k] : "?";
      printf("  %s %s output %d (%s): bf16 normalized error %.4f (limit %.2g)\n", path, f->name, k, nm, err, tol);
      CHECK_MSG(err <= tol, "%s %s output %d (%s): bf16 error %.4f over %.2g", path, f->name, k, nm, err, tol);
    }
    for (int k = 0; k < f->nout; k++) { tensor_free(want[k]); tensor_free(got[k]); }
    for (int a = 0; a < 8; a++) tensor_free(args[a]);
    if (lib) dlclose(lib);
    free(src);
    if (ok) cuda_unit_free(&u);
  }
  pstore_free(ps);
  ir_module_free(m);
}

int main(void) {
  if (system("c++ --version > /dev/null 2>&1") != 0) {
    printf("test_cuda_emul_bf16: skipped (no C++ compiler)\n");
    return 77;
  }
  cpu_test_env();
  unsetenv("DLM_CUDA_GEMM");
  char dir[] = "/tmp/dlm_cuda_bf16_XXXXXX";
  if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
  check_model("models/mdlm.dsl", dir);
  check_model("models/duo.dsl", dir);
  rmdir(dir);
  return check_summary("test_cuda_emul_bf16");
}
