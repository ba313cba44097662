/* test_models_sampler.c — the graph functions of the `ancestral` samplers of models/mdlm.dsl and
 * models/duo.dsl, run by the interpreter at initialization (zero output layer, so x_theta is uniform
 * over the vocabulary). Expectations from the specs: MDLM (mdlm-remdm.md §9, alpha = 1 - t) unmasks
 * a masked position with probability (t - s)/t per step and never changes a decoded one; the final
 * greedy denoise leaves no mask; Duo (duo-udlm.md §7.1, §2.1) keeps a token with probability
 * alpha_t|s + ((alpha_s - alpha_t) + (1 - alpha_t|s)(1 - alpha_s))/K under a uniform x_theta.
 * Counts over 16 x 64 positions are checked within 5 standard deviations (fixed seeds). */
#include "check.h"
#include "frontend.h"
#include "interp.h"
#include <stdlib.h>
#include <string.h>

enum { NB = 16, NL = 64, VOCAB = 256, STEPS = 4 };
/* Small networks (the sampler logic does not depend on the width), vocab 256 as by default. */
static const DslDefine small[] = {{"seq_len", "64"}, {"layers", "1"}, {"dim", "32"}, {"heads", "2"}, {"cond_dim", "16"}};

static Tensor *scalar_i64(int64_t v) {
  Tensor *t = tensor_new(DT_I64, 0, NULL);
  tensor_set(t, 0, (double)v);
  return t;
}

/* Runs segment function `fn` with arguments given by name; returns its output named `out`. */
static Tensor *run_segment(const Module *m, const char *fn, const char *const *names, Tensor *const *vals, int n, const char *out) {
  const Func *f = ir_func_find(m, fn);
  CHECK_MSG(f != NULL, "no function %s", fn);
  if (!f) return NULL;
  Tensor *args[16] = {0};
  for (int i = 0; i < f->nnodes; i++) {
    const Node *nd = &f->nodes[i];
    if (nd->op != OP_ARG) continue;
    for (int k = 0; k < n; k++)
      if (nd->attr.s && strcmp(nd->attr.s, names[k]) == 0 && nd->attr.i[0] < 16) args[nd->attr.i[0]] = vals[k];
  }
  for (int i = 0; i < f->nargs; i++) CHECK_MSG(args[i] != NULL, "%s: argument %d not supplied", fn, i);
  int which = -1;
  for (int i = 0; i < f->nout; i++)
    if (f->outnames && f->outnames[i] && strcmp(f->outnames[i], out) == 0) which = i;
  CHECK_MSG(which >= 0, "%s has no output %s", fn, out);
  if (which < 0 || f->nout > 16) return NULL;
  for (int i = 0; i < f->nargs; i++)
    if (!args[i]) return NULL;
  ParamStore *ps = pstore_init(m, 3);
  Tensor *outs[16] = {0};
  DlmErr e;
  memset(&e, 0, sizeof e);
  int ok = interp_run(m, f, ps, args, outs, DT_F32, &e);
  CHECK_MSG(ok, "%s: %s", fn, e.msg);
  pstore_free(ps);
  Tensor *res = NULL;
  for (int i = 0; i < f->nout; i++) {
    if (i == which && ok) res = outs[i];
    else tensor_free(outs[i]);
  }
  return res;
}

/* count successes of n Bernoulli(p) trials: within 5 standard deviations of n p. */
static void check_count(int count, int n, double p, const char *what) {
  double mean = n * p, sd = sqrt(n * p * (1 - p));
  CHECK_MSG(fabs(count - mean) <= 5 * sd + 1, "%s: %d of %d, expected %.1f +- %.1f", what, count, n, mean, sd);
}

/* MDLM: step i of STEPS has t = 1 - i dt and s = t - dt with dt = (1 - 1e-5)/STEPS. */
static void check_mdlm(void) {
  Module *m = dsl_compile_file("models/mdlm.dsl", small, 5, stderr);
  CHECK(m != NULL);
  if (!m) return;
  const int mask = VOCAB;
  double dt = (1 - 1e-5) / STEPS;
  Tensor *x = NULL;  /* the tokens after the last step checked */
  const int step_ids[2] = {0, 2};
  for (int r = 0; r < 2; r++) {  /* each step from an all-mask x: P(unmask) = 0.25, then 0.5 */
    int i = step_ids[r];
    Tensor *x0 = tensor_new(DT_I32, 2, (int64_t[]){NB, NL});
    for (int64_t j = 0; j < x0->numel; j++) tensor_set(x0, j, j % 5 == 0 ? (double)(j % VOCAB) : mask);
    Tensor *steps = scalar_i64(STEPS), *iv = scalar_i64(i), *seed = scalar_i64(11), *top_p = tensor_new(DT_F32, 0, NULL);
    tensor_set(top_p, 0, 1.0);
    const char *pnames[] = {"x", "top_p"};
    Tensor *pvals[] = {x0, top_p};
    Tensor *p_x0 = run_segment(m, "ancestral.1", pnames, pvals, 2, "p_x0");   /* the memo call */
    const char *names[] = {"steps", "i", "x", "seed", "p_x0"};
    Tensor *vals[] = {steps, iv, x0, seed, p_x0};
    Tensor *nx = p_x0 ? run_segment(m, "ancestral.3", names, vals, 5, "x") : NULL;
    tensor_free(p_x0);
    tensor_free(top_p);
    if (nx) {
      int masked_before = 0, unmasked_now = 0, changed_decoded = 0, bad_token = 0;
      for (int64_t j = 0; j < x0->numel; j++) {
        int a = (int)tensor_get(x0, j), b = (int)tensor_get(nx, j);
        if (a != mask) { changed_decoded += a != b; continue; }
        masked_before++;
        if (b != mask) { unmasked_now++; bad_token += b < 0 || b >= VOCAB; }
      }
      double t = 1 - i * dt, s = t - dt;
      CHECK(changed_decoded == 0);
      CHECK(bad_token == 0);
      check_count(unmasked_now, masked_before, (t - s) / t, i == 0 ? "mdlm step 0 unmasks" : "mdlm step 2 unmasks");
    }
    tensor_free(steps);
    tensor_free(iv);
    tensor_free(seed);
    tensor_free(x0);
    tensor_free(x);
    x = nx;
  }
  if (x) {  /* the final greedy SUBS denoise fills every mask and keeps decoded tokens */
    const char *names[] = {"x"};
    Tensor *vals[] = {x};
    Tensor *fin = run_segment(m, "ancestral.4", names, vals, 1, "y");
    if (fin) {
      int left = 0, changed = 0;
      for (int64_t j = 0; j < x->numel; j++) {
        int a = (int)tensor_get(x, j), b = (int)tensor_get(fin, j);
        left += b == mask || b < 0 || b >= VOCAB;
        changed += a != mask && a != b;
      }
      CHECK(left == 0);
      CHECK(changed == 0);
      tensor_free(fin);
    }
    tensor_free(x);
  }
  ir_module_free(m);
}

/* Duo: step i = 1 from t = 1 - dt to s = t - dt, alpha(t) = 1 - (1 - 1e-3) t. */
static void check_duo(void) {
  Module *m = dsl_compile_file("models/duo.dsl", small, 5, stderr);
  CHECK(m != NULL);
  if (!m) return;
  Tensor *z = tensor_new(DT_I32, 2, (int64_t[]){NB, NL});
  for (int64_t j = 0; j < z->numel; j++) tensor_set(z, j, (double)((j * 37) % VOCAB));
  Tensor *steps = scalar_i64(STEPS), *iv = scalar_i64(1), *seed = scalar_i64(5);
  double dt = (1 - 1e-5) / STEPS, t = 1 - dt, s = t - dt;
  Tensor *tv = tensor_new(DT_F64, 0, NULL), *dtv = tensor_new(DT_F64, 0, NULL);
  tensor_set(tv, 0, t);
  tensor_set(dtv, 0, dt);
  /* ancestral.1: x_theta at t (the network); ancestral.3: the posterior update to s = t - dt */
  const char *pnames[] = {"steps", "i", "z"};
  Tensor *pvals[] = {steps, iv, z};
  Tensor *p = run_segment(m, "ancestral.1", pnames, pvals, 3, "p");
  const char *names[] = {"z", "p", "t", "dt", "seed", "i"};
  Tensor *vals[] = {z, p, tv, dtv, seed, iv};
  Tensor *nz = p ? run_segment(m, "ancestral.3", names, vals, 6, "z") : NULL;
  if (nz) {
    double at = 1 - (1 - 1e-3) * t, as = 1 - (1 - 1e-3) * s, ats = at / as;
    double keep = ats + ((as - at) + (1 - ats) * (1 - as)) / VOCAB;
    int kept = 0, bad = 0;
    for (int64_t j = 0; j < z->numel; j++) {
      int b = (int)tensor_get(nz, j);
      kept += b == (int)tensor_get(z, j);
      bad += b < 0 || b >= VOCAB;
    }
    CHECK(bad == 0);
    check_count(kept, NB * NL, keep, "duo step 1 keeps");
    /* the final ancestral noise removal (alpha_s = 1) at t0 = 1e-5 keeps a token with probability
     * alpha_t0 + (1 - alpha_t0)/K > 0.99998 under a uniform x_theta */
    Tensor *greedy = scalar_i64(0);
    const char *p0names[] = {"z"};
    Tensor *p0 = run_segment(m, "ancestral.4", p0names, &nz, 1, "p0");
    const char *fnames[] = {"z", "seed", "steps", "greedy_tail", "p0"};
    Tensor *fvals[] = {nz, seed, steps, greedy, p0};
    Tensor *fz = p0 ? run_segment(m, "ancestral.6", fnames, fvals, 5, "$result0") : NULL;
    if (fz) {
      int same = 0;
      for (int64_t j = 0; j < fz->numel; j++) same += tensor_get(fz, j) == tensor_get(nz, j);
      CHECK_MSG(same >= NB * NL - 2, "final step changed %d tokens", NB * NL - same);
      tensor_free(fz);
    }
    /* Greedy-Tail: argmax of the logits; with a zero output layer every logit ties, the first wins */
    tensor_set(greedy, 0, 1);
    fz = p0 ? run_segment(m, "ancestral.6", fnames, fvals, 5, "$result0") : NULL;
    if (fz) {
      int zeros = 0;
      for (int64_t j = 0; j < fz->numel; j++) zeros += tensor_get(fz, j) == 0;
      CHECK(zeros == NB * NL);
      tensor_free(fz);
    }
    tensor_free(greedy);
    tensor_free(p0);
    tensor_free(nz);
  }
  tensor_free(p);
  tensor_free(tv);
  tensor_free(dtv);
  tensor_free(steps);
  tensor_free(iv);
  tensor_free(seed);
  tensor_free(z);
  ir_module_free(m);
}

int main(void) {
  check_mdlm();
  check_duo();
  return check_summary("test_models_sampler");
}
