/* test_interp_params.c — parameters in the interpreter (read by name from the store; a missing or
 * misshapen one is an error naming it) and pstore_init (zeros, ones, normal and uniform inits:
 * deterministic per seed, one stream per parameter, sample moments near the requested ones). */
#include "interp_fixture.h"

#define T(dt, ...) tens(dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), SHAPE(__VA_ARGS__)
static const double EXACT = 0;

static void test_param_reads(void) {
  fx_begin();
  SrcLoc l = {0, 0, 0};
  ir_param_add(M, "blk.w", ty("f32[2]"), INIT_ONES, 0, 0, l);
  int x = arg("f32[2]", T(DT_F32, 2), VALS(1, 2)));
  Attrs pa = attrs_none();
  pa.s = "blk.w";
  int w = op(OP_PARAM, NULL, pa, 0);
  int y = op(OP_MUL, NULL, attrs_none(), 2, x, w);
  /* w = [10, -3] stored as f64 (convertible): x * w = [10, -6] */
  ParamStore *ps = pstore_new();
  pstore_put(ps, "blk.w", T(DT_F64, 2), VALS(10, -3)));
  EXPECT((PS = ps, run(y, DT_F32)), 1, SHAPE(2), VALS(10, -6), EXACT);
  /* wrong shape, wrong dtype, then missing: each error names the parameter */
  pstore_put(ps, "blk.w", T(DT_F32, 3), VALS(1, 2, 3)));
  EXPECT_ERR((PS = ps, run(y, DT_F32)), "parameter blk.w");
  /* a float tensor does not convert to an integer parameter */
  ir_param_add(M, "blk.ids", ty("i64[2]"), INIT_ZEROS, 0, 0, l);
  pa.s = "blk.ids";
  int ids = op(OP_PARAM, NULL, pa, 0);
  pstore_put(ps, "blk.ids", T(DT_F32, 2), VALS(1, 0)));
  EXPECT_ERR((PS = ps, run(ids, DT_F32)), "parameter blk.ids: stored dtype f32 is not convertible");
  pstore_put(ps, "blk.ids", T(DT_I32, 2), VALS(4, 5)));
  EXPECT((PS = ps, run(ids, DT_F32)), 1, SHAPE(2), VALS(4, 5), EXACT);
  pstore_free(ps);
  ps = pstore_new();
  EXPECT_ERR((PS = ps, run(y, DT_F32)), "parameter blk.w is missing");
  EXPECT_ERR((PS = NULL, run(y, DT_F32)), "parameter blk.w is missing");
  pstore_free(ps);
  fx_end();
}

static void moments(const Tensor *t, double *mean, double *sd, double *lo, double *hi) {
  double s = 0, s2 = 0;
  *lo = INFINITY;
  *hi = -INFINITY;
  for (int64_t i = 0; i < t->numel; i++) {
    double v = tensor_get(t, i);
    s += v;
    s2 += v * v;
    if (v < *lo) *lo = v;
    if (v > *hi) *hi = v;
  }
  *mean = s / (double)t->numel;
  *sd = sqrt(s2 / (double)t->numel - *mean * *mean);
}

static void test_pstore_init(void) {
  fx_begin();
  SrcLoc l = {0, 0, 0};
  ir_param_add(M, "z", ty("f32[3]"), INIT_ZEROS, 0, 0, l);
  ir_param_add(M, "o", ty("bf16[2,2]"), INIT_ONES, 0, 0, l);
  ir_param_add(M, "n1", ty("f32[4000]"), INIT_NORMAL, 1, 2, l);
  ir_param_add(M, "n2", ty("f32[4000]"), INIT_NORMAL, 1, 2, l);
  ir_param_add(M, "u", ty("f64[4000]"), INIT_UNIFORM, -1, 3, l);
  ParamStore *a = pstore_init(M, 42), *b = pstore_init(M, 42), *c = pstore_init(M, 43);
  CHECK(a && b && c && a->n == 5);
  Tensor *z = pstore_get(a, "z"), *o = pstore_get(a, "o"), *n1 = pstore_get(a, "n1"), *n2 = pstore_get(a, "n2");
  Tensor *u = pstore_get(a, "u");
  CHECK(z && z->dtype == DT_F32 && z->numel == 3 && tensor_get(z, 0) == 0 && tensor_get(z, 2) == 0);
  CHECK(o && o->dtype == DT_BF16 && o->rank == 2 && tensor_get(o, 0) == 1 && tensor_get(o, 3) == 1);
  /* normal(1, 2) over 4000 draws: the sample mean is within 3 standard errors (3 * 2/sqrt(4000) = 0.095)
   * of 1 and the sample deviation within ~0.1 of 2 */
  double mean, sd, lo, hi;
  moments(n1, &mean, &sd, &lo, &hi);
  CHECK_MSG(fabs(mean - 1) < 0.1 && fabs(sd - 2) < 0.1, "normal: mean %g sd %g", mean, sd);
  /* uniform(-1, 3): all in [-1, 3), mean 1 (se 4/sqrt(12*4000) = 0.018), sd 4/sqrt(12) = 1.1547 */
  moments(u, &mean, &sd, &lo, &hi);
  CHECK_MSG(lo >= -1 && hi < 3 && fabs(mean - 1) < 0.06 && fabs(sd - 1.1547005383792515) < 0.05,
            "uniform: mean %g sd %g [%g, %g]", mean, sd, lo, hi);
  /* deterministic per seed; another seed and another parameter give other numbers */
  int same = 1, diffseed = 0, diffparam = 0;
  for (int64_t i = 0; i < n1->numel; i++) {
    same &= tensor_get(n1, i) == tensor_get(pstore_get(b, "n1"), i);
    diffseed += tensor_get(n1, i) != tensor_get(pstore_get(c, "n1"), i);
    diffparam += tensor_get(n1, i) != tensor_get(n2, i);
  }
  CHECK(same);
  CHECK(diffseed > 3900 && diffparam > 3900);
  pstore_free(a);
  pstore_free(b);
  pstore_free(c);
  fx_end();
}

int main(void) {
  test_param_reads();
  test_pstore_init();
  return check_summary("test_interp_params");
}
