/* test_tok_bpe.c — BPE merge logic of the GPT-2 tokenizer on a tiny hand-made vocabulary
 * (tests/data/bpe_tiny: vocab.json + merges.txt; byte b has id 255 - b, merges listed in
 * merges.txt get ids 256..265 in order, <|endoftext|> is 266, "aaa" is 267 and used by no merge
 * there). Expected ids below are worked out by hand from the merge ranks; also checks load errors
 * on broken files. */
#include "check.h"
#include "tok_check.h"
#include "tokenizer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SP 223   /* id of byte ' ' = 255 - 0x20 */
#define A 158    /* id of byte 'a' = 255 - 0x61 */

static char tmpdir[64];

static void write_file(const char *name, const char *text) {
  char p[128];
  snprintf(p, sizeof p, "%s/%s", tmpdir, name);
  FILE *f = fopen(p, "wb");
  if (!f) { perror(p); exit(1); }
  fputs(text, f);
  fclose(f);
}

/* Copy of the fixture's vocab.json text, for writing broken variants. */
static char *fixture_vocab(void) {
  FILE *f = fopen("tests/data/bpe_tiny/vocab.json", "rb");
  if (!f) return NULL;
  char *buf = malloc(1 << 16);
  size_t n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
  fclose(f);
  if (buf) buf[n] = 0;
  return buf;
}

/* Opening tmpdir must fail with a message containing `want`. */
static int open_fails_with(const char *want) {
  DlmErr err = {0};
  Tokenizer *t = tok_gpt2_open(tmpdir, &err);
  if (t) { tok_free(t); fprintf(stderr, "expected failure: %s\n", want); return 0; }
  if (!strstr(err.msg, want)) { fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err.msg, want); return 0; }
  return 1;
}

int main(void) {
  DlmErr err = {0};
  Tokenizer *t = tok_open("gpt2", "tests/data/bpe_tiny", &err);
  CHECK_MSG(t != NULL, "%s", err.msg);
  if (!t) return check_summary("test_tok_bpe");
  CHECK(tok_vocab_size(t) == 268);
  CHECK(tok_eot_id(t) == 266);

  /* hello: (l,o) rank 0 -> h e l lo; (h,e) rank 1 -> he l lo; (he,l) rank 3 -> hel lo */
  CHECK(enc_is(t, "hello", (int32_t[]){259, 256}, 2));
  /* " lower": lo (0), then (lo,w) rank 2 beats (Ġ,lo) rank 4: Ġ low e r; er (5); lower (7) */
  CHECK(enc_is(t, " lower", (int32_t[]){SP, 263}, 2));
  /* " low": lo, then low (rank 2 < 4), and (Ġ,low) is no merge: Ġlow (262) is never reached */
  CHECK(enc_is(t, " low", (int32_t[]){SP, 258}, 2));
  /* (a,a) merges left to right without overlap: aa aa a, then (aa,aa) */
  CHECK(enc_is(t, "aaaaa", (int32_t[]){265, A}, 2));
  CHECK(enc_is(t, "aaa", (int32_t[]){264, A}, 2));
  /* pre-tokenization splits "hello lower" into "hello" and " lower"; repeated words use the cache */
  CHECK(enc_is(t, "hello lower hello", (int32_t[]){259, 256, SP, 263, SP, 259, 256}, 7));
  /* bytes without merges map through the vocabulary (id 255 - byte), including non-ASCII */
  CHECK(enc_is(t, "z\xc3\xa9", (int32_t[]){255 - 'z', 255 - 0xc3, 255 - 0xa9}, 3));
  CHECK(enc_is(t, "", (int32_t[]){0}, 0));
  /* a piece longer than the cache limit: 1002 a's -> 501 aa -> 250 aaaa + aa */
  int32_t want[251];
  char as[1003];
  memset(as, 'a', 1002);
  as[1002] = 0;
  for (int i = 0; i < 250; i++) want[i] = 265;
  want[250] = 264;
  CHECK(enc_is(t, as, want, 251));
  /* random bytes (mostly invalid UTF-8) round-trip */
  unsigned seed = 12345;
  char rnd[4001];
  for (int i = 0; i < 4000; i++) {
    seed = seed * 1103515245u + 12345u;
    rnd[i] = (char)((seed >> 16) % 255 + 1);
  }
  rnd[4000] = 0;
  TokIds rids = {0};
  char *rout = NULL;
  size_t routlen = 0;
  CHECK(tok_encode(t, rnd, 4000, &rids, &err) == 0 && rids.n > 0 && rids.n <= 4000);
  CHECK(tok_decode(t, rids.ids, rids.n, &rout, &routlen, &err) == 0 && routlen == 4000 && memcmp(rout, rnd, 4000) == 0);
  free(rout);
  tokids_free(&rids);
  size_t l = 0;
  const char *b = tok_token_bytes(t, 266, &l);
  CHECK(b && l == 13 && memcmp(b, "<|endoftext|>", 13) == 0);
  b = tok_token_bytes(t, 260, &l);
  CHECK(b && l == 3 && memcmp(b, " lo", 3) == 0);
  tok_free(t);

  /* broken files */
  snprintf(tmpdir, sizeof tmpdir, "/tmp/dlm_bpe_XXXXXX");
  if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
  CHECK(open_fails_with("no GPT-2 tokenizer files"));
  char *vocab = fixture_vocab();
  CHECK(vocab != NULL);
  if (vocab) {
    write_file("vocab.json", vocab);
    write_file("merges.txt", "#version: 0.2\nl o\nh e\nlo\n");
    CHECK(open_fails_with("merges.txt line 4: expected two tokens separated by one space"));
    write_file("merges.txt", "l o\nh  e\n");
    CHECK(open_fails_with("merges.txt line 2: expected two tokens"));
    write_file("merges.txt", "l o\nzz er\n");
    CHECK(open_fails_with("merges.txt line 2: token \"zz\" is not in vocab.json"));
    write_file("merges.txt", "o l\n");
    CHECK(open_fails_with("merges.txt line 1: merge result \"ol\" is not in vocab.json"));
    write_file("merges.txt", "l o\nl o\n");
    CHECK(open_fails_with("merges.txt line 2: duplicate merge"));
    write_file("merges.txt", "l \xe2\x82\xac\n");
    CHECK(open_fails_with("merges.txt line 1: character U+20AC is outside GPT-2's byte alphabet"));
    write_file("merges.txt", "l o\r\nh e\r\n");  /* CRLF line ends are accepted */
    DlmErr e = {0};
    Tokenizer *t2 = tok_gpt2_open(tmpdir, &e);
    CHECK_MSG(t2 != NULL, "%s", e.msg);
    if (t2) CHECK(enc_is(t2, "hello", (int32_t[]){257, 255 - 'l', 256}, 3));
    tok_free(t2);
    /* A merge ranked before the one that creates its left part (no trainer writes this, but the
     * format allows it): GPT-2 merges every (a,a) first — "aaaa" -> aa aa, where (aa,a) no longer
     * occurs — and only then looks at the pairs those merges created: "aaa" -> aa a -> aaa. */
    write_file("merges.txt", "aa a\na a\n");
    t2 = tok_gpt2_open(tmpdir, &e);
    CHECK_MSG(t2 != NULL, "%s", e.msg);
    if (t2) {
      CHECK(enc_is(t2, "aaaa", (int32_t[]){264, 264}, 2));
      CHECK(enc_is(t2, "aaa", (int32_t[]){267}, 1));
      CHECK(enc_is(t2, "aaaaaaa", (int32_t[]){264, 264, 267}, 3));
    }
    tok_free(t2);
    /* vocabulary errors */
    write_file("vocab.json", "{\"a\": 1,}");
    CHECK(open_fails_with("vocab.json: malformed JSON: offset 8"));
    write_file("vocab.json", "[1, 2]");
    CHECK(open_fails_with("vocab.json: expected a JSON object"));
    write_file("vocab.json", "{\"a\": 1.5}");
    CHECK(open_fails_with("vocab.json: token \"a\": id must be an integer"));
    write_file("vocab.json", "{\"a\": 1, \"b\": 1}");
    CHECK(open_fails_with("vocab.json: id 1 is given to two tokens"));
    write_file("vocab.json", "{\"a\": 0, \"b\": 1}");
    CHECK(open_fails_with("vocab.json: no token for byte 0x00"));
    write_file("vocab.json", "{\"\\u20ac\": 0}");
    CHECK(open_fails_with("vocab.json: token for id 0 has character U+20AC outside"));
    free(vocab);
  }
  char p[128];
  snprintf(p, sizeof p, "%s/vocab.json", tmpdir);
  unlink(p);
  snprintf(p, sizeof p, "%s/merges.txt", tmpdir);
  unlink(p);
  rmdir(tmpdir);
  return check_summary("test_tok_bpe");
}
