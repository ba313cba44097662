/* lower_expr.c — values, environments and expression lowering: names, literals with weak typing,
 * compile-time folding of numbers and symbolic dims, and the arithmetic/comparison/logical operators
 * on tensors (numpy broadcasting, both tensor operands must share a dtype). */
#include "lower.h"
#include <math.h>
#include <stdarg.h>
#include <string.h>

Val val_num(double d) { Val v; memset(&v, 0, sizeof v); v.kind = V_NUM; v.num = d; return v; }
Val val_int(int64_t i) { Val v = val_num((double)i); v.is_int = 1; v.ival = i; return v; }
Val val_bool(int b) { Val v = val_int(b != 0); v.is_bool = 1; return v; }
Val val_tensor(int id) { Val v; memset(&v, 0, sizeof v); v.kind = V_TENSOR; v.id = id; return v; }
Val val_dimv(Dim d) {
  if (dim_is_const(d)) return val_int(d.k);
  Val v; memset(&v, 0, sizeof v); v.kind = V_DIM; v.dim = d; return v;
}

int fail(Lower *L, SrcLoc loc, const char *fmt, ...) {
  if (L->err.set) return 0;
  L->err.set = 1;
  L->err.loc = loc;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(L->err.msg, sizeof L->err.msg, fmt, ap);
  va_end(ap);
  return 0;
}

int env_get(Env *env, const char *name, Val *out) {
  if (!env) return 0;
  for (int i = env->n - 1; i >= 0; i--)
    if (strcmp(env->b[i].name, name) == 0) { *out = env->b[i].v; return 1; }
  return 0;
}

void env_set(Lower *L, Env *env, const char *name, Val v) {
  for (int i = env->n - 1; i >= 0; i--)
    if (strcmp(env->b[i].name, name) == 0) { env->b[i].v = v; return; }
  if (env->n == env->cap) {
    int nc = env->cap ? env->cap * 2 : 16;
    Binding *nb = arena_alloc(L->arena, (size_t)nc * sizeof *nb);
    if (env->n) memcpy(nb, env->b, (size_t)env->n * sizeof *nb);
    env->b = nb;
    env->cap = nc;
  }
  env->b[env->n].name = name;
  env->b[env->n].v = v;
  env->n++;
}

Global *global_find(Lower *L, const char *name) {
  for (int i = 0; i < L->nglobals; i++)
    if (strcmp(L->globals[i].name, name) == 0) return &L->globals[i];
  return NULL;
}

const Type *val_type(Lower *L, Val v) { return &L->f->nodes[v.id].type; }

const char *val_str(Lower *L, Val v, char *buf, size_t n) {
  switch (v.kind) {
  case V_TENSOR: return type_str(L->m, val_type(L, v), buf, n);
  case V_NUM:
    if (v.is_bool) snprintf(buf, n, "%s", v.ival ? "true" : "false");
    else if (v.is_int) snprintf(buf, n, "literal %lld", (long long)v.ival);
    else snprintf(buf, n, "literal %g", v.num);
    return buf;
  case V_DIM: { char d[64]; snprintf(buf, n, "dimension %s", dim_str(L->m, v.dim, d, sizeof d)); return buf; }
  case V_PARAM: case V_PARAMARR: snprintf(buf, n, "parameter group '%s'", v.path); return buf;
  case V_TUPLE: snprintf(buf, n, "%d values", v.nitems); return buf;
  case V_LIST: snprintf(buf, n, "a list"); return buf;
  case V_DTYPE: snprintf(buf, n, "type %s", dtype_name(v.dtype)); return buf;
  case V_SCHED: snprintf(buf, n, "a run-time schedule variable"); return buf;
  default: snprintf(buf, n, "nothing"); return buf;
  }
}

int need_tensor_ctx(Lower *L, SrcLoc loc) {
  if (L->f) return 1;
  return fail(L, loc, "not a compile-time value (tensor operations are not allowed here)");
}

int emit(Lower *L, OpKind op, const Type *given, int nin, const int *in, const Attrs *a, SrcLoc loc) {
  if (!need_tensor_ctx(L, loc)) return -1;
  if (L->f->nnodes >= LOWER_MAX_NODES) { fail(L, loc, "function too large (limit %d nodes)", LOWER_MAX_NODES); return -1; }
  DlmErr e;
  memset(&e, 0, sizeof e);
  int id = ir_emit(L->m, L->f, op, given, nin, in, a, loc, &e);
  if (id >= 0) return id;
  char ops[384] = "";
  size_t used = 0;
  for (int i = 0; i < nin && i < 4 && in[i] >= 0 && in[i] < L->f->nnodes; i++) {
    char t[128];
    used += (size_t)snprintf(ops + used, sizeof ops - used, "%s%s", i ? ", " : "", type_str(L->m, &L->f->nodes[in[i]].type, t, sizeof t));
    if (used >= sizeof ops) break;
  }
  char first[128] = "";
  if (nin > 0 && in[0] >= 0 && in[0] < L->f->nnodes) type_str(L->m, &L->f->nodes[in[0]].type, first, sizeof first);
  if (nin > 0 && !strstr(e.msg, first)) fail(L, loc, "%s (operands: %s)", e.msg, ops);
  else fail(L, loc, "%s", e.msg);
  return -1;
}

DType default_dtype(Val v) { return v.is_bool ? DT_BOOL : v.is_int ? DT_I32 : DT_F32; }

int materialize(Lower *L, Val v, DType dt, SrcLoc loc) {
  char b[128];
  if (v.kind == V_TENSOR) return v.id;
  if (v.kind == V_DIM) { fail(L, loc, "symbolic %s cannot be used as a tensor value", val_str(L, v, b, sizeof b)); return -1; }
  if (v.kind != V_NUM) { fail(L, loc, "expected a tensor or a number, got %s", val_str(L, v, b, sizeof b)); return -1; }
  if (v.is_bool && dt != DT_BOOL) { fail(L, loc, "type error: boolean literal used as %s", dtype_name(dt)); return -1; }
  if (!v.is_bool && dt == DT_BOOL) { fail(L, loc, "type error: number used as a bool"); return -1; }
  if (!v.is_int && dtype_is_int(dt)) { fail(L, loc, "type error: float literal %g used with integer type %s", v.num, dtype_name(dt)); return -1; }
  Type t = type_scalar(dt);
  Attrs a = attrs_none();
  a.f[0] = v.num;
  return emit(L, OP_CONST, &t, 0, NULL, &a, loc);
}

int val_to_dim(Lower *L, Val v, SrcLoc loc, Dim *out) {
  char b[128];
  if (v.kind == V_DIM) { *out = v.dim; return 1; }
  if (v.kind == V_NUM && v.is_int && !v.is_bool) {
    if (v.ival < 0) return fail(L, loc, "dimension %lld is negative", (long long)v.ival);
    *out = dim_const(v.ival);
    return 1;
  }
  return fail(L, loc, "expected a dimension (a non-negative integer or a symbolic dim), got %s", val_str(L, v, b, sizeof b));
}

int ct_num(Lower *L, const Expr *e, double *out) {
  Val v;
  char b[128];
  if (!lower_expr(L, e, &v)) return 0;
  if (v.kind != V_NUM) return fail(L, e->loc, "expected a compile-time number, got %s", val_str(L, v, b, sizeof b));
  *out = v.num;
  return 1;
}

int ct_int(Lower *L, const Expr *e, int64_t *out) {
  Val v;
  char b[128];
  if (!lower_expr(L, e, &v)) return 0;
  if (v.kind != V_NUM || !v.is_int) return fail(L, e->loc, "expected a compile-time integer, got %s", val_str(L, v, b, sizeof b));
  *out = v.ival;
  return 1;
}

int ct_dim(Lower *L, const Expr *e, Dim *out) {
  Val v;
  if (!lower_expr(L, e, &v)) return 0;
  return val_to_dim(L, v, e->loc, out);
}

/* ---------------------------------------------------------------- compile-time folding */
static int64_t floordiv(int64_t a, int64_t b) { int64_t q = a / b; if ((a % b != 0) && ((a < 0) != (b < 0))) q--; return q; }
static int64_t floormod(int64_t a, int64_t b) { int64_t r = a % b; if (r != 0 && ((r < 0) != (b < 0))) r += b; return r; }

static int fold_int(Lower *L, OpX op, int64_t a, int64_t b, SrcLoc loc, Val *out) {
  int64_t r = 0;
  switch (op) {
  case OPX_ADD: if (__builtin_add_overflow(a, b, &r)) goto ovf; break;
  case OPX_SUB: if (__builtin_sub_overflow(a, b, &r)) goto ovf; break;
  case OPX_MUL: if (__builtin_mul_overflow(a, b, &r)) goto ovf; break;
  case OPX_DIV: case OPX_MOD:
    if (b == 0) return fail(L, loc, "division by zero in a compile-time expression");
    if (a == INT64_MIN && b == -1) goto ovf;
    r = op == OPX_DIV ? floordiv(a, b) : floormod(a, b);
    break;
  case OPX_POW:
    if (b < 0) { *out = val_num(pow((double)a, (double)b)); return 1; }
    r = 1;
    for (int64_t base = a, ex = b; ex; ) {
      if ((ex & 1) && __builtin_mul_overflow(r, base, &r)) goto ovf;
      ex >>= 1;
      if (ex && __builtin_mul_overflow(base, base, &base)) goto ovf;
    }
    break;
  case OPX_EQ: *out = val_bool(a == b); return 1;
  case OPX_NE: *out = val_bool(a != b); return 1;
  case OPX_LT: *out = val_bool(a < b); return 1;
  case OPX_LE: *out = val_bool(a <= b); return 1;
  case OPX_GT: *out = val_bool(a > b); return 1;
  case OPX_GE: *out = val_bool(a >= b); return 1;
  case OPX_AND: *out = val_bool(a && b); return 1;
  case OPX_OR: *out = val_bool(a || b); return 1;
  default: return fail(L, loc, "bad operator");
  }
  *out = val_int(r);
  return 1;
ovf:
  return fail(L, loc, "integer overflow in a compile-time expression");
}

static int fold(Lower *L, OpX op, Val a, Val b, SrcLoc loc, Val *out) {
  if ((op == OPX_AND || op == OPX_OR) && !(a.is_bool && b.is_bool))
    return fail(L, loc, "type error: '%s' needs booleans", opx_text(op));
  if ((a.is_bool || b.is_bool) && op != OPX_AND && op != OPX_OR && op != OPX_EQ && op != OPX_NE)
    return fail(L, loc, "type error: '%s' on a boolean", opx_text(op));
  if (a.is_int && b.is_int) return fold_int(L, op, a.ival, b.ival, loc, out);
  double x = a.num, y = b.num, r;
  switch (op) {
  case OPX_ADD: r = x + y; break;
  case OPX_SUB: r = x - y; break;
  case OPX_MUL: r = x * y; break;
  case OPX_DIV: if (y == 0) return fail(L, loc, "division by zero in a compile-time expression"); r = x / y; break;
  case OPX_MOD: if (y == 0) return fail(L, loc, "division by zero in a compile-time expression"); r = x - floor(x / y) * y; break;
  case OPX_POW: r = pow(x, y); break;
  case OPX_EQ: *out = val_bool(x == y); return 1;
  case OPX_NE: *out = val_bool(x != y); return 1;
  case OPX_LT: *out = val_bool(x < y); return 1;
  case OPX_LE: *out = val_bool(x <= y); return 1;
  case OPX_GT: *out = val_bool(x > y); return 1;
  case OPX_GE: *out = val_bool(x >= y); return 1;
  default: return fail(L, loc, "bad operator");
  }
  if (!isfinite(r)) return fail(L, loc, "compile-time value is not finite");
  *out = val_num(r);
  return 1;
}

static int fold_dim(Lower *L, OpX op, Val a, Val b, SrcLoc loc, Val *out) {
  Dim x, y, r;
  if (!val_to_dim(L, a, loc, &x) || !val_to_dim(L, b, loc, &y)) return 0;
  char s1[64], s2[64];
  switch (op) {
  case OPX_MUL: if (!dim_mul(x, y, &r)) goto bad; break;
  case OPX_DIV: if (!dim_div(x, y, &r)) goto bad; break;
  case OPX_ADD: case OPX_SUB:
    if (x.syms != y.syms) goto bad;
    if (op == OPX_SUB && x.k < y.k) goto bad;
    r.syms = x.syms;
    r.k = op == OPX_ADD ? x.k + y.k : x.k - y.k;
    break;
  case OPX_EQ: *out = val_bool(dim_eq(x, y)); return 1;
  case OPX_NE: *out = val_bool(!dim_eq(x, y)); return 1;
  default: goto bad;
  }
  *out = val_dimv(r);
  return 1;
bad:
  return fail(L, loc, "cannot compute %s %s %s on symbolic dimensions (dims are products of symbols and constants)",
              dim_str(L->m, x, s1, sizeof s1), opx_text(op), dim_str(L->m, y, s2, sizeof s2));
}

int binary_op(Lower *L, OpX op, Val a, Val b, SrcLoc loc, Val *out) {
  char s1[128], s2[128];
  if (a.kind == V_NUM && b.kind == V_NUM) return fold(L, op, a, b, loc, out);
  if ((a.kind == V_DIM || a.kind == V_NUM) && (b.kind == V_DIM || b.kind == V_NUM)) return fold_dim(L, op, a, b, loc, out);
  if (a.kind != V_TENSOR && b.kind != V_TENSOR)
    return fail(L, loc, "operator '%s' cannot be applied to %s and %s", opx_text(op), val_str(L, a, s1, sizeof s1), val_str(L, b, s2, sizeof s2));
  if (a.kind == V_TENSOR && b.kind == V_TENSOR && val_type(L, a)->dtype != val_type(L, b)->dtype)
    return fail(L, loc, "type error: '%s' of %s and %s (element types differ; use cast)", opx_text(op),
                val_str(L, a, s1, sizeof s1), val_str(L, b, s2, sizeof s2));
  DType dt = a.kind == V_TENSOR ? val_type(L, a)->dtype : val_type(L, b)->dtype;
  int in[2];
  if ((in[0] = materialize(L, a, dt, loc)) < 0 || (in[1] = materialize(L, b, dt, loc)) < 0) return 0;
  static const OpKind map[] = {OP_OR, OP_AND, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,
                               OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_POW};
  if ((op == OPX_AND || op == OPX_OR) && dt != DT_BOOL)
    return fail(L, loc, "type error: '%s' needs bool tensors, got %s", opx_text(op), dtype_name(dt));
  if (dt == DT_BOOL && op >= OPX_LT && op != OPX_EQ && op != OPX_NE && op != OPX_AND && op != OPX_OR)
    return fail(L, loc, "type error: '%s' on bool tensors", opx_text(op));
  int id = emit(L, map[op], NULL, 2, in, NULL, loc);
  if (id < 0) return 0;
  *out = val_tensor(id);
  return 1;
}

static int unary_op(Lower *L, OpX op, Val a, SrcLoc loc, Val *out) {
  char s[128];
  if (a.kind == V_NUM) {
    if (op == OPX_NOT) {
      if (!a.is_bool) return fail(L, loc, "type error: '!' needs a boolean");
      *out = val_bool(!a.ival);
      return 1;
    }
    if (a.is_bool) return fail(L, loc, "type error: '-' on a boolean");
    if (a.is_int) {
      if (a.ival == INT64_MIN) return fail(L, loc, "integer overflow in a compile-time expression");
      *out = val_int(-a.ival);
    } else *out = val_num(-a.num);
    return 1;
  }
  if (a.kind != V_TENSOR) return fail(L, loc, "operator '%s' cannot be applied to %s", opx_text(op), val_str(L, a, s, sizeof s));
  DType dt = val_type(L, a)->dtype;
  if (op == OPX_NOT && dt != DT_BOOL) return fail(L, loc, "type error: '!' needs a bool tensor, got %s", dtype_name(dt));
  if (op == OPX_NEG && dt == DT_BOOL) return fail(L, loc, "type error: '-' on a bool tensor");
  int id = emit(L, op == OPX_NOT ? OP_NOT : OP_NEG, NULL, 1, &a.id, NULL, loc);
  if (id < 0) return 0;
  *out = val_tensor(id);
  return 1;
}

int lower_name(Lower *L, const Expr *e, Val *out) {
  const char *name = e->name;
  if (env_get(L->env, name, out)) {
    if (out->kind == V_NONE) return fail(L, e->loc, "'%s' has no value here (it was computed in an earlier graph and not kept)", name);
    if (out->kind == V_SCHED && L->seg) return seg_arg(L, out->id, e->loc, out);
    return 1;
  }
  Global *g = global_find(L, name);
  if (g) {
    switch (g->item->kind) {
    case I_CONST:
      if (!g->has_val) return fail(L, e->loc, "const '%s' is used before its definition", name);
      *out = g->val;
      return 1;
    case I_DIM: {
      int s = ir_sym(L->m, name);
      if (s < 0) return fail(L, e->loc, "too many symbolic dimensions (limit %d)", DLM_MAX_SYMS);
      *out = val_dimv(dim_sym(s));
      return 1;
    }
    case I_PARAM:
      if (!g->has_val) return fail(L, e->loc, "parameter '%s' is not available here", name);
      if (g->val.kind == V_PARAM && !g->val.st) return param_value(L, g->val, e->loc, out);
      *out = g->val;
      return 1;
    default:
      return fail(L, e->loc, "'%s' is a %s and cannot be used as a value", name,
                  g->item->kind == I_FN ? "function" : g->item->kind == I_MASK ? "mask" :
                  g->item->kind == I_STRUCT ? "struct" : "sampler");
    }
  }
  DType dt = DT_F32;
  if (dtype_from_name(name, &dt)) {
    memset(out, 0, sizeof *out);
    out->kind = V_DTYPE;
    out->dtype = dt;
    return 1;
  }
  return fail(L, e->loc, "unknown name '%s'", name);
}

static int lower_call(Lower *L, const Expr *e, Val *out) {
  Global *g = global_find(L, e->name);
  if (g && g->item->kind == I_FN) return lower_call_fn(L, e, g->item, out);
  if (g && g->item->kind == I_MASK)
    return fail(L, e->loc, "mask '%s' can only be used as the mask argument of attention", e->name);
  if (g) return fail(L, e->loc, "'%s' is not a function", e->name);
  if (is_builtin(e->name)) return lower_builtin(L, e, out);
  return fail(L, e->loc, "unknown function '%s'", e->name);
}

static int lower_expr1(Lower *L, const Expr *e, Val *out) {
  Val a, b;
  switch (e->kind) {
  case E_NUM: *out = e->is_int ? val_int(e->ival) : val_num(e->num); return 1;
  case E_BOOL: *out = val_bool(e->num != 0); return 1;
  case E_NAME: return lower_name(L, e, out);
  case E_BIN:
    if (!lower_expr(L, e->a, &a) || !lower_expr(L, e->b, &b)) return 0;
    return binary_op(L, e->op, a, b, e->loc, out);
  case E_UN:
    if (!lower_expr(L, e->a, &a)) return 0;
    return unary_op(L, e->op, a, e->loc, out);
  case E_CALL: return lower_call(L, e, out);
  case E_FIELD:
    if (!lower_expr(L, e->a, &a)) return 0;
    if (a.kind != V_PARAM) { char s[128]; return fail(L, e->loc, "'.%s': %s has no fields", e->name, val_str(L, a, s, sizeof s)); }
    return param_field(L, a, e->name, e->loc, out);
  case E_INDEX: return lower_index(L, e, out);
  case E_LIST: {
    memset(out, 0, sizeof *out);
    out->kind = V_LIST;
    out->nitems = e->nargs;
    out->items = arena_alloc(L->arena, (size_t)(e->nargs ? e->nargs : 1) * sizeof(Val));
    for (int i = 0; i < e->nargs; i++)
      if (!lower_expr(L, e->args[i], &out->items[i])) return 0;
    return 1;
  }
  case E_RANGE: case E_ELLIPSIS:
    return fail(L, e->loc, "a slice ('...' or ':') is only allowed inside x[...]");
  }
  return fail(L, e->loc, "bad expression");
}

int lower_expr(Lower *L, const Expr *e, Val *out) {
  if (L->err.set) return 0;
  if (L->depth >= LOWER_MAX_DEPTH) return fail(L, e->loc, "expression nested too deeply (limit %d)", LOWER_MAX_DEPTH);
  L->depth++;
  int ok = lower_expr1(L, e, out);
  L->depth--;
  if (ok && out->kind == V_TUPLE && e->kind != E_CALL) ok = fail(L, e->loc, "a multi-value result must be destructured");
  return ok && !L->err.set;
}
