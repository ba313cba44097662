/* tok_check.h — the round-trip check the tokenizer tests share: text encodes to exactly the expected
 * ids (printing the ids it got otherwise) and those ids decode back to the same bytes. */
#ifndef DLM_TOK_CHECK_H
#define DLM_TOK_CHECK_H
#include "tokenizer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int enc_is(Tokenizer *t, const char *s, const int32_t *want, size_t n) {
  TokIds ids = {0};
  DlmErr err = {0};
  int ok = tok_encode(t, s, strlen(s), &ids, &err) == 0 && ids.n == n;
  for (size_t i = 0; ok && i < n; i++) ok = ids.ids[i] == want[i];
  if (!ok) {
    fprintf(stderr, "encode \"%s\": got", s);
    for (size_t i = 0; i < ids.n; i++) fprintf(stderr, " %d", (int)ids.ids[i]);
    fputc('\n', stderr);
  }
  char *out = NULL;
  size_t outlen = 0;
  if (ok) ok = tok_decode(t, ids.ids, ids.n, &out, &outlen, &err) == 0 && outlen == strlen(s) && memcmp(out, s, outlen) == 0;
  free(out);
  tokids_free(&ids);
  return ok;
}
#endif
