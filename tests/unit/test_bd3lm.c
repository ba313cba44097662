/* test_bd3lm.c — models/bd3lm.dsl checked from C (bd3lm-esolm.md §2), through a probe program that
 * imports it and exports its internal functions, run by the interpreter in float64:
 *  - the 2L training mask and the sampling window mask, element by element against §2.3 / §2.4;
 *  - the vectorized loss (one pass over [x_t ; x0]) against an independent computation: for every
 *    block, the block-causal inference network on (clean blocks before, noisy block, masks after)
 *    and a float64 log-softmax here, weighted 1/t (1 when lo > 0.5); random parameters;
 *  - the masking of a block: the count by inversion of the truncated binomial and the positions of
 *    the smallest keys, recomputed here, for the evaluation window and two clipped windows;
 *  - the training noise: t per block stratified over the flattened (batch x blocks) grid inside the
 *    window, x_t = x0 or [MASK];
 *  - the sampler step: tokens outside the current block and decoded tokens never change;
 *    first-hitting decodes exactly one position, the last ancestral step all; the current block's
 *    probabilities do not depend on later blocks;
 *  - the variable-length stop rules: entropy threshold on both sides of log 4, EOS, var_len off. */
#include "model_probe.h"
#include <math.h>

enum { VOCAB = 6, VV = 7, MASK = 6, L = 8, NB = 2 };

static const char probe_src[] =
  "import \"bd3lm.dsl\"\n"
  "export fn p_train_mask(x: i32[B, seq_len]) -> i32[2*seq_len, 2*seq_len] { return cast(train_mask(), i32) }\n"
  "export fn p_window(x: i32[B, N]) -> i32[N, N] { return cast(block_window_mask(x), i32) }\n"
  "export fn p_nll(x0: i32[B, seq_len], xt: i32[B, seq_len], t: f32[B, n_blocks], lo: f32) -> f32[B, n_blocks] {\n"
  "  return block_nll_given(x0, xt, t, lo)\n}\n"
  "export fn p_mask(t: f32[B, n_blocks], lo: f32, hi: f32, v: f32[B, n_blocks], r: f32[B, n_blocks, block]) -> i32[B, n_blocks, block] {\n"
  "  return cast(block_mask(t, lo, hi, v, r), i32)\n}\n"
  "export fn p_noise(x0: i32[B, seq_len], seed: i64, step: i64, lo: f32, hi: f32) -> (i32[B, seq_len], f32[B, n_blocks]) {\n"
  "  return block_noise(x0, seed, step, lo, hi)\n}\n"
  "export fn p_step(x: i32[B, gen_len], p: f32[B, block, V], b: i64, i: i64, steps: i64, fh: i64, seed: i64) -> i32[B, gen_len] {\n"
  "  return block_step(x, p, b, i, steps, fh, seed)\n}\n"
  "export fn p_probs(x: i32[B, gen_len], b: i64) -> f32[B, block, V] { return block_probs(x, b) }\n"
  "export fn p_stop(x: i32[B, gen_len], len: i32[B], b: i64, var_len: i64, window: i64, min_entropy: f32) -> i32[B] {\n"
  "  return stop_lengths(x, len, b, var_len, window, min_entropy)\n}\n";

static Module *compile_probe(int block) {
  char bs[8];
  snprintf(bs, sizeof bs, "%d", block);
  const DslDefine d[] = {{"vocab", "6"}, {"seq_len", "8"}, {"layers", "1"}, {"dim", "8"}, {"heads", "2"},
                         {"cond_dim", "4"}, {"block", bs}, {"eos_id", "3"}};
  Module *m = dsl_compile_string("models/bd3lm_probe.dsl", probe_src, strlen(probe_src), d, 8, stderr);
  CHECK_MSG(m != NULL, "probe with block %d does not compile", block);
  return m;
}

/* §2.3 over 2L rows: half(i) = i >= L, blk(i) = (i mod L) / L'. */
static int train_allowed(int q, int k, int bs) {
  int hq = q >= L, hk = k >= L, bq = (q % L) / bs, bk = (k % L) / bs;
  return (hq == hk && bq == bk) || (!hq && hk && bk < bq) || (hq && hk && bk <= bq);
}

static void check_masks(const Module *m, int bs) {
  Tensor *x = probe_tensor(DT_I32, 2, 1, L, 0), *out = NULL;
  if (probe_run(m, NULL, "p_train_mask", &x, &out)) {
    int bad = 0, clean_sees_noisy = 0, own_clean = 0;
    for (int q = 0; q < 2 * L; q++)
      for (int k = 0; k < 2 * L; k++) {
        int got = tensor_get(out, q * 2 * L + k) != 0;
        bad += got != train_allowed(q, k, bs);
        clean_sees_noisy |= q >= L && k < L && got;
        own_clean |= q < L && k == L + q && got;
      }
    CHECK_MSG(bad == 0, "block %d: %d training-mask entries differ from the spec", bs, bad);
    CHECK(!clean_sees_noisy && !own_clean);
  }
  tensor_free(x);
  tensor_free(out);
  /* The sampling mask on 3L tokens: block-causal inside a window of L tokens (L / L' blocks). */
  enum { N = 3 * L };
  x = probe_tensor(DT_I32, 2, 1, N, 0);
  out = NULL;
  if (probe_run(m, NULL, "p_window", &x, &out)) {
    int bad = 0;
    for (int q = 0; q < N; q++)
      for (int k = 0; k < N; k++) {
        int want = k / bs <= q / bs && q / bs - k / bs < L / bs;
        bad += (tensor_get(out, q * N + k) != 0) != want;
      }
    CHECK_MSG(bad == 0, "block %d: %d window-mask entries differ", bs, bad);
  }
  tensor_free(x);
  tensor_free(out);
}

/* -log softmax over the non-mask columns of row, at column c (float64). */
static double nll_row(const double *row, int c) {
  double mx = -INFINITY, s = 0;
  for (int v = 0; v < VOCAB; v++) mx = fmax(mx, row[v]);
  for (int v = 0; v < VOCAB; v++) s += exp(row[v] - mx);
  return -(row[c] - mx - log(s));
}

static void check_loss(const Module *m, const ParamStore *ps, int bs, double lo) {
  const int nb = L / bs;
  int x0[NB * L], xt[NB * L];
  double t[NB * 4];
  for (int i = 0; i < NB * L; i++) {
    x0[i] = (int)(probe_uniform() * VOCAB);
    xt[i] = probe_uniform() < 0.5 ? MASK : x0[i];
  }
  for (int i = 0; i < NB * nb; i++) t[i] = (float)(0.05 + 0.9 * probe_uniform());
  Tensor *a[4] = {probe_tensor(DT_I32, 2, NB, L, 0), probe_tensor(DT_I32, 2, NB, L, 0), probe_tensor(DT_F32, 2, NB, nb, 0),
                  probe_scalar(DT_F32, lo)}, *out = NULL;
  for (int i = 0; i < NB * L; i++) { tensor_set(a[0], i, x0[i]); tensor_set(a[1], i, xt[i]); }
  for (int i = 0; i < NB * nb; i++) tensor_set(a[2], i, t[i]);
  if (probe_run(m, ps, "p_nll", a, &out)) {
    for (int s = 0; s < NB; s++)
      for (int b = 0; b < nb; b++) {
        Tensor *y = probe_tensor(DT_I32, 2, 1, L, 0), *lg = NULL;
        for (int l = 0; l < L; l++) tensor_set(y, l, l < b * bs ? x0[s * L + l] : l < (b + 1) * bs ? xt[s * L + l] : MASK);
        double want = 0;
        if (probe_run(m, ps, "logits", &y, &lg)) {
          for (int l = b * bs; l < (b + 1) * bs; l++) {
            if (xt[s * L + l] != MASK) continue;
            double row[VV];
            for (int v = 0; v < VV; v++) row[v] = tensor_get(lg, l * VV + v);
            want += nll_row(row, x0[s * L + l]);
          }
          want *= (float)lo > 0.5 ? 1.0 : 1.0 / t[s * nb + b];
          CHECK_NEAR(tensor_get(out, s * nb + b), want, 1e-9);
        }
        tensor_free(y);
        tensor_free(lg);
      }
  }
  tensor_free(out);
  probe_free(a, 4);
}

/* The count of masked tokens of a block drawn by inversion with v (§2.2 resampling, exactly). */
static int masked_count(double t, double lo, double hi, double v, int bs) {
  double logpmf[17], w[17], mx = -INFINITY, kept = 0, tot = 0, lc = 0;
  for (int k = 0; k <= bs; k++) {
    if (k > 0) lc += log(bs + 1.0 - k) - log((double)k);
    logpmf[k] = lc + k * log(fmax(t, 1e-30)) + (bs - k) * log(fmax(1 - t, 1e-30));
    mx = fmax(mx, logpmf[k]);
  }
  for (int k = 0; k <= bs; k++) {
    double frac = (double)k / bs;
    int allowed = (frac >= lo || lo <= 1e-3) && (frac <= hi || hi >= 1.0);
    w[k] = exp(logpmf[k] - mx);
    kept += allowed ? w[k] : 0;
    if (!allowed) w[k] = -w[k];   /* marks excluded counts */
  }
  for (int k = 0; k <= bs; k++) w[k] = kept > 0 ? fmax(w[k], 0) : fabs(w[k]);
  for (int k = 0; k <= bs; k++) tot += w[k];
  int count = 0;
  double c = 0;
  for (int k = 0; k <= bs; k++) { c += w[k]; count += c <= v * tot; }
  return count;
}

static void check_block_mask(const Module *m, int bs, double lo, double hi, int min_count, int max_count) {
  enum { S = 16 };
  const int nb = L / bs;
  float flo = (float)lo, fhi = (float)hi;
  Tensor *a[5] = {probe_tensor(DT_F32, 2, S, nb, 0), probe_scalar(DT_F32, lo), probe_scalar(DT_F32, hi),
                  probe_tensor(DT_F32, 2, S, nb, 0), probe_tensor(DT_F32, 3, S, nb, bs)}, *out = NULL;
  for (int i = 0; i < S * nb; i++) {
    tensor_set(a[0], i, flo + (fhi - flo) * probe_uniform());
    tensor_set(a[3], i, probe_uniform());
  }
  for (int i = 0; i < S * nb * bs; i++) tensor_set(a[4], i, floor(probe_uniform() * 8) / 8);  /* ties on purpose */
  if (probe_run(m, NULL, "p_mask", a, &out)) {
    int bad = 0, out_of_range = 0;
    for (int i = 0; i < S * nb; i++) {
      int count = masked_count((float)tensor_get(a[0], i), flo, fhi, (float)tensor_get(a[3], i), bs), got = 0;
      for (int j = 0; j < bs; j++) {
        double rj = tensor_get(a[4], i * bs + j);
        int rank = 0;
        for (int k = 0; k < bs; k++) {
          double rk = tensor_get(a[4], i * bs + k);
          rank += rk < rj || (rk == rj && k < j);
        }
        int m_ij = tensor_get(out, i * bs + j) != 0;
        bad += m_ij != (rank < count);
        got += m_ij;
      }
      out_of_range += got < min_count || got > max_count;
    }
    CHECK_MSG(bad == 0, "block %d [%g, %g]: %d mask entries differ", bs, lo, hi, bad);
    CHECK_MSG(out_of_range == 0, "block %d [%g, %g]: %d blocks outside %d..%d masked", bs, lo, hi, out_of_range, min_count, max_count);
  }
  tensor_free(out);
  probe_free(a, 5);
}

static void check_noise(const Module *m, int bs, double lo, double hi) {
  enum { S = 4 };
  const int nb = L / bs, n = S * nb;
  Tensor *a[5] = {probe_tensor(DT_I32, 2, S, L, 0), probe_scalar(DT_I64, 11), probe_scalar(DT_I64, 3),
                  probe_scalar(DT_F32, lo), probe_scalar(DT_F32, hi)}, *out[2] = {NULL, NULL};
  for (int i = 0; i < S * L; i++) tensor_set(a[0], i, i % VOCAB);
  if (probe_run(m, NULL, "p_noise", a, out)) {
    float flo = (float)lo, fhi = (float)hi;
    for (int i = 0; i < n; i++) {
      double t = tensor_get(out[1], i), u = (t - flo) / (fhi - flo);
      CHECK_MSG(t >= flo && t < fhi, "t = %g outside [%g, %g)", t, lo, hi);
      CHECK_MSG(floor(u * n + 1e-6) == i, "block %d: t = %g is not in stratum %d of %d", i, t, i, n);
    }
    for (int i = 0; i < S * L; i++) {
      int z = (int)tensor_get(out[0], i);
      CHECK(z == MASK || z == i % VOCAB);
    }
  }
  probe_free(out, 2);
  probe_free(a, 5);
}

static void check_step(const Module *m, const ParamStore *ps) {
  enum { BS = 2, BLK = 2 };   /* block 2 of 4, positions 4 and 5 */
  int x[NB * L] = {1, 2, 0, 5, 3, MASK, MASK, MASK,
                   4, 4, 1, 0, MASK, MASK, MASK, MASK};
  for (int seed = 1; seed <= 12; seed++)
    for (int mode = 0; mode < 3; mode++) {  /* first-hitting; ancestral first step; ancestral last step */
      int fh = mode == 0, steps = 4, i = mode == 2 ? steps - 1 : 0;
      Tensor *a[7] = {probe_tensor(DT_I32, 2, NB, L, 0), probe_tensor(DT_F32, 3, NB, BS, VV), probe_scalar(DT_I64, BLK),
                      probe_scalar(DT_I64, i), probe_scalar(DT_I64, steps), probe_scalar(DT_I64, fh), probe_scalar(DT_I64, seed)}, *out = NULL;
      for (int j = 0; j < NB * L; j++) tensor_set(a[0], j, x[j]);
      for (int r = 0; r < NB * BS; r++) {   /* token 2 has probability 0; the mask column too */
        double w[VV], tot = 0;
        for (int v = 0; v < VV; v++) tot += w[v] = (v == MASK || v == 2) ? 0 : 0.1 + probe_uniform();
        for (int v = 0; v < VV; v++) tensor_set(a[1], r * VV + v, w[v] / tot);
      }
      if (probe_run(m, ps, "p_step", a, &out)) {
        for (int s = 0; s < NB; s++) {
          int newly = 0, masked_before = 0, masked_after = 0;
          for (int l = 0; l < L; l++) {
            int before = x[s * L + l], after = (int)tensor_get(out, s * L + l), inside = l / BS == BLK;
            if (!inside || before != MASK) CHECK_MSG(after == before, "seed %d mode %d: position %d changed", seed, mode, l);
            if (inside && before == MASK) {
              masked_before++;
              masked_after += after == MASK;
              if (after != MASK) { newly++; CHECK_MSG(after >= 0 && after < VOCAB && after != 2, "drew %d", after); }
            }
          }
          if (mode == 0) CHECK_MSG(newly == (masked_before > 0), "first-hitting decoded %d", newly);
          if (mode == 2) CHECK_MSG(masked_after == 0, "the last ancestral step left %d masks", masked_after);
        }
      }
      tensor_free(out);
      probe_free(a, 7);
    }
  /* The current block's probabilities ignore later blocks and see earlier ones. */
  Tensor *a[2] = {probe_tensor(DT_I32, 2, NB, L, 0), probe_scalar(DT_I64, BLK)}, *p0 = NULL, *p1 = NULL, *p2 = NULL;
  for (int j = 0; j < NB * L; j++) tensor_set(a[0], j, x[j]);
  probe_run(m, ps, "p_probs", a, &p0);
  tensor_set(a[0], 7, 1);            /* later block */
  tensor_set(a[0], L + 6, 5);
  probe_run(m, ps, "p_probs", a, &p1);
  tensor_set(a[0], 1, 0);            /* earlier block */
  probe_run(m, ps, "p_probs", a, &p2);
  if (p0 && p1 && p2) {
    double d01 = 0, d12 = 0;
    for (int64_t j = 0; j < p0->numel; j++) {
      d01 = fmax(d01, fabs(tensor_get(p0, j) - tensor_get(p1, j)));
      d12 = fmax(d12, fabs(tensor_get(p1, j) - tensor_get(p2, j)));
    }
    CHECK_MSG(d01 == 0, "later blocks changed the current block's probabilities by %g", d01);
    CHECK_MSG(d12 > 1e-6, "an earlier block did not change them");
  }
  tensor_free(p0); tensor_free(p1); tensor_free(p2);
  probe_free(a, 2);
}

/* lengths after stop_lengths(x, len, b, var_len, window = 4, min_entropy) */
static void run_stop(const Module *m, const int *x, const int *len, int b, int var_len, double min_entropy, int *res) {
  Tensor *a[6] = {probe_tensor(DT_I32, 2, NB, L, 0), probe_tensor(DT_I32, 1, NB, 0, 0), probe_scalar(DT_I64, b),
                  probe_scalar(DT_I64, var_len), probe_scalar(DT_I64, 4), probe_scalar(DT_F32, min_entropy)}, *out = NULL;
  for (int j = 0; j < NB * L; j++) tensor_set(a[0], j, x[j]);
  for (int s = 0; s < NB; s++) tensor_set(a[1], s, len[s]);
  res[0] = res[1] = -99;
  if (probe_run(m, NULL, "p_stop", a, &out))
    for (int s = 0; s < NB; s++) res[s] = (int)tensor_get(out, s);
  tensor_free(out);
  probe_free(a, 6);
}

static void check_stop(const Module *m) {
  /* block 2: b = 3 ends at 8; the window is positions 4..7. Row 0: entropy 0; row 1: log 4. */
  int x[NB * L] = {0, 1, 4, 5, 2, 2, 2, 2,
                   0, 1, 4, 5, 0, 1, 2, 4};
  int full[NB] = {L, L}, r[NB];
  float above = (float)(log(4.0) + 1e-4), below = (float)(log(4.0) - 1e-4);
  run_stop(m, x, full, 3, 1, below, r);
  CHECK_MSG(r[0] == 4 && r[1] == L, "entropy rule: %d %d", r[0], r[1]);
  run_stop(m, x, full, 3, 1, above, r);
  CHECK_MSG(r[0] == 4 && r[1] == 4, "entropy rule above log 4: %d %d", r[0], r[1]);
  run_stop(m, x, full, 1, 1, above, r);           /* end 4 is not beyond the window */
  CHECK_MSG(r[0] == L && r[1] == L, "entropy rule before a full window: %d %d", r[0], r[1]);
  run_stop(m, x, full, 3, 0, above, r);
  CHECK_MSG(r[0] == L && r[1] == L, "var_len = 0 stopped: %d %d", r[0], r[1]);
  x[L + 2] = 3;                                   /* EOS (eos_id = 3) at position 2 of row 1 */
  x[6] = 3;                                       /* and at 6 of row 0, after end = 4 */
  run_stop(m, x, full, 1, 1, 0.0, r);
  CHECK_MSG(r[0] == L && r[1] == 3, "EOS rule: %d %d", r[0], r[1]);
  int stopped[NB] = {5, L};
  run_stop(m, x, stopped, 3, 1, above, r);        /* a stopped sequence keeps its length */
  CHECK_MSG(r[0] == 5 && r[1] == 3, "stopped sequence: %d %d", r[0], r[1]);
}

int main(void) {
  static const int sizes[] = {2, 4, 8};
  for (int i = 0; i < 3; i++) {
    int bs = sizes[i];
    Module *m = compile_probe(bs);
    if (!m) continue;
    ParamStore *ps = probe_params(m, 0.5);
    check_masks(m, bs);
    check_loss(m, ps, bs, 1e-3);
    check_loss(m, ps, bs, 0.6);
    check_block_mask(m, bs, 1e-3, 1.0, 0, bs);
    check_noise(m, bs, 1e-3, 1.0);
    check_noise(m, bs, 0.3, 0.8);
    if (bs == 4) {
      check_block_mask(m, bs, 0.45, 0.95, 2, 3);
      check_block_mask(m, bs, 0.3, 0.45, 0, 4);    /* no allowed count: plain binomial */
    }
    if (bs == 8) check_block_mask(m, bs, 0.3, 0.8, 3, 6);
    if (bs == 2) { check_step(m, ps); check_stop(m); }
    pstore_free(ps);
    ir_module_free(m);
  }
  return check_summary("test_bd3lm");
}
