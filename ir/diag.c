/* diag.c — prints a diagnostic with its source line and a caret under the column. */
#include "diag.h"
#include <stdlib.h>
#include <string.h>

static char *read_line_of_file(const char *path, int line) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t cap = 0, len = 0;
  int cur = 1, c;
  while ((c = fgetc(f)) != EOF) {
    if (cur == line && c != '\n') {
      if (len + 2 > cap) {
        cap = cap ? cap * 2 : 128;
        char *nb = realloc(buf, cap);
        if (!nb) { free(buf); fclose(f); return NULL; }
        buf = nb;
      }
      buf[len++] = (char)c;
    }
    if (c == '\n' && ++cur > line) break;
  }
  fclose(f);
  if (buf) buf[len] = 0;
  return buf;
}

void diag_print(FILE *out, const char *path, const char *src, int line, int col, const char *kind, const char *msg) {
  if (line <= 0) { fprintf(out, "%s: %s: %s\n", path, kind, msg); return; }
  if (col > 0) fprintf(out, "%s:%d:%d: %s: %s\n", path, line, col, kind, msg);
  else fprintf(out, "%s:%d: %s: %s\n", path, line, kind, msg);
  char *owned = NULL;
  const char *start = NULL;
  size_t len = 0;
  if (src) {
    const char *p = src;
    for (int cur = 1; cur < line && p; cur++) {
      p = strchr(p, '\n');
      if (p) p++;
    }
    if (p) { start = p; len = strcspn(p, "\n"); }
  } else {
    owned = read_line_of_file(path, line);
    if (owned) { start = owned; len = strlen(owned); }
  }
  if (start) {
    fprintf(out, "  %.*s\n", (int)len, start);
    if (col > 0) {
      fputs("  ", out);
      for (int i = 1; i < col && (size_t)(i - 1) < len; i++) fputc(start[i - 1] == '\t' ? '\t' : ' ', out);
      fputs("^\n", out);
    }
  }
  free(owned);
}
