/* optim.c — learning-rate schedule, global-norm clipping, AdamW and the EMA of the weights
 * (see train.h for the exact formulas). */
#include "train.h"
#include <math.h>

double lr_at(const OptConfig *c, int64_t t) {
  if (c->warmup > 0 && t < c->warmup) return c->lr * (double)t / (double)c->warmup;
  if (c->schedule == LR_CONSTANT || c->steps <= c->warmup) return c->lr;
  double progress = (double)(t - c->warmup) / (double)(c->steps - c->warmup);
  if (progress > 1) progress = 1;
  return c->lr * 0.5 * (1.0 + cos(3.14159265358979323846 * progress));
}

double grad_global_norm(Tensor *const *g, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) {
    const float *f = g[i]->dtype == DT_F32 ? g[i]->data : NULL;
    for (int64_t k = 0; k < g[i]->numel; k++) {
      double x = f ? (double)f[k] : tensor_get(g[i], k);
      s += x * x;
    }
  }
  return sqrt(s);
}

double clip_factor(double norm, double clip) {
  if (clip > 0 && norm > clip) return clip / (norm + 1e-6);
  return 1.0;
}

void adamw_update(const OptConfig *c, int64_t t, double lr, double gscale, Tensor *p, const Tensor *g, Tensor *m, Tensor *v) {
  float *pp = p->data, *pm = m->data, *pv = v->data;
  double bc1 = 1.0 - pow(c->beta1, (double)t), bc2 = 1.0 - pow(c->beta2, (double)t);
  double decay = 1.0 - lr * c->weight_decay;
  const float *gf = g->dtype == DT_F32 ? g->data : NULL;
  for (int64_t k = 0; k < p->numel; k++) {
    double gk = (gf ? (double)gf[k] : tensor_get(g, k)) * gscale;
    double mk = c->beta1 * pm[k] + (1.0 - c->beta1) * gk;
    double vk = c->beta2 * pv[k] + (1.0 - c->beta2) * gk * gk;
    double w = pp[k] * decay;
    w -= lr * (mk / bc1) / (sqrt(vk / bc2) + c->eps);
    pm[k] = (float)mk;
    pv[k] = (float)vk;
    pp[k] = (float)w;
  }
}

double ema_decay(double decay, int64_t n) {
  double warm = (1.0 + (double)n) / (10.0 + (double)n);
  return decay < warm ? decay : warm;
}

void ema_update(double d, Tensor *ema, const Tensor *p) {
  float *e = ema->data;
  const float *w = p->data;
  for (int64_t k = 0; k < ema->numel; k++) e[k] = (float)(e[k] - (1.0 - d) * ((double)e[k] - (double)w[k]));
}
