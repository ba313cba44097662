/* interp_fixture.h — helpers shared by the interpreter unit tests (test_interp_*.c): build a one-
 * function module with the builder API from type strings ("f32[B,3]"), make argument tensors from
 * literal values, run the function and compare the result with hand-computed values. */
#ifndef DLM_INTERP_FIXTURE_H
#define DLM_INTERP_FIXTURE_H
#include "check.h"
#include "interp.h"
#include "type_text.h"
#include <stdarg.h>
#include <string.h>

/* every helper is static and may go unused in a given test */
#define FX_FN static __attribute__((unused))

static Module *M;
static Func *F;
static DlmErr E;
static Tensor *ARGS[16];
static int NARGS;
static const ParamStore *PS; /* the parameter store run() passes (NULL unless a test sets it) */

FX_FN void fx_begin(void) {
  M = ir_module_new("t");
  F = ir_func_new(M, "f");
  memset(&E, 0, sizeof E);
  NARGS = 0;
}

FX_FN void fx_end(void) {
  for (int i = 0; i < NARGS; i++) tensor_free(ARGS[i]);
  NARGS = 0;
  ir_module_free(M);
  M = NULL;
  F = NULL;
}

FX_FN Type ty(const char *s) { return fx_type(M, s); }


FX_FN Attrs fa(double f) {
  Attrs a = attrs_none();
  a.f[0] = f;
  return a;
}

/* A tensor of dtype dt and the given shape ("[2,3]" style dims as ints), from n literal values. */
FX_FN Tensor *tens(DType dt, int rank, const int64_t *shape, int n, const double *v) {
  Tensor *t = tensor_new(dt, rank, shape);
  for (int i = 0; i < n && i < t->numel; i++) tensor_set(t, i, v[i]);
  return t;
}
#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define VALS(...) (int)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)), ((const double[]){__VA_ARGS__})

/* Add an argument of declared type `decl`, holding tensor t (owned by the fixture). */
FX_FN int arg(const char *decl, Tensor *t) {
  ARGS[NARGS++] = t;
  return ir_arg(M, F, "x", ty(decl), (SrcLoc){0, 0, 0});
}

FX_FN int op(OpKind k, const char *given, Attrs a, int nin, ...) {
  int in[8];
  va_list ap;
  va_start(ap, nin);
  for (int i = 0; i < nin; i++) in[i] = va_arg(ap, int);
  va_end(ap);
  Type g = given ? ty(given) : type_scalar(DT_F32);
  DlmErr e = {0};
  int id = ir_emit(M, F, k, given ? &g : NULL, nin, in, &a, (SrcLoc){0, 1, 1}, &e);
  if (id < 0) fprintf(stderr, "emit %s failed: %s\n", op_info[k].name, e.msg);
  return id;
}

/* Run F with output `out` in mode; returns the result tensor (caller frees) or NULL with E set. */
FX_FN Tensor *run(int out, DType mode) {
  ir_set_outputs(M, F, 1, &out, NULL);
  Tensor *res[1] = {NULL};
  memset(&E, 0, sizeof E);
  if (!interp_run(M, F, PS, ARGS, res, mode, &E)) return NULL;
  return res[0];
}

/* Compare t (freed here) to the shape and values expected; tolerance relative to 1 + |want|. */
FX_FN void expect_at(const char *file, int line, Tensor *t, int rank, const int64_t *shape, int n, const double *want, double tol) {
  if (!t) { check_failed++; fprintf(stderr, "%s:%d: run failed: %s\n", file, line, E.msg); return; }
  int ok = t->rank == rank && t->numel == n;
  for (int d = 0; ok && d < rank; d++) ok = t->shape[d] == shape[d];
  if (!ok) { check_failed++; fprintf(stderr, "%s:%d: result shape differs (rank %d, numel %lld)\n", file, line, t->rank, (long long)t->numel); }
  for (int i = 0; ok && i < n; i++) {
    double g = tensor_get(t, i);
    if (isnan(want[i]) ? isnan(g) : g == want[i] || fabs(g - want[i]) <= tol * (1 + fabs(want[i]))) check_passed++;
    else { check_failed++; fprintf(stderr, "%s:%d: element %d = %.17g, expected %.17g\n", file, line, i, g, want[i]); }
  }
  tensor_free(t);
}
#define EXPECT(t, rank, shape, vals, tol) expect_at(__FILE__, __LINE__, (t), (rank), (shape), vals, (tol))

/* The run must fail with a message containing `frag`. */
FX_FN void expect_err_at(const char *file, int line, Tensor *t, const char *frag) {
  if (t) { check_failed++; fprintf(stderr, "%s:%d: expected an error containing \"%s\"\n", file, line, frag); tensor_free(t); return; }
  if (strstr(E.msg, frag)) check_passed++;
  else { check_failed++; fprintf(stderr, "%s:%d: error \"%s\" lacks \"%s\"\n", file, line, E.msg, frag); }
}
#define EXPECT_ERR(t, frag) expect_err_at(__FILE__, __LINE__, (t), (frag))

#endif
