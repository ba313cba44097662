/* test_models_dit.c — the DDiT backbone of models/mdlm.dsl and models/duo.dsl against an
 * independent plain-C forward pass written from mdlm-remdm.md §6 (random weights everywhere, the
 * reference interpreter in float64), the SUBS rows of MDLM's `denoise` (§4), Duo's log-softmax
 * output, and the expectation of MDLM's loss estimator at a zero output layer (§5). */
#include "check.h"
#include "frontend.h"
#include "interp.h"
#include <stdlib.h>
#include <string.h>

/* Tiny sizes: vocab 11 (MDLM adds the mask row), 6 positions, 2 blocks, width 8, 2 heads of 4. */
enum { VOCAB = 11, SEQ = 6, LAYERS = 2, HID = 8, HEADS = 2, COND = 4, BATCH = 2, HD = HID / HEADS };
static const DslDefine tiny[] = {
  {"vocab", "11"}, {"seq_len", "6"}, {"layers", "2"}, {"dim", "8"}, {"heads", "2"}, {"cond_dim", "4"},
};

/* ---------------------------------------------------------------- weights */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double rnd(void) { /* uniform in [-1, 1) from a 64-bit LCG */
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng_state >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* Every parameter gets random values of size ~0.5 (LayerNorm weights around 1). */
static ParamStore *random_params(const Module *m) {
  ParamStore *ps = pstore_init(m, 7);
  for (int i = 0; i < ps->n; i++) {
    Tensor *t = ps->tensors[i];
    int is_norm = strstr(ps->names[i], "norm") != NULL;
    for (int64_t j = 0; j < t->numel; j++) tensor_set(t, j, is_norm ? 1.0 + 0.3 * rnd() : 0.5 * rnd());
  }
  return ps;
}

static const Tensor *P(const ParamStore *ps, const char *fmt, int k) {
  char name[128];
  snprintf(name, sizeof name, fmt, k);
  const Tensor *t = pstore_get(ps, name);
  if (!t) { fprintf(stderr, "missing parameter %s\n", name); abort(); }
  return t;
}
static double at(const Tensor *t, int64_t i) { return tensor_get(t, i); }

/* ---------------------------------------------------------------- reference forward (doubles) */
/* y[o] = sum_i W[o, i] x[i] (+ b[o]) for an nn.Linear weight W [out, in]. */
static void lin(const Tensor *w, const Tensor *b, const double *x, int in, int out, double *y) {
  for (int o = 0; o < out; o++) {
    double s = b ? at(b, o) : 0;
    for (int i = 0; i < in; i++) s += at(w, (int64_t)o * in + i) * x[i];
    y[o] = s;
  }
}
static double silu(double x) { return x / (1 + exp(-x)); }
static double gelu_tanh(double x) { return 0.5 * x * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (x + 0.044715 * x * x * x))); }

/* LayerNorm without bias (eps 1e-5) times w, then x (1 + scale) + shift. */
static void ln_mod(const double *x, const Tensor *w, const double *shift, const double *scale, double *y) {
  double mean = 0, var = 0;
  for (int i = 0; i < HID; i++) mean += x[i];
  mean /= HID;
  for (int i = 0; i < HID; i++) var += (x[i] - mean) * (x[i] - mean);
  var /= HID;
  for (int i = 0; i < HID; i++) y[i] = (x[i] - mean) / sqrt(var + 1e-5) * at(w, i) * (1 + scale[i]) + shift[i];
}

/* RoPE (rotate-half, base 1e4) of one head vector at position pos. */
static void rope(double *v, int pos) {
  for (int j = 0; j < HD / 2; j++) {
    double ang = pos * pow(10000.0, -2.0 * j / HD), c = cos(ang), s = sin(ang);
    double x1 = v[j], x2 = v[j + HD / 2];
    v[j] = x1 * c - x2 * s;
    v[j + HD / 2] = x2 * c + x1 * s;
  }
}

/* logits[b, l, v] of the DDiT for ids z [BATCH, SEQ] and noise levels sigma [BATCH]. */
static void reference_logits(const ParamStore *ps, int V, const int *z, const double *sigma, double *logits) {
  for (int b = 0; b < BATCH; b++) {
    double f[256], c1[COND], c[COND];
    for (int j = 0; j < 128; j++) {
      double w = exp(-log(10000.0) * j / 128);
      f[j] = cos(sigma[b] * w);
      f[128 + j] = sin(sigma[b] * w);
    }
    lin(P(ps, "backbone.sigma_map.mlp.0.weight", 0), P(ps, "backbone.sigma_map.mlp.0.bias", 0), f, 256, COND, c1);
    for (int i = 0; i < COND; i++) c1[i] = silu(c1[i]);
    lin(P(ps, "backbone.sigma_map.mlp.2.weight", 0), P(ps, "backbone.sigma_map.mlp.2.bias", 0), c1, COND, COND, c);
    for (int i = 0; i < COND; i++) c[i] = silu(c[i]);
    double x[SEQ][HID];
    const Tensor *E = P(ps, "backbone.vocab_embed.embedding", 0);
    for (int l = 0; l < SEQ; l++)
      for (int i = 0; i < HID; i++) x[l][i] = at(E, (int64_t)z[b * SEQ + l] * HID + i);
    for (int k = 0; k < LAYERS; k++) {
      double ada[6 * HID], h[SEQ][HID], qkv[SEQ][3 * HID];
      lin(P(ps, "backbone.blocks.%d.adaLN_modulation.weight", k), P(ps, "backbone.blocks.%d.adaLN_modulation.bias", k), c, COND, 6 * HID, ada);
      const double *sh1 = ada, *sc1 = ada + HID, *g1 = ada + 2 * HID, *sh2 = ada + 3 * HID, *sc2 = ada + 4 * HID, *g2 = ada + 5 * HID;
      for (int l = 0; l < SEQ; l++) {
        ln_mod(x[l], P(ps, "backbone.blocks.%d.norm1.weight", k), sh1, sc1, h[l]);
        lin(P(ps, "backbone.blocks.%d.attn_qkv.weight", k), NULL, h[l], HID, 3 * HID, qkv[l]);
        for (int hh = 0; hh < HEADS; hh++) { rope(&qkv[l][hh * HD], l); rope(&qkv[l][HID + hh * HD], l); }
      }
      double o[SEQ][HID];
      for (int hh = 0; hh < HEADS; hh++)
        for (int i = 0; i < SEQ; i++) {
          double s[SEQ], mx = -1e300, tot = 0;
          for (int j = 0; j < SEQ; j++) {
            s[j] = 0;
            for (int d = 0; d < HD; d++) s[j] += qkv[i][hh * HD + d] * qkv[j][HID + hh * HD + d];
            s[j] /= sqrt((double)HD);
            if (s[j] > mx) mx = s[j];
          }
          for (int j = 0; j < SEQ; j++) { s[j] = exp(s[j] - mx); tot += s[j]; }
          for (int d = 0; d < HD; d++) {
            double acc = 0;
            for (int j = 0; j < SEQ; j++) acc += s[j] / tot * qkv[j][2 * HID + hh * HD + d];
            o[i][hh * HD + d] = acc;
          }
        }
      for (int l = 0; l < SEQ; l++) {
        double a[HID], h2[HID], m1[4 * HID], m2[HID];
        lin(P(ps, "backbone.blocks.%d.attn_out.weight", k), NULL, o[l], HID, HID, a);
        for (int i = 0; i < HID; i++) x[l][i] += g1[i] * a[i];
        ln_mod(x[l], P(ps, "backbone.blocks.%d.norm2.weight", k), sh2, sc2, h2);
        lin(P(ps, "backbone.blocks.%d.mlp.0.weight", k), P(ps, "backbone.blocks.%d.mlp.0.bias", k), h2, HID, 4 * HID, m1);
        for (int i = 0; i < 4 * HID; i++) m1[i] = gelu_tanh(m1[i]);
        lin(P(ps, "backbone.blocks.%d.mlp.2.weight", k), P(ps, "backbone.blocks.%d.mlp.2.bias", k), m1, 4 * HID, HID, m2);
        for (int i = 0; i < HID; i++) x[l][i] += g2[i] * m2[i];
      }
    }
    double adaf[2 * HID];
    lin(P(ps, "backbone.output_layer.adaLN_modulation.weight", 0), P(ps, "backbone.output_layer.adaLN_modulation.bias", 0), c, COND, 2 * HID, adaf);
    for (int l = 0; l < SEQ; l++) {
      double h[HID];
      ln_mod(x[l], P(ps, "backbone.output_layer.norm_final.weight", 0), adaf, adaf + HID, h);
      lin(P(ps, "backbone.output_layer.linear.weight", 0), P(ps, "backbone.output_layer.linear.bias", 0), h, HID, V,
          &logits[((int64_t)b * SEQ + l) * V]);
    }
  }
}

/* ---------------------------------------------------------------- running exported functions */
static Tensor *ids_tensor(const int *z) {
  Tensor *t = tensor_new(DT_I32, 2, (int64_t[]){BATCH, SEQ});
  for (int i = 0; i < BATCH * SEQ; i++) tensor_set(t, i, z[i]);
  return t;
}
static Tensor *sigma_tensor(const double *s) {
  Tensor *t = tensor_new(DT_F32, 1, (int64_t[]){BATCH});
  for (int i = 0; i < BATCH; i++) tensor_set(t, i, s[i]);
  return t;
}

/* Runs m's function `fn` on (z, sigma) in float64; returns the output or NULL. */
static Tensor *run2(const Module *m, const ParamStore *ps, const char *fn, const int *z, const double *sigma) {
  const Func *f = ir_func_find(m, fn);
  CHECK_MSG(f != NULL, "no function %s", fn);
  if (!f) return NULL;
  Tensor *args[2] = {ids_tensor(z), sigma_tensor(sigma)};
  Tensor *out = NULL;
  DlmErr e;
  memset(&e, 0, sizeof e);
  int ok = interp_run(m, f, ps, args, &out, DT_F64, &e);
  CHECK_MSG(ok, "%s: %s", fn, e.msg);
  tensor_free(args[0]);
  tensor_free(args[1]);
  return ok ? out : NULL;
}

static double max_abs_diff(const Tensor *t, const double *ref, int64_t n) {
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs(tensor_get(t, i) - ref[i]);
    if (!(d <= worst)) worst = d;  /* NaN counts as the worst */
  }
  return worst;
}

/* MDLM: logits ignore sigma (time_conditioning = 0); denoise = SUBS. */
static void check_mdlm(void) {
  Module *m = dsl_compile_file("models/mdlm.dsl", tiny, 6, stderr);
  CHECK(m != NULL);
  if (!m) return;
  enum { V = VOCAB + 1, MASK = VOCAB };
  ParamStore *ps = random_params(m);
  int z[BATCH * SEQ] = {3, MASK, 0, 10, MASK, MASK, MASK, 7, 7, 1, MASK, 2};
  double sigma[BATCH] = {0.75, 2.5}, zero[BATCH] = {0, 0};
  static double ref[BATCH * SEQ * V];
  reference_logits(ps, V, z, zero, ref);
  Tensor *lg = run2(m, ps, "logits", z, sigma);
  if (lg) {
    CHECK(lg->numel == BATCH * SEQ * V);
    CHECK_MSG(max_abs_diff(lg, ref, BATCH * SEQ * V) < 1e-9, "mdlm logits differ by %g", max_abs_diff(lg, ref, BATCH * SEQ * V));
    tensor_free(lg);
  }
  Tensor *dn = run2(m, ps, "denoise", z, sigma);
  if (dn) {
    for (int p = 0; p < BATCH * SEQ; p++) {
      const double *row = &ref[p * V];
      if (z[p] != MASK) { /* carry-over: exactly 0 at the token, -1e6 elsewhere */
        for (int v = 0; v < V; v++) CHECK(tensor_get(dn, p * V + v) == (v == z[p] ? 0.0 : -1e6));
        continue;
      }
      double mx = -1e300, tot = 0;
      for (int v = 0; v < MASK; v++) mx = row[v] > mx ? row[v] : mx;
      for (int v = 0; v < MASK; v++) tot += exp(row[v] - mx);
      for (int v = 0; v < MASK; v++) CHECK_NEAR(tensor_get(dn, p * V + v), row[v] - mx - log(tot), 1e-9);
      CHECK(tensor_get(dn, p * V + MASK) < -1e5);  /* the mask token has zero probability */
    }
    tensor_free(dn);
  }
  pstore_free(ps);
  ir_module_free(m);
}

/* Duo: time-conditioned logits; denoise = log_softmax over all K states. */
static void check_duo(void) {
  Module *m = dsl_compile_file("models/duo.dsl", tiny, 6, stderr);
  CHECK(m != NULL);
  if (!m) return;
  enum { V = VOCAB };
  ParamStore *ps = random_params(m);
  int z[BATCH * SEQ] = {3, 4, 0, 10, 9, 9, 5, 7, 7, 1, 6, 2};
  double sigma[BATCH] = {0.25, 4.0};
  static double ref[BATCH * SEQ * V];
  reference_logits(ps, V, z, sigma, ref);
  Tensor *lg = run2(m, ps, "logits", z, sigma);
  if (lg) {
    CHECK_MSG(max_abs_diff(lg, ref, BATCH * SEQ * V) < 1e-9, "duo logits differ by %g", max_abs_diff(lg, ref, BATCH * SEQ * V));
    tensor_free(lg);
  }
  Tensor *dn = run2(m, ps, "denoise", z, sigma);
  if (dn) {
    for (int p = 0; p < BATCH * SEQ; p++) {
      double tot = 0;
      for (int v = 0; v < V; v++) tot += exp(ref[p * V + v]);
      for (int v = 0; v < V; v++) CHECK_NEAR(tensor_get(dn, p * V + v), ref[p * V + v] - log(tot), 1e-9);
    }
    tensor_free(dn);
  }
  pstore_free(ps);
  ir_module_free(m);
}

/* With a zero output layer every logit is 0, so a masked position has -log x_theta(x0) = log(vocab),
 * and E[per-token loss | t] = P(masked) * weight * log(vocab) = (1-eps) t * (1/t) * log(vocab)
 * = (1 - 1e-3) log(vocab) for every t. The mean over 24 seeds of 16 x 64 tokens must be close. */
static void check_mdlm_loss(void) {
  const DslDefine d[] = {{"vocab", "11"}, {"seq_len", "64"}, {"layers", "1"}, {"dim", "8"}, {"heads", "2"}, {"cond_dim", "4"}};
  Module *m = dsl_compile_file("models/mdlm.dsl", d, 6, stderr);
  CHECK(m != NULL);
  if (!m) return;
  const Func *f = ir_func_find(m, "loss");
  CHECK(f != NULL);
  ParamStore *ps = random_params(m);
  Tensor *w = pstore_get(ps, "backbone.output_layer.linear.weight"), *b = pstore_get(ps, "backbone.output_layer.linear.bias");
  CHECK(w && b);
  if (f && w && b) {
    memset(w->data, 0, (size_t)w->numel * dtype_size(w->dtype));
    memset(b->data, 0, (size_t)b->numel * dtype_size(b->dtype));
    Tensor *x0 = tensor_new(DT_I32, 2, (int64_t[]){16, 64});
    for (int64_t i = 0; i < x0->numel; i++) tensor_set(x0, i, (double)(i * 7 % VOCAB));
    double total = 0, lo = 1e300, hi = -1e300;
    const int nseeds = 24;
    for (int s = 0; s < nseeds; s++) {
      Tensor *seed = tensor_new(DT_I64, 0, NULL), *step = tensor_new(DT_I64, 0, NULL), *out = NULL;
      tensor_set(seed, 0, 1000 + s);
      tensor_set(step, 0, s);
      Tensor *args[3] = {x0, seed, step};
      DlmErr e;
      memset(&e, 0, sizeof e);
      int ok = interp_run(m, f, ps, args, &out, DT_F64, &e);
      CHECK_MSG(ok, "loss: %s", e.msg);
      if (ok) {
        double v = tensor_get(out, 0);
        total += v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        tensor_free(out);
      }
      tensor_free(seed);
      tensor_free(step);
    }
    double expect = (1 - 1e-3) * log((double)VOCAB);
    CHECK_NEAR(total / nseeds, expect, 0.05);
    CHECK(lo > 0 && hi > lo);  /* a stochastic estimator: positive, and not constant across seeds */
    tensor_free(x0);
  }
  pstore_free(ps);
  ir_module_free(m);
}

int main(void) {
  check_mdlm();
  check_duo();
  check_mdlm_loss();
  return check_summary("test_models_dit");
}
