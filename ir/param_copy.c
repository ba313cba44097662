/* param_copy.c — frozen parameter copies (see ir.h): which parameter a "frozen_copy:<dst>" meta entry
 * makes parameter p a copy of, and refreshing the copies of a parameter store from their sources. */
#include "tensor.h"
#include <stdio.h>
#include <string.h>

int ir_param_copy_source(const Module *m, int p) {
  if (p < 0 || p >= m->nparams) return -1;
  const char *name = m->params[p].name;
  size_t klen = strlen(IR_FROZEN_COPY_META);
  for (int i = 0; i < m->nmeta; i++) {
    if (strncmp(m->meta_keys[i], IR_FROZEN_COPY_META, klen) != 0) continue;
    const char *dst = m->meta_keys[i] + klen;
    size_t dlen = strlen(dst);
    if (strncmp(name, dst, dlen) != 0 || (name[dlen] != '\0' && name[dlen] != '.')) continue;
    char src[1024];
    if ((size_t)snprintf(src, sizeof src, "%s%s", m->meta_vals[i], name + dlen) >= sizeof src) return -1;
    int s = ir_param_find(m, src);
    return s == p ? -1 : s;
  }
  return -1;
}

int pstore_fill_copies(const Module *m, ParamStore *ps) {
  for (int p = 0; p < m->nparams; p++) {
    int s = ir_param_copy_source(m, p);
    if (s < 0) continue;
    const Tensor *src = pstore_get(ps, m->params[s].name);
    Tensor *dst = pstore_get(ps, m->params[p].name);
    if (!src) return 0;
    if (dst && dst->dtype == src->dtype && dst->numel == src->numel) {
      memcpy(dst->data, src->data, (size_t)src->numel * dtype_size(src->dtype));
      continue;
    }
    Tensor *c = tensor_clone(src);
    if (!c || !pstore_put(ps, m->params[p].name, c)) { tensor_free(c); return 0; }
  }
  return 1;
}
