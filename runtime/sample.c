/* sample.c — `dlmrun ART sample --ckpt CKPT ...`: runs a sampler of the artifact (its schedule
 * program, by default `ancestral`) with the checkpoint's EMA weights and prints the decoded text.
 * Knobs: --steps sets `steps`, --seed sets `seed`, --set NAME=VALUE any knob; the batch symbol B is
 * --n. Tokens the tokenizer does not know (a mask left in place) print as [id]. */
#include "dlmrun.h"
#include "json_mini.h"
#include "safetensors.h"
#include "sched_exec.h"
#include "tokenizer.h"
#include <stdlib.h>
#include <string.h>

#define MAX_KNOBS 32

typedef struct {
  const char *ckpt, *tok, *tokdir, *backend, *sampler;
  int64_t n, len;
  int json, allow_extra;
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

static void put_text(JsonBuf *b, const Tokenizer *tok, const Tensor *x, int64_t row, int64_t len) {
  const int32_t *ids = (const int32_t *)x->data + row * x->shape[1];
  for (int64_t j = 0; j < len; j++) {
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

static int print_samples(const SampleArgs *a, const Tokenizer *tok, const Tensor *x) {
  int64_t len = a->len ? a->len : x->shape[1];
  JsonBuf out = {0};
  if (a->json) jbuf_puts(&out, "{\"samples\": [");
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

static int sample_run(const char *artifact, SampleArgs *a) {
  DlmErr e = {0};
  Module *m = rt_open_artifact(artifact);
  if (!m) return 1;
  int status = 1;
  ParamStore *ps = NULL;
  Tokenizer *tok = NULL;
  BackendState *bs = NULL;
  Tensor *outs[8] = {0};
  const Backend *be = rt_backend(a->backend);
  const Sched *s = NULL;
  for (int i = 0; i < m->nscheds; i++)
    if (!strcmp(m->scheds[i]->name, a->sampler)) s = m->scheds[i];
  int64_t symval[DLM_MAX_SYMS] = {0};
  int bsym = ir_sym_find(m, "B");
  if (!be) goto done;
  if (!s) {
    fprintf(stderr, "dlmrun sample: %s has no sampler '%s'; it has:", artifact, a->sampler);
    for (int i = 0; i < m->nscheds; i++) fprintf(stderr, " %s", m->scheds[i]->name);
    fprintf(stderr, "\n");
    goto done;
  }
  if (s->nout < 1 || s->nout > 8) { fprintf(stderr, "dlmrun sample: sampler %s returns %d values\n", s->name, s->nout); goto done; }
  if (bsym >= 0) symval[bsym] = a->n;
  if (!(ps = ckpt_load_weights(m, a->ckpt, 1, a->allow_extra, stderr, &e)) ||
      !(tok = tok_open(a->tok, a->tokdir, &e)) || !(bs = be->open(m, &e)) ||
      !sched_run(m, s, be, bs, ps, a->knobs, a->nknobs, symval, outs, &e)) {
    fprintf(stderr, "dlmrun sample: %s\n", e.msg);
    goto done;
  }
  const Tensor *x = outs[0];
  if (x->dtype != DT_I32 || x->rank != 2) { fprintf(stderr, "dlmrun sample: sampler %s returns %s values of rank %d, not token ids [N, L]\n", s->name, dtype_name(x->dtype), x->rank); goto done; }
  if (a->len > x->shape[1]) {
    fprintf(stderr, "dlmrun sample: --len %lld: this artifact samples %lld tokens per sequence (compile with -D seq_len=... for longer)\n",
            (long long)a->len, (long long)x->shape[1]);
    goto done;
  }
  status = print_samples(a, tok, x) ? 0 : 1;
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
  a.sampler = "ancestral";
  a.n = 1;
  for (int i = 0; i < argc; i++) {
    const char *f = argv[i], *v;
    if (!strcmp(f, "--json")) { a.json = 1; continue; }
    if (!strcmp(f, "--allow-extra")) { a.allow_extra = 1; continue; }
    if (!(v = rt_value(argc, argv, &i))) return 2;
    if (!strcmp(f, "--ckpt")) a.ckpt = v;
    else if (!strcmp(f, "--tokenizer")) a.tok = v;
    else if (!strcmp(f, "--tokenizer-dir")) a.tokdir = v;
    else if (!strcmp(f, "--backend")) a.backend = v;
    else if (!strcmp(f, "--sampler")) a.sampler = v;
    else if (!strcmp(f, "--n")) { if (!rt_int(f, v, 1, 1 << 20, &a.n)) return 2; }
    else if (!strcmp(f, "--len")) { if (!rt_int(f, v, 1, INT64_MAX, &a.len)) return 2; }
    else if (!strcmp(f, "--steps") || !strcmp(f, "--seed") || !strcmp(f, "--set")) {
      if (a.nknobs == MAX_KNOBS) return rt_usage("sample", "%s", "too many knobs");
      SchedKnob *k = &a.knobs[a.nknobs++];
      if (strcmp(f, "--set") != 0) { k->name = f + 2; k->value = v; continue; }
      const char *eq = strchr(v, '=');
      if (!eq || eq == v) return rt_usage("sample", "--set wants NAME=VALUE, got '%s'", v);
      k->name = v;   /* NUL-terminated below: argv strings are writable */
      *(char *)eq = 0;
      k->value = eq + 1;
    } else return rt_usage("sample", "unknown option '%s'", f);
  }
  if (!a.ckpt) return rt_usage("sample", "%s", "needs --ckpt CKPT");
  char *owned[2] = {NULL, NULL};
  tokenizer_from_ckpt(&a, owned);
  if (!a.tok) a.tok = "byte";
  int st = sample_run(artifact, &a);
  free(owned[0]); free(owned[1]);
  return st;
}
