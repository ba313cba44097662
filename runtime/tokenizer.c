/* tokenizer.c — the tokenizer interface: opening by name, id arrays and decoding (see tokenizer.h). */
#include "tok_impl.h"
#include <stdlib.h>
#include <string.h>

static const SrcLoc noloc = {0, 0, 0};

void tokids_free(TokIds *t) {
  free(t->ids);
  t->ids = NULL;
  t->n = t->cap = 0;
}

int tokids_push(TokIds *t, int32_t id) {
  if (t->n == t->cap) {
    size_t nc = t->cap ? t->cap * 2 : 64;
    int32_t *p = realloc(t->ids, nc * sizeof *p);
    if (!p) return -1;
    t->ids = p;
    t->cap = nc;
  }
  t->ids[t->n++] = id;
  return 0;
}

Tokenizer *tok_open(const char *name, const char *dir, DlmErr *err) {
  if (strcmp(name, "byte") == 0) {
    Tokenizer *t = tok_byte_open();
    if (!t) err_set(err, noloc, "out of memory opening the byte tokenizer");
    return t;
  }
  if (strcmp(name, "gpt2") == 0) {
    if (!dir) { err_set(err, noloc, "tokenizer gpt2 needs a directory with encoder.json + vocab.bpe or vocab.json + merges.txt"); return NULL; }
    return tok_gpt2_open(dir, err);
  }
  err_set(err, noloc, "unknown tokenizer '%s' (expected byte or gpt2)", name);
  return NULL;
}

void tok_free(Tokenizer *t) {
  if (t) t->destroy(t);
}

const char *tok_name(const Tokenizer *t) { return t->name; }
int tok_vocab_size(const Tokenizer *t) { return t->vocab_size; }
int tok_eot_id(const Tokenizer *t) { return t->eot_id; }

int tok_encode(Tokenizer *t, const char *text, size_t len, TokIds *out, DlmErr *err) {
  return t->encode(t, text, len, out, err);
}

const char *tok_token_bytes(const Tokenizer *t, int32_t id, size_t *len) {
  if (id < 0 || id >= t->vocab_size) return NULL;
  return t->token_bytes(t, id, len);
}

int tok_decode(const Tokenizer *t, const int32_t *ids, size_t n, char **out, size_t *outlen, DlmErr *err) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    size_t l;
    if (!tok_token_bytes(t, ids[i], &l)) {
      err_set(err, noloc, "%s tokenizer: id %d at position %zu is not a token (vocabulary size %d)",
              t->name, (int)ids[i], i, t->vocab_size);
      return -1;
    }
    total += l;
  }
  char *buf = malloc(total + 1);
  if (!buf) { err_set(err, noloc, "out of memory decoding %zu tokens", n); return -1; }
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    size_t l;
    const char *b = tok_token_bytes(t, ids[i], &l);
    memcpy(buf + k, b, l);
    k += l;
  }
  buf[k] = 0;
  *out = buf;
  *outlen = k;
  return 0;
}
