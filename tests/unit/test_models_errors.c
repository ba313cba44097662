/* test_models_errors.c — the error examples of docs/dsl.md §14: each .dsl file in docs/examples/errors/ fails
 * to compile, and the diagnostic (message line, source line, caret) is exactly the text the
 * reference shows, so the documentation cannot drift from the compiler. Run from the repo root. */
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
  char key[256];
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

int main(void) {
  char *doc = read_all("docs/dsl.md");
  CHECK(doc != NULL);
  if (doc) {
    check_error_example(doc, "syntax", "syntax error");
    check_error_example(doc, "unknown", "unknown name 'hiden'");
    check_error_example(doc, "shape", "shape mismatch: matmul of f32[B,L,64] with f32[32,64]");
    check_error_example(doc, "args", "wrong number of arguments");
    check_error_example(doc, "type", "type error");
    free(doc);
  }
  return check_summary("test_models_errors");
}
