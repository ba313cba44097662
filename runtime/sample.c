/* sample.c — `dlmrun ART sample --ckpt CKPT ...`: runs a sampler of the artifact (its schedule
 * program) with the checkpoint's EMA weights and prints the decoded text. Knobs: --steps sets
 * `steps`, --seed `seed`, --top-p `top_p`, --set NAME=VALUE any knob; the batch symbol B is --n.
 * --len L prints the first L tokens and, without --sampler, picks `ancestral` when it is long enough,
 * else the sampler with the shortest output of at least L tokens. Memo calls reuse their results
 * unless --no-memo; loops with a KV-cache plan use it unless --no-cache (stderr says which cache ran,
 * approximate ones in capitals); the network evaluations (calls that ran of functions reading the parameters)
 * and the steps per second go to stderr (the counts also into --json, which stays deterministic).
 * Tokens the tokenizer does not know print as [id]. */
#include "dlmrun.h"
#include "json_mini.h"
#include "safetensors.h"
#include "sched_exec.h"
#include "tokenizer.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_KNOBS 32

typedef struct {
  const char *ckpt, *tok, *tokdir, *sampler;
  RtTarget tgt;   /* --device, --backend */
  int64_t n, len;
  int json, allow_extra, no_memo, no_cache;
  SchedKnob knobs[MAX_KNOBS]; int nknobs;
} SampleArgs;

static void tokenizer_from_ckpt(SampleArgs *a, char **owned) {
  DlmErr e = {0};
  char *file = ckpt_file(a->ckpt);
  StFile *f = file ? st_open(file, &e) : NULL;
  free(file);
  if (!f) return;
  const char *t = st_meta_get(f, "tokenizer"), *d = st_meta_get(f, "tokenizer_dir");
  if (!a->tok && t) a->tok = owned[0] = strdup(t);
  if (!a->tokdir && d && *d) a->tokdir = owned[1] = strdup(d);
  st_close(f);
}

/* The text of row `row`: a negative id ends it (the padding after a variable-length sampler's
 * stop); other ids that are not tokens (a mask id) print as [id]. */
static void put_text(JsonBuf *b, const Tokenizer *tok, const Tensor *x, int64_t row, int64_t len) {
  const int32_t *ids = (const int32_t *)x->data + row * x->shape[1];
  for (int64_t j = 0; j < len && ids[j] >= 0; j++) {
    size_t n;
    const char *s = tok_token_bytes(tok, ids[j], &n);
    if (s) jbuf_put(b, s, n);
    else jbuf_printf(b, "[%d]", ids[j]);
  }
}

/* s[0..n) as a JSON string, with each byte that is not part of valid UTF-8 as U+FFFD (the ids
 * carry the exact tokens). */
static void put_json_text(JsonBuf *b, const unsigned char *s, size_t n) {
  JsonBuf clean = {0};
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    int ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; k++) ok = (s[i + k] & 0xC0) == 0x80;
    if (ok && len == 2) ok = c >= 0xC2;
    if (ok && len == 3) ok = !(c == 0xE0 && s[i + 1] < 0xA0) && !(c == 0xED && s[i + 1] >= 0xA0);
    if (ok && len == 4) ok = c <= 0xF4 && !(c == 0xF0 && s[i + 1] < 0x90) && !(c == 0xF4 && s[i + 1] >= 0x90);
    if (ok) { jbuf_put(&clean, s + i, len); i += len; }
    else { jbuf_puts(&clean, "\xEF\xBF\xBD"); i++; }
  }
  json_put_string(b, clean.p ? clean.p : "", clean.n);
  b->oom |= clean.oom;
  jbuf_free(&clean);
}

/* What the run cost: network evaluations, memo reuses, seconds, steps (see SchedMemo). */
typedef struct { const char *sampler; int64_t nfe, hits, steps; double seconds; int64_t commits; const char *cache; } SampleCost;

static int print_samples(const SampleArgs *a, const Tokenizer *tok, const Tensor *x, const SampleCost *c) {
  int64_t len = a->len ? a->len : x->shape[1];
  JsonBuf out = {0};
  if (a->json) {
    jbuf_puts(&out, "{\"sampler\": ");
    json_put_string(&out, c->sampler, strlen(c->sampler));
    jbuf_printf(&out, ", \"nfe\": %lld, \"memo_hits\": %lld, \"steps\": %lld, \"kv_cache\": \"%s\", \"cache_commits\": %lld, \"samples\": [",
                (long long)c->nfe, (long long)c->hits, (long long)c->steps, c->cache, (long long)c->commits);
  }
  for (int64_t r = 0; r < x->shape[0]; r++) {
    JsonBuf text = {0};
    put_text(&text, tok, x, r, len);
    if (a->json) {
      jbuf_puts(&out, r ? ", {\"text\": " : "{\"text\": ");
      put_json_text(&out, (const unsigned char *)(text.p ? text.p : ""), text.n);
      jbuf_puts(&out, ", \"ids\": [");
      for (int64_t j = 0; j < len; j++) jbuf_printf(&out, "%s%d", j ? ", " : "", ((const int32_t *)x->data)[r * x->shape[1] + j]);
      jbuf_puts(&out, "]}");
    } else {
      if (x->shape[0] > 1) jbuf_printf(&out, "=== sample %lld ===\n", (long long)r);
      jbuf_put(&out, text.p ? text.p : "", text.n);
      jbuf_puts(&out, "\n");
    }
    out.oom |= text.oom;
    jbuf_free(&text);
  }
  if (a->json) jbuf_puts(&out, "]}\n");
  int ok = !out.oom && fwrite(out.p, 1, out.n, stdout) == out.n;
  jbuf_free(&out);
  return ok;
}

/* The token count of a sampler's first result if it is i32[N, L] with a constant L, else 0. */
static int64_t sampler_len(const Sched *s) {
  if (s->nout < 1) return 0;
  const Type *t = &s->vars[s->outs[0]].type;
  return t->dtype == DT_I32 && t->rank == 2 && dim_is_const(t->dims[1]) ? t->dims[1].k : 0;
}

/* --sampler by name; else `ancestral` unless --len asks for more than it makes, then the sampler
 * with the shortest output of at least --len tokens. NULL if there is none. */
static const Sched *pick_sampler(const Module *m, const SampleArgs *a) {
  const char *want = a->sampler ? a->sampler : "ancestral";
  const Sched *named = NULL, *best = NULL;
  for (int i = 0; i < m->nscheds; i++)
    if (!strcmp(m->scheds[i]->name, want)) named = m->scheds[i];
  if (a->sampler || !a->len || (named && sampler_len(named) >= a->len)) return named;
  for (int i = 0; i < m->nscheds; i++) {
    int64_t n = sampler_len(m->scheds[i]);
    if (n >= a->len && (!best || n < sampler_len(best))) best = m->scheds[i];
  }
  return best;
}

static int plans_in(const SchedStmt *st, int n, const char *policy) {
  int k = 0;
  for (int i = 0; i < n; i++)
    if (st[i].kind == SS_LOOP)
      k += (st[i].plan && !strcmp(st[i].plan->policy, policy)) + plans_in(st[i].body, st[i].nbody, policy);
  return k;
}

/* What the run did with the sampler's KV-cache plans: "exact", "approximate (dual)", "off
 * (--no-cache)", "none planned (...)" or "none (no cache loop)". */
static const char *cache_label(const Sched *s, const SchedCache *c, int no_cache) {
  if (c->approx_loops) return "APPROXIMATE (a Fast-dLLM-style cache the DSL asked for; results differ from uncached sampling)";
  if (c->cached_loops) return "exact (planned by the compiler; the same results as --no-cache)";
  if (no_cache && (plans_in(s->body, s->nbody, "exact") || plans_in(s->body, s->nbody, "dual"))) return "off (--no-cache)";
  if (plans_in(s->body, s->nbody, "none")) return "none (the compiler planned no cache: see dlmc compile --emit ir)";
  return "none (no cache loop)";
}

static int sample_run(const char *artifact, SampleArgs *a) {
  DlmErr e = {0};
  Module *m = rt_open_artifact(artifact);
  if (!m) return 1;
  int status = 1;
  ParamStore *ps = NULL;
  Tokenizer *tok = NULL;
  BackendState *bs = NULL;
  Tensor *outs[8] = {0};
  const Backend *be = NULL;
  const Sched *s = pick_sampler(m, a);
  int64_t symval[DLM_MAX_SYMS] = {0};
  int bsym = ir_sym_find(m, "B");
  if (!s) {
    if (a->sampler) fprintf(stderr, "dlmrun sample: %s has no sampler '%s'; it has:", artifact, a->sampler);
    else fprintf(stderr, "dlmrun sample: --len %lld: no sampler of %s produces that many tokens; it has:", (long long)a->len, artifact);
    for (int i = 0; i < m->nscheds; i++) {
      fprintf(stderr, " %s", m->scheds[i]->name);
      int64_t n = sampler_len(m->scheds[i]);
      if (n > 0) fprintf(stderr, " (%lld tokens)", (long long)n);
    }
    fprintf(stderr, "%s\n", a->sampler ? "" : " (compile with larger -D values for longer samples)");
    goto done;
  }
  if (s->nout < 1 || s->nout > 8) { fprintf(stderr, "dlmrun sample: sampler %s returns %d values\n", s->name, s->nout); goto done; }
  if (bsym >= 0) symval[bsym] = a->n;
  SchedMemo memo = {a->no_memo, 0, 0, 0, 0};
  SchedCache cache = {a->no_cache, 0, 0, 0};
  struct timespec t0, t1;
  if (!(ps = ckpt_load_weights(m, a->ckpt, 1, a->allow_extra, stderr, &e)) ||
      !(tok = tok_open(a->tok, a->tokdir, &e))) {
    fprintf(stderr, "dlmrun sample: %s\n", e.msg);
    goto done;
  }
  if (!(bs = rt_target_open("sample", &a->tgt, m, &be))) goto done;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (!sched_run_cache(m, s, be, bs, ps, a->knobs, a->nknobs, symval, &memo, &cache, outs, &e)) {
    fprintf(stderr, "dlmrun sample: %s\n", e.msg);
    goto done;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  SampleCost cost = {s->name, memo.nfe, memo.hits, memo.steps,
                     (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec), cache.commits,
                     cache.approx_loops ? "approximate" : cache.cached_loops ? "exact" : a->no_cache ? "off" : "none"};
  const Tensor *x = outs[0];
  if (x->dtype != DT_I32 || x->rank != 2) { fprintf(stderr, "dlmrun sample: sampler %s returns %s values of rank %d, not token ids [N, L]\n", s->name, dtype_name(x->dtype), x->rank); goto done; }
  if (a->len > x->shape[1]) {
    fprintf(stderr, "dlmrun sample: --len %lld: this artifact samples %lld tokens per sequence (compile with -D seq_len=... for longer)\n",
            (long long)a->len, (long long)x->shape[1]);
    goto done;
  }
  fprintf(stderr, "dlmrun sample: %s: %lld network evaluations (%lld reused%s), %.3f s",
          s->name, (long long)cost.nfe, (long long)cost.hits, a->no_memo ? ", --no-memo" : "", cost.seconds);
  if (cost.steps > 0 && cost.seconds > 0) fprintf(stderr, ", %.1f steps/s", (double)cost.steps / cost.seconds);
  fprintf(stderr, ", KV cache: %s", cache_label(s, &cache, a->no_cache));
  if (cache.commits) fprintf(stderr, ", %lld cache commit passes", (long long)cache.commits);
  fprintf(stderr, "\n");
  status = print_samples(a, tok, x, &cost) ? 0 : 1;
done:
  for (int i = 0; i < 8; i++) tensor_free(outs[i]);
  if (bs) be->close(bs);
  tok_free(tok);
  pstore_free(ps);
  ir_module_free(m);
  return status;
}

int dlmrun_sample(const char *artifact, int argc, char **argv) {
  SampleArgs a = {0};
  a.n = 1;
  for (int i = 0; i < argc; i++) {
    const char *f = argv[i], *v;
    if (!strcmp(f, "--json")) { a.json = 1; continue; }
    if (!strcmp(f, "--allow-extra")) { a.allow_extra = 1; continue; }
    if (!strcmp(f, "--no-memo")) { a.no_memo = 1; continue; }
    if (!strcmp(f, "--no-cache")) { a.no_cache = 1; continue; }
    if (!(v = rt_value(argc, argv, &i))) return 2;
    if (!strcmp(f, "--ckpt")) a.ckpt = v;
    else if (!strcmp(f, "--tokenizer")) a.tok = v;
    else if (!strcmp(f, "--tokenizer-dir")) a.tokdir = v;
    else if (rt_target_opt(f, v, &a.tgt)) continue;
    else if (!strcmp(f, "--sampler")) a.sampler = v;
    else if (!strcmp(f, "--n")) { if (!rt_int(f, v, 1, 1 << 20, &a.n)) return 2; }
    else if (!strcmp(f, "--len")) { if (!rt_int(f, v, 1, INT64_MAX, &a.len)) return 2; }
    else if (!strcmp(f, "--steps") || !strcmp(f, "--seed") || !strcmp(f, "--top-p") || !strcmp(f, "--set")) {
      if (a.nknobs == MAX_KNOBS) return rt_usage("sample", "%s", "too many knobs");
      SchedKnob *k = &a.knobs[a.nknobs++];
      if (!strcmp(f, "--top-p")) { k->name = "top_p"; k->value = v; continue; }
      if (strcmp(f, "--set") != 0) { k->name = f + 2; k->value = v; continue; }
      const char *eq = strchr(v, '=');
      if (!eq || eq == v) return rt_usage("sample", "--set wants NAME=VALUE, got '%s'", v);
      k->name = v;   /* NUL-terminated below: argv strings are writable */
      *(char *)eq = 0;
      k->value = eq + 1;
    } else return rt_usage("sample", "unknown option '%s'", f);
  }
  if (!a.ckpt) return rt_usage("sample", "%s", "needs --ckpt CKPT");
  if (rt_target_check("sample", &a.tgt)) return 2;
  char *owned[2] = {NULL, NULL};
  tokenizer_from_ckpt(&a, owned);
  if (!a.tok) a.tok = "byte";
  int st = sample_run(artifact, &a);
  free(owned[0]); free(owned[1]);
  return st;
}
