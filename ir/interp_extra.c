/* interp_extra.c — reference kernels of the ops added for autodiff (see ops.def): scatter_add. */
#include "interp_internal.h"

/* out[idx[k], j] += src[k, j] over the flattened indices k and row elements j, from zeros */
int interp_scatter_add(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  (void)c;
  const Val *src = in[0], *idx = in[1];
  int64_t rows = out->shape[0], row = rows ? out->numel / rows : 0;
  for (int64_t j = 0; j < out->numel; j++) {
    if (out->isf) out->f[j] = 0;
    else out->i[j] = 0;
  }
  for (int64_t k = 0; k < idx->numel; k++) {
    int64_t r = idx->i[k];
    if (r < 0 || r >= rows) {
      err_set(e, n->loc, "scatter_add: index %lld out of range [0, %lld) at element %lld", (long long)r,
              (long long)rows, (long long)k);
      return 0;
    }
    for (int64_t j = 0; j < row; j++) {
      if (out->isf) out->f[r * row + j] += val_get(src, k * row + j);
      else out->i[r * row + j] = (int64_t)((uint64_t)out->i[r * row + j] + (uint64_t)src->i[k * row + j]);
    }
  }
  return 1;
}
