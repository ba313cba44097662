/* test_tok_gpt2.c — the GPT-2 tokenizer with GPT-2's real vocabulary (encoder.json + vocab.bpe),
 * taken from $DLM_GPT2_DIR or ../shared/data/gpt2 (relative to the repo root); the test is skipped
 * (exit 77) when neither exists. Expected ids come from an independent reference: the algorithm
 * of OpenAI's GPT-2 encoder.py with Python's `regex` module (tests/tools/gpt2_ref.py), run once;
 * tests/data/gpt2_sample.ids holds its ids for tests/data/gpt2_sample.txt. */
#include "check.h"
#include "tok_check.h"
#include "tokenizer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static Tokenizer *tok;

#define ENC(s, ...) do { static const int32_t w_[] = {__VA_ARGS__}; CHECK(enc_is(tok, s, w_, sizeof w_ / sizeof w_[0])); } while (0)

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
  if (b) b[n] = 0;
  fclose(f);
  *len = (size_t)n;
  return b;
}

static void sample_file(void) {
  size_t tl = 0, il = 0;
  char *text = slurp("tests/data/gpt2_sample.txt", &tl), *idtext = slurp("tests/data/gpt2_sample.ids", &il);
  CHECK(text && idtext);
  if (text && idtext) {
    TokIds want = {0}, got = {0};
    DlmErr err = {0};
    char *p = idtext, *end;
    for (long v = strtol(p, &end, 10); end != p; p = end, v = strtol(p, &end, 10)) {
      want.n++;
      want.ids = realloc(want.ids, want.n * sizeof *want.ids);
      want.ids[want.n - 1] = (int32_t)v;
    }
    CHECK(want.n == 434);
    CHECK(tok_encode(tok, text, tl, &got, &err) == 0);
    CHECK(got.n == want.n);
    size_t bad = 0;
    while (bad < got.n && bad < want.n && got.ids[bad] == want.ids[bad]) bad++;
    CHECK_MSG(bad == want.n && got.n == want.n, "sample differs at token %zu", bad);
    char *out = NULL;
    size_t outlen = 0;
    CHECK(tok_decode(tok, got.ids, got.n, &out, &outlen, &err) == 0 && outlen == tl && memcmp(out, text, tl) == 0);
    free(out);
    tokids_free(&want);
    tokids_free(&got);
  }
  free(text);
  free(idtext);
}

int main(void) {
  const char *dir = getenv("DLM_GPT2_DIR");
  struct stat st;
  if (!dir) dir = "../shared/data/gpt2";
  if (stat(dir, &st) != 0) {
    printf("test_tok_gpt2: SKIPPED: no GPT-2 vocabulary at %s (set DLM_GPT2_DIR)\n", dir);
    return 77;
  }
  DlmErr err = {0};
  tok = tok_open("gpt2", dir, &err);
  CHECK_MSG(tok != NULL, "%s", err.msg);
  if (!tok) return check_summary("test_tok_gpt2");
  CHECK(tok_vocab_size(tok) == 50257);
  CHECK(tok_eot_id(tok) == 50256);

  ENC("Hello world", 15496, 995);
  ENC("don't I'll we're you've I'm he'd it's", 9099, 470, 314, 1183, 356, 821, 345, 1053, 314, 1101, 339, 1549, 340, 338);
  ENC("caf\xc3\xa9 na\xc3\xafve", 66, 1878, 2634, 41492);                  /* café naïve */
  ENC("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 33768, 98, 17312, 105, 45739, 252);  /* 日本語 */
  ENC("emoji \xf0\x9f\x98\x80!", 368, 31370, 30325, 222, 0);               /* U+1F600 */
  ENC("line1\nline2\n\n  two  spaces   three", 1370, 16, 198, 1370, 17, 628, 220, 734, 220, 9029, 220, 220, 1115);
  ENC("x = 12345 + 3.14159;", 87, 796, 17031, 2231, 1343, 513, 13, 1415, 19707, 26);
  ENC("tab\there  \t end  ", 8658, 197, 1456, 220, 220, 197, 886, 220, 220);
  ENC("'sup ''s O'Neil's DON'T", 338, 929, 10148, 82, 440, 6, 29354, 338, 23917, 6, 51);
  /* U+00A0 nbsp, U+3000 ideographic space, Arabic-Indic digits U+0663 U+0664, U+2167 (a number) */
  ENC("\xc2\xa0nbsp\xe3\x80\x80ideo \xd9\xa3\xd9\xa4 \xe2\x85\xa7", 1849, 77, 24145, 5099, 222, 1651, 18923, 96, 149, 97, 2343, 227, 100);
  ENC("<|endoftext|>", 27, 91, 437, 1659, 5239, 91, 29);   /* special tokens are plain text */
  ENC(" ", 220);
  ENC("   ", 220, 220, 220);
  ENC("a\n", 64, 198);
  sample_file();

  /* invalid UTF-8 is tokenized byte-wise and round-trips */
  TokIds ids = {0};
  const char bad[] = "ok\xff\xc3(\xed\xa0\x80z";
  CHECK(tok_encode(tok, bad, sizeof bad - 1, &ids, &err) == 0);
  char *out = NULL;
  size_t outlen = 0;
  CHECK(tok_decode(tok, ids.ids, ids.n, &out, &outlen, &err) == 0 && outlen == sizeof bad - 1 && memcmp(out, bad, outlen) == 0);
  free(out);
  tokids_free(&ids);

  /* a long piece (not cached) */
  size_t n = 5000;
  char *big = malloc(n + 1);
  for (size_t i = 0; i < n; i++) big[i] = "abcdefghij"[i % 10];
  big[n] = 0;
  CHECK(tok_encode(tok, big, n, &ids, &err) == 0 && ids.n > 0 && ids.n < n);
  CHECK(tok_decode(tok, ids.ids, ids.n, &out, &outlen, &err) == 0 && outlen == n && memcmp(out, big, n) == 0);
  free(out);
  free(big);
  tokids_free(&ids);
  tok_free(tok);
  return check_summary("test_tok_gpt2");
}
