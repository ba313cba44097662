/* test_cpu_fixture.h — helpers for the CPU backend tests (test_cpu_*.c): a kernel cache under the
 * test binary's own (build) directory, warnings as errors in generated code, random tensors, and
 * the comparison of a CPU result with the interpreter's (float32 mode): integer and bool outputs
 * exactly, float outputs by the per-tensor normalized error |a - b|_2 / |b|_2 <= tol, with NaN and
 * infinities required at the same places; the count of a fragment in a function's generated source;
 * the gradient of a test function after the pass pipeline;
 * the model tests' setup (compile a model with its gradients and random parameters); and the build of
 * a hand-written unit after the CPU prelude. */
#ifndef TEST_CPU_FIXTURE_H
#define TEST_CPU_FIXTURE_H
#include "autodiff.h"
#include "backend.h"
#include "check.h"
#include "cpu_emit.h"
#include "frontend.h"
#include "interp.h"
#include "passes.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CPU_TOL 1e-5

/* Builds a unit of the CPU prelude followed by src (a hand-written dlm_entry) with cpu_build;
 * NULL with e->msg set when it fails (out of memory included). */
static __attribute__((unused)) void *cpu_build_with_prelude(const char *src, CpuEntry *entry, DlmErr *e) {
  char *unit = malloc(strlen(cpu_prelude) + strlen(src) + 1);
  if (!unit) {
    e->set = 1;
    snprintf(e->msg, sizeof e->msg, "out of memory");
    return NULL;
  }
  strcpy(unit, cpu_prelude);
  strcat(unit, src);
  void *lib = cpu_build(unit, entry, e);
  free(unit);
  return lib;
}

/* DLM_CACHE_DIR = <directory of this executable>/cpu-kernel-cache; DLM_CPU_WERROR = 1 */
static void cpu_test_env(void) {
  char exe[1024];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 32);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
      strcpy(slash, "/cpu-kernel-cache");
      setenv("DLM_CACHE_DIR", exe, 1);
    }
  }
  setenv("DLM_CPU_WERROR", "1", 1);
}

static uint64_t cpu_rng = 0x9e3779b97f4a7c15ull;
static double cpu_rand01(void) {
  cpu_rng ^= cpu_rng << 13;
  cpu_rng ^= cpu_rng >> 7;
  cpu_rng ^= cpu_rng << 17;
  return (double)(cpu_rng >> 11) * 0x1p-53;
}

/* a tensor with values uniform in [lo, hi) (integers: floor) */
static __attribute__((unused)) Tensor *cpu_rand_tensor(DType t, int rank, const int64_t *shape, double lo, double hi) {
  Tensor *x = tensor_new(t, rank, shape);
  for (int64_t k = 0; x && k < x->numel; k++) {
    double v = lo + (hi - lo) * cpu_rand01();
    tensor_set(x, k, dtype_is_float(t) ? v : floor(v));
  }
  return x;
}

/* 1 if got matches want (see above); prints the first difference otherwise */
static int cpu_close_enough(const char *what, const Tensor *got, const Tensor *want, double tol) {
  if (!got || !want) { fprintf(stderr, "%s: missing tensor\n", what); return 0; }
  if (got->dtype != want->dtype || !tensor_same_shape(got, want)) {
    fprintf(stderr, "%s: dtype/shape differ (%s vs %s, rank %d vs %d)\n", what, dtype_name(got->dtype),
            dtype_name(want->dtype), got->rank, want->rank);
    return 0;
  }
  if (!dtype_is_float(want->dtype)) {
    for (int64_t k = 0; k < want->numel; k++)
      if (tensor_get(got, k) != tensor_get(want, k)) {
        fprintf(stderr, "%s: element %lld is %g, expected %g\n", what, (long long)k, tensor_get(got, k), tensor_get(want, k));
        return 0;
      }
    return 1;
  }
  double num = 0, den = 0;
  for (int64_t k = 0; k < want->numel; k++) {
    double a = tensor_get(got, k), b = tensor_get(want, k);
    if (isnan(b) || isinf(b) || isnan(a) || isinf(a)) {
      if ((isnan(a) && isnan(b)) || a == b) continue;
      fprintf(stderr, "%s: element %lld is %g, expected %g\n", what, (long long)k, a, b);
      return 0;
    }
    num += (a - b) * (a - b);
    den += b * b;
  }
  double err = sqrt(num) / (den > 0 ? sqrt(den) : 1);
  if (err > tol) { fprintf(stderr, "%s: normalized error %g > %g\n", what, err, tol); return 0; }
  return 1;
}

/* Run f on the interpreter (f32 mode) and on backend state st; check every output. */
static __attribute__((unused)) void cpu_compare(const char *what, const Module *m, const Func *f, BackendState *st,
                                                const ParamStore *ps, Tensor *const *args, double tol) {
  Tensor *want[128] = {0}, *got[128] = {0};
  DlmErr e1 = {0}, e2 = {0};
  if (f->nout > 128) { CHECK_MSG(0, "%s: too many outputs", what); return; }
  int ok1 = interp_run(m, f, ps, args, want, DT_F32, &e1);
  int ok2 = backend_cpu.run(st, f, ps, args, got, NULL, &e2);
  if (!ok1) /* then the backend must refuse the call too */
    CHECK_MSG(!ok2, "%s: the interpreter failed (%s) but the cpu backend ran", what, e1.msg);
  else
    CHECK_MSG(ok2, "%s: cpu backend failed: %s", what, e2.msg);
  for (int k = 0; ok1 && ok2 && k < f->nout; k++) {
    char nm[512];
    snprintf(nm, sizeof nm, "%.200s output %d (%.200s)", what, k, f->outnames && f->outnames[k] ? f->outnames[k] : "?");
    CHECK_MSG(cpu_close_enough(nm, got[k], want[k], tol), "%s differs from the interpreter", nm);
  }
  for (int k = 0; k < f->nout; k++) {
    tensor_free(want[k]);
    tensor_free(got[k]);
  }
}
/* cpu_compare on a backend state opened on m for this comparison */
static __attribute__((unused)) void cpu_compare_new(const char *what, const Module *m, const Func *f,
                                                    Tensor *const *args, double tol) {
  DlmErr e = {0};
  BackendState *st = backend_cpu.open(m, &e);
  CHECK_MSG(st != NULL, "%s: cpu open: %s", what, e.msg);
  if (st) cpu_compare(what, m, f, st, NULL, args, tol);
  if (st) backend_cpu.close(st);
}

/* the number of occurrences of frag in the generated source of f (0, with a message, when it
 * cannot be generated) */
static __attribute__((unused)) int cpu_source_count(const Module *m, const Func *f, const char *frag) {
  CpuUnit u;
  DlmErr e = {0};
  if (!cpu_emit_func(m, f, &u, &e)) {
    fprintf(stderr, "cpu_emit_func: %s\n", e.msg);
    return 0;
  }
  int n = 0;
  for (const char *p = strstr(u.src, frag); p; p = strstr(p + 1, frag)) n++;
  cpu_unit_free(&u);
  return n;
}

/* Compiles the DSL file at path with defs, adds the gradient of `loss` (or, with all_objectives, of
 * every objective: loss and *_loss) and runs the pass pipeline. NULL, with a failed check, on error. */
static __attribute__((unused)) Module *cpu_compile_model(const char *path, const DslDefine *defs, int ndefs,
                                                         int all_objectives) {
  Module *m = dsl_compile_file(path, defs, ndefs, stderr);
  CHECK_MSG(m != NULL, "%s does not compile", path);
  if (!m) return NULL;
  DlmErr e = {0};
  Func *loss = ir_func_find(m, "loss");
  int ok = all_objectives ? ad_loss_grads(m, &e) > 0 : loss && ad_grad(m, loss, 0, NULL, 0, 1, &e);
  CHECK_MSG(ok, "%s: gradients: %s", path, e.msg);
  PassOptions po = {0};
  if (ok) {
    ok = pass_pipeline_run(m, &po, &e);
    CHECK_MSG(ok, "%s: passes: %s", path, e.msg);
  }
  if (!ok) { ir_module_free(m); return NULL; }
  return m;
}

/* The gradient of f's first output for the arguments wrt (ad_grad), then the pass pipeline on m:
 * the gradient function "f.grad" afterwards, NULL with a failed check on error. */
static __attribute__((unused)) Func *cpu_grad_passes(Module *m, Func *f, const int *wrt, int nwrt) {
  DlmErr e = {0};
  Func *g = ad_grad(m, f, 0, wrt, nwrt, 0, &e);
  CHECK_MSG(g != NULL, "ad_grad: %s", e.msg);
  PassOptions po = {0};
  int ok = g && pass_pipeline_run(m, &po, &e);
  CHECK_MSG(ok, "passes: %s", e.msg);
  return ok ? ir_func_find(m, "f.grad") : NULL;
}

/* uniform values in [-0.5, 0.5) for every parameter of m (all dims concrete) */
static __attribute__((unused)) ParamStore *cpu_random_params(const Module *m) {
  ParamStore *ps = pstore_new();
  for (int p = 0; p < m->nparams; p++) {
    const Type *t = &m->params[p].type;
    int64_t d[DLM_MAX_RANK];
    for (int i = 0; i < t->rank; i++) d[i] = t->dims[i].k;
    pstore_put(ps, m->params[p].name, cpu_rand_tensor(DT_F32, t->rank, d, -0.5, 0.5));
  }
  return ps;
}

#endif
