/* lower_index.c — postfix indexing: `net.blocks[k]` selects a parameter group; on tensors,
 * `x[..., a:b]`, `x[:, 0]` lower to slices (an integer index also drops its axis by a reshape). */
#include "lower.h"
#include <string.h>

int norm_axis(Lower *L, int64_t axis, int rank, SrcLoc loc, int *out) {
  if (axis < -rank || axis >= rank) return fail(L, loc, "axis %lld out of range for rank %d", (long long)axis, rank);
  *out = (int)(axis < 0 ? axis + rank : axis);
  return 1;
}

static int bound(Lower *L, const Expr *e, Dim dim, int64_t dflt, int64_t *out) {
  if (!e) { *out = dflt; return 1; }
  if (!ct_int(L, e, out)) return 0;
  if (*out < 0) {
    if (!dim_is_const(dim)) return fail(L, e->loc, "negative index on a symbolic dimension");
    *out += dim.k;
  }
  if (*out < 0 || (dim_is_const(dim) && *out > dim.k)) return fail(L, e->loc, "index out of range (dimension %lld)", (long long)dim.k);
  return 1;
}

static int slice_axis(Lower *L, int *cur, const Expr *item, int ax, SrcLoc loc) {
  const Type *t = &L->f->nodes[*cur].type;
  Dim d = t->dims[ax];
  int64_t start, end;
  int drop = item->kind != E_RANGE;
  if (drop) {
    if (!bound(L, item, d, 0, &start)) return 0;
    end = start + 1;
    if (dim_is_const(d) && end > d.k) return fail(L, item->loc, "index %lld out of range (dimension %lld)", (long long)start, (long long)d.k);
  } else {
    if (!item->a && !item->b) return 1;
    if (!item->b && !dim_is_const(d)) {
      char s[64];
      return fail(L, item->loc, "slice end must be given for symbolic dimension %s", dim_str(L->m, d, s, sizeof s));
    }
    if (!bound(L, item->a, d, 0, &start) || !bound(L, item->b, d, d.k, &end)) return 0;
    if (end < start) return fail(L, item->loc, "empty slice %lld:%lld", (long long)start, (long long)end);
  }
  Attrs a = attrs_none();
  a.i[0] = ax; a.i[1] = start; a.i[2] = end; a.i[3] = 1; a.ni = 4;
  int id = emit(L, OP_SLICE, NULL, 1, cur, &a, loc);
  if (id < 0) return 0;
  if (drop) {
    Type nt = L->f->nodes[id].type;
    for (int i = ax; i + 1 < nt.rank; i++) nt.dims[i] = nt.dims[i + 1];
    nt.rank--;
    id = emit(L, OP_RESHAPE, &nt, 1, &id, NULL, loc);
    if (id < 0) return 0;
  }
  *cur = id;
  return 1;
}

int lower_index(Lower *L, const Expr *e, Val *out) {
  Val base;
  char s[128];
  if (!lower_expr(L, e->a, &base)) return 0;
  if (base.kind == V_PARAMARR) {
    int64_t k;
    if (e->nargs != 1) return fail(L, e->loc, "a parameter array takes one index");
    if (e->args[0]->kind == E_RANGE || e->args[0]->kind == E_ELLIPSIS) return fail(L, e->loc, "a parameter array cannot be sliced");
    if (!ct_int(L, e->args[0], &k)) return 0;
    return param_index(L, base, k, e->loc, out);
  }
  if (base.kind != V_TENSOR) return fail(L, e->loc, "cannot index %s", val_str(L, base, s, sizeof s));
  int rank = val_type(L, base)->rank, nell = 0, n = 0, ell = -1;
  for (int i = 0; i < e->nargs; i++) {
    if (e->args[i]->kind == E_ELLIPSIS) { nell++; ell = i; }
    else n++;
  }
  if (nell > 1) return fail(L, e->loc, "at most one '...' in an index");
  if (n > rank) return fail(L, e->loc, "too many indices (%d) for a tensor of rank %d", n, rank);
  int cur = base.id;
  for (int i = e->nargs - 1; i >= 0; i--) {
    if (e->args[i]->kind == E_ELLIPSIS) continue;
    int ax = (ell >= 0 && i > ell) ? rank - (e->nargs - i) : i;
    if (!slice_axis(L, &cur, e->args[i], ax, e->loc)) return 0;
  }
  *out = val_tensor(cur);
  return 1;
}
