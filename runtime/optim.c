/* optim.c — learning-rate schedule, global-norm clipping, AdamW and the EMA of the weights
 * (see train.h for the exact formulas), and opt_step: the whole update of a training step in two
 * passes over the parameters, both split over the OpenMP threads (the pool the compiled CPU
 * kernels use, so no thread is created and none spins idle meanwhile): the gradient norm, then
 * clipping, AdamW and the EMA fused. The work is cut into fixed chunks of CHUNK elements of one
 * tensor: each chunk's sum of squares is accumulated in LANES interleaved double sums added in lane
 * order, and the chunks' sums are added in tensor and chunk order by one thread, so the norm is
 * the same with any number of threads; the update is elementwise, in the same double arithmetic, operation for
 * operation, on the scalar path and the AVX-512 path. */
#include "train.h"
#include <math.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define OPT_AVX512 1
#endif

enum { CHUNK = 4096, LANES = 16, MAX_THREADS = 64, MIN_PER_THREAD = 65536 };

double lr_at(const OptConfig *c, int64_t t) {
  if (c->warmup > 0 && t < c->warmup) return c->lr * (double)t / (double)c->warmup;
  if (c->schedule == LR_CONSTANT || c->steps <= c->warmup) return c->lr;
  double progress = (double)(t - c->warmup) / (double)(c->steps - c->warmup);
  if (progress > 1) progress = 1;
  return c->lr * 0.5 * (1.0 + cos(3.14159265358979323846 * progress));
}

double clip_factor(double norm, double clip) {
  if (clip > 0 && norm > clip) return clip / (norm + 1e-6);
  return 1.0;
}

double ema_decay(double decay, int64_t n) {
  double warm = (1.0 + (double)n) / (10.0 + (double)n);
  return decay < warm ? decay : warm;
}

/* ---------------------------------------------------------------- chunk kernels */
/* The constants of one update: AdamW (lr, betas and 1 - betas, eps, the decay factor 1 - lr wd,
 * the bias corrections 1 - beta^t, the clip factor) and 1 - the EMA decay. */
typedef struct { double lr, b1, c1, b2, c2, eps, decay, bc1, bc2, gscale, ed; } UpdConst;

static UpdConst upd_const(const OptConfig *c, int64_t t, double lr, double gscale, double ema_d) {
  return (UpdConst){lr, c->beta1, 1.0 - c->beta1, c->beta2, 1.0 - c->beta2, c->eps, 1.0 - lr * c->weight_decay,
                    1.0 - pow(c->beta1, (double)t), 1.0 - pow(c->beta2, (double)t), gscale, 1.0 - ema_d};
}

/* The gradient elements [k0, k0 + n) as f32: the tensor's own data, or converted into buf. */
static const float *grad_f32(const Tensor *g, int64_t k0, int64_t n, float *buf) {
  if (g->dtype == DT_F32) return (const float *)g->data + k0;
  for (int64_t k = 0; k < n; k++) buf[k] = (float)tensor_get(g, k0 + k);
  return buf;
}

static double sumsq_scalar(const float *x, int64_t n) {
  double acc[LANES] = {0};
  int64_t k = 0;
  for (; k + LANES <= n; k += LANES)
    for (int j = 0; j < LANES; j++) acc[j] += (double)x[k + j] * (double)x[k + j];
  double s = 0;
  for (int j = 0; j < LANES; j++) s += acc[j];
  for (; k < n; k++) s += (double)x[k] * (double)x[k];
  return s;
}

/* Element k: AdamW when g is given, then the EMA when e is given. */
static inline void update_elem(const UpdConst *u, float *p, float *m, float *v, float *e, const float *g, int64_t k) {
  if (g) {
    double gk = (double)g[k] * u->gscale;
    double mk = u->b1 * m[k] + u->c1 * gk;
    double vk = u->b2 * v[k] + u->c2 * gk * gk;
    double w = p[k] * u->decay;
    w -= u->lr * (mk / u->bc1) / (sqrt(vk / u->bc2) + u->eps);
    m[k] = (float)mk;
    v[k] = (float)vk;
    p[k] = (float)w;
  }
  if (e) e[k] = (float)(e[k] - u->ed * ((double)e[k] - (double)p[k]));
}

#ifdef OPT_AVX512
/* The same sums and updates 8 doubles wide (two vectors of sums: LANES = 16). Every operation is
 * the IEEE one of the scalar code, in the same order, without contraction, so results are equal. */
__attribute__((target("avx512f"))) static double sumsq_avx512(const float *x, int64_t n) {
  __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
  int64_t k = 0;
  for (; k + LANES <= n; k += LANES) {
    __m512d x0 = _mm512_cvtps_pd(_mm256_loadu_ps(x + k)), x1 = _mm512_cvtps_pd(_mm256_loadu_ps(x + k + 8));
    a0 = _mm512_add_pd(a0, _mm512_mul_pd(x0, x0));
    a1 = _mm512_add_pd(a1, _mm512_mul_pd(x1, x1));
  }
  double acc[LANES];
  _mm512_storeu_pd(acc, a0);
  _mm512_storeu_pd(acc + 8, a1);
  double s = 0;
  for (int j = 0; j < LANES; j++) s += acc[j];
  for (; k < n; k++) s += (double)x[k] * (double)x[k];
  return s;
}

__attribute__((target("avx512f"))) static void update_avx512(const UpdConst *u, float *p, float *m, float *v, float *e,
                                                             const float *g, int64_t n) {
  const __m512d lr = _mm512_set1_pd(u->lr), b1 = _mm512_set1_pd(u->b1), c1 = _mm512_set1_pd(u->c1),
                b2 = _mm512_set1_pd(u->b2), c2 = _mm512_set1_pd(u->c2), eps = _mm512_set1_pd(u->eps),
                decay = _mm512_set1_pd(u->decay), bc1 = _mm512_set1_pd(u->bc1), bc2 = _mm512_set1_pd(u->bc2),
                gs = _mm512_set1_pd(u->gscale), ed = _mm512_set1_pd(u->ed);
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    __m256 pf = _mm256_loadu_ps(p + k);
    if (g) {
      __m512d gk = _mm512_mul_pd(_mm512_cvtps_pd(_mm256_loadu_ps(g + k)), gs);
      __m512d mk = _mm512_add_pd(_mm512_mul_pd(b1, _mm512_cvtps_pd(_mm256_loadu_ps(m + k))), _mm512_mul_pd(c1, gk));
      __m512d vk = _mm512_add_pd(_mm512_mul_pd(b2, _mm512_cvtps_pd(_mm256_loadu_ps(v + k))), _mm512_mul_pd(_mm512_mul_pd(c2, gk), gk));
      __m512d w = _mm512_mul_pd(_mm512_cvtps_pd(pf), decay);
      __m512d den = _mm512_add_pd(_mm512_sqrt_pd(_mm512_div_pd(vk, bc2)), eps);
      w = _mm512_sub_pd(w, _mm512_div_pd(_mm512_mul_pd(lr, _mm512_div_pd(mk, bc1)), den));
      _mm256_storeu_ps(m + k, _mm512_cvtpd_ps(mk));
      _mm256_storeu_ps(v + k, _mm512_cvtpd_ps(vk));
      pf = _mm512_cvtpd_ps(w);
      _mm256_storeu_ps(p + k, pf);
    }
    if (e) {
      __m512d ek = _mm512_cvtps_pd(_mm256_loadu_ps(e + k));
      ek = _mm512_sub_pd(ek, _mm512_mul_pd(ed, _mm512_sub_pd(ek, _mm512_cvtps_pd(pf))));
      _mm256_storeu_ps(e + k, _mm512_cvtpd_ps(ek));
    }
  }
  for (; k < n; k++) update_elem(u, p, m, v, e, g, k);
}

static int have_avx512(void) {
  static atomic_int have = -1; /* threads may ask at once: each would store the same answer */
  int h = atomic_load_explicit(&have, memory_order_relaxed);
  if (h < 0) {
    __builtin_cpu_init();
    h = __builtin_cpu_supports("avx512f") != 0;
    atomic_store_explicit(&have, h, memory_order_relaxed);
  }
  return h;
}
#endif

static double sumsq(const float *x, int64_t n) {
#ifdef OPT_AVX512
  if (have_avx512()) return sumsq_avx512(x, n);
#endif
  return sumsq_scalar(x, n);
}

static void update_range(const UpdConst *u, float *p, float *m, float *v, float *e, const float *g, int64_t n) {
#ifdef OPT_AVX512
  if (have_avx512()) { update_avx512(u, p, m, v, e, g, n); return; }
#endif
  for (int64_t k = 0; k < n; k++) update_elem(u, p, m, v, e, g, k);
}

/* Elements [k0, k0 + n) of one tensor: AdamW of p, m, v with gradient g (NULL: none), then the EMA
 * e (NULL: none) towards the new p. */
static void update_chunk(const UpdConst *u, Tensor *p, Tensor *m, Tensor *v, Tensor *e, const Tensor *g, int64_t k0, int64_t n) {
  float buf[CHUNK];
  const float *gf = g ? grad_f32(g, k0, n, buf) : NULL;
  update_range(u, (float *)p->data + k0, m ? (float *)m->data + k0 : NULL, v ? (float *)v->data + k0 : NULL,
               e ? (float *)e->data + k0 : NULL, gf, n);
}

static int64_t nchunks(int64_t numel) { return (numel + CHUNK - 1) / CHUNK; }

/* ---------------------------------------------------------------- the serial API */
double grad_global_norm(Tensor *const *g, int n) {
  float buf[CHUNK];
  double s = 0;
  for (int i = 0; i < n; i++)
    for (int64_t k0 = 0; k0 < g[i]->numel; k0 += CHUNK) {
      int64_t len = g[i]->numel - k0 < CHUNK ? g[i]->numel - k0 : CHUNK;
      s += sumsq(grad_f32(g[i], k0, len, buf), len);
    }
  return sqrt(s);
}

void adamw_update(const OptConfig *c, int64_t t, double lr, double gscale, Tensor *p, const Tensor *g, Tensor *m, Tensor *v) {
  UpdConst u = upd_const(c, t, lr, gscale, 0);
  for (int64_t k0 = 0; k0 < p->numel; k0 += CHUNK)
    update_chunk(&u, p, m, v, NULL, g, k0, p->numel - k0 < CHUNK ? p->numel - k0 : CHUNK);
}

void ema_update(double d, Tensor *ema, const Tensor *p) {
  UpdConst u = {.ed = 1.0 - d}; /* without a gradient, update_chunk only reads p */
  for (int64_t k0 = 0; k0 < ema->numel; k0 += CHUNK)
    update_chunk(&u, (Tensor *)p, NULL, NULL, ema, NULL, k0, ema->numel - k0 < CHUNK ? ema->numel - k0 : CHUNK);
}

/* ---------------------------------------------------------------- opt_step */
typedef struct { int tensor; int64_t k0, len; } Chunk;

/* the number of threads when the caller leaves it to opt_step: OpenMP's (OMP_NUM_THREADS, else the
 * online processors), at most one per MIN_PER_THREAD elements */
static int default_threads(int64_t numel) {
  int64_t cap = numel / MIN_PER_THREAD > 1 ? numel / MIN_PER_THREAD : 1;
  int n = omp_get_max_threads();
  return n > cap ? (int)cap : n;
}

int opt_step(const OptConfig *c, int64_t t, double lr, double ema_d, const OptTensor *ts, int nt, int nthreads, double *gnorm) {
  int64_t n = 0, numel = 0;
  for (int i = 0; i < nt; i++) {
    if (ts[i].g && ts[i].g->numel != ts[i].p->numel) abort();   /* a gradient has its parameter's shape */
    n += nchunks(ts[i].p->numel), numel += ts[i].p->numel;
  }
  Chunk *chunks = malloc((size_t)(n ? n : 1) * sizeof *chunks);
  double *sq = malloc((size_t)(n ? n : 1) * sizeof *sq);
  if (!chunks || !sq) { free(chunks); free(sq); return 0; }
  for (int i = 0, q = 0; i < nt; i++)
    for (int64_t k0 = 0; k0 < ts[i].p->numel; k0 += CHUNK)
      chunks[q++] = (Chunk){i, k0, ts[i].p->numel - k0 < CHUNK ? ts[i].p->numel - k0 : CHUNK};
  int want = nthreads > 0 ? nthreads : default_threads(numel);
  UpdConst u;
#pragma omp parallel num_threads(want < MAX_THREADS ? want : MAX_THREADS)
  {
    float buf[CHUNK];
#pragma omp for schedule(dynamic)
    for (int64_t i = 0; i < n; i++) {
      const Tensor *g = ts[chunks[i].tensor].g;
      sq[i] = g ? sumsq(grad_f32(g, chunks[i].k0, chunks[i].len, buf), chunks[i].len) : 0;
    }
#pragma omp single
    { /* the chunk sums added in chunk order, as grad_global_norm adds them */
      double s = 0;
      for (int64_t i = 0; i < n; i++)
        if (ts[chunks[i].tensor].g) s += sq[i];
      *gnorm = sqrt(s);
      u = upd_const(c, t, lr, clip_factor(*gnorm, c->clip), ema_d);
    }
#pragma omp for schedule(dynamic)
    for (int64_t i = 0; i < n; i++) {
      const Chunk *ch = &chunks[i];
      const OptTensor *o = &ts[ch->tensor];
      update_chunk(&u, o->p, o->g ? o->m : NULL, o->g ? o->v : NULL, o->ema, o->g, ch->k0, ch->len);
    }
  }
  free(chunks);
  free(sq);
  return 1;
}
