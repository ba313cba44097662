/* test_cpu_math.c — the float math helpers of the CPU prelude (codegen/cpu_prelude.c: exp in its
 * three range variants, expm1, tanh, GELU, sigmoid) against double-precision references over the
 * whole float range: signed zeros, subnormals, every binary exponent, dense grids where the
 * functions bend, the edges of the clamped ranges, infinities and NaN. The helpers run in a unit
 * compiled by cpu_build with the generated kernels' flags, in loops of the form the kernels use (so
 * they are vectorized as there; the length is not a multiple of the vector width, so the scalar
 * tail is checked too). Errors are relative, widened only where the float input of an inner step
 * (GELU's -2u) carries its rounding into the result, plus an absolute 2^-126 (GELU: |x| 2^-126 +
 * 2^-149) where results underflow. */
#include "check.h"
#include "cpu_emit.h"
#include "test_cpu_fixture.h"
#include <dlfcn.h>
#include <float.h>

enum { F_EXP_LE0, F_EXP_SAT, F_EXPF, F_EXPM1, F_TANH, F_GELU, F_SIG, NF };
static const char *const names[NF] = {"dlm_exp_le0", "dlm_exp_sat", "dlm_expf", "dlm_expm1_le0", "dlm_tanhf", "dlm_geluf", "dlm_sigf"};

static const char unit_src[] =
    "int dlm_entry(const int64_t *S, void *const *A, void *const *P, void *const *O, void **ws, int64_t *wsz,\n"
    "              char *err, int errlen) {\n"
    "  (void)P; (void)ws; (void)wsz; (void)err; (void)errlen;\n"
    "  const float *x = (const float *)A[0];\n"
    "  const int64_t n = S[0];\n"
    "  float *o0 = O[0], *o1 = O[1], *o2 = O[2], *o3 = O[3], *o4 = O[4], *o5 = O[5], *o6 = O[6];\n"
    "  for (int64_t j = 0; j < n; j++) o0[j] = dlm_exp_le0(x[j]);\n"
    "  for (int64_t j = 0; j < n; j++) o1[j] = dlm_exp_sat(x[j]);\n"
    "  for (int64_t j = 0; j < n; j++) o2[j] = dlm_expf(x[j]);\n"
    "  for (int64_t j = 0; j < n; j++) o3[j] = dlm_expm1_le0(x[j]);\n"
    "  for (int64_t j = 0; j < n; j++) o4[j] = dlm_tanhf(x[j]);\n"
    "  for (int64_t j = 0; j < n; j++) o5[j] = dlm_geluf(x[j]);\n"
    "  for (int64_t j = 0; j < n; j++) o6[j] = dlm_sigf(x[j]);\n"
    "  return 0;\n"
    "}\n";

#define TINY 0x1p-126 /* FLT_MIN: results below it may be flushed or subnormal */
#define REL 3e-7      /* about 2.5 ulp */

/* what a helper must give at x: NaN, an exact value (sign of zero included), or want within
 * rel |want| + abs; skip: x outside the helper's domain */
typedef struct { int skip, nan, exact; double want, rel, abs; } Expect;

static Expect near(double want, double rel, double abs) { return (Expect){0, 0, 0, want, rel, abs}; }
static Expect exactly(double want) { return (Expect){0, 0, 1, want, 0, 0}; }

static Expect expect(int fn, double x) {
  if (isnan(x)) return (Expect){0, 1, 0, 0, 0, 0};
  switch (fn) {
  case F_EXP_LE0: /* y <= 88; 0 or a subnormal below -87.33 */
    if (x > 88) return (Expect){1, 0, 0, 0, 0, 0};
    if (isinf(x)) return exactly(0);
    return near(exp(x), REL, x < -87.33 ? TINY : 0);
  case F_EXP_SAT: /* also infinite a little before FLT_MAX (above 88.37) */
    if (isinf(x)) return exactly(x > 0 ? INFINITY : 0);
    if (x > log(FLT_MAX)) return exactly(INFINITY);
    if (x > 88.37) return near(exp(x), INFINITY, 0); /* finite or infinite, positive */
    return near(exp(x), REL, x < -87.33 ? TINY : 0);
  case F_EXPF: /* exact edges: subnormal results to within one subnormal step, overflow at FLT_MAX */
    if (isinf(x)) return exactly(x > 0 ? INFINITY : 0);
    if (exp(x) > FLT_MAX) return exactly(INFINITY);
    if (x < -104) return exactly(0);
    return near(exp(x), REL, 0x1p-149);
  case F_EXPM1:
    if (x > 0) return (Expect){1, 0, 0, 0, 0, 0};
    if (isinf(x)) return exactly(-1);
    return near(expm1(x), REL, 0);
  case F_TANH:
    if (x == 0 || isinf(x)) return exactly(x == 0 ? x : x > 0 ? 1 : -1);
    return near(tanh(x), 5e-7, 0);
  case F_GELU: { /* x sigmoid(2u); -2u = v rounded in float, its relative error carried |v| times;
                  * |x| 2^-126 where e^-2u > 2.4e38 may be infinite */
    if (x == 0 || x == INFINITY) return exactly(x);
    if (x == -INFINITY) return (Expect){0, 1, 0, 0, 0, 0};
    const double u = 0.79788456080286535588 * (x + 0.044715 * x * x * x);
    return near(x / (1 + exp(-2 * u)), REL * (1 + fabs(2 * u)), fabs(x) * TINY + 0x1p-149);
  }
  case F_SIG:
    if (isinf(x)) return exactly(x > 0 ? 1 : 0);
    return near(1 / (1 + exp(-x)), REL, TINY);
  }
  return (Expect){1, 0, 0, 0, 0, 0};
}

/* 1 if got meets e (see Expect) */
static int meets(float got, Expect e) {
  if (e.nan) return isnan(got);
  if (e.exact) return got == e.want && !signbit(got) == !signbit(e.want);
  if (isnan(got)) return 0;
  if (isinf(e.rel)) return got > 0 && (isinf(got) || fabs(got - e.want) <= REL * e.want);
  return fabs((double)got - e.want) <= e.rel * fabs(e.want) + e.abs;
}

/* the inputs (see the top comment); returns their count */
static int64_t make_inputs(float *x, int64_t cap) {
  int64_t n = 0;
#define PUT(v) do { if (n < cap) x[n++] = (float)(v); } while (0)
  const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, FLT_MIN, -FLT_MIN, FLT_MAX, -FLT_MAX,
                            0x1p-149f, -0x1p-149f, 1e-40f, -1e-40f};
  for (size_t k = 0; k < sizeof specials / sizeof *specials; k++) PUT(specials[k]);
  const double mant[] = {1.0, 1.1, 1.37, 1.5, 1.99};
  for (int e = -149; e <= 127; e++)
    for (size_t k = 0; k < sizeof mant / sizeof *mant; k++) {
      PUT(ldexp(mant[k], e));
      PUT(-ldexp(mant[k], e));
    }
  for (double v = -24; v <= 24; v += 1.0 / 128) PUT(v);
  for (double v = -110; v <= 110; v += 0.0625) PUT(v);
  const double edges[] = {-104, -103.97, -88, -87.68, -87.33, -18, -0.35, 0.3, 0.35, 88.03, 88.38, 88.72, 89, 90};
  for (size_t k = 0; k < sizeof edges / sizeof *edges; k++)
    for (int d = -8; d <= 8; d++) {
      PUT(edges[k] + d * 1e-3);
      PUT(-edges[k] - d * 1e-3);
    }
  for (int k = 0; k < 2000; k++) PUT(-30 + 60 * cpu_rand01());
  if (n % 16 == 0) PUT(0.5); /* keep a scalar tail */
#undef PUT
  return n;
}

int main(void) {
  cpu_test_env();
  enum { CAP = 20000 };
  float *x = malloc(CAP * sizeof *x), *out[NF];
  for (int f = 0; f < NF; f++) out[f] = malloc(CAP * sizeof(float));
  if (!x) { CHECK_MSG(0, "out of memory"); return check_summary("test_cpu_math"); }
  DlmErr e = {0};
  CpuEntry entry = NULL;
  void *lib = cpu_build_with_prelude(unit_src, &entry, &e);
  CHECK_MSG(lib != NULL, "math unit: %s", e.msg);
  const int64_t n = make_inputs(x, CAP);
  CHECK(n < CAP && n % 16 != 0);
  char err[64];
  void *outs[NF];
  for (int f = 0; f < NF; f++) outs[f] = out[f];
  void *args[1] = {x};
  if (lib && entry(&n, args, NULL, outs, NULL, NULL, err, sizeof err) == 0) {
    for (int f = 0; f < NF; f++) {
      int bad = 0, checked = 0;
      for (int64_t j = 0; j < n; j++) {
        const Expect want = expect(f, x[j]);
        if (want.skip) continue;
        checked++;
        if (meets(out[f][j], want)) continue;
        if (bad++ < 5)
          fprintf(stderr, "%s(%a = %.9g) = %.9g, want %.9g (rel %g + abs %g)%s\n", names[f], x[j], x[j], out[f][j],
                  want.want, want.rel, want.abs, want.nan ? " NaN" : want.exact ? " exactly" : "");
      }
      CHECK_MSG(bad == 0, "%s: %d of %d values out of tolerance", names[f], bad, checked);
      CHECK_MSG(checked > 2000, "%s: only %d values checked", names[f], checked);
    }
  } else CHECK_MSG(0, "math unit did not run");
  if (lib) dlclose(lib);
  free(x);
  for (int f = 0; f < NF; f++) free(out[f]);
  return check_summary("test_cpu_math");
}
