/* test_esolm.c — models/esolm.dsl checked from C (bd3lm-esolm.md §3), through a probe program that
 * imports it and exports its internal functions, run by the interpreter in float64 with random
 * parameters:
 *  - the masks element by element: causal in decoding order, and the AR term's 2L mask (§2.3 with
 *    blocks of one token);
 *  - permutations as data: descending_slots / slot_order against a sort done here;
 *  - the network is causal in decoding order (rows before a changed row keep their logits: what
 *    makes the sampler's cache exact), and a row's RoPE position reaches its logits;
 *  - the MDM term against the weighted NLL computed here from `logits` on the order sorted here;
 *  - the AR term (one pass over [z0 ; x] with the 2L mask) against an independent computation: for
 *    every masked token, the L-row causal network on (its predecessors in the order, then [MASK])
 *    and a float64 log-softmax here; the same for order_logp (exact_nll's factors) on every row;
 *  - the sampler's pieces: the schedule (diffusion events nondecreasing and below T, then one
 *    event per sequential token; alpha 0 and 1), the decoding order (a permutation whose sequential
 *    tail is increasing), one decoding event (only its window changes) and the unpermutation. */
#include "model_probe.h"
#include <math.h>

enum { VOCAB = 6, VV = 7, MASK = 6, L = 8, NB = 2 };

static const char probe_src[] =
  "import \"esolm.dsl\"\n"
  "export fn p_causal(z: i32[B, seq_len]) -> i32[seq_len, seq_len] { return cast(causal_mask(z), i32) }\n"
  "export fn p_ar_mask(z: i32[B, N]) -> i32[N, N] { return cast(ar_mask(z), i32) }\n"
  "export fn p_slots(key: f32[B, seq_len]) -> i32[B, seq_len] { return descending_slots(key) }\n"
  "export fn p_order(slot: i32[B, seq_len]) -> i32[B, seq_len] { return slot_order(slot) }\n"
  "export fn p_mdm(x0: i32[B, seq_len], masked: i32[B, seq_len], key: f32[B, seq_len], alpha_t: f32[B]) -> f32[B] {\n"
  "  return mdm_term_given(x0, masked == 1, key, alpha_t)\n}\n"
  "export fn p_ar(x0: i32[B, seq_len], masked: i32[B, seq_len], key: f32[B, seq_len]) -> f32[B] {\n"
  "  return ar_term_given(x0, masked == 1, key)\n}\n"
  "export fn p_schedule(steps: i64, alpha: f32, seed: i64) -> f64[seq_len] { return schedule(steps, alpha, seed) }\n"
  "export fn p_decoding_order(events: f64[seq_len], steps: i64, seed: i64, n: i32[B]) -> i32[B, seq_len] {\n"
  "  return decoding_order(events, steps, seed, n)\n}\n"
  "export fn p_event(z: i32[B, seq_len], p: f32[B, seq_len, V], events: f64[seq_len], done: i64, seed: i64) -> (i32[B, seq_len], i64) {\n"
  "  zz, next, next_end = decode_event(z, p, events, done, event_end(events, done), seed)\n  return zz, next\n}\n"
  "export fn p_order_logp(x0: i32[B, seq_len], order: i32[B, seq_len]) -> f32[B, seq_len] { return order_logp(x0, order) }\n"
  "export fn p_unpermute(z: i32[B, seq_len], order: i32[B, seq_len]) -> i32[B, seq_len] { return unpermute(z, order) }\n";

static void check_masks(const Module *m) {
  Tensor *z = probe_tensor(DT_I32, 2, 1, L, 0), *out = NULL;
  if (probe_run(m, NULL, "p_causal", &z, &out)) {
    int bad = 0;
    for (int q = 0; q < L; q++)
      for (int k = 0; k < L; k++) bad += (tensor_get(out, q * L + k) != 0) != (k <= q);
    CHECK_MSG(bad == 0, "%d causal-mask entries differ", bad);
  }
  tensor_free(z);
  tensor_free(out);
  z = probe_tensor(DT_I32, 2, 1, 2 * L, 0);
  out = NULL;
  if (probe_run(m, NULL, "p_ar_mask", &z, &out)) {
    int bad = 0;
    for (int q = 0; q < 2 * L; q++)
      for (int k = 0; k < 2 * L; k++) {   /* §2.3 with L' = 1 */
        int hq = q >= L, hk = k >= L, bq = q % L, bk = k % L;
        int want = (hq == hk && bq == bk) || (!hq && hk && bk < bq) || (hq && hk && bk <= bq);
        bad += (tensor_get(out, q * 2 * L + k) != 0) != want;
      }
    CHECK_MSG(bad == 0, "%d AR-mask entries differ", bad);
  }
  tensor_free(z);
  tensor_free(out);
}

/* order[r] = the position with the r-th largest key (ties: smaller position first). */
static void sort_order(const double *key, int *order) {
  for (int i = 0; i < L; i++) {
    int slot = 0;
    for (int j = 0; j < L; j++) slot += key[j] > key[i] || (key[j] == key[i] && j < i);
    order[slot] = i;
  }
}

static void check_permutations(const Module *m) {
  Tensor *key = probe_tensor(DT_F32, 2, NB, L, 0), *slots = NULL, *order = NULL;
  for (int i = 0; i < NB * L; i++) tensor_set(key, i, floor(probe_uniform() * 5) / 4);   /* with ties */
  if (probe_run(m, NULL, "p_slots", &key, &slots) && probe_run(m, NULL, "p_order", &slots, &order))
    for (int s = 0; s < NB; s++) {
      double k[L];
      int want[L];
      for (int i = 0; i < L; i++) k[i] = tensor_get(key, s * L + i);
      sort_order(k, want);
      for (int r = 0; r < L; r++) {
        CHECK_MSG(tensor_get(order, s * L + r) == want[r], "row %d slot %d", s, r);
        CHECK(tensor_get(slots, s * L + want[r]) == r);
      }
    }
  tensor_free(key); tensor_free(slots); tensor_free(order);
}

/* logits of the causal network for tokens z[L] in decoding order with positions order[L]: out[L*VV] */
static int run_logits(const Module *m, const ParamStore *ps, const int *z, const int *order, double *out) {
  Tensor *a[2] = {probe_tensor(DT_I32, 2, 1, L, 0), probe_tensor(DT_I32, 2, 1, L, 0)}, *lg = NULL;
  for (int i = 0; i < L; i++) { tensor_set(a[0], i, z[i]); tensor_set(a[1], i, order[i]); }
  int ok = probe_run(m, ps, "logits", a, &lg);
  for (int i = 0; ok && i < L * VV; i++) out[i] = tensor_get(lg, i);
  tensor_free(lg);
  probe_free(a, 2);
  return ok;
}

static double nll_row(const double *row, int c) {
  double mx = -INFINITY, s = 0;
  for (int v = 0; v < VOCAB; v++) mx = fmax(mx, row[v]);
  for (int v = 0; v < VOCAB; v++) s += exp(row[v] - mx);
  return -(row[c] - mx - log(s));
}

static void check_causal_network(const Module *m, const ParamStore *ps) {
  int z[L] = {1, 4, MASK, 0, 2, MASK, MASK, 3}, order[L] = {5, 2, 7, 0, 1, 6, 3, 4};
  double a[L * VV], b[L * VV], c[L * VV];
  if (!run_logits(m, ps, z, order, a)) return;
  z[5] = 2;                       /* change row 5: rows 0..4 keep their logits */
  if (!run_logits(m, ps, z, order, b)) return;
  double before = 0, at = 0;
  for (int i = 0; i < L * VV; i++) {
    if (i < 5 * VV) before = fmax(before, fabs(a[i] - b[i]));
    else at = fmax(at, fabs(a[i] - b[i]));
  }
  CHECK_MSG(before == 0, "rows before a changed row moved by %g", before);
  CHECK_MSG(at > 1e-6, "the changed row did not move");
  order[3] = 6; order[5] = 0;     /* swap two rows' positions: row 3's RoPE phase changes */
  if (!run_logits(m, ps, z, order, c)) return;
  double d3 = 0, d_before = 0;
  for (int i = 0; i < 4 * VV; i++) {
    if (i < 3 * VV) d_before = fmax(d_before, fabs(b[i] - c[i]));
    else d3 = fmax(d3, fabs(b[i] - c[i]));
  }
  CHECK_MSG(d3 > 1e-6, "the position of row 3 does not reach its logits");
  CHECK_MSG(d_before == 0, "rows before row 3 moved by %g", d_before);
}

static void check_terms(const Module *m, const ParamStore *ps) {
  int x0[NB * L], masked[NB * L];
  double key[NB * L], alpha_t[NB] = {(float)0.2, (float)0.05};
  for (int i = 0; i < NB * L; i++) {
    x0[i] = (int)(probe_uniform() * VOCAB);
    masked[i] = probe_uniform() < 0.5;
    key[i] = (float)probe_uniform();
  }
  Tensor *a[4] = {probe_tensor(DT_I32, 2, NB, L, 0), probe_tensor(DT_I32, 2, NB, L, 0), probe_tensor(DT_F32, 2, NB, L, 0),
                  probe_tensor(DT_F32, 1, NB, 0, 0)}, *mdm = NULL, *ar = NULL;
  for (int i = 0; i < NB * L; i++) { tensor_set(a[0], i, x0[i]); tensor_set(a[1], i, masked[i]); tensor_set(a[2], i, key[i]); }
  for (int s = 0; s < NB; s++) tensor_set(a[3], s, alpha_t[s]);
  int ok = probe_run(m, ps, "p_mdm", a, &mdm) && probe_run(m, ps, "p_ar", a, &ar);
  for (int s = 0; ok && s < NB; s++) {
    const int *x = x0 + s * L, *mk = masked + s * L;
    /* MDM: clean first, masked after, each by decreasing key */
    double k[L], lg[L * VV], want = 0;
    int order[L], zs[L];
    for (int i = 0; i < L; i++) k[i] = key[s * L + i] + (mk[i] ? 0 : 1);
    sort_order(k, order);
    for (int r = 0; r < L; r++) zs[r] = mk[order[r]] ? MASK : x[order[r]];
    if (run_logits(m, ps, zs, order, lg))
      for (int r = 0; r < L; r++)
        if (zs[r] == MASK) want += nll_row(lg + r * VV, x[order[r]]);
    double alpha0 = 0.25;
    want *= alpha0 * (1 - 1e-3) / (1 - alpha_t[s]);
    CHECK_NEAR(tensor_get(mdm, s), want, 1e-9);
    /* AR: clean first by decreasing key, then masked left to right; each masked token predicted by
     * the causal network from the true tokens before it in the order, itself as [MASK]. */
    for (int i = 0; i < L; i++) k[i] = mk[i] ? 1.0 - (double)i / L : 2.0 + key[s * L + i];
    sort_order(k, order);
    want = 0;
    for (int r = 0; r < L; r++) {
      if (!mk[order[r]]) continue;
      int w[L];
      for (int j = 0; j < L; j++) w[j] = j < r ? x[order[j]] : MASK;
      if (run_logits(m, ps, w, order, lg)) want += nll_row(lg + r * VV, x[order[r]]);
    }
    CHECK_NEAR(tensor_get(ar, s), want, 1e-9);
  }
  tensor_free(mdm); tensor_free(ar);
  probe_free(a, 4);
}

/* order_logp (the factors of exact_nll) for a random order: row r against the causal network on
 * (the tokens before r in the order, then [MASK]) and a float64 log-softmax here. */
static void check_order_logp(const Module *m, const ParamStore *ps) {
  int x0[L], order[L];
  double key[L];
  for (int i = 0; i < L; i++) { x0[i] = (int)(probe_uniform() * VOCAB); key[i] = probe_uniform(); }
  sort_order(key, order);
  Tensor *a[2] = {probe_tensor(DT_I32, 2, 1, L, 0), probe_tensor(DT_I32, 2, 1, L, 0)}, *out = NULL;
  for (int i = 0; i < L; i++) { tensor_set(a[0], i, x0[i]); tensor_set(a[1], i, order[i]); }
  if (probe_run(m, ps, "p_order_logp", a, &out))
    for (int r = 0; r < L; r++) {
      int w[L];
      double lg[L * VV];
      for (int j = 0; j < L; j++) w[j] = j < r ? x0[order[j]] : MASK;
      if (run_logits(m, ps, w, order, lg)) CHECK_NEAR(tensor_get(out, r), -nll_row(lg + r * VV, x0[order[r]]), 1e-9);
    }
  tensor_free(out);
  probe_free(a, 2);
}

static int run_schedule(const Module *m, int steps, double alpha, int seed, double *ev) {
  Tensor *a[3] = {probe_scalar(DT_I64, steps), probe_scalar(DT_F32, alpha), probe_scalar(DT_I64, seed)}, *out = NULL;
  int ok = probe_run(m, NULL, "p_schedule", a, &out);
  for (int i = 0; ok && i < L; i++) ev[i] = tensor_get(out, i);
  tensor_free(out);
  probe_free(a, 3);
  return ok;
}

static void check_sampler(const Module *m) {
  enum { T = 4 };
  double ev[L];
  if (run_schedule(m, T, 0.0, 3, ev))
    for (int i = 0; i < L; i++) CHECK_MSG(ev[i] == T + i, "alpha 0: event %g at slot %d", ev[i], i);
  if (run_schedule(m, T, 1.0, 3, ev))
    for (int i = 0; i < L; i++) CHECK_MSG(ev[i] >= 0 && ev[i] < T && ev[i] == floor(ev[i]) && (i == 0 || ev[i] >= ev[i - 1]), "alpha 1: slot %d", i);
  int seen_mixed = 0;
  for (int seed = 1; seed <= 10; seed++) {
    if (!run_schedule(m, T, 0.5, seed, ev)) return;
    int n_diff = 0;
    while (n_diff < L && ev[n_diff] < T) n_diff++;
    for (int i = 1; i < n_diff; i++) CHECK(ev[i] >= ev[i - 1] && ev[i] == floor(ev[i]));
    for (int i = n_diff; i < L; i++) CHECK_MSG(ev[i] == T + i - n_diff, "sequential slot %d: event %g", i, ev[i]);
    seen_mixed |= n_diff > 0 && n_diff < L;
    /* the decoding order: a permutation, increasing over the sequential slots */
    Tensor *a[4] = {probe_tensor(DT_F64, 1, L, 0, 0), probe_scalar(DT_I64, T), probe_scalar(DT_I64, seed),
                    probe_tensor(DT_I32, 1, NB, 0, 0)}, *order = NULL;
    for (int i = 0; i < L; i++) tensor_set(a[0], i, ev[i]);
    if (probe_run(m, NULL, "p_decoding_order", a, &order))
      for (int s = 0; s < NB; s++) {
        int hit[L] = {0};
        for (int r = 0; r < L; r++) {
          int o = (int)tensor_get(order, s * L + r);
          CHECK(o >= 0 && o < L && !hit[o]);
          if (o >= 0 && o < L) hit[o] = 1;
          if (r > n_diff) CHECK(o > tensor_get(order, s * L + r - 1));
        }
      }
    /* one event at done = n_diff (the first sequential slot when there is one): only slot done
     * changes; and the unpermutation puts slot r at position order[r] */
    if (order && n_diff < L) {
      Tensor *b[5] = {probe_tensor(DT_I32, 2, NB, L, 0), probe_tensor(DT_F32, 3, NB, L, VV), a[0], probe_scalar(DT_I64, n_diff),
                      probe_scalar(DT_I64, seed)}, *out[2] = {NULL, NULL};
      for (int i = 0; i < NB * L; i++) tensor_set(b[0], i, i % L < n_diff ? i % VOCAB : MASK);
      for (int i = 0; i < NB * L * VV; i++) tensor_set(b[1], i, i % VV == MASK ? 0 : 1.0 / VOCAB);
      if (probe_run(m, NULL, "p_event", b, out)) {
        CHECK_MSG(tensor_get(out[1], 0) == n_diff + 1, "event end %g", tensor_get(out[1], 0));
        for (int i = 0; i < NB * L; i++) {
          int z = (int)tensor_get(out[0], i), before = (int)tensor_get(b[0], i);
          if (i % L == n_diff) CHECK(z >= 0 && z < VOCAB);
          else CHECK(z == before);
        }
        Tensor *c[2] = {out[0], order}, *x = NULL;
        if (probe_run(m, NULL, "p_unpermute", c, &x))
          for (int s = 0; s < NB; s++)
            for (int r = 0; r < L; r++)
              CHECK(tensor_get(x, s * L + (int)tensor_get(order, s * L + r)) == tensor_get(out[0], s * L + r));
        tensor_free(x);
      }
      probe_free(out, 2);
      tensor_free(b[0]); tensor_free(b[1]); tensor_free(b[3]); tensor_free(b[4]);
    }
    tensor_free(order);
    probe_free(a, 4);
  }
  CHECK_MSG(seen_mixed, "alpha 0.5 never mixed diffusion and sequential slots");
}

int main(void) {
  const DslDefine d[] = {{"vocab", "6"}, {"seq_len", "8"}, {"layers", "1"}, {"dim", "8"}, {"heads", "2"}, {"cond_dim", "4"}, {"alpha0", "0.25"}};
  Module *m = dsl_compile_string("models/esolm_probe.dsl", probe_src, strlen(probe_src), d, 7, stderr);
  CHECK_MSG(m != NULL, "the probe does not compile");
  if (!m) return check_summary("test_esolm");
  ParamStore *ps = probe_params(m, 0.5);
  check_masks(m);
  check_permutations(m);
  check_causal_network(m, ps);
  check_terms(m, ps);
  check_order_logp(m, ps);
  check_sampler(m);
  pstore_free(ps);
  ir_module_free(m);
  return check_summary("test_esolm");
}
