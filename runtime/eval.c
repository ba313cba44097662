/* eval.c — `dlmrun ART eval --ckpt CKPT --data FILE ...`: the NELBO in nats per token, the mean of
 * the artifact's `loss` over the held-out last 10% of the tokenized file (whole seq_len windows in
 * order, batches of --batch windows, the random streams of batch k fixed as seed EVAL_SEED, step k)
 * with the checkpoint's EMA weights; the perplexity bound is exp(NELBO). --all scores every whole
 * window of the file instead (e.g. generated samples under an autoregressive model). */
#include "dlmrun.h"
#include "fileio.h"
#include "safetensors.h"
#include "train.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_SEED 0x6576616cLL   /* "eval" */

typedef struct {
  const char *ckpt, *data, *tok, *tokdir;
  RtTarget tgt;   /* --device, --backend */
  int64_t batches, batch;
  int json, allow_extra, all;
} EvalArgs;

/* Every whole seq_len window of the file, as the "held-out" part of d (--all). */
static int load_all_windows(const char *path, Tokenizer *tok, int64_t seq_len, int64_t vocab, TokData *d, DlmErr *e) {
  static const SrcLoc noloc = {0, 0, 0};
  memset(d, 0, sizeof *d);
  size_t len;
  char *text = file_read_all(path, (size_t)1 << 32, &len, e);
  if (!text) return 0;
  TokIds ids = {0};
  int ok = tok_encode(tok, text, len, &ids, e) == 0;
  free(text);
  for (size_t i = 0; ok && i < ids.n; i++)
    if (ids.ids[i] < 0 || ids.ids[i] >= vocab) {
      err_set(e, noloc, "%s: token %zu has id %d, outside the model's vocabulary of %lld", path, i, ids.ids[i], (long long)vocab);
      ok = 0;
    }
  if (ok && (int64_t)ids.n < seq_len) {
    err_set(e, noloc, "%s: %zu tokens are fewer than one window of %lld", path, ids.n, (long long)seq_len);
    ok = 0;
  }
  if (!ok) { tokids_free(&ids); return 0; }
  d->ids = ids.ids;
  d->n = (int64_t)ids.n;
  d->seq_len = seq_len;
  d->heldout_windows = d->n / seq_len;
  return 1;
}

/* Tokenizer and batch size recorded by a dlmrun checkpoint, where the flags leave them open. */
static void ckpt_defaults(EvalArgs *a, char **owned) {
  DlmErr e = {0};
  char *file = ckpt_file(a->ckpt);
  StFile *f = file ? st_open(file, &e) : NULL;
  free(file);
  if (!f) return;
  const char *t = st_meta_get(f, "tokenizer"), *d = st_meta_get(f, "tokenizer_dir"), *b = st_meta_get(f, "config.batch");
  if (!a->tok && t) a->tok = owned[0] = strdup(t);
  if (!a->tokdir && d && *d) a->tokdir = owned[1] = strdup(d);
  if (!a->batch && b) a->batch = strtoll(b, NULL, 10);
  st_close(f);
}

static int eval_run(const char *artifact, EvalArgs *a) {
  DlmErr e = {0};
  Module *m = rt_open_artifact(artifact);
  if (!m) return 1;
  int status = 1;
  ParamStore *ps = NULL;
  Tokenizer *tok = NULL;
  TokData d = {0};
  BackendState *bs = NULL;
  const Backend *be = NULL;
  const Func *f = ir_func_find(m, "loss");
  const char *vs = ir_meta_get(m, "vocab");
  const Node *x0 = NULL;
  for (int i = 0; f && i < f->nnodes; i++)
    if (f->nodes[i].op == OP_ARG && f->nodes[i].attr.i[0] == 0) x0 = &f->nodes[i];
  if (!f || f->nargs != 3 || !x0 || x0->type.rank != 2 || !dim_is_const(x0->type.dims[1]) || !vs) {
    fprintf(stderr, "dlmrun eval: %s has no loss(x0: i32[B, seq_len], seed, step) with a vocab const\n", artifact);
    goto done;
  }
  if (!(ps = ckpt_load_weights(m, a->ckpt, 1, a->allow_extra, stderr, &e)) || !(tok = tok_open(a->tok, a->tokdir, &e)) ||
      !(a->all ? load_all_windows : data_load)(a->data, tok, x0->type.dims[1].k, strtoll(vs, NULL, 10), &d, &e)) {
    fprintf(stderr, "dlmrun eval: %s\n", e.msg);
    goto done;
  }
  if (!(bs = rt_target_open("eval", &a->tgt, m, &be))) goto done;
  int64_t nb = (d.heldout_windows + a->batch - 1) / a->batch;
  if (a->batches && a->batches < nb) nb = a->batches;
  double sum = 0, tokens = 0;
  for (int64_t k = 0; k < nb; k++) {
    int64_t first = k * a->batch, count = d.heldout_windows - first < a->batch ? d.heldout_windows - first : a->batch;
    int64_t shape[2] = {count, d.seq_len};
    Tensor *x = tensor_new(DT_I32, 2, shape), *seed = tensor_new(DT_I64, 0, NULL), *step = tensor_new(DT_I64, 0, NULL), *out = NULL;
    int ok = x && seed && step;
    if (ok) {
      data_heldout_batch(&d, first, count, x->data);
      *(int64_t *)seed->data = EVAL_SEED;
      *(int64_t *)step->data = k;
      Tensor *args[3] = {x, seed, step};
      ok = be->run(bs, f, ps, args, &out, NULL, &e);
    }
    if (ok) {
      sum += tensor_get(out, 0) * (double)(count * d.seq_len);
      tokens += (double)(count * d.seq_len);
    }
    tensor_free(x); tensor_free(seed); tensor_free(step); tensor_free(out);
    if (!ok) { fprintf(stderr, "dlmrun eval: batch %lld: %s\n", (long long)k, e.msg[0] ? e.msg : "out of memory"); goto done; }
  }
  double nelbo = sum / tokens;
  if (a->json)
    printf("{\"nelbo\": %.9g, \"ppl_bound\": %.9g, \"bits_per_token\": %.9g, \"tokens\": %.0f, \"batches\": %lld, \"windows\": \"%s\", \"backend\": \"%s\"}\n",
           nelbo, exp(nelbo), nelbo / log(2.0), tokens, (long long)nb, a->all ? "all" : "held-out", be->name);
  else
    printf("NELBO %.4f nats/token, perplexity bound %.3f (%.0f %stokens in %lld batches, %s backend)\n", nelbo,
           exp(nelbo), tokens, a->all ? "" : "held-out ", (long long)nb, be->name);
  status = 0;
done:
  if (bs) be->close(bs);
  data_free(&d);
  tok_free(tok);
  pstore_free(ps);
  ir_module_free(m);
  return status;
}

int dlmrun_eval(const char *artifact, int argc, char **argv) {
  EvalArgs a = {0};
  for (int i = 0; i < argc; i++) {
    const char *f = argv[i], *v;
    if (!strcmp(f, "--json")) { a.json = 1; continue; }
    if (!strcmp(f, "--allow-extra")) { a.allow_extra = 1; continue; }
    if (!strcmp(f, "--all")) { a.all = 1; continue; }
    if (!(v = rt_value(argc, argv, &i))) return 2;
    if (!strcmp(f, "--ckpt")) a.ckpt = v;
    else if (!strcmp(f, "--data")) a.data = v;
    else if (!strcmp(f, "--tokenizer")) a.tok = v;
    else if (!strcmp(f, "--tokenizer-dir")) a.tokdir = v;
    else if (rt_target_opt(f, v, &a.tgt)) continue;
    else if (!strcmp(f, "--batches")) { if (!rt_int(f, v, 1, INT64_MAX, &a.batches)) return 2; }
    else if (!strcmp(f, "--batch")) { if (!rt_int(f, v, 1, 1 << 20, &a.batch)) return 2; }
    else return rt_usage("eval", "unknown option '%s'", f);
  }
  if (!a.ckpt || !a.data) return rt_usage("eval", "%s", "needs --ckpt CKPT and --data FILE");
  if (rt_target_check("eval", &a.tgt)) return 2;
  char *owned[2] = {NULL, NULL};
  ckpt_defaults(&a, owned);
  if (!a.tok) a.tok = "byte";
  if (!a.batch) a.batch = 8;
  int st = eval_run(artifact, &a);
  free(owned[0]); free(owned[1]);
  return st;
}
