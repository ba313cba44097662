/* frontend.h — the DSL frontend's entry point: parse a .dsl file and its imports, check it, and
 * lower it to a graph-IR Module (functions for every `export fn`, schedules for every `sampler`). */
#ifndef DLM_FRONTEND_H
#define DLM_FRONTEND_H
#include "ir.h"

typedef struct { const char *name; const char *value; } DslDefine;  /* -D NAME=VALUE */

/* Returns the module, or NULL after printing every diagnostic ("file:line:col: error: ...", the
 * source line and a caret) to diag. Never crashes on any input. */
Module *dsl_compile_file(const char *path, const DslDefine *defs, int ndefs, FILE *diag);
/* Same, for text already in memory (path is used in diagnostics and to resolve imports). */
Module *dsl_compile_string(const char *path, const char *text, size_t len, const DslDefine *defs, int ndefs, FILE *diag);
#endif
