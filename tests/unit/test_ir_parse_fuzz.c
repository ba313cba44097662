/* test_ir_parse_fuzz.c — the IR parser on thousands of mutated versions of a printed module (byte
 * replacements, deletions, truncations, duplicated and swapped lines, digit changes): every input
 * gives either a module or an error with a position inside the text, never a crash (run under
 * ASan+UBSan). Accepted mutants must verify and round-trip exactly through print and parse. */
#include "check.h"
#include "test_ir_sample.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(uint64_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return n ? rng_state % n : 0;
}

static const char pool[] = "%@{}[]()=,:!*\"\\#\n -0123456789abcxyzBL.\t\x01\x80\xff";

/* Start offset of a random line and its length (including its newline). */
static void pick_line(const char *t, size_t len, size_t *start, size_t *n) {
  size_t p = rnd(len);
  while (p > 0 && t[p - 1] != '\n') p--;
  size_t q = p;
  while (q < len && t[q] != '\n') q++;
  if (q < len) q++;
  *start = p;
  *n = q - p;
}

/* memmove behind a call gcc does not inline: at -O2 its range analysis of the mutation arithmetic
 * reports an impossible length (a -Wstringop-overflow false positive). */
__attribute__((noinline)) static void move_bytes(char *dst, const char *src, size_t n) { memmove(dst, src, n); }

/* Apply one mutation to buf (capacity cap, length *len). */
static void mutate(char *buf, size_t *len, size_t cap) {
  if (*len == 0) return;
  switch (rnd(6)) {
  case 0:
    buf[rnd(*len)] = pool[rnd(sizeof pool - 1)];
    break;
  case 1: {
    size_t p = rnd(*len), n = 1 + rnd(20);
    if (p + n > *len) n = *len - p;
    memmove(buf + p, buf + p + n, *len - p - n);
    *len -= n;
    break;
  }
  case 2:
    *len = rnd(*len);
    break;
  case 3: {
    size_t s, n;
    pick_line(buf, *len, &s, &n);
    if (n == 0 || n > cap - *len) break;
    size_t at = rnd(*len + 1);
    move_bytes(buf + at + n, buf + at, *len - at);
    move_bytes(buf + at, buf + (s >= at ? s + n : s), n);
    *len += n;
    break;
  }
  case 4: {
    for (int tries = 0; tries < 64; tries++) {
      size_t p = rnd(*len);
      if (buf[p] >= '0' && buf[p] <= '9') { buf[p] = (char)('0' + rnd(10)); break; }
    }
    break;
  }
  default: {
    size_t s1, n1, s2, n2;
    pick_line(buf, *len, &s1, &n1);
    pick_line(buf, *len, &s2, &n2);
    if (s1 == s2 || n1 != n2) break;
    char tmp[512];
    if (n1 > sizeof tmp) break;
    memcpy(tmp, buf + s1, n1);
    memcpy(buf + s1, buf + s2, n1);
    memcpy(buf + s2, tmp, n1);
    break;
  }
  }
}

int main(void) {
  Module *m = sample_module();
  char *text = sample_print(m);
  size_t tlen = strlen(text), cap = 2 * tlen + 1;
  int lines = 1;
  for (size_t i = 0; i < tlen; i++) lines += text[i] == '\n';
  char *buf = malloc(cap + 1);
  int accepted = 0, rejected = 0, bad = 0;
  for (int iter = 0; iter < 4000; iter++) {
    memcpy(buf, text, tlen);
    size_t len = tlen;
    int nmut = 1 + (int)rnd(3);
    for (int k = 0; k < nmut; k++) mutate(buf, &len, cap);
    buf[len] = 0;
    int blines = 1;
    for (size_t i = 0; i < len; i++) blines += buf[i] == '\n';
    DlmErr e = {0};
    Module *pm = ir_parse(buf, "mutant.ir", &e);
    if (!pm) {
      rejected++;
      if (!e.set || e.loc.line < 1 || e.loc.line > blines || e.loc.col < 1) {
        if (bad++ < 5) fprintf(stderr, "iteration %d: bad error %d:%d '%s'\n", iter, e.loc.line, e.loc.col, e.msg);
      }
      continue;
    }
    accepted++;
    DlmErr ve = {0};
    char *t1 = sample_print(pm);
    DlmErr e2 = {0};
    Module *pm2 = ir_parse(t1, "reprinted.ir", &e2);
    char *t2 = pm2 ? sample_print(pm2) : NULL;
    if (e.set || !ir_verify(pm, &ve) || !pm2 || strcmp(t1, t2) != 0) {
      if (bad++ < 5) fprintf(stderr, "iteration %d: accepted mutant fails: %s %s\n", iter, ve.msg, e2.msg);
    }
    free(t1);
    free(t2);
    ir_module_free(pm2);
    ir_module_free(pm);
  }
  printf("mutants: %d accepted, %d rejected (of a %d-line module)\n", accepted, rejected, lines);
  CHECK(bad == 0);
  CHECK(rejected > 1000);
  CHECK(accepted > 10);
  free(buf);
  free(text);
  ir_module_free(m);
  return check_summary("test_ir_parse_fuzz");
}
