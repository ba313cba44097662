/* test_sampler_mdlm.c — MDLM's samplers in models/mdlm.dsl and the nucleus filter of
 * models/std/sampling.dsl, through the interpreter:
 *  - top_p_filter on hand-made distributions (mdlm-remdm.md §10.6: keep the sorted prefix whose
 *    cumulative sum is <= p, always the top-1, renormalize; p >= 1 leaves p as it is; ties with the
 *    smallest kept value are all kept, the documented difference from the reference);
 *  - `ancestral` with steps >> seq_len: the network runs at most once per distinct state (at most
 *    seq_len + 1 per sequence, plus the final denoise) and the tokens are identical without reuse;
 *  - `semi_ar`: (strides + 1) S + (L - S) tokens, each window's first L - S tokens equal the previous
 *    window's last L - S (the clamped prefix), no mask token is left, and the output is the first S
 *    tokens of every window followed by the last window's tail. The windows are recorded by a
 *    backend that wraps the interpreter and keeps the results of the greedy denoise calls. */
#include "check.h"
#include "frontend.h"
#include "interp.h"
#include "sched_exec.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { SEQ = 8, STRIDE = SEQ / 2, STRIDES = 2, OUTLEN = (STRIDES + 1) * STRIDE + SEQ - STRIDE, MASK = 256 };
static const DslDefine tiny[] = {{"seq_len", "8"}, {"layers", "1"}, {"dim", "16"}, {"heads", "2"}, {"cond_dim", "8"}};

/* ---------------------------------------------------------------- top-p */
static const char top_p_src[] =
  "const V = 5\n"
  "sym B\n"
  "sym L\n"
  "import \"std/sampling.dsl\"\n"
  "export fn f(p: f32[B, L, V], top_p: f32) -> f32[B, L, V] { return top_p_filter(p, top_p) }\n";

static void check_top_p_case(const Module *m, const float *p, float top_p, const float *want, const char *what) {
  Tensor *x = tensor_new(DT_F32, 3, (int64_t[]){1, 1, 5}), *tp = tensor_new(DT_F32, 0, NULL), *out = NULL;
  memcpy(x->data, p, 5 * sizeof *p);
  tensor_set(tp, 0, top_p);
  Tensor *args[2] = {x, tp};
  DlmErr e = {0};
  ParamStore *ps = pstore_new();
  int ok = interp_run(m, ir_func_find(m, "f"), ps, args, &out, DT_F32, &e);
  CHECK_MSG(ok, "%s: %s", what, e.msg);
  for (int v = 0; ok && v < 5; v++)
    CHECK_MSG(fabs(tensor_get(out, v) - want[v]) < 1e-6, "%s: entry %d is %g, expected %g", what, v, tensor_get(out, v), want[v]);
  tensor_free(out);
  tensor_free(x);
  tensor_free(tp);
  pstore_free(ps);
}

static void check_top_p(void) {
  Module *m = dsl_compile_string("models/top_p_test.dsl", top_p_src, sizeof top_p_src - 1, NULL, 0, stderr);
  CHECK(m != NULL);
  if (!m) return;
  const float a[5] = {0.1f, 0.4f, 0.2f, 0.25f, 0.05f};   /* sorted 0.4 0.25 0.2 0.1 0.05: c = 0.4 0.65 0.85 0.95 1 */
  check_top_p_case(m, a, 0.7f, (const float[]){0, 0.4f / 0.65f, 0, 0.25f / 0.65f, 0}, "p = 0.7 keeps 0.4 and 0.25");
  check_top_p_case(m, a, 0.9f, (const float[]){0, 0.4f / 0.85f, 0.2f / 0.85f, 0.25f / 0.85f, 0}, "p = 0.9 keeps three");
  check_top_p_case(m, a, 0.3f, (const float[]){0, 1, 0, 0, 0}, "p = 0.3 keeps only the top-1");
  const float b[5] = {0.1f, 0.4f, 0.2f, 0.15f, 0.05f};   /* sums to 0.9: p = 1 must not renormalize */
  check_top_p_case(m, b, 1.0f, b, "p = 1 is off");
  const float t[5] = {0.3f, 0.3f, 0.1f, 0.3f, 0};        /* c = 0.3 0.6 0.9: the third 0.3 ties */
  check_top_p_case(m, t, 0.65f, (const float[]){1 / 3.f, 1 / 3.f, 0, 1 / 3.f, 0}, "ties with the smallest kept value are kept");
  ir_module_free(m);
}

/* ---------------------------------------------------------------- recording backend */
static struct { const Func *greedy; Tensor *win[8]; int nwin; } rec;

static BackendState *rec_open(const Module *m, DlmErr *e) { return backend_interp.open(m, e); }
static void rec_close(BackendState *s) { backend_interp.close(s); }
static int rec_run(BackendState *s, const Func *f, const ParamStore *ps, Tensor *const *args, Tensor **outs,
                   const int64_t *symval, DlmErr *e) {
  if (!backend_interp.run(s, f, ps, args, outs, symval, e)) return 0;
  if (f == rec.greedy && rec.nwin < 8) rec.win[rec.nwin++] = tensor_clone(outs[0]);
  return 1;
}
static const Backend recorder = {"recorder", rec_open, rec_run, rec_close, NULL, 0, NULL};  /* host tensors only */

static const Sched *find_sched(const Module *m, const char *name) {
  for (int i = 0; i < m->nscheds; i++)
    if (!strcmp(m->scheds[i]->name, name)) return m->scheds[i];
  return NULL;
}

/* Runs sampler name with B = 1; returns its token output (NULL on failure). */
static Tensor *sample(const Module *m, const ParamStore *ps, const char *name, const Backend *be, const char *steps,
                      const char *top_p, SchedMemo *memo) {
  const Sched *s = find_sched(m, name);
  CHECK_MSG(s != NULL, "no sampler %s", name);
  if (!s) return NULL;
  int64_t symval[DLM_MAX_SYMS] = {0};
  symval[ir_sym_find(m, "B")] = 1;
  SchedKnob k[3] = {{"steps", steps}, {"seed", "5"}, {"top_p", top_p}};
  DlmErr e = {0};
  BackendState *bs = be->open(m, &e);
  Tensor *out = NULL;
  int ok = bs && sched_run_memo(m, s, be, bs, ps, k, 3, symval, memo, &out, &e);
  CHECK_MSG(ok, "%s: %s", name, e.msg);
  if (bs) be->close(bs);
  return ok ? out : NULL;
}

static int same_tokens(const Tensor *a, const Tensor *b) {
  return a && b && a->numel == b->numel && !memcmp(a->data, b->data, (size_t)a->numel * sizeof(int32_t));
}

static void check_ancestral(const Module *m, const ParamStore *ps) {
  SchedMemo on = {0, 0, 0, 0, 0}, off = {1, 0, 0, 0, 0};
  Tensor *x = sample(m, ps, "ancestral", &backend_interp, "64", "1", &on), *y = sample(m, ps, "ancestral", &backend_interp, "64", "1", &off);
  CHECK(x && x->numel == SEQ);
  CHECK_MSG(on.nfe <= SEQ + 2 && on.nfe == on.misses && on.misses + on.hits == 65, "ancestral: %lld evaluations, %lld reused", (long long)on.nfe, (long long)on.hits);
  CHECK(off.nfe == 65 && off.hits == 0 && on.steps == 64 && off.steps == 64);
  CHECK(same_tokens(x, y));
  /* top-p on: the filter is a second memo call without parameters (not an evaluation) */
  SchedMemo pon = {0, 0, 0, 0, 0}, poff = {1, 0, 0, 0, 0};
  Tensor *px = sample(m, ps, "ancestral", &backend_interp, "64", "0.5", &pon), *py = sample(m, ps, "ancestral", &backend_interp, "64", "0.5", &poff);
  CHECK(same_tokens(px, py));
  CHECK_MSG(pon.nfe <= SEQ + 2 && pon.misses == 2 * pon.nfe - 1 && poff.nfe == 65, "top-p: %lld evaluations, %lld misses", (long long)pon.nfe, (long long)pon.misses);
  tensor_free(px);
  tensor_free(py);
  for (int64_t j = 0; x && j < x->numel; j++) CHECK(tensor_get(x, j) >= 0 && tensor_get(x, j) < MASK);
  tensor_free(x);
  tensor_free(y);
}

static void check_semi_ar(const Module *m, const ParamStore *ps) {
  const Sched *s = find_sched(m, "semi_ar");
  CHECK(s != NULL);
  if (!s) return;
  rec.greedy = NULL;   /* the memo call directly inside the loop over windows: the greedy denoise */
  for (int i = 0; i < s->nbody; i++)
    for (int k = 0; s->body[i].kind == SS_LOOP && k < s->body[i].nbody; k++)
      if (s->body[i].body[k].memo) rec.greedy = m->funcs[s->body[i].body[k].func];
  CHECK(rec.greedy != NULL);
  SchedMemo on = {0, 0, 0, 0, 0}, off = {1, 0, 0, 0, 0};
  Tensor *x = sample(m, ps, "semi_ar", &recorder, "16", "1", &on);
  int nwin = rec.nwin;
  Tensor *y = sample(m, ps, "semi_ar", &backend_interp, "16", "1", &off);
  CHECK(same_tokens(x, y));
  CHECK_MSG(on.nfe <= (STRIDES + 1) * (SEQ + 2), "semi_ar: %lld evaluations", (long long)on.nfe);
  CHECK(off.nfe == (STRIDES + 1) * (16 + 1 + 1));
  CHECK(on.steps == (STRIDES + 1) * 17);
  CHECK(x && x->rank == 2 && x->shape[1] == OUTLEN);
  CHECK_MSG(nwin == STRIDES + 1, "%d windows recorded", nwin);
  if (x && nwin == STRIDES + 1) {
    const int32_t *out = x->data;
    for (int w = 0; w < nwin; w++) {
      const int32_t *cur = rec.win[w]->data;
      for (int j = 0; j < SEQ; j++) CHECK(cur[j] >= 0 && cur[j] < MASK);
      for (int j = 0; w > 0 && j < SEQ - STRIDE; j++) CHECK_MSG(cur[j] == ((const int32_t *)rec.win[w - 1]->data)[STRIDE + j], "window %d position %d", w, j);
      for (int j = 0; j < (w == nwin - 1 ? SEQ : STRIDE); j++) CHECK(out[w * STRIDE + j] == cur[j]);
    }
  }
  for (int w = 0; w < nwin; w++) tensor_free(rec.win[w]);
  rec.nwin = 0;
  tensor_free(x);
  tensor_free(y);
}

int main(void) {
  check_top_p();
  Module *m = dsl_compile_file("models/mdlm.dsl", tiny, 5, stderr);
  CHECK(m != NULL);
  if (m) {
    ParamStore *ps = pstore_init(m, 7);
    check_ancestral(m, ps);
    check_semi_ar(m, ps);
    pstore_free(ps);
    ir_module_free(m);
  }
  return check_summary("test_sampler_mdlm");
}
