/* tok_byte.c — the byte-level tokenizer: each byte is one token whose id is the byte value. */
#include "tok_impl.h"
#include <stdlib.h>

typedef struct {
  Tokenizer base;
  char bytes[256];
} ByteTok;

static int byte_encode(Tokenizer *t, const char *text, size_t len, TokIds *out, DlmErr *err) {
  for (size_t i = 0; i < len; i++)
    if (tokids_push(out, (unsigned char)text[i]) != 0) {
      SrcLoc noloc = {0, 0, 0};
      err_set(err, noloc, "out of memory encoding %zu bytes", len);
      return -1;
    }
  return 0;
}

static const char *byte_token_bytes(const Tokenizer *t, int32_t id, size_t *len) {
  *len = 1;
  return &((const ByteTok *)t)->bytes[id];
}

static void byte_destroy(Tokenizer *t) { free(t); }

Tokenizer *tok_byte_open(void) {
  ByteTok *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  for (int i = 0; i < 256; i++) b->bytes[i] = (char)i;
  b->base.name = "byte";
  b->base.vocab_size = 256;
  b->base.eot_id = -1;
  b->base.encode = byte_encode;
  b->base.token_bytes = byte_token_bytes;
  b->base.destroy = byte_destroy;
  return &b->base;
}
