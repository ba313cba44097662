/* lower_builtin_shape.c — layout and creation builtins: reshape (one -1 inferred), transpose,
 * broadcast_to, slice, pad, concat, chunk (n slices), gather, take_along, one_hot (iota + eq + cast),
 * cumsum, sort_desc, cast, full/zeros/ones, iota, rand_uniform (one stream per call site),
 * rand_normal (two streams, Box-Muller) and the compile-time shape(x, axis). */
#include "lower.h"
#include <string.h>

static int targ(Lower *L, const Expr *e, const char *fn, Val *out) {
  char s[128];
  if (!lower_expr(L, e, out)) return 0;
  if (out->kind != V_TENSOR) return fail(L, e->loc, "'%s' expects a tensor, got %s", fn, val_str(L, *out, s, sizeof s));
  return 1;
}

static int dtype_arg(Lower *L, const Expr *e, DType *dt) {
  Val v;
  if (!lower_expr(L, e, &v)) return 0;
  if (v.kind != V_DTYPE) return fail(L, e->loc, "expected an element type (f32, f64, bf16, f16, i32, i64, bool)");
  *dt = v.dtype;
  return 1;
}

/* A list of dims [d, ...]; allow_infer permits one -1 (returned in *infer, else -1). */
static int dims_arg(Lower *L, const Expr *e, DType dt, Type *t, int *infer) {
  Val v;
  memset(t, 0, sizeof *t);
  t->dtype = dt;
  if (infer) *infer = -1;
  if (!lower_expr(L, e, &v)) return 0;
  if (v.kind != V_LIST) return fail(L, e->loc, "expected a list of dimensions [d, ...]");
  if (v.nitems > DLM_MAX_RANK) return fail(L, e->loc, "rank %d exceeds the limit %d", v.nitems, DLM_MAX_RANK);
  t->rank = v.nitems;
  for (int i = 0; i < v.nitems; i++) {
    Val d = v.items[i];
    if (infer && d.kind == V_NUM && d.is_int && d.ival == -1 && *infer < 0) { *infer = i; t->dims[i] = dim_const(1); continue; }
    if (!val_to_dim(L, d, e->args[i]->loc, &t->dims[i])) return 0;
  }
  return 1;
}

static int ret1(Lower *L, int id, Val *out) {
  if (id < 0) return 0;
  *out = val_tensor(id);
  return 1;
}

static int product(const Type *t, Dim *out) {
  Dim p = dim_const(1);
  for (int i = 0; i < t->rank; i++)
    if (!dim_mul(p, t->dims[i], &p)) return 0;
  *out = p;
  return 1;
}

static int reshape(Lower *L, const Expr *e, const Expr **s, Val *out) {
  Val x;
  Type t;
  int inf;
  if (!targ(L, s[0], e->name, &x)) return 0;
  const Type *xt = val_type(L, x);
  if (!dims_arg(L, s[1], xt->dtype, &t, &inf)) return 0;
  if (inf >= 0) {
    Dim total, known, d;
    if (!product(xt, &total) || !product(&t, &known) || !dim_div(total, known, &d))
      return fail(L, s[1]->loc, "reshape: cannot infer the -1 dimension");
    t.dims[inf] = d;
  }
  return ret1(L, emit(L, OP_RESHAPE, &t, 1, &x.id, NULL, e->loc), out);
}

static int transpose(Lower *L, const Expr *e, const Expr **s, Val *out) {
  Val x, p;
  if (!targ(L, s[0], e->name, &x) || !lower_expr(L, s[1], &p)) return 0;
  if (p.kind != V_LIST) return fail(L, s[1]->loc, "transpose: expected a permutation list [i, ...]");
  int rank = val_type(L, x)->rank;
  if (p.nitems != rank) return fail(L, s[1]->loc, "transpose: permutation has %d entries for rank %d", p.nitems, rank);
  Attrs a = attrs_none();
  for (int i = 0; i < p.nitems; i++) {
    int ax;
    if (p.items[i].kind != V_NUM || !p.items[i].is_int) return fail(L, s[1]->loc, "transpose: entries must be integers");
    if (!norm_axis(L, p.items[i].ival, rank, s[1]->loc, &ax)) return 0;
    for (int j = 0; j < i; j++)
      if (a.i[j] == ax) return fail(L, s[1]->loc, "transpose: axis %d repeated", ax);
    a.i[i] = ax;
  }
  a.ni = p.nitems;
  return ret1(L, emit(L, OP_TRANSPOSE, NULL, 1, &x.id, &a, e->loc), out);
}

static int slice_pad(Lower *L, const Expr *e, const Expr **s, OpKind op, Val *out) {
  Val x;
  int64_t axis, b, c;
  int ax;
  if (!targ(L, s[0], e->name, &x) || !ct_int(L, s[1], &axis) || !ct_int(L, s[2], &b) || !ct_int(L, s[3], &c)) return 0;
  if (!norm_axis(L, axis, val_type(L, x)->rank, s[1]->loc, &ax)) return 0;
  Attrs a = attrs_none();
  a.i[0] = ax; a.i[1] = b; a.i[2] = c; a.i[3] = 1; a.ni = op == OP_SLICE ? 4 : 3;
  if (op == OP_SLICE) {
    Dim d = val_type(L, x)->dims[ax];
    if (b < 0 || c < b || (dim_is_const(d) && c > d.k)) return fail(L, e->loc, "slice: range %lld:%lld out of bounds", (long long)b, (long long)c);
  } else if (b < 0 || c < 0) return fail(L, e->loc, "pad: amounts must be >= 0");
  return ret1(L, emit(L, op, NULL, 1, &x.id, &a, e->loc), out);
}

static int concat(Lower *L, const Expr *e, Val *out) {
  int in[16], n = 0;
  int64_t axis = 0;
  for (int j = 0; j < e->nargs; j++) {
    const char *an = e->argnames ? e->argnames[j] : NULL;
    if (an && strcmp(an, "axis") == 0) { if (!ct_int(L, e->args[j], &axis)) return 0; continue; }
    if (an) return fail(L, e->args[j]->loc, "'concat' has no argument named '%s'", an);
    if (n == 16) return fail(L, e->loc, "concat: at most 16 inputs");
    Val v;
    if (!targ(L, e->args[j], e->name, &v)) return 0;
    in[n++] = v.id;
  }
  if (n < 1) return fail(L, e->loc, "wrong number of arguments: 'concat' takes at least 1 tensor");
  int ax;
  if (!norm_axis(L, axis, L->f->nodes[in[0]].type.rank, e->loc, &ax)) return 0;
  Attrs a = attrs_none();
  a.i[0] = ax; a.ni = 1;
  return ret1(L, emit(L, OP_CONCAT, NULL, n, in, &a, e->loc), out);
}

static int chunk(Lower *L, const Expr *e, const Expr **s, Val *out) {
  Val x;
  int64_t n, axis;
  int ax;
  if (!targ(L, s[0], e->name, &x) || !ct_int(L, s[1], &n)) return 0;
  axis = -1;
  if (s[2] && !ct_int(L, s[2], &axis)) return 0;
  if (n < 1 || n > 64) return fail(L, s[1]->loc, "chunk: count must be in 1..64");
  if (!norm_axis(L, axis, val_type(L, x)->rank, e->loc, &ax)) return 0;
  Dim d = val_type(L, x)->dims[ax];
  if (!dim_is_const(d) || d.k % n) {
    char b[64];
    return fail(L, e->loc, "chunk: dimension %s is not a constant multiple of %lld", dim_str(L->m, d, b, sizeof b), (long long)n);
  }
  memset(out, 0, sizeof *out);
  out->kind = V_TUPLE;
  out->nitems = (int)n;
  out->items = arena_alloc(L->arena, (size_t)n * sizeof(Val));
  int64_t w = d.k / n;
  for (int64_t i = 0; i < n; i++) {
    Attrs a = attrs_none();
    a.i[0] = ax; a.i[1] = i * w; a.i[2] = (i + 1) * w; a.i[3] = 1; a.ni = 4;
    int id = emit(L, OP_SLICE, NULL, 1, &x.id, &a, e->loc);
    if (id < 0) return 0;
    out->items[i] = val_tensor(id);
  }
  if (n == 1) *out = out->items[0];
  return 1;
}

static int one_hot(Lower *L, const Expr *e, const Expr **s, Val *out) {
  Val idx;
  Dim n;
  DType dt = DT_F32;
  if (!targ(L, s[0], e->name, &idx) || !ct_dim(L, s[1], &n) || !dtype_arg(L, s[2], &dt)) return 0;
  Type it = *val_type(L, idx);
  if (!dtype_is_int(it.dtype)) return fail(L, s[0]->loc, "type error: one_hot needs integer indices");
  if (it.rank >= DLM_MAX_RANK) return fail(L, e->loc, "one_hot: rank too large");
  Type rt = it;
  rt.dims[rt.rank++] = dim_const(1);
  int r = emit(L, OP_RESHAPE, &rt, 1, &idx.id, NULL, e->loc);
  Type io = type_scalar(it.dtype);
  io.rank = 1;
  io.dims[0] = n;
  Attrs a = attrs_none();
  a.ni = 1;
  int iota = r < 0 ? -1 : emit(L, OP_IOTA, &io, 0, NULL, &a, e->loc);
  if (iota < 0) return 0;
  int in[2] = {r, iota};
  int eq = emit(L, OP_EQ, NULL, 2, in, NULL, e->loc);
  if (eq < 0) return 0;
  if (dt == DT_BOOL) return ret1(L, eq, out);
  Type ct = L->f->nodes[eq].type;
  ct.dtype = dt;
  return ret1(L, emit(L, OP_CAST, &ct, 1, &eq, NULL, e->loc), out);
}

static int make_const(Lower *L, const Expr *e, const Type *t, Val v, SrcLoc vloc, Val *out) {
  char b[128];
  if (v.kind != V_NUM) return fail(L, vloc, "'%s' needs a compile-time value, got %s", e->name, val_str(L, v, b, sizeof b));
  if (v.is_bool != (t->dtype == DT_BOOL)) return fail(L, vloc, "type error: value does not fit element type %s", dtype_name(t->dtype));
  if (!v.is_int && dtype_is_int(t->dtype)) return fail(L, vloc, "type error: float value %g for integer type %s", v.num, dtype_name(t->dtype));
  Attrs a = attrs_none();
  a.f[0] = v.num;
  return ret1(L, emit(L, OP_CONST, t, 0, NULL, &a, e->loc), out);
}

/* e op k for a tensor e and a number k (weak literal typing: k takes e's dtype) */
static int with_num(Lower *L, OpX op, Val v, double k, SrcLoc loc, Val *out) {
  return binary_op(L, op, v, val_num(k), loc, out);
}

/* z = sqrt(-2 log(1 - u1)) cos(2 pi u2) (Box-Muller; 1 - u1 is in (0, 1], so z is finite). */
static int box_muller(Lower *L, Val u1, Val u2, SrcLoc loc, Val *out) {
  Val a, r, c;
  int id;
  if (!binary_op(L, OPX_SUB, val_num(1), u1, loc, &a) || (id = emit(L, OP_LOG, NULL, 1, &a.id, NULL, loc)) < 0 ||
      !with_num(L, OPX_MUL, val_tensor(id), -2.0, loc, &r) || (id = emit(L, OP_SQRT, NULL, 1, &r.id, NULL, loc)) < 0) return 0;
  r = val_tensor(id);
  if (!with_num(L, OPX_MUL, u2, 6.28318530717958647693, loc, &c) || (id = emit(L, OP_COS, NULL, 1, &c.id, NULL, loc)) < 0) return 0;
  return binary_op(L, OPX_MUL, r, val_tensor(id), loc, out);
}

/* rand_uniform: one Philox stream per call site. rand_normal: two consecutive streams s (u1) and
 * s + 1 (u2), element j of each, combined by box_muller. */
static int rand_builtin(Lower *L, const Expr *e, const Expr **s, int normal, Val *out) {
  Val seed, off;
  DType dt = DT_F32;
  Type t;
  if (!lower_expr(L, s[0], &seed) || !lower_expr(L, s[1], &off) || !dtype_arg(L, s[3], &dt) || !dims_arg(L, s[2], dt, &t, NULL)) return 0;
  if (!dtype_is_float(dt)) return fail(L, s[3]->loc, "%s: the element type must be a float type", e->name);
  int in[2];
  if ((in[0] = materialize(L, seed, seed.kind == V_TENSOR ? val_type(L, seed)->dtype : DT_I64, s[0]->loc)) < 0 ||
      (in[1] = materialize(L, off, off.kind == V_TENSOR ? val_type(L, off)->dtype : DT_I64, s[1]->loc)) < 0) return 0;
  Attrs a = attrs_none();
  a.i[0] = L->stream++;
  a.ni = 1;
  int u1 = emit(L, OP_RAND, &t, 2, in, &a, e->loc);
  if (!normal || u1 < 0) return ret1(L, u1, out);
  a.i[0] = L->stream++;
  int u2 = emit(L, OP_RAND, &t, 2, in, &a, e->loc);
  if (u2 < 0) return 0;
  return box_muller(L, val_tensor(u1), val_tensor(u2), e->loc, out);
}

int lower_builtin_shape(Lower *L, const Expr *e, Val *out) {
  const char *n = e->name;
  const Expr *s[4];
  Val x, v;
  Type t;
  DType dt = DT_F32;
#define SLOTS(req, ...) do { static const char *const nm_[] = {__VA_ARGS__}; \
    if (!call_slots(L, e, nm_, (int)(sizeof nm_ / sizeof *nm_), req, s)) return 0; } while (0)
  if (strcmp(n, "concat") == 0) return concat(L, e, out);
  if (!need_tensor_ctx(L, e->loc) && strcmp(n, "shape") != 0) return 0;
  if (strcmp(n, "reshape") == 0) { SLOTS(2, "x", "shape"); return reshape(L, e, s, out); }
  if (strcmp(n, "transpose") == 0) { SLOTS(2, "x", "perm"); return transpose(L, e, s, out); }
  if (strcmp(n, "broadcast_to") == 0) {
    SLOTS(2, "x", "shape");
    if (!targ(L, s[0], n, &x) || !dims_arg(L, s[1], val_type(L, x)->dtype, &t, NULL)) return 0;
    return ret1(L, emit(L, OP_BROADCAST, &t, 1, &x.id, NULL, e->loc), out);
  }
  if (strcmp(n, "slice") == 0) { SLOTS(4, "x", "axis", "start", "end"); return slice_pad(L, e, s, OP_SLICE, out); }
  if (strcmp(n, "pad") == 0) { SLOTS(4, "x", "axis", "before", "after"); return slice_pad(L, e, s, OP_PAD, out); }
  if (strcmp(n, "chunk") == 0) { SLOTS(2, "x", "n", "axis"); return chunk(L, e, s, out); }
  if (strcmp(n, "gather") == 0 || strcmp(n, "take_along") == 0) {
    Val idx;
    SLOTS(2, "x", "idx");
    if (!targ(L, s[0], n, &x) || !targ(L, s[1], n, &idx)) return 0;
    if (!dtype_is_int(val_type(L, idx)->dtype)) return fail(L, s[1]->loc, "type error: '%s' needs integer indices", n);
    int in[2] = {x.id, idx.id};
    return ret1(L, emit(L, n[0] == 'g' ? OP_GATHER : OP_TAKE, NULL, 2, in, NULL, e->loc), out);
  }
  if (strcmp(n, "one_hot") == 0) { SLOTS(3, "idx", "n", "dtype"); return one_hot(L, e, s, out); }
  if (strcmp(n, "cumsum") == 0) {
    int64_t axis = -1;
    int ax;
    SLOTS(1, "x", "axis");
    if (!targ(L, s[0], n, &x) || (s[1] && !ct_int(L, s[1], &axis))) return 0;
    if (!norm_axis(L, axis, val_type(L, x)->rank, e->loc, &ax)) return 0;
    Attrs a = attrs_none();
    a.i[0] = ax; a.ni = 1;
    return ret1(L, emit(L, OP_CUMSUM, NULL, 1, &x.id, &a, e->loc), out);
  }
  if (strcmp(n, "sort_desc") == 0) {
    SLOTS(1, "x");
    if (!targ(L, s[0], n, &x)) return 0;
    return ret1(L, emit(L, OP_SORT_DESC, NULL, 1, &x.id, NULL, e->loc), out);
  }
  if (strcmp(n, "cast") == 0) {
    SLOTS(2, "x", "dtype");
    if (!lower_expr(L, s[0], &x) || !dtype_arg(L, s[1], &dt)) return 0;
    if (x.kind == V_NUM) {
      Type st = type_scalar(dt);
      if (dtype_is_int(dt) && !x.is_int) { x = val_int((int64_t)x.num); }
      x.is_bool = dt == DT_BOOL;
      if (x.is_bool) x = val_bool(x.num != 0);
      return make_const(L, e, &st, x, s[0]->loc, out);
    }
    if (x.kind != V_TENSOR) return fail(L, s[0]->loc, "'cast' expects a tensor");
    t = *val_type(L, x);
    t.dtype = dt;
    return ret1(L, emit(L, OP_CAST, &t, 1, &x.id, NULL, e->loc), out);
  }
  if (strcmp(n, "full") == 0) {
    SLOTS(3, "shape", "value", "dtype");
    if (!dtype_arg(L, s[2], &dt) || !dims_arg(L, s[0], dt, &t, NULL) || !lower_expr(L, s[1], &v)) return 0;
    return make_const(L, e, &t, v, s[1]->loc, out);
  }
  if (strcmp(n, "zeros") == 0 || strcmp(n, "ones") == 0) {
    SLOTS(2, "shape", "dtype");
    if (!dtype_arg(L, s[1], &dt) || !dims_arg(L, s[0], dt, &t, NULL)) return 0;
    v = dt == DT_BOOL ? val_bool(n[0] == 'o') : val_int(n[0] == 'o');
    return make_const(L, e, &t, v, e->loc, out);
  }
  if (strcmp(n, "iota") == 0) {
    int64_t axis;
    int ax;
    SLOTS(3, "shape", "axis", "dtype");
    if (!dtype_arg(L, s[2], &dt) || !dims_arg(L, s[0], dt, &t, NULL) || !ct_int(L, s[1], &axis)) return 0;
    if (!norm_axis(L, axis, t.rank, s[1]->loc, &ax)) return 0;
    Attrs a = attrs_none();
    a.i[0] = ax; a.ni = 1;
    return ret1(L, emit(L, OP_IOTA, &t, 0, NULL, &a, e->loc), out);
  }
  if (strcmp(n, "rand_uniform") == 0) { SLOTS(4, "seed", "offset", "shape", "dtype"); return rand_builtin(L, e, s, 0, out); }
  if (strcmp(n, "rand_normal") == 0) { SLOTS(4, "seed", "offset", "shape", "dtype"); return rand_builtin(L, e, s, 1, out); }
  if (strcmp(n, "shape") == 0) {
    int64_t axis;
    int ax;
    SLOTS(2, "x", "axis");
    if (!targ(L, s[0], n, &x) || !ct_int(L, s[1], &axis)) return 0;
    if (!norm_axis(L, axis, val_type(L, x)->rank, s[1]->loc, &ax)) return 0;
    *out = val_dimv(val_type(L, x)->dims[ax]);
    return 1;
  }
#undef SLOTS
  return fail(L, e->loc, "unknown function '%s'", n);
}
