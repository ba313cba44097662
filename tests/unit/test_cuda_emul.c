/* test_cuda_emul.c — the generated CUDA C run on the CPU, to check the kernels' index arithmetic
 * and semantics without a GPU: every function of models/mdlm.dsl and models/duo.dsl (and each
 * loss.grad) at a tiny size, fused (blocks of 1 and of 4 threads; gemm epilogues computed as
 * cuBLASLt would), unfused, and fused with the epilogues' fallback kernels, is emitted with
 * fp32 gemm operands, compiled as C++ with the shim of cuda_emul.h and run by its launch-plan
 * executor (matrix products as plain loops in double, like $DLM_CUDA_GEMM=f32 without cuBLAS);
 * outputs are compared with the interpreter (normalized error 1e-4, integers exactly). Skips (77)
 * when no C++ compiler is found. */
#include "cuda_emit.h"
#include "cuda_emul.h"
#include "test_cpu_fixture.h"

static const DslDefine tiny[] = {{"vocab", "5"}, {"seq_len", "4"}, {"layers", "1"},
                                 {"dim", "8"}, {"heads", "2"}, {"cond_dim", "4"}};

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

static void check_model(const char *path, char *dir) {
  Module *m = cpu_compile_model(path, tiny, (int)(sizeof tiny / sizeof *tiny), 0);
  if (!m) return;
  DlmErr e = {0};
  ParamStore *ps = cpu_random_params(m);
  int64_t sv[DLM_MAX_SYMS];
  for (int s = 0; s < DLM_MAX_SYMS; s++) sv[s] = 2;
  setenv("DLM_CUDA_GEMM", "f32", 1);
  int with_epi = 0;
  /* modes: fused (blocks of 1, then 4 threads), unfused, fused without the gemm epilogues */
  for (int mode = 0; mode < 4; mode++) {
    int fuse = mode != 2;
    unsigned threads = mode == 1 ? 4 : 1;
    emul_epilogue = mode != 3;
    setenv("DLM_CUDA_FUSE", fuse ? "1" : "0", 1);
    for (int i = 0; i < m->nfuncs; i++) {
      const Func *f = m->funcs[i];
      Tensor *args[64] = {0}, *want[128] = {0}, *got[128] = {0};
      if (f->nargs > 64 || f->nout > 128) continue;
      make_args(f, args);
      char what[256];
      snprintf(what, sizeof what, "%s %s (%s, %u threads)", path, f->name,
               mode == 3 ? "fused, epilogue fallback" : fuse ? "fused" : "unfused", threads);
      CudaUnit u;
      int ok = cuda_emit_func(m, f, &u, &e);
      CHECK_MSG(ok, "%s: %s", what, e.msg);
      int epis = 0;
      for (int k = 0; ok && k < u.nlaunch; k++) epis += u.launch[k].epi != 0;
      if (mode == 0) with_epi += epis > 0;
      if (ok && mode == 3 && !epis) { /* nothing differs from mode 0 */
        cuda_unit_free(&u);
        for (int a = 0; a < f->nargs; a++) tensor_free(args[a]);
        continue;
      }
      char *src = ok ? emul_source(u.src) : NULL;
      void *lib = src ? build(src, dir) : NULL;
      CHECK_MSG(!ok || lib, "%s: the emulation unit does not compile", what);
      DlmErr e1 = {0};
      int ok1 = lib && interp_run(m, f, ps, args, want, DT_F32, &e1);
      int ok2 = ok1 && run_emul(f, &u, lib, ps, args, got, sv, threads);
      if (lib) CHECK_MSG(ok1 == ok2, "%s: interpreter %s (%s), emulation %s", what, ok1 ? "ran" : "failed", e1.msg, ok2 ? "ran" : "failed");
      for (int k = 0; ok1 && ok2 && k < f->nout; k++) {
        char nm[300];
        snprintf(nm, sizeof nm, "%s output %d", what, k);
        CHECK_MSG(cpu_close_enough(nm, got[k], want[k], 1e-4), "%s differs from the interpreter", nm);
      }
      for (int k = 0; k < f->nout; k++) { tensor_free(want[k]); tensor_free(got[k]); }
      for (int a = 0; a < f->nargs; a++) tensor_free(args[a]);
      if (lib) dlclose(lib);
      free(src);
      if (ok) cuda_unit_free(&u);
    }
  }
  /* both models' DiT MLPs (linear, bias, GELU, linear) get the epilogue in their network functions */
  CHECK_MSG(with_epi > 0, "%s: no function has a gemm epilogue", path);
  unsetenv("DLM_CUDA_FUSE");
  unsetenv("DLM_CUDA_GEMM");
  pstore_free(ps);
  ir_module_free(m);
}

int main(void) {
  if (system("c++ --version > /dev/null 2>&1") != 0) {
    printf("test_cuda_emul: skipped (no C++ compiler)\n");
    return 77;
  }
  cpu_test_env(); /* the interpreter needs nothing; keeps any CPU kernel cache out of $HOME */
  char dir[] = "/tmp/dlm_cuda_emul_XXXXXX";
  if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
  check_model("models/mdlm.dsl", dir);
  check_model("models/duo.dsl", dir);
  rmdir(dir);
  return check_summary("test_cuda_emul");
}
