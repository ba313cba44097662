/* diag.h — user-facing diagnostics: "file:line:col: error: message", the source line and a caret. */
#ifndef DLM_DIAG_H
#define DLM_DIAG_H
#include <stdio.h>

/* src is the whole text of `path` (may be NULL: then the line is read from the file). line/col are
 * 1-based; col 0 prints no caret. */
void diag_print(FILE *out, const char *path, const char *src, int line, int col, const char *kind, const char *msg);
#endif
