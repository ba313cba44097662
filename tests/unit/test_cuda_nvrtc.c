/* test_cuda_nvrtc.c — every kernel of every model function compiles with NVRTC for sm_80 and
 * sm_90: the functions of models/mdlm.dsl and models/duo.dsl (exported ones, sampler step
 * functions) and the autodiff gradient of each `loss`, after the pass pipeline, at the models'
 * default sizes, fused (so every kernel template appears: index-expression fusion, sinks writing
 * matmul operands, store-through, flash attention with its mask inlined; the unfused kernels are
 * the same templates reading buffers); plus the optimizer kernels (norm, clip, AdamW, EMA, bf16
 * copies), the resident-value kernels and the bf16 copy kernel. A failure
 * prints NVRTC's log. Skips (77) in a build without the CUDA toolkit. Also checks that the
 * generated launch plan covers every kernel. */
#include "autodiff.h"
#include "check.h"
#include "cuda_emit.h"
#include "frontend.h"
#include "passes.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const int archs[] = {80, 90};

/* DLM_CACHE_DIR = <directory of this executable>/cuda-kernel-cache */
static void test_env(void) {
  char exe[1024];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 32);
  if (n <= 0) return;
  exe[n] = 0;
  char *slash = strrchr(exe, '/');
  if (!slash) return;
  strcpy(slash, "/cuda-kernel-cache");
  setenv("DLM_CACHE_DIR", exe, 1);
}

static void compile_all(const char *what, const char *src) {
  for (size_t a = 0; a < sizeof archs / sizeof *archs; a++) {
    DlmErr e = {0};
    size_t size = 0;
    void *img = cuda_compile(src, archs[a], &size, &e);
    CHECK_MSG(img != NULL && size > 0, "%s sm_%d: %s", what, archs[a], e.msg);
    free(img);
  }
}

/* a unit that the backend compiles after the prelude */
static void compile_after_prelude(const char *what, const char *src) {
  char *unit = malloc(strlen(cuda_prelude) + strlen(src) + 1);
  CHECK(unit != NULL);
  if (!unit) return;
  strcpy(unit, cuda_prelude);
  strcat(unit, src);
  compile_all(what, unit);
  free(unit);
}

/* the unit as the backend compiles it: in chunks, in parallel */
static void compile_unit(const char *what, const CudaUnit *u) {
  for (size_t a = 0; a < sizeof archs / sizeof *archs; a++) {
    DlmErr e = {0};
    void **img = NULL;
    size_t *sizes = NULL;
    int n = 0, *chunk_of = malloc((size_t)(u->nlaunch ? u->nlaunch : 1) * sizeof *chunk_of);
    int ok = chunk_of && cuda_compile_unit(u, archs[a], &img, &sizes, &n, chunk_of, &e);
    CHECK_MSG(ok, "%s sm_%d: %s", what, archs[a], e.msg);
    for (int i = 0; ok && i < u->nlaunch; i++)
      CHECK_MSG(u->launch[i].kind == CL_GEMM ? chunk_of[i] == -1 : chunk_of[i] >= 0 && chunk_of[i] < n && sizes[chunk_of[i]] > 0,
                "%s: launch %d has no compiled chunk", what, i);
    for (int i = 0; i < n; i++) free(img[i]);
    free(img);
    free(sizes);
    free(chunk_of);
  }
}

/* each kernel named in the plan is defined in the source, and the counts agree */
static void check_plan(const char *what, const CudaUnit *u) {
  int kernels = 0;
  for (int i = 0; i < u->nlaunch; i++) {
    if (u->launch[i].kind == CL_GEMM) continue;
    kernels++;
    char def[64];
    snprintf(def, sizeof def, "void %s(DlmS Sv", u->launch[i].name);
    CHECK_MSG(strstr(u->src, def) != NULL, "%s: kernel %s is not in the source", what, u->launch[i].name);
  }
  CHECK_MSG(kernels == u->nkernels, "%s: %d launches for %d kernels", what, kernels, u->nkernels);
}

static void check_model(const char *path) {
  Module *m = dsl_compile_file(path, NULL, 0, stderr);
  CHECK_MSG(m != NULL, "%s does not compile", path);
  if (!m) return;
  DlmErr e = {0};
  Func *loss = ir_func_find(m, "loss");
  CHECK_MSG(loss && ad_grad(m, loss, 0, NULL, 0, 1, &e), "%s: loss.grad: %s", path, e.msg);
  PassOptions po = {0};
  CHECK_MSG(pass_pipeline_run(m, &po, &e), "%s: passes: %s", path, e.msg);
  int saw_grad = 0;
  for (int i = 0; i < m->nfuncs; i++) {
    const Func *f = m->funcs[i];
    char what[256];
    snprintf(what, sizeof what, "%s %s", path, f->name);
    CudaUnit u;
    DlmErr ee = {0};
    int ok = cuda_emit_func_fuse(m, f, 1, &u, &ee);
    CHECK_MSG(ok, "%s: %s", what, ee.msg);
    if (!ok) continue;
    check_plan(what, &u);
    compile_unit(what, &u);
    saw_grad |= strcmp(f->name, "loss.grad") == 0;
    cuda_unit_free(&u);
  }
  CHECK_MSG(saw_grad, "%s: no loss.grad function was compiled", path);
  ir_module_free(m);
}

int main(void) {
  if (!cuda_have_nvrtc()) {
    printf("test_cuda_nvrtc: skipped (built without the CUDA toolkit / NVRTC)\n");
    return 77;
  }
  test_env();
  compile_after_prelude("optimizer", cuda_optim_src);
  compile_after_prelude("value kernels", cuda_value_ops_src);
  compile_all("bf16 copy", cuda_bf16_copy_src);
  check_model("models/mdlm.dsl");
  check_model("models/duo.dsl");
  return check_summary("test_cuda_nvrtc");
}
