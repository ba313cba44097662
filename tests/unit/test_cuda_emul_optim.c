/* test_cuda_emul_optim.c — the device optimizer kernels (codegen/cuda_prelude.c cuda_optim_src),
 * compiled as C++ with the emulation shim (cuda_emul.h) and run on the CPU with blocks of 1 and
 * of 4 threads, against runtime/optim.c on the same data: three parameter tensors (one without a
 * gradient: EMA only) of random values, two steps with clipping active and weight decay. The
 * global norm agrees with grad_global_norm to 1e-12 relative (the summation order differs) and
 * the clip factor is clip_factor of the kernel's norm exactly; given the same factor, the
 * weights, both moments and the EMA are bit-identical to adamw_update + ema_update, and the bf16
 * copies are the bf16 rounding of the new weights. No GPU needed. */
#include "check.h"
#include "cuda_emul.h"
#include "train.h"
#include <math.h>

typedef struct { float *p, *m, *v, *ema; const float *g; uint16_t *p16; long long n; } OptT; /* struct DlmOptT */

static const char wrappers[] =
  "extern \"C\" int emul_sumsq(const DlmOptT *t, int nt, double *part, unsigned n) {\n"
  "  return dlm_emul_par([&] { dlm_opt_sumsq(t, nt, part); }, n);\n"
  "}\n"
  "extern \"C\" int emul_norm(const double *part, int np, const double *h, double *out) {\n"
  "  return dlm_emul_par([&] { dlm_opt_norm(part, np, h, out); }, 1);\n"
  "}\n"
  "extern \"C\" int emul_update(const DlmOptT *t, int nt, const double *sc, const double *h, unsigned n) {\n"
  "  return dlm_emul_par([&] { dlm_opt_update(t, nt, sc, h); }, n);\n"
  "}\n";

typedef int (*SumsqFn)(const OptT *, int, double *, unsigned);
typedef int (*NormFn)(const double *, int, const double *, double *);
typedef int (*UpdateFn)(const OptT *, int, const double *, const double *, unsigned);

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float urand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (float)((double)(rng >> 11) / 9007199254740992.0 * 2 - 1);
}

static Tensor *rand_vec(int64_t n, float scale) {
  Tensor *t = tensor_new(DT_F32, 1, &n);
  for (int64_t k = 0; t && k < n; k++) ((float *)t->data)[k] = urand() * scale;
  return t;
}

static Tensor *copy_of(const Tensor *t) { return tensor_clone(t); }

static void run_case(void *lib, unsigned nthreads) {
  SumsqFn sumsq = (SumsqFn)(uintptr_t)dlsym(lib, "emul_sumsq");
  NormFn normk = (NormFn)(uintptr_t)dlsym(lib, "emul_norm");
  UpdateFn update = (UpdateFn)(uintptr_t)dlsym(lib, "emul_update");
  CHECK(sumsq && normk && update);
  if (!sumsq || !normk || !update) return;
  enum { NT = 3 };
  const int64_t sizes[NT] = {37, 1000, 5};
  OptConfig c = {.lr = 3e-3, .warmup = 0, .steps = 10, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1, .clip = 1.0, .ema = 0.99};
  Tensor *hp[NT], *hm[NT], *hv[NT], *he[NT], *dp[NT], *dm[NT], *dv[NT], *de[NT], *g[NT];
  uint16_t *p16[NT];
  OptT tab[NT];
  for (int q = 0; q < NT; q++) {
    hp[q] = rand_vec(sizes[q], 0.5f);
    hm[q] = rand_vec(sizes[q], 0.01f);
    hv[q] = rand_vec(sizes[q], 0.0f);
    he[q] = copy_of(hp[q]);
    dp[q] = copy_of(hp[q]); dm[q] = copy_of(hm[q]); dv[q] = copy_of(hv[q]); de[q] = copy_of(he[q]);
    p16[q] = calloc((size_t)sizes[q], sizeof *p16[q]);
    g[q] = q == 2 ? NULL : rand_vec(sizes[q], 2.0f);   /* tensor 2: no gradient */
    tab[q] = (OptT){dp[q]->data, dm[q]->data, dv[q]->data, de[q]->data, g[q] ? g[q]->data : NULL, p16[q], (long long)sizes[q]};
  }
  for (int64_t t = 1; t <= 2; t++) {
    /* host: runtime/optim.c as train.c calls it */
    Tensor *gl[2] = {g[0], g[1]};
    double norm = grad_global_norm(gl, 2), scale = clip_factor(norm, c.clip), lr = lr_at(&c, t), d = ema_decay(c.ema, t);
    /* device kernels */
    double part[1] = {0}, sc[2] = {0, 0};
    double h[CUDA_OPT_H] = {lr, c.beta1, 1.0 - c.beta1, c.beta2, 1.0 - c.beta2, c.eps, 1.0 - lr * c.weight_decay,
                            1.0 - pow(c.beta1, (double)t), 1.0 - pow(c.beta2, (double)t), 1.0 - d, c.clip};
    CHECK(sumsq(tab, NT, part, nthreads) && normk(part, 1, h, sc));
    CHECK_MSG(fabs(sc[0] - norm) <= 1e-12 * norm, "norm %.17g vs %.17g", sc[0], norm);
    CHECK(norm > c.clip && sc[1] == clip_factor(sc[0], c.clip));
    sc[1] = scale; /* the same factor for both, so the updates can be compared bit for bit */
    CHECK(update(tab, NT, sc, h, nthreads));
    for (int q = 0; q < NT; q++) {
      if (g[q]) adamw_update(&c, t, lr, scale, hp[q], g[q], hm[q], hv[q]);
      ema_update(d, he[q], hp[q]);
    }
    for (int q = 0; q < NT; q++) {
      size_t bytes = (size_t)sizes[q] * 4;
      CHECK_MSG(!memcmp(hp[q]->data, dp[q]->data, bytes), "step %lld tensor %d (%u threads): weights differ", (long long)t, q, nthreads);
      CHECK_MSG(!memcmp(hm[q]->data, dm[q]->data, bytes) && !memcmp(hv[q]->data, dv[q]->data, bytes), "step %lld tensor %d: moments differ",
                (long long)t, q);
      CHECK_MSG(!memcmp(he[q]->data, de[q]->data, bytes), "step %lld tensor %d: EMA differs", (long long)t, q);
      int same16 = 1;
      for (int64_t k = 0; k < sizes[q]; k++) same16 &= p16[q][k] == (g[q] ? f32_to_bf16(((float *)hp[q]->data)[k]) : 0);
      CHECK_MSG(same16, "step %lld tensor %d: bf16 copy", (long long)t, q);
    }
  }
  /* the weights moved (a test that cannot pass on untouched buffers) */
  CHECK(((float *)hp[0]->data)[0] != ((float *)he[0]->data)[0] || ((float *)hp[0]->data)[1] != ((float *)he[0]->data)[1]);
  for (int q = 0; q < NT; q++) {
    tensor_free(hp[q]); tensor_free(hm[q]); tensor_free(hv[q]); tensor_free(he[q]);
    tensor_free(dp[q]); tensor_free(dm[q]); tensor_free(dv[q]); tensor_free(de[q]);
    tensor_free(g[q]);
    free(p16[q]);
  }
}

int main(void) {
  char dir[] = "/tmp/dlm_cuda_emul_optim_XXXXXX";
  if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
  size_t n = strlen(cuda_prelude) + strlen(cuda_optim_src) + 1;
  char *unit = malloc(n);
  CHECK(unit != NULL);
  if (unit) {
    strcpy(unit, cuda_prelude);
    strcat(unit, cuda_optim_src);
  }
  char *src = unit ? emul_source(unit) : NULL;
  char *all = src ? malloc(strlen(src) + sizeof wrappers) : NULL;
  if (all) {
    strcpy(all, src);
    strcat(all, wrappers);
  }
  void *lib = all ? build(all, dir) : NULL;
  CHECK_MSG(lib != NULL, "the optimizer unit does not build as C++ with the shim");
  if (lib) {
    run_case(lib, 1);
    run_case(lib, 4);
    dlclose(lib);
  }
  free(all);
  free(src);
  free(unit);
  rmdir(dir);
  return check_summary("test_cuda_emul_optim");
}
