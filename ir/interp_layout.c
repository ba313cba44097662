/* interp_layout.c — reference kernels for the layout ops: reshape (a copy), transpose,
 * broadcast_to, slice, pad (zero fill), concat, gather (rows of a table), take_along (last axis).
 * Out-of-range indices in gather / take_along are errors. */
#include "interp_internal.h"
#include <string.h>

static void put(Val *out, int64_t k, const Val *a, int64_t j) {
  if (out->isf) out->f[k] = val_get(a, j);
  else out->i[k] = a->i[j];
}

int interp_copy(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  if (in[0]->numel != out->numel) {
    err_set(e, n->loc, "reshape: %lld elements cannot become %lld", (long long)in[0]->numel, (long long)out->numel);
    return 0;
  }
  for (int64_t k = 0; k < out->numel; k++) put(out, k, in[0], k);
  return 1;
}

int interp_transpose(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  const Val *a = in[0];
  int64_t st[DLM_MAX_RANK];
  interp_strides(a, st);
  Odo o;
  odo_init(&o, out->rank, out->shape, 1);
  for (int d = 0; d < out->rank; d++) o.st[0][d] = st[n->attr.i[d]];
  for (int64_t k = 0; k < out->numel; k++, odo_next(&o)) put(out, k, a, o.off[0]);
  return 1;
}

int interp_broadcast(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  Odo o;
  odo_init(&o, out->rank, out->shape, 1);
  interp_bcast_strides(in[0], out->rank, out->shape, o.st[0]);
  for (int64_t k = 0; k < out->numel; k++, odo_next(&o)) put(out, k, in[0], o.off[0]);
  return 1;
}

/* slice: element j along axis comes from start + j*step (the shape rule keeps it in range). */
int interp_slice(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  const Val *a = in[0];
  int axis;
  if (!interp_norm_axis(n->attr.i[0], a->rank, &axis)) { err_set(e, n->loc, "slice: axis out of range"); return 0; }
  int64_t outer, len, inner, olen = out->shape[axis];
  interp_split_axis(a, axis, &outer, &len, &inner);
  int64_t start = n->attr.i[1], step = n->attr.i[3];
  if (olen > 0 && (start < 0 || step < 1 || start + (olen - 1) * step >= len)) {
    err_set(e, n->loc, "slice: range out of bounds for a dim of %lld", (long long)len);
    return 0;
  }
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < olen; j++)
      for (int64_t i = 0; i < inner; i++)
        put(out, (o * olen + j) * inner + i, a, (o * len + start + j * step) * inner + i);
  return 1;
}

int interp_pad(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  const Val *a = in[0];
  int axis;
  if (!interp_norm_axis(n->attr.i[0], a->rank, &axis)) { err_set(e, n->loc, "pad: axis out of range"); return 0; }
  int64_t outer, len, inner, olen = out->shape[axis], before = n->attr.i[1];
  interp_split_axis(a, axis, &outer, &len, &inner);
  if (before < 0 || before + len > olen) { err_set(e, n->loc, "pad: padding does not fit the result"); return 0; }
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < len; j++)
      for (int64_t i = 0; i < inner; i++)
        put(out, (o * olen + before + j) * inner + i, a, (o * len + j) * inner + i);
  return 1;
}

int interp_concat(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  int axis;
  if (!interp_norm_axis(n->attr.i[0], out->rank, &axis)) { err_set(e, n->loc, "concat: axis out of range"); return 0; }
  int64_t outer, olen, inner, at = 0;
  interp_split_axis(out, axis, &outer, &olen, &inner);
  for (int t = 0; t < n->nin; t++) {
    const Val *a = in[t];
    int64_t len = a->shape[axis];
    if (at + len > olen) { err_set(e, n->loc, "concat: inputs longer than the result"); return 0; }
    for (int64_t o = 0; o < outer; o++)
      for (int64_t j = 0; j < len; j++)
        for (int64_t i = 0; i < inner; i++)
          put(out, (o * olen + at + j) * inner + i, a, (o * len + j) * inner + i);
    at += len;
  }
  return 1;
}

/* gather(table, idx): out[i..., r...] = table[idx[i...], r...]. */
int interp_gather(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  const Val *t = in[0], *idx = in[1];
  int64_t rows = t->shape[0], row = rows ? t->numel / rows : 0;
  for (int64_t k = 0; k < idx->numel; k++) {
    int64_t r = idx->i[k];
    if (r < 0 || r >= rows) {
      err_set(e, n->loc, "gather: index %lld out of range [0, %lld) at element %lld", (long long)r, (long long)rows, (long long)k);
      return 0;
    }
    for (int64_t j = 0; j < row; j++) put(out, k * row + j, t, r * row + j);
  }
  return 1;
}

/* take_along(x, idx): out[..., k] = x[..., idx[..., k]]; x and idx have the same leading dims. */
int interp_take(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  const Val *x = in[0], *idx = in[1];
  int64_t nx = x->shape[x->rank - 1], kk = out->shape[out->rank - 1];
  int64_t rows = kk ? out->numel / kk : 0;
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < kk; j++) {
      int64_t p = idx->i[r * kk + j];
      if (p < 0 || p >= nx) {
        err_set(e, n->loc, "take_along: index %lld out of range [0, %lld)", (long long)p, (long long)nx);
        return 0;
      }
      put(out, r * kk + j, x, r * nx + p);
    }
  return 1;
}
