/* test_rt_optim.c — the training arithmetic against values worked out by hand: the warmup and
 * cosine learning rates, global-norm clipping, two AdamW steps with decoupled weight decay, the
 * EMA warm-up decay; opt_step (fused, threaded) against the serial functions and an element
 * formula written out here; and the data split and deterministic batches. */
#include "check.h"
#include "train.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static Tensor *vec(int n, const float *v) {
  int64_t s = n;
  Tensor *t = tensor_new(DT_F32, 1, &s);
  memcpy(t->data, v, (size_t)n * sizeof *v);
  return t;
}

static void test_schedule(void) {
  OptConfig c = {.lr = 0.01, .warmup = 10, .steps = 110, .schedule = LR_CONSTANT};
  CHECK_NEAR(lr_at(&c, 1), 0.001, 1e-12);
  CHECK_NEAR(lr_at(&c, 5), 0.005, 1e-12);
  CHECK_NEAR(lr_at(&c, 10), 0.01, 1e-12);
  CHECK_NEAR(lr_at(&c, 100), 0.01, 1e-12);
  c.schedule = LR_COSINE;
  CHECK_NEAR(lr_at(&c, 10), 0.01, 1e-12);    /* cos(0) */
  CHECK_NEAR(lr_at(&c, 60), 0.005, 1e-12);   /* halfway: (1 + cos(pi/2)) / 2 */
  CHECK_NEAR(lr_at(&c, 110), 0.0, 1e-12);
  CHECK_NEAR(lr_at(&c, 35), 0.01 * (1 + sqrt(0.5)) / 2, 1e-12);   /* a quarter: cos(pi/4) */
  c.warmup = 0;
  c.schedule = LR_CONSTANT;
  CHECK_NEAR(lr_at(&c, 1), 0.01, 1e-12);
}

static void test_adamw_clip(void) {
  /* gradients (3, 4) and (12): global norm sqrt(9 + 16 + 144) = 13 */
  float g1v[2] = {3, 4}, g2v[1] = {12}, p1v[2] = {1, -2}, p2v[1] = {0.5f};
  Tensor *g[2] = {vec(2, g1v), vec(1, g2v)};
  CHECK_NEAR(grad_global_norm(g, 2), 13.0, 1e-12);
  CHECK_NEAR(clip_factor(13.0, 1.0), 1.0 / (13.0 + 1e-6), 1e-12);
  CHECK(clip_factor(0.5, 1.0) == 1.0);
  CHECK(clip_factor(13.0, 0.0) == 1.0);
  OptConfig c = {.lr = 0.01, .warmup = 10, .steps = 100, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1, .clip = 1.0};
  Tensor *p1 = vec(2, p1v), *p2 = vec(1, p2v);
  float zero[2] = {0, 0};
  Tensor *m1 = vec(2, zero), *v1 = vec(2, zero), *m2 = vec(1, zero), *v2 = vec(1, zero);
  double s = clip_factor(13.0, 1.0), lr = lr_at(&c, 1);   /* 0.001 during warmup */
  adamw_update(&c, 1, lr, s, p1, g[0], m1, v1);
  adamw_update(&c, 1, lr, s, p2, g[1], m2, v2);
  /* Step 1: m = 0.1 g', v = 0.001 g'^2, bias-corrected m/sqrt(v) = sign(g') up to eps:
   * p = p (1 - lr wd) - lr * g' / (|g'| + eps) with g' = g / 13 (clipped). */
  double gc[3] = {3 / (13 + 1e-6), 4 / (13 + 1e-6), 12 / (13 + 1e-6)};
  float *a = p1->data, *b = p2->data, *ma = m1->data, *va = v1->data;
  CHECK_NEAR(a[0], 1 * (1 - 0.001 * 0.1) - 0.001 * gc[0] / (gc[0] + 1e-8), 1e-7);
  CHECK_NEAR(a[1], -2 * (1 - 0.001 * 0.1) - 0.001 * gc[1] / (gc[1] + 1e-8), 1e-7);
  CHECK_NEAR(b[0], 0.5 * (1 - 0.001 * 0.1) - 0.001 * gc[2] / (gc[2] + 1e-8), 1e-7);
  CHECK_NEAR(a[0], 0.9989, 1e-6);
  CHECK_NEAR(a[1], -2.0008, 1e-6);
  CHECK_NEAR(ma[0], 0.1 * gc[0], 1e-6);
  CHECK_NEAR(va[1], 0.001 * gc[1] * gc[1], 1e-6);
  /* Step 2 with the unclipped gradient (3, 4): m = 0.9 * 0.1 g'_1 + 0.1 g, v likewise. */
  double p0 = a[0];
  adamw_update(&c, 2, 0.002, 1.0, p1, g[0], m1, v1);
  double m_2 = 0.09 * gc[0] + 0.1 * 3, v_2 = 0.999 * 0.001 * gc[0] * gc[0] + 0.001 * 9;
  CHECK_NEAR(ma[0], m_2, 1e-6);
  CHECK_NEAR(va[0], v_2, 1e-6);
  double mh = m_2 / (1 - 0.81), vh = v_2 / (1 - 0.999 * 0.999);
  CHECK_NEAR(a[0], p0 * (1 - 0.002 * 0.1) - 0.002 * mh / (sqrt(vh) + 1e-8), 1e-6);
  for (int i = 0; i < 2; i++) tensor_free(g[i]);
  tensor_free(p1); tensor_free(p2); tensor_free(m1); tensor_free(v1); tensor_free(m2); tensor_free(v2);
}

static void test_ema(void) {
  CHECK_NEAR(ema_decay(0.9999, 1), 2.0 / 11.0, 1e-15);
  CHECK_NEAR(ema_decay(0.9999, 90), 91.0 / 100.0, 1e-15);
  CHECK(ema_decay(0.9999, 1000000) == 0.9999);
  CHECK(ema_decay(0.0, 5) == 0.0);
  float e0[2] = {1, 2}, w0[2] = {3, -2};
  Tensor *e = vec(2, e0), *w = vec(2, w0);
  ema_update(0.75, e, w);   /* e - 0.25 (e - w) */
  CHECK_NEAR(((float *)e->data)[0], 1.5, 1e-7);
  CHECK_NEAR(((float *)e->data)[1], 1.0, 1e-7);
  tensor_free(e); tensor_free(w);
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float urand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (float)((double)(rng >> 11) / 9007199254740992.0 * 2 - 1);
}

static Tensor *rand_tensor(DType dt, int64_t n, float scale) {
  Tensor *t = tensor_new(dt, 1, &n);
  for (int64_t k = 0; k < n; k++) tensor_set(t, k, urand() * scale);
  return t;
}

static int same_bits(const Tensor *a, const Tensor *b) { return a->numel == b->numel && memcmp(a->data, b->data, (size_t)a->numel * 4) == 0; }

/* Tensors that cover a partial chunk, whole 4096-element chunks, several chunks with a tail, a
 * parameter without gradient (EMA only) and a bf16 gradient; clipping active, weight decay, t = 3. */
static void test_opt_step(void) {
  enum { NT = 6 };
  const int64_t sizes[NT] = {37, 4096, 9000, 5, 20000, 333};
  OptConfig c = {.lr = 1e-3, .steps = 10, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1, .clip = 1.0};
  const int64_t t = 3;
  const double lr = 2e-3, d = 0.9;
  Tensor *p0[NT], *m0[NT], *v0[NT], *e0[NT], *g[NT];
  for (int i = 0; i < NT; i++) {
    p0[i] = rand_tensor(DT_F32, sizes[i], 0.5f);
    m0[i] = rand_tensor(DT_F32, sizes[i], 0.01f);
    v0[i] = tensor_new(DT_F32, 1, &sizes[i]);
    for (int64_t k = 0; k < sizes[i]; k++) {   /* second moments are >= 0 */
      float u = urand();
      ((float *)v0[i]->data)[k] = u * u * 1e-4f;
    }
    e0[i] = rand_tensor(DT_F32, sizes[i], 0.5f);
    g[i] = i == 3 ? NULL : rand_tensor(i == 5 ? DT_BF16 : DT_F32, sizes[i], 0.05f);
  }
  /* the serial functions */
  Tensor *gl[NT], *p[NT], *m[NT], *v[NT], *e[NT];
  int ng = 0;
  for (int i = 0; i < NT; i++)
    if (g[i]) gl[ng++] = g[i];
  double norm = grad_global_norm(gl, ng), scale = clip_factor(norm, c.clip);
  long double sq = 0;
  for (int i = 0; i < NT; i++)
    for (int64_t k = 0; g[i] && k < sizes[i]; k++) sq += (long double)tensor_get(g[i], k) * tensor_get(g[i], k);
  CHECK_NEAR(norm, sqrtl(sq), 1e-13);
  CHECK(norm > c.clip && scale < 1);
  for (int i = 0; i < NT; i++) {
    p[i] = tensor_clone(p0[i]); m[i] = tensor_clone(m0[i]); v[i] = tensor_clone(v0[i]); e[i] = tensor_clone(e0[i]);
    if (g[i]) adamw_update(&c, t, lr, scale, p[i], g[i], m[i], v[i]);
    ema_update(d, e[i], p[i]);
  }
  /* the element formula of train.h, bit for bit (double math, stored in f32) */
  int formula_ok = 1;
  double bc1 = 1 - pow(0.9, 3), bc2 = 1 - pow(0.999, 3);
  for (int i = 0; i < NT; i++)
    for (int64_t k = 0; k < sizes[i]; k++) {
      float pk = ((float *)p0[i]->data)[k], mk = ((float *)m0[i]->data)[k], vk = ((float *)v0[i]->data)[k];
      if (g[i]) {
        double gk = (double)(float)tensor_get(g[i], k) * scale;
        double mn = 0.9 * mk + (1.0 - 0.9) * gk, vn = 0.999 * vk + (1.0 - 0.999) * gk * gk;
        double w = pk * (1.0 - lr * 0.1);
        w -= lr * (mn / bc1) / (sqrt(vn / bc2) + 1e-8);
        pk = (float)w, mk = (float)mn, vk = (float)vn;
      }
      float ek = ((float *)e0[i]->data)[k];
      ek = (float)(ek - (1.0 - d) * ((double)ek - (double)pk));
      formula_ok &= pk == ((float *)p[i]->data)[k] && mk == ((float *)m[i]->data)[k] && vk == ((float *)v[i]->data)[k] &&
                    ek == ((float *)e[i]->data)[k];
    }
  CHECK(formula_ok);
  /* opt_step with 1, 2, 3 threads and the default: the same bits */
  const int threads[4] = {1, 2, 3, 0};
  for (int r = 0; r < 4; r++) {
    OptTensor ot[NT];
    for (int i = 0; i < NT; i++) ot[i] = (OptTensor){tensor_clone(p0[i]), tensor_clone(m0[i]), tensor_clone(v0[i]), tensor_clone(e0[i]), g[i]};
    double gn = 0;
    CHECK(opt_step(&c, t, lr, d, ot, NT, threads[r], &gn));
    CHECK_MSG(gn == norm, "%d threads: norm %.17g vs %.17g", threads[r], gn, norm);
    int same = 1;
    for (int i = 0; i < NT; i++) {
      same &= same_bits(ot[i].p, p[i]) && same_bits(ot[i].m, m[i]) && same_bits(ot[i].v, v[i]) && same_bits(ot[i].ema, e[i]);
      tensor_free(ot[i].p); tensor_free(ot[i].m); tensor_free(ot[i].v); tensor_free(ot[i].ema);
    }
    CHECK_MSG(same, "opt_step with %d threads differs from the serial update", threads[r]);
  }
  for (int i = 0; i < NT; i++) {
    tensor_free(p0[i]); tensor_free(m0[i]); tensor_free(v0[i]); tensor_free(e0[i]); tensor_free(g[i]);
    tensor_free(p[i]); tensor_free(m[i]); tensor_free(v[i]); tensor_free(e[i]);
  }
}

static void test_data(void) {
  char path[] = "/tmp/test_rt_optim.XXXXXX";
  int fd = mkstemp(path);
  char text[1000];
  for (int i = 0; i < 1000; i++) text[i] = (char)('a' + i % 26);
  CHECK(write(fd, text, sizeof text) == (ssize_t)sizeof text);
  close(fd);
  Tokenizer *tok = tok_byte_open();
  TokData d;
  DlmErr e = {0};
  CHECK(data_load(path, tok, 16, 256, &d, &e));
  CHECK(d.n == 1000 && d.ntrain == 900);
  CHECK(d.train_windows == 56 && d.heldout_windows == 6);   /* 900 / 16, 100 / 16 */
  int32_t b1[4 * 16], b2[4 * 16], h[2 * 16];
  data_train_batch(&d, 7, 3, 4, b1);
  data_train_batch(&d, 7, 3, 4, b2);
  CHECK(memcmp(b1, b2, sizeof b1) == 0);
  int starts_ok = 1;
  for (int r = 0; r < 4; r++) {   /* each row is a whole training window: a 16-aligned slice of the alphabet cycle */
    int found = 0;
    for (int w = 0; w < 56 && !found; w++) found = memcmp(b1 + r * 16, d.ids + w * 16, 16 * sizeof(int32_t)) == 0;
    starts_ok &= found;
  }
  CHECK(starts_ok);
  data_train_batch(&d, 8, 3, 4, b2);
  CHECK(memcmp(b1, b2, sizeof b1) != 0);
  data_heldout_batch(&d, 1, 2, h);
  CHECK(h[0] == 'a' + (900 + 16) % 26 && h[31] == 'a' + (900 + 47) % 26);
  data_free(&d);
  CHECK(!data_load(path, tok, 16, 100, &d, &e) && strstr(e.msg, "outside the model's vocabulary"));
  e.set = 0;
  CHECK(!data_load(path, tok, 200, 256, &d, &e) && strstr(e.msg, "too few"));
  tok_free(tok);
  remove(path);
}

int main(void) {
  test_schedule();
  test_adamw_clip();
  test_ema();
  test_opt_step();
  test_data();
  return check_summary("test_rt_optim");
}
