/* lower_struct.c — parameter groups: `struct` declarations are instantiated by `param` roots into
 * module parameters with full dotted checkpoint names and init kinds; field access and array
 * indexing on parameter paths inside functions emit OP_PARAM nodes. */
#include "lower.h"
#include <string.h>

static const char *join(Lower *L, const char *prefix, const char *name) {
  if (!prefix || !*prefix) return arena_strdup(L->arena, name);
  if (!*name) return arena_strdup(L->arena, prefix);
  return arena_printf(L->arena, "%s.%s", prefix, name);
}

static Item *struct_item(Lower *L, const char *name) {
  Global *g = global_find(L, name);
  return g && g->item->kind == I_STRUCT ? g->item : NULL;
}

static int init_kind(Lower *L, const Expr *e, InitKind *k, double *a, double *b) {
  *a = *b = 0;
  if (!e) { *k = INIT_ZEROS; return 1; }
  if (e->kind == E_NAME && strcmp(e->name, "zeros") == 0) { *k = INIT_ZEROS; return 1; }
  if (e->kind == E_NAME && strcmp(e->name, "ones") == 0) { *k = INIT_ONES; return 1; }
  if (e->kind == E_CALL && (strcmp(e->name, "normal") == 0 || strcmp(e->name, "uniform") == 0)) {
    if (e->nargs != 2) return fail(L, e->loc, "wrong number of arguments: %s takes 2, got %d", e->name, e->nargs);
    for (int i = 0; i < 2; i++)
      if (e->argnames[i]) return fail(L, e->args[i]->loc, "%s takes positional arguments", e->name);
    if (!ct_num(L, e->args[0], a) || !ct_num(L, e->args[1], b)) return 0;
    *k = e->name[0] == 'n' ? INIT_NORMAL : INIT_UNIFORM;
    if (*k == INIT_NORMAL && *b < 0) return fail(L, e->loc, "normal: std must be >= 0");
    if (*k == INIT_UNIFORM && *a > *b) return fail(L, e->loc, "uniform: lo must be <= hi");
    return 1;
  }
  return fail(L, e->loc, "unknown initializer (expected zeros, ones, normal(mean, std) or uniform(lo, hi))");
}

/* Declares one tensor parameter named `name` of written type t. */
static int add_tensor_param(Lower *L, const TypeExpr *t, const Expr *init, const char *name, SrcLoc loc) {
  Type ty;
  if (!eval_type(L, t, &ty)) return 0;
  for (int i = 0; i < ty.rank; i++)
    if (!dim_is_const(ty.dims[i])) return fail(L, t->loc, "parameter '%s': dimensions must be compile-time constants", name);
  InitKind k = INIT_ZEROS;
  double a, b;
  if (!init_kind(L, init, &k, &a, &b)) return 0;
  if (ir_param_add(L->m, name, ty, k, a, b, loc) < 0) return fail(L, loc, "duplicate parameter name '%s'", name);
  return 1;
}

static int instantiate_type(Lower *L, const TypeExpr *t, const Expr *init, const char *name, int depth, SrcLoc loc) {
  if (type_is_tensor(L, t)) return add_tensor_param(L, t, init, name, loc);
  Item *st = struct_item(L, t->name);
  if (!st) return fail(L, t->loc, "unknown type '%s' (expected an element type or a struct)", t->name);
  if (init) return fail(L, init->loc, "a struct field has no initializer");
  if (!t->has_dims) return instantiate_struct(L, st, name, depth + 1, loc);
  if (t->ellipsis || t->ndims != 1) return fail(L, t->loc, "an array of structs takes one length: %s[n]", t->name);
  int64_t n;
  if (!ct_int(L, t->dims[0], &n)) return 0;
  if (n < 0 || n > 4096) return fail(L, t->dims[0]->loc, "array length %lld out of range (0..4096)", (long long)n);
  for (int64_t i = 0; i < n; i++) {
    char idx[32];
    snprintf(idx, sizeof idx, "%lld", (long long)i);
    if (!instantiate_struct(L, st, join(L, name, idx), depth + 1, loc)) return 0;
  }
  return 1;
}

int instantiate_struct(Lower *L, const Item *st, const char *prefix, int depth, SrcLoc loc) {
  if (depth > 16) return fail(L, loc, "structs nested too deeply (is struct '%s' recursive?)", st->name);
  Func *sf = L->f;
  Env *se = L->env, empty = {0, 0, 0};
  L->f = NULL;
  L->env = &empty;
  int ok = 1;
  for (int i = 0; ok && i < st->nfields; i++) {
    const Field *fd = st->fields[i];
    for (int j = 0; j < i; j++)
      if (strcmp(st->fields[j]->name, fd->name) == 0) { ok = fail(L, fd->loc, "duplicate field '%s' in struct '%s'", fd->name, st->name); break; }
    if (ok) ok = instantiate_type(L, fd->type, fd->init, join(L, prefix, fd->ckpt ? fd->ckpt : fd->name), depth, fd->loc);
  }
  L->f = sf;
  L->env = se;
  return ok;
}

static Val param_val(VKind k, const Item *st, const char *path, int64_t count) {
  Val v;
  memset(&v, 0, sizeof v);
  v.kind = k;
  v.st = st;
  v.path = path;
  v.count = count;
  return v;
}

/* Number of tensors a type instantiates (saturating above the limit; recursion counts as 0 and is
 * reported by instantiate_struct). */
static int64_t count_params(Lower *L, const TypeExpr *t, int depth) {
  if (type_is_tensor(L, t)) return 1;
  Item *st = struct_item(L, t->name);
  if (!st || depth > 16) return 0;
  int64_t n = 1, c = 0;
  if (t->has_dims && t->ndims == 1) {
    DlmErr saved = L->err;
    if (!ct_int(L, t->dims[0], &n)) n = 0;
    L->err = saved;
  }
  for (int i = 0; i < st->nfields && c <= LOWER_MAX_PARAMS; i++) c += count_params(L, st->fields[i]->type, depth + 1);
  return n > 0 && c > LOWER_MAX_PARAMS / n ? LOWER_MAX_PARAMS + 1 : n * c;
}

int param_root(Lower *L, const TypeExpr *t, const Expr *init, const char *prefix, SrcLoc loc, Val *out) {
  Func *sf = L->f;
  Env *se = L->env, empty = {0, 0, 0};
  L->f = NULL;
  L->env = &empty;
  int ok = 1;
  if (L->m->nparams + count_params(L, t, 0) > LOWER_MAX_PARAMS) ok = fail(L, loc, "too many parameters (limit %d)", LOWER_MAX_PARAMS);
  if (ok) ok = instantiate_type(L, t, init, prefix, 0, loc);
  Item *st = struct_item(L, t->name);
  int64_t n = 0;
  if (ok && st && t->has_dims) ok = ct_int(L, t->dims[0], &n);
  L->f = sf;
  L->env = se;
  if (!ok) return 0;
  const char *p = arena_strdup(L->arena, prefix);
  *out = param_val(st && t->has_dims ? V_PARAMARR : V_PARAM, st, p, n);
  return 1;
}

/* `param dst: T = frozen_copy(src) @ "..."`: dst is instantiated from T with its usual initializers, then
 * recorded as a non-trained copy of the earlier parameter root src (same type): every new parameter
 * must have a source under src's prefix with the same type. */
static int declare_frozen_copy(Lower *L, Item *it, const char *prefix, Global *g) {
  const Expr *e = it->value;
  if (e->nargs != 1 || e->argnames[0] || e->args[0]->kind != E_NAME)
    return fail(L, e->loc, "frozen_copy takes one argument: the name of an earlier param");
  const char *sname = e->args[0]->name;
  Global *sg = global_find(L, sname);
  if (!sg || sg->item->kind != I_PARAM) return fail(L, e->args[0]->loc, "frozen_copy: '%s' is not a param", sname);
  if (!sg->has_val) return fail(L, e->args[0]->loc, "frozen_copy: param '%s' must be declared before '%s'", sname, it->name);
  if (sg->item->value && sg->item->value->kind == E_CALL && strcmp(sg->item->value->name, "frozen_copy") == 0)
    return fail(L, e->args[0]->loc, "frozen_copy: '%s' is itself a frozen copy", sname);
  const TypeExpr *st = sg->item->type, *dt = it->type;
  if (strcmp(st->name, dt->name) != 0 || st->has_dims != dt->has_dims)
    return fail(L, it->type->loc, "frozen_copy: '%s' and '%s' have different types", it->name, sname);
  int first = L->m->nparams;
  if (!param_root(L, it->type, NULL, prefix, it->loc, &g->val)) return 0;
  ir_meta_set(L->m, arena_printf(L->m->arena, IR_FROZEN_COPY_META "%s", prefix), sg->val.path);
  for (int i = first; i < L->m->nparams; i++) {
    int s = ir_param_copy_source(L->m, i);
    if (s < 0 || s >= first || !type_eq(&L->m->params[s].type, &L->m->params[i].type))
      return fail(L, it->loc, "frozen_copy: parameter '%s' has no source of the same type in '%s'", L->m->params[i].name, sname);
  }
  g->has_val = 1;
  return 1;
}

int declare_param_root(Lower *L, Item *it) {
  Global *g = global_find(L, it->name);
  const char *prefix = it->ckpt ? it->ckpt : it->name;
  if (it->value && it->value->kind == E_CALL && strcmp(it->value->name, "frozen_copy") == 0)
    return declare_frozen_copy(L, it, prefix, g);
  if (!param_root(L, it->type, it->value, prefix, it->loc, &g->val)) return 0;
  g->has_val = 1;
  return 1;
}

int param_value(Lower *L, Val v, SrcLoc loc, Val *out) {
  if (!need_tensor_ctx(L, loc)) return 0;
  int p = ir_param_find(L->m, v.path);
  if (p < 0) return fail(L, loc, "no parameter named '%s'", v.path);
  Attrs a = attrs_none();
  a.s = v.path;
  Type t = L->m->params[p].type;
  int id = emit(L, OP_PARAM, &t, 0, NULL, &a, loc);
  if (id < 0) return 0;
  *out = val_tensor(id);
  return 1;
}

int param_field(Lower *L, Val base, const char *field, SrcLoc loc, Val *out) {
  if (!base.st) return fail(L, loc, "parameter '%s' is a tensor and has no field '%s'", base.path, field);
  for (int i = 0; i < base.st->nfields; i++) {
    const Field *fd = base.st->fields[i];
    if (strcmp(fd->name, field) != 0) continue;
    const char *path = join(L, base.path, fd->ckpt ? fd->ckpt : fd->name);
    if (type_is_tensor(L, fd->type)) return param_value(L, param_val(V_PARAM, NULL, path, 0), loc, out);
    Item *st = struct_item(L, fd->type->name);
    if (!st) return fail(L, loc, "unknown type '%s'", fd->type->name);
    if (!fd->type->has_dims) { *out = param_val(V_PARAM, st, path, 0); return 1; }
    int64_t n;
    Env *se = L->env, empty = {0, 0, 0};
    L->env = &empty;
    int ok = ct_int(L, fd->type->dims[0], &n);
    L->env = se;
    if (!ok) return 0;
    *out = param_val(V_PARAMARR, st, path, n);
    return 1;
  }
  return fail(L, loc, "struct '%s' has no field '%s'", base.st->name, field);
}

int param_index(Lower *L, Val base, int64_t k, SrcLoc loc, Val *out) {
  if (k < 0 || k >= base.count) return fail(L, loc, "index %lld out of range for '%s' (length %lld)", (long long)k, base.path, (long long)base.count);
  char idx[32];
  snprintf(idx, sizeof idx, "%lld", (long long)k);
  *out = param_val(V_PARAM, base.st, join(L, base.path, idx), 0);
  return 1;
}
