/* sema_const.c — evaluates top-level consts in definition order (imports first), applies -D
 * overrides, and records every const as module metadata for the runtime. */
#include "lower.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int parse_define(const char *s, Val *out) {
  if (!s || !*s) return 0;
  char *end;
  errno = 0;
  long long i = strtoll(s, &end, 10);
  if (!*end && errno == 0) { *out = val_int(i); return 1; }
  errno = 0;
  double d = strtod(s, &end);
  if (!*end && errno == 0 && d == d && d - d == 0) { *out = val_num(d); return 1; }
  return 0;
}

int sema_consts(Lower *L, const DslDefine *defs, int ndefs) {
  SrcLoc none = {0, 0, 0};
  Val *over = arena_alloc(L->arena, (size_t)(ndefs ? ndefs : 1) * sizeof *over);
  for (int i = 0; i < ndefs; i++) {
    Global *g = global_find(L, defs[i].name ? defs[i].name : "");
    if (!g || g->item->kind != I_CONST)
      return fail(L, none, "-D %s: no top-level const named '%s'", defs[i].name ? defs[i].name : "", defs[i].name ? defs[i].name : "");
    if (!parse_define(defs[i].value, &over[i]))
      return fail(L, none, "-D %s: bad value '%s' (expected an integer or a number)", defs[i].name, defs[i].value ? defs[i].value : "");
  }
  Env empty = {0, 0, 0};
  for (int i = 0; i < L->nglobals; i++) {
    Global *g = &L->globals[i];
    if (g->item->kind != I_CONST) continue;
    int overridden = -1;
    for (int k = 0; k < ndefs; k++)
      if (strcmp(defs[k].name, g->name) == 0) overridden = k;
    Val v;
    if (overridden >= 0) v = over[overridden];
    else {
      L->env = &empty;
      L->f = NULL;
      if (!lower_expr(L, g->item->value, &v)) return 0;
      if (v.kind != V_NUM) return fail(L, g->item->value->loc, "const '%s' must be a compile-time number", g->name);
    }
    g->val = v;
    g->has_val = 1;
    char buf[64];
    if (v.is_int) snprintf(buf, sizeof buf, "%lld", (long long)v.ival);
    else snprintf(buf, sizeof buf, "%.17g", v.num);
    ir_meta_set(L->m, g->name, buf);
  }
  L->env = NULL;
  return 1;
}
