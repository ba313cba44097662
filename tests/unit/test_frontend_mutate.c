/* test_frontend_mutate.c — robustness of the frontend: each top-level models/ .dsl file is mutated thousands of
 * times (byte flips, truncations, deleted and duplicated tokens) and compiled in-process; each
 * compilation must either produce a module or report an error, never crash (the sanitized build
 * turns any memory error or undefined behaviour into a failure). Deterministic (fixed seed). */
#include "check.h"
#include "fileio_test.h"
#include "frontend.h"
#include <ctype.h>
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CASES_PER_MODEL 2000

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t next_rand(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static int is_word(int c) { return isalnum(c) || c == '_' || c == '.'; }

/* Start offset and length of a random token of text (a word, or one punctuation byte). */
static void random_token(const char *text, size_t n, size_t *start, size_t *len) {
  size_t p = next_rand() % n;
  while (p < n && isspace((unsigned char)text[p])) p++;
  if (p >= n) { *start = 0; *len = n ? 1 : 0; return; }
  size_t s = p, e = p + 1;
  if (is_word((unsigned char)text[p])) {
    while (s > 0 && is_word((unsigned char)text[s - 1])) s--;
    while (e < n && is_word((unsigned char)text[e])) e++;
  }
  *start = s;
  *len = e - s;
}

/* Writes a mutation of text into out (capacity 2n+2); returns its length. */
static size_t mutate(const char *text, size_t n, char *out, int kind) {
  size_t s, l;
  switch (kind) {
  case 0: /* byte flips */
    memcpy(out, text, n);
    for (int k = 1 + next_rand() % 3; k > 0 && n; k--) out[next_rand() % n] ^= (char)(1u << (next_rand() % 8));
    return n;
  case 1: /* truncation */
    s = n ? next_rand() % n : 0;
    memcpy(out, text, s);
    return s;
  case 2: /* delete a token */
    random_token(text, n, &s, &l);
    memcpy(out, text, s);
    memcpy(out + s, text + s + l, n - s - l);
    return n - l;
  default: /* duplicate a token */
    random_token(text, n, &s, &l);
    memcpy(out, text, s + l);
    memcpy(out + s + l, text + s, n - s);
    return n + l;
  }
}

int main(void) {
  DIR *d = opendir("models");
  CHECK_MSG(d != NULL, "run from the repository root (models/ not found)");
  if (!d) return check_summary("frontend_mutate");
  FILE *sink = fopen("/dev/null", "w");
  int models = 0, total = 0, accepted = 0;
  struct dirent *ent;
  while ((ent = readdir(d))) {
    size_t nl = strlen(ent->d_name);
    if (ent->d_name[0] == '.' || nl < 5 || strcmp(ent->d_name + nl - 4, ".dsl") != 0) continue; /* skips other tests' temporaries */
    char path[1024];
    snprintf(path, sizeof path, "models/%s", ent->d_name);
    size_t n = 0;
    char *text = test_read_file(path, &n);
    if (!text) continue;
    models++;
    Module *orig = dsl_compile_string(path, text, n, NULL, 0, stderr);
    CHECK_MSG(orig != NULL, "%s must compile unmutated", path);
    ir_module_free(orig);
    char *buf = malloc(2 * n + 2);
    for (int c = 0; c < CASES_PER_MODEL; c++) {
      size_t m = mutate(text, n, buf, c % 4);
      Module *mod = dsl_compile_string(path, buf, m, NULL, 0, sink);
      accepted += mod != NULL;
      ir_module_free(mod);
      total++;
    }
    free(buf);
    free(text);
  }
  closedir(d);
  if (sink) fclose(sink);
  printf("%d models, %d mutated inputs, %d still compiled, %d rejected with an error\n", models, total, accepted,
         total - accepted);
  CHECK(models >= 2);
  CHECK(total >= 4000);
  CHECK(total - accepted > total / 4); /* most mutations must be caught */
  return check_summary("frontend_mutate");
}
