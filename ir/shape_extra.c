/* shape_extra.c — shape rules of the ops added for autodiff (see ops.def): scatter_add, the adjoint
 * of gather. */
#include "ir.h"

static int fail(const Module *m, const Node *n, DlmErr *e, const char *what, const Type *a, const Type *b) {
  char sa[128], sb[128];
  err_set(e, n->loc, "%s: %s: %s and %s", op_info[n->op].name, what, type_str(m, a, sa, sizeof sa),
          type_str(m, b, sb, sizeof sb));
  return 0;
}

/* scatter_add(src[I..., R...], idx[I...]) with declared type [V, R...]; the result dtype is src's */
int shape_scatter_add(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (n->nin != 2) {
    err_set(e, n->loc, "scatter_add takes 2 inputs, got %d", n->nin);
    return 0;
  }
  const Type *src = in[0], *idx = in[1];
  Type t = n->type;
  t.dtype = src->dtype;
  if (!dtype_is_int(idx->dtype)) return fail(m, n, e, "indices must be i32 or i64", src, idx);
  if (src->dtype == DT_BOOL) return fail(m, n, e, "expects a numeric source", src, idx);
  if (t.rank < 1 || t.rank > DLM_MAX_RANK) return fail(m, n, e, "the declared result needs at least one axis", src, &t);
  for (int i = 0; i < t.rank; i++)
    if (t.dims[i].k < 0) return fail(m, n, e, "negative dimension in the declared result", src, &t);
  if (src->rank != idx->rank + t.rank - 1) return fail(m, n, e, "source rank is not indices rank + result rank - 1", src, idx);
  for (int i = 0; i < idx->rank; i++)
    if (!dim_eq(src->dims[i], idx->dims[i])) return fail(m, n, e, "leading source dimensions differ from the indices", src, idx);
  for (int i = 1; i < t.rank; i++)
    if (!dim_eq(src->dims[idx->rank + i - 1], t.dims[i]))
      return fail(m, n, e, "trailing source dimensions differ from the result rows", src, &t);
  *out = t;
  return 1;
}
