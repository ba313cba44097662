/* lower_types.c — written types (f32[..., 3*D]): evaluation in the current frame, checking a value
 * against a type, and unification that binds a function's shape variables (and its "..." prefix)
 * from the argument types at a call site. */
#include "lower.h"
#include <string.h>

static void expr_text(Lower *L, const Expr *e, char *buf, size_t n, int depth) {
  if (n == 0) return;
  buf[0] = 0;
  if (depth > 8) { snprintf(buf, n, "..."); return; }
  char a[64], b[64];
  switch (e->kind) {
  case E_NUM: if (e->is_int) snprintf(buf, n, "%lld", (long long)e->ival); else snprintf(buf, n, "%g", e->num); break;
  case E_NAME: snprintf(buf, n, "%s", e->name); break;
  case E_BIN:
    expr_text(L, e->a, a, sizeof a, depth + 1);
    expr_text(L, e->b, b, sizeof b, depth + 1);
    snprintf(buf, n, "%s%s%s", a, opx_text(e->op), b);
    break;
  case E_CALL: snprintf(buf, n, "%s(...)", e->name); break;
  default: snprintf(buf, n, "?"); break;
  }
}

static void typeexpr_text(Lower *L, const TypeExpr *t, char *buf, size_t n) {
  size_t used = (size_t)snprintf(buf, n, "%s", t->name);
  if (!t->has_dims || used >= n) return;
  used += (size_t)snprintf(buf + used, n - used, "[%s", t->ellipsis ? "..." : "");
  for (int i = 0; i < t->ndims && used < n; i++) {
    char d[64];
    expr_text(L, t->dims[i], d, sizeof d, 0);
    used += (size_t)snprintf(buf + used, n - used, "%s%s", (i || t->ellipsis) ? ", " : "", d);
  }
  if (used < n) snprintf(buf + used, n - used, "]");
}

int type_is_tensor(Lower *L, const TypeExpr *t) {
  (void)L;
  DType dt = DT_F32;
  return dtype_from_name(t->name, &dt);
}

static int type_dtype(Lower *L, const TypeExpr *t, DType *dt) {
  if (dtype_from_name(t->name, dt)) return 1;
  return fail(L, t->loc, "unknown element type '%s' (expected f32, f64, bf16, f16, i32, i64 or bool)", t->name);
}

int eval_type(Lower *L, const TypeExpr *t, Type *out) {
  memset(out, 0, sizeof *out);
  if (!type_dtype(L, t, &out->dtype)) return 0;
  if (t->ellipsis) {
    Val pre;
    if (!env_get(L->env, "...", &pre) || pre.kind != V_LIST) return fail(L, t->loc, "'...' is not bound here");
    for (int i = 0; i < pre.nitems; i++) out->dims[out->rank++] = pre.items[i].kind == V_DIM ? pre.items[i].dim : dim_const(pre.items[i].ival);
  }
  if (out->rank + t->ndims > DLM_MAX_RANK) return fail(L, t->loc, "rank %d exceeds the limit %d", out->rank + t->ndims, DLM_MAX_RANK);
  for (int i = 0; i < t->ndims; i++)
    if (!ct_dim(L, t->dims[i], &out->dims[out->rank++])) return 0;
  return 1;
}

int check_type(Lower *L, const TypeExpr *t, Val v, SrcLoc loc, const char *what) {
  char s1[160], s2[160];
  Type want;
  if (!eval_type(L, t, &want)) return 0;
  if (v.kind != V_TENSOR) return fail(L, loc, "%s: expected %s, got %s", what, type_str(L->m, &want, s1, sizeof s1), val_str(L, v, s2, sizeof s2));
  const Type *got = val_type(L, v);
  if (type_eq(&want, got)) return 1;
  return fail(L, loc, "%s %s: expected %s, got %s", got->dtype != want.dtype ? "type error:" : "shape mismatch:", what,
              type_str(L->m, &want, s1, sizeof s1), type_str(L->m, got, s2, sizeof s2));
}

/* Evaluates a dim expression; 0 if it mentions an unbound shape variable, -1 on error. */
static int try_dim(Lower *L, const Expr *e, Dim *out) {
  Val v;
  if (e->kind == E_NAME) {
    Global *g = global_find(L, e->name);
    if (!env_get(L->env, e->name, &v) && !(g && (g->item->kind == I_CONST || g->item->kind == I_DIM))) return 0;
  } else if (e->kind == E_BIN) {
    Dim a, b;
    int ra = try_dim(L, e->a, &a);
    if (ra <= 0) return ra;
    int rb = try_dim(L, e->b, &b);
    if (rb <= 0) return rb;
  }
  return ct_dim(L, e, out) ? 1 : -1;
}

static int mismatch(Lower *L, const TypeExpr *t, const Type *got, SrcLoc loc, const char *what) {
  char s1[160], s2[160], bound[160] = "";
  size_t used = 0;
  typeexpr_text(L, t, s1, sizeof s1);
  for (int i = 0; i < t->ndims && used < sizeof bound; i++) {
    Val v;
    char d[64];
    if (t->dims[i]->kind != E_NAME || !env_get(L->env, t->dims[i]->name, &v)) continue;
    if (v.kind == V_NUM) snprintf(d, sizeof d, "%lld", (long long)v.ival);
    else if (v.kind == V_DIM) dim_str(L->m, v.dim, d, sizeof d);
    else continue;
    used += (size_t)snprintf(bound + used, sizeof bound - used, "%s%s = %s", used ? ", " : " (where ", t->dims[i]->name, d);
  }
  if (used && used + 1 < sizeof bound) snprintf(bound + used, sizeof bound - used, ")");
  return fail(L, loc, "shape mismatch: %s: expected %s, got %s%s", what, s1, type_str(L->m, got, s2, sizeof s2), bound);
}

int bind_type(Lower *L, const TypeExpr *t, Val actual, SrcLoc loc, const char *what) {
  char s1[160], s2[160];
  DType dt = DT_F32;
  if (!type_dtype(L, t, &dt)) return 0;
  if (actual.kind != V_TENSOR) {
    typeexpr_text(L, t, s1, sizeof s1);
    return fail(L, loc, "%s: expected %s, got %s", what, s1, val_str(L, actual, s2, sizeof s2));
  }
  const Type *got = val_type(L, actual);
  if (got->dtype != dt) {
    typeexpr_text(L, t, s1, sizeof s1);
    return fail(L, loc, "type error: %s: expected %s, got %s", what, s1, type_str(L->m, got, s2, sizeof s2));
  }
  int n = t->ndims, pre = got->rank - n;
  if (pre < 0 || (!t->ellipsis && pre != 0)) return mismatch(L, t, got, loc, what);
  if (t->ellipsis) {
    Val old;
    if (env_get(L->env, "...", &old)) {
      int same = old.nitems == pre;
      for (int i = 0; same && i < pre; i++) {
        Dim d;
        same = val_to_dim(L, old.items[i], loc, &d) && dim_eq(d, got->dims[i]);
      }
      if (!same) return mismatch(L, t, got, loc, what);
    } else {
      Val l;
      memset(&l, 0, sizeof l);
      l.kind = V_LIST;
      l.nitems = pre;
      l.items = arena_alloc(L->arena, (size_t)(pre ? pre : 1) * sizeof(Val));
      for (int i = 0; i < pre; i++) l.items[i] = val_dimv(got->dims[i]);
      env_set(L, L->env, "...", l);
    }
  }
  int pending[DLM_MAX_RANK], np = 0;
  for (int i = 0; i < n; i++) pending[np++] = i;
  int progress = 1;
  while (np && progress) {
    progress = 0;
    for (int j = 0; j < np; j++) {
      int i = pending[j];
      const Expr *de = t->dims[i];
      Dim act = got->dims[pre + i], d, k;
      int r = try_dim(L, de, &d);
      if (r < 0) return 0;
      int solved = 0;
      if (r == 1) {
        if (!dim_eq(d, act)) return mismatch(L, t, got, loc, what);
        solved = 1;
      } else if (de->kind == E_NAME) {
        env_set(L, L->env, de->name, val_dimv(act));
        solved = 1;
      } else if (de->kind == E_BIN && (de->op == OPX_MUL || de->op == OPX_DIV)) {
        const Expr *var = NULL, *other = NULL;
        if (de->a->kind == E_NAME && try_dim(L, de->a, &k) == 0) { var = de->a; other = de->b; }
        else if (de->op == OPX_MUL && de->b->kind == E_NAME && try_dim(L, de->b, &k) == 0) { var = de->b; other = de->a; }
        if (L->err.set) return 0;
        if (var && try_dim(L, other, &k) == 1) {
          Dim v;
          int ok = de->op == OPX_MUL ? dim_div(act, k, &v) : dim_mul(act, k, &v);
          if (!ok) return mismatch(L, t, got, loc, what);
          env_set(L, L->env, var->name, val_dimv(v));
          solved = 1;
        }
        if (L->err.set) return 0;
      }
      if (solved) { pending[j--] = pending[--np]; progress = 1; }
    }
  }
  if (np) {
    char d[64];
    expr_text(L, t->dims[pending[0]], d, sizeof d, 0);
    return fail(L, loc, "%s: cannot infer the shape variables of dimension '%s'", what, d);
  }
  return 1;
}

static int bind_unbound_names(Lower *L, const Expr *e, int depth) {
  if (depth > 16) return fail(L, e->loc, "dimension expression too deep");
  if (e->kind == E_NAME) {
    Val v;
    Global *g = global_find(L, e->name);
    if (env_get(L->env, e->name, &v) || (g && (g->item->kind == I_CONST || g->item->kind == I_DIM))) return 1;
    if (L->check_consts) {
      /* distinct values divisible by 1..10 and 12, 14, 15, 16, 18, 20, 21, 24, ... */
      static const int64_t primes[] = {11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71};
      int64_t k = primes[(L->check_consts - 1) % 16];
      L->check_consts++;
      env_set(L, L->env, e->name, val_int(5040 * k));
      return 1;
    }
    int s = ir_sym(L->m, e->name);
    if (s < 0) return fail(L, e->loc, "too many symbolic dimensions (limit %d)", DLM_MAX_SYMS);
    env_set(L, L->env, e->name, val_dimv(dim_sym(s)));
    return 1;
  }
  if (e->kind == E_BIN) return bind_unbound_names(L, e->a, depth + 1) && bind_unbound_names(L, e->b, depth + 1);
  return 1;
}

int bind_type_symbolic(Lower *L, const TypeExpr *t, Type *out) {
  if (t->ellipsis) return fail(L, t->loc, "'...' is not allowed here (the shape must be fully named)");
  for (int i = 0; i < t->ndims; i++)
    if (!bind_unbound_names(L, t->dims[i], 0)) return 0;
  return eval_type(L, t, out);
}
