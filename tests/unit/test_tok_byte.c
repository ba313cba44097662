/* test_tok_byte.c — the byte tokenizer (id = byte value) and the tokenizer interface's errors. */
#include "check.h"
#include "tokenizer.h"
#include <stdlib.h>
#include <string.h>

int main(void) {
  DlmErr err = {0};
  Tokenizer *t = tok_open("byte", NULL, &err);
  CHECK(t != NULL);
  CHECK(strcmp(tok_name(t), "byte") == 0);
  CHECK(tok_vocab_size(t) == 256);
  CHECK(tok_eot_id(t) == -1);

  /* every byte value, including NUL and invalid UTF-8, round-trips with id = byte */
  char all[256];
  for (int i = 0; i < 256; i++) all[i] = (char)(255 - i);
  TokIds ids = {0};
  CHECK(tok_encode(t, all, sizeof all, &ids, &err) == 0);
  CHECK(ids.n == 256);
  int ok = 1;
  for (int i = 0; i < 256 && ids.n == 256; i++) ok &= ids.ids[i] == 255 - i;
  CHECK(ok);
  char *out = NULL;
  size_t outlen = 0;
  CHECK(tok_decode(t, ids.ids, ids.n, &out, &outlen, &err) == 0);
  CHECK(outlen == 256 && memcmp(out, all, 256) == 0 && out[256] == 0);
  free(out);

  /* encode appends */
  CHECK(tok_encode(t, "AB", 2, &ids, &err) == 0);
  CHECK(ids.n == 258 && ids.ids[256] == 65 && ids.ids[257] == 66);
  tokids_free(&ids);
  CHECK(ids.n == 0 && ids.ids == NULL);

  size_t l = 0;
  const char *b = tok_token_bytes(t, 'z', &l);
  CHECK(b && l == 1 && *b == 'z');
  CHECK(tok_token_bytes(t, 256, &l) == NULL);
  CHECK(tok_token_bytes(t, -1, &l) == NULL);

  /* decoding an id outside the vocabulary is an error naming the position */
  int32_t bad[3] = {104, 300, 105};
  CHECK(tok_decode(t, bad, 3, &out, &outlen, &err) == -1);
  CHECK(err.set && strstr(err.msg, "id 300 at position 1"));
  tok_free(t);

  DlmErr e2 = {0};
  CHECK(tok_open("sentencepiece", NULL, &e2) == NULL);
  CHECK(e2.set && strstr(e2.msg, "unknown tokenizer 'sentencepiece'"));
  DlmErr e3 = {0};
  CHECK(tok_open("gpt2", NULL, &e3) == NULL && e3.set);
  return check_summary("test_tok_byte");
}
