/* test_models_docs.c — docs/dsl.md against the compiler: the first program of §1 is
 * docs/examples/tiny.dsl verbatim (which test_models_compile compiles), and each error example of
 * §14 (docs/examples/errors/) fails to compile with exactly the diagnostic the reference shows
 * (message line, source line, caret). Run from the repository root. */
#include "check.h"
#include "frontend.h"
#include <stdlib.h>
#include <string.h>

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *nb = realloc(buf, 2 * cap + 1);
      if (!nb) { free(buf); buf = NULL; break; }
      buf = nb;
      cap *= 2;
    }
  }
  fclose(f);
  if (buf) buf[n] = 0;
  return buf;
}

/* The three diagnostic lines the reference shows for `path` (from "path:" to the caret line). */
static char *documented(const char *doc, const char *path) {
  char key[300];
  snprintf(key, sizeof key, "\n%s:", path);
  const char *p = strstr(doc, key);
  if (!p) return NULL;
  p++;
  const char *end = p;
  for (int lines = 0; lines < 3 && end; lines++) {
    end = strchr(end, '\n');
    if (end) end++;
  }
  if (!end) return NULL;
  size_t n = (size_t)(end - p);
  char *s = malloc(n + 1);
  memcpy(s, p, n);
  s[n] = 0;
  return s;
}

static void check_error_example(const char *doc, const char *name, const char *must_contain) {
  char path[256];
  snprintf(path, sizeof path, "docs/examples/errors/%s.dsl", name);
  char *out = NULL;
  size_t len = 0;
  FILE *diag = open_memstream(&out, &len);
  CHECK(diag != NULL);
  if (!diag) return;
  Module *m = dsl_compile_file(path, NULL, 0, diag);
  fclose(diag);
  CHECK_MSG(m == NULL, "%s compiled", path);
  if (m) ir_module_free(m);
  CHECK_MSG(strstr(out, must_contain) != NULL, "%s: '%s' not in: %s", path, must_contain, out);
  char *want = documented(doc, path);
  CHECK_MSG(want != NULL, "docs/dsl.md does not show the error of %s", path);
  if (want) CHECK_MSG(strcmp(out, want) == 0, "%s: the compiler prints\n%s\nbut docs/dsl.md shows\n%s", path, out, want);
  free(want);
  free(out);
}

/* The first fenced block of the reference is the whole of docs/examples/tiny.dsl. */
static void check_first_program(const char *doc) {
  char *tiny = read_all("docs/examples/tiny.dsl");
  CHECK(tiny != NULL);
  const char *open = strstr(doc, "\n```\n");
  CHECK(open != NULL);
  if (tiny && open) {
    open += 5;
    const char *close = strstr(open, "```\n");
    CHECK(close != NULL);
    if (close) CHECK_MSG((size_t)(close - open) == strlen(tiny) && strncmp(open, tiny, strlen(tiny)) == 0,
                         "docs/dsl.md §1 differs from docs/examples/tiny.dsl");
  }
  free(tiny);
}

int main(void) {
  char *doc = read_all("docs/dsl.md");
  CHECK(doc != NULL);
  if (doc) {
    check_first_program(doc);
    check_error_example(doc, "syntax", "syntax error");
    check_error_example(doc, "unknown", "unknown name 'hiden'");
    check_error_example(doc, "shape", "shape mismatch: matmul of f32[B,L,64] with f32[32,64]");
    check_error_example(doc, "args", "wrong number of arguments");
    check_error_example(doc, "type", "type error");
    free(doc);
  }
  return check_summary("test_models_docs");
}
