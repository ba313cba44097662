/* interp_reduce.c — reference kernels for the reductions (sum, mean, reduce_max, logsumexp, argmax,
 * sum_to), the normalizations (softmax, log_softmax, layer_norm) and the scans along an axis
 * (cumsum, sort_desc). Accumulation is in double (int64 for integer sums, wrapping). */
#include "interp_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Reduce one strided row of len elements starting at in offset base. */
static double row_max(const Val *a, int64_t base, int64_t len, int64_t stride) {
  double m = -INFINITY;
  for (int64_t j = 0; j < len; j++) {
    double x = val_get(a, base + j * stride);
    if (isnan(x)) return x;
    if (x > m) m = x;
  }
  return m;
}

static double row_logsumexp(const Val *a, int64_t base, int64_t len, int64_t stride) {
  double m = row_max(a, base, len, stride);
  if (isnan(m) || isinf(m)) return m; /* +inf, NaN propagate; all -inf (or empty) gives -inf */
  double s = 0;
  for (int64_t j = 0; j < len; j++) s += exp(val_get(a, base + j * stride) - m);
  return m + log(s);
}

/* Index of the first maximum; a NaN counts as the maximum (the first NaN wins). */
static int64_t row_argmax(const Val *a, int64_t base, int64_t len, int64_t stride) {
  int64_t best = 0;
  if (!a->isf) {
    for (int64_t j = 1; j < len; j++)
      if (a->i[base + j * stride] > a->i[base + best * stride]) best = j;
    return best;
  }
  for (int64_t j = 0; j < len; j++) {
    double x = a->f[base + j * stride], b = a->f[base + best * stride];
    if (isnan(x)) return j;
    if (x > b) best = j;
  }
  return best;
}

int interp_reduce(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  const Val *a = in[0];
  int axis;
  if (!interp_norm_axis(n->attr.i[0], a->rank, &axis)) { err_set(e, n->loc, "%s: axis out of range", op_info[n->op].name); return 0; }
  int64_t outer, len, inner;
  interp_split_axis(a, axis, &outer, &len, &inner);
  if (len == 0 && (n->op == OP_RMAX || n->op == OP_ARGMAX || n->op == OP_MEAN)) {
    err_set(e, n->loc, "%s: reduction over an empty axis", op_info[n->op].name);
    return 0;
  }
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t base = o * len * inner + i, k = o * inner + i;
      if (n->op == OP_ARGMAX) { out->i[k] = row_argmax(a, base, len, inner); continue; }
      if (!a->isf) { /* integer sum / max (mean and logsumexp take floats only) */
        uint64_t s = 0;
        int64_t m = len ? a->i[base] : 0;
        for (int64_t j = 0; j < len; j++) {
          int64_t x = a->i[base + j * inner];
          s += (uint64_t)x;
          if (x > m) m = x;
        }
        out->i[k] = n->op == OP_RMAX ? m : (int64_t)s;
        continue;
      }
      double r;
      if (n->op == OP_RMAX) r = row_max(a, base, len, inner);
      else if (n->op == OP_LOGSUMEXP) r = row_logsumexp(a, base, len, inner);
      else {
        r = 0;
        for (int64_t j = 0; j < len; j++) r += val_get(a, base + j * inner);
        if (n->op == OP_MEAN) r /= (double)len;
      }
      out->f[k] = r;
    }
  return 1;
}

/* sum_to: the input is the broadcast of the output shape; sum every input element into the output
 * element it was broadcast from. */
int interp_sum_to(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  const Val *a = in[0];
  Odo o;
  odo_init(&o, a->rank, a->shape, 1);
  interp_bcast_strides(out, a->rank, a->shape, o.st[0]);
  for (int64_t k = 0; k < a->numel; k++, odo_next(&o)) {
    if (out->isf) out->f[o.off[0]] += val_get(a, k);
    else out->i[o.off[0]] = (int64_t)((uint64_t)out->i[o.off[0]] + (uint64_t)a->i[k]);
  }
  return 1;
}

int interp_softmax(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  const Val *a = in[0];
  int axis;
  if (!interp_norm_axis(n->attr.i[0], a->rank, &axis)) { err_set(e, n->loc, "%s: axis out of range", op_info[n->op].name); return 0; }
  int64_t outer, len, inner;
  interp_split_axis(a, axis, &outer, &len, &inner);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t base = o * len * inner + i;
      double m = row_max(a, base, len, inner), s = 0;
      for (int64_t j = 0; j < len; j++) s += exp(val_get(a, base + j * inner) - m);
      for (int64_t j = 0; j < len; j++) {
        double z = val_get(a, base + j * inner) - m;
        out->f[base + j * inner] = n->op == OP_SOFTMAX ? exp(z) / s : z - log(s);
      }
    }
  return 1;
}

int interp_layer_norm(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  const Val *a = in[0];
  if (a->rank == 0) { err_set(e, n->loc, "layer_norm: needs an input of rank >= 1"); return 0; }
  int64_t len = a->shape[a->rank - 1], rows = len ? a->numel / len : 0;
  double eps = n->attr.f[0];
  for (int64_t r = 0; r < rows; r++) {
    int64_t base = r * len;
    double mean = 0, var = 0;
    for (int64_t j = 0; j < len; j++) mean += val_get(a, base + j);
    mean /= (double)len;
    for (int64_t j = 0; j < len; j++) {
      double d = val_get(a, base + j) - mean;
      var += d * d;
    }
    var /= (double)len;
    double inv = 1 / sqrt(var + eps);
    for (int64_t j = 0; j < len; j++) out->f[base + j] = (val_get(a, base + j) - mean) * inv;
  }
  return 1;
}

int interp_cumsum(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  const Val *a = in[0];
  int axis;
  if (!interp_norm_axis(n->attr.i[0], a->rank, &axis)) { err_set(e, n->loc, "cumsum: axis out of range"); return 0; }
  int64_t outer, len, inner;
  interp_split_axis(a, axis, &outer, &len, &inner);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t base = o * len * inner + i;
      double s = 0;
      uint64_t si = 0;
      for (int64_t j = 0; j < len; j++) {
        int64_t k = base + j * inner;
        if (out->isf) out->f[k] = s += val_get(a, k);
        else out->i[k] = (int64_t)(si += (uint64_t)a->i[k]);
      }
    }
  return 1;
}

/* Descending order with NaN first (largest); ties keep their input order (the merge is stable). */
static int before(const Val *a, int64_t x, int64_t y) {
  if (!a->isf) return a->i[x] > a->i[y];
  double u = a->f[x], v = a->f[y];
  if (isnan(u)) return !isnan(v);
  return u > v;
}

static void merge_sort(const Val *a, int64_t *idx, int64_t *tmp, int64_t len) {
  for (int64_t w = 1; w < len; w *= 2) {
    for (int64_t lo = 0; lo < len; lo += 2 * w) {
      int64_t mid = lo + w < len ? lo + w : len, hi = lo + 2 * w < len ? lo + 2 * w : len;
      int64_t p = lo, q = mid, t = lo;
      while (p < mid && q < hi) tmp[t++] = before(a, idx[q], idx[p]) ? idx[q++] : idx[p++];
      while (p < mid) tmp[t++] = idx[p++];
      while (q < hi) tmp[t++] = idx[q++];
    }
    memcpy(idx, tmp, (size_t)len * sizeof *idx);
  }
}

int interp_sort_desc(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  const Val *a = in[0];
  int64_t len = a->rank ? a->shape[a->rank - 1] : 1, rows = len ? a->numel / len : 0;
  int64_t *idx = malloc((size_t)(len ? len : 1) * 2 * sizeof *idx);
  if (!idx) { err_set(e, n->loc, "sort_desc: out of memory"); return 0; }
  for (int64_t r = 0; r < rows; r++) {
    int64_t base = r * len;
    for (int64_t j = 0; j < len; j++) idx[j] = base + j;
    merge_sort(a, idx, idx + len, len);
    for (int64_t j = 0; j < len; j++) {
      if (out->isf) out->f[base + j] = val_get(a, idx[j]);
      else out->i[base + j] = a->i[idx[j]];
    }
  }
  free(idx);
  return 1;
}
