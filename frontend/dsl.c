/* dsl.c — the frontend driver: loads a file and its imports (relative to the importing file, then
 * to a models/ directory found by walking up), parses them, registers the top-level names, runs the
 * checker/lowerer and prints the first error as a diagnostic. Implements frontend.h. */
#define _XOPEN_SOURCE 700  /* realpath */
#include "lower.h"
#include "diag.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DSL_MAX_FILE_BYTES (16u << 20)

typedef struct {
  const char *path, *real, *text; size_t len;  /* real: canonical path, identifies the file */
  int state;                       /* 0 unseen, 1 loading, 2 done */
} SrcFile;

typedef struct {
  Arena *arena;
  Module *m;
  SrcFile files[32]; int nfiles;
  Vec items;                       /* all items, imports before importers */
  DlmErr err;
} Driver;

static int file_exists(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISREG(st.st_mode); }

static char *dir_of(Arena *a, const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return arena_strdup(a, ".");
  char *d = arena_strdup(a, path);
  d[slash - path] = 0;
  if (!d[0]) { d[0] = '/'; d[1] = 0; }
  return d;
}

/* Resolves an import: next to the importing file, then models/<path> in the nearest ancestor. */
static const char *resolve_import(Arena *a, const char *from, const char *imp) {
  if (imp[0] == '/') return file_exists(imp) ? arena_strdup(a, imp) : NULL;
  char *dir = dir_of(a, from);
  char *p = arena_printf(a, "%s/%s", dir, imp);
  if (file_exists(p)) return p;
  for (int up = 0; up < 64; up++) {
    char *cand = arena_printf(a, "%s/models/%s", dir, imp);
    if (file_exists(cand)) return cand;
    if (strcmp(dir, "/") == 0 || strcmp(dir, ".") == 0) break;
    const char *base = strrchr(dir, '/');
    if (base && strcmp(base + 1, "..") == 0) break;
    char *parent = dir_of(a, dir);
    if (strcmp(parent, dir) == 0) break;
    dir = parent;
  }
  return NULL;
}

static char *read_file(Arena *a, const char *path, size_t *len, int *too_big) {
  *too_big = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  if (!buf) { fclose(f); return NULL; }
  size_t got;
  while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n > DSL_MAX_FILE_BYTES) { *too_big = 1; break; }
    if (n == cap) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) { free(buf); fclose(f); return NULL; }
      buf = nb; cap *= 2;
    }
  }
  fclose(f);
  if (*too_big) { free(buf); return NULL; }
  char *t = arena_alloc(a, n + 1);
  memcpy(t, buf, n);
  free(buf);
  *len = n;
  return t;
}

static int load_text(Driver *d, const char *path, const char *text, size_t len, SrcLoc from);

static const char *canonical(Arena *a, const char *path) {
  char *r = realpath(path, NULL);
  if (!r) return arena_strdup(a, path);
  char *c = arena_strdup(a, r);
  free(r);
  return c;
}

static int load_file(Driver *d, const char *path, SrcLoc from) {
  const char *real = canonical(d->arena, path);
  for (int i = 0; i < d->nfiles; i++)
    if (strcmp(d->files[i].real, real) == 0) {
      if (d->files[i].state == 1) { err_set(&d->err, from, "import cycle: '%s' imports itself (directly or indirectly)", path); return 0; }
      return 1;
    }
  size_t len = 0;
  int too_big;
  char *text = read_file(d->arena, path, &len, &too_big);
  if (!text) {
    err_set(&d->err, from, too_big ? "file '%s' is too large" : "cannot read file '%s'", path);
    return 0;
  }
  return load_text(d, path, text, len, from);
}

static int load_text(Driver *d, const char *path, const char *text, size_t len, SrcLoc from) {
  if (d->nfiles == 32) { err_set(&d->err, from, "too many source files (limit 32)"); return 0; }
  if (len > DSL_MAX_FILE_BYTES) { err_set(&d->err, from, "file '%s' is too large", path); return 0; }
  int fi = d->nfiles++;
  SrcFile *sf = &d->files[fi];
  sf->path = arena_strdup(d->arena, path);
  sf->real = canonical(d->arena, path);
  char *t = arena_alloc(d->arena, len + 1);
  memcpy(t, text, len);
  sf->text = t;
  sf->len = len;
  sf->state = 1;
  ir_file(d->m, path);
  ParseCtx pc;
  memset(&pc, 0, sizeof pc);
  pc.arena = d->arena;
  pc.file = fi;
  if (!dsl_parse(&pc, t, len)) { d->err = pc.err; return 0; }
  for (int i = 0; i < pc.items.n; i++) {
    Item *it = pc.items.v[i];
    if (it->kind != I_IMPORT) continue;
    const char *p = resolve_import(d->arena, sf->path, it->name);
    if (!p) { err_set(&d->err, it->loc, "cannot find imported file '%s'", it->name); return 0; }
    if (!load_file(d, p, it->loc)) return 0;
  }
  for (int i = 0; i < pc.items.n; i++)
    if (((Item *)pc.items.v[i])->kind != I_IMPORT) vec_push(d->arena, &d->items, pc.items.v[i]);
  d->files[fi].state = 2;
  return 1;
}

static const char *item_kind_name(ItemKind k) {
  static const char *n[] = {"import", "const", "dim", "struct", "param", "fn", "mask", "sampler"};
  return n[k];
}

static int register_globals(Driver *d, Lower *L) {
  for (int i = 0; i < d->items.n; i++) {
    Item *it = d->items.v[i];
    Global *g = global_find(L, it->name);
    if (g) {
      const SrcFile *f = &d->files[g->item->loc.file];
      err_set(&L->err, it->loc, "duplicate definition of '%s' (a %s is already defined at %s:%d)", it->name,
              item_kind_name(g->item->kind), f->path, g->item->loc.line);
      return 0;
    }
    DType dt;
    if (dtype_from_name(it->name, &dt)) { err_set(&L->err, it->loc, "'%s' is a type name and cannot be redefined", it->name); return 0; }
    if (L->nglobals == L->capglobals) {
      int nc = L->capglobals ? L->capglobals * 2 : 32;
      Global *ng = arena_alloc(L->arena, (size_t)nc * sizeof *ng);
      if (L->nglobals) memcpy(ng, L->globals, (size_t)L->nglobals * sizeof *ng);
      L->globals = ng;
      L->capglobals = nc;
    }
    Global *ng = &L->globals[L->nglobals++];
    memset(ng, 0, sizeof *ng);
    ng->name = it->name;
    ng->item = it;
  }
  return 1;
}

static int lower_all(Driver *d, Lower *L, const DslDefine *defs, int ndefs) {
  if (!register_globals(d, L)) return 0;
  if (!sema_consts(L, defs, ndefs)) return 0;
  for (int i = 0; i < L->nglobals; i++) {
    Item *it = L->globals[i].item;
    if (it->kind == I_DIM && ir_sym(L->m, it->name) < 0)
      return fail(L, it->loc, "too many symbolic dimensions (limit %d)", DLM_MAX_SYMS);
  }
  for (int i = 0; i < L->nglobals; i++)
    if (L->globals[i].item->kind == I_PARAM && !declare_param_root(L, L->globals[i].item)) return 0;
  for (int i = 0; i < L->nglobals; i++) {
    Item *it = L->globals[i].item;
    if (it->kind == I_FN && it->exported && !lower_export(L, it)) return 0;
  }
  for (int i = 0; i < L->nglobals; i++) {
    Item *it = L->globals[i].item;
    if (it->kind == I_SAMPLER && !lower_sampler(L, it)) return 0;
  }
  for (int i = 0; i < L->nglobals; i++) {
    Global *g = &L->globals[i];
    if (g->item->kind == I_FN && !g->item->exported && !g->used && !check_unused_fn(L, g->item)) return 0;
  }
  return 1;
}

static void report(Driver *d, const char *mainpath, const DlmErr *e, FILE *diag) {
  if (!diag) return;
  const char *path = mainpath, *text = NULL;
  if (e->loc.file >= 0 && e->loc.file < d->nfiles) { path = d->files[e->loc.file].path; text = d->files[e->loc.file].text; }
  diag_print(diag, path, text, e->loc.line, e->loc.col, "error", e->msg);
}

static Module *compile(const char *path, const char *text, size_t len, const DslDefine *defs, int ndefs, FILE *diag) {
  Driver d;
  memset(&d, 0, sizeof d);
  d.arena = arena_new();
  const char *base = strrchr(path, '/');
  d.m = ir_module_new(base ? base + 1 : path);
  SrcLoc none = {0, 0, 0};
  int ok = text ? load_text(&d, path, text, len, none) : load_file(&d, path, none);
  Module *result = NULL;
  if (!ok) {
    report(&d, path, &d.err, diag);
  } else {
    Lower L;
    memset(&L, 0, sizeof L);
    L.m = d.m;
    L.arena = d.arena;
    if (lower_all(&d, &L, defs, ndefs)) result = d.m;
    else report(&d, path, &L.err, diag);
  }
  if (!result) ir_module_free(d.m);
  arena_free(d.arena);
  return result;
}

Module *dsl_compile_file(const char *path, const DslDefine *defs, int ndefs, FILE *diag) {
  return compile(path, NULL, 0, defs, ndefs, diag);
}

Module *dsl_compile_string(const char *path, const char *text, size_t len, const DslDefine *defs, int ndefs, FILE *diag) {
  return compile(path, text ? text : "", text ? len : 0, defs, ndefs, diag);
}
