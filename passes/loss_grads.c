/* loss_grads.c — the training objectives of a module: the functions named `loss` or `*_loss`
 * (`curriculum_loss`, `distill_loss`, ...; ad_grad reports one it cannot differentiate). The
 * artifact writer and the CUDA target add "<name>.grad" (ad_grad of the first output over every
 * trained parameter) for each, so `dlmrun train --loss` can switch between them by step (e.g.
 * Duo's curriculum_loss, then loss) and `dlmrun distill` finds distill_loss.grad. */
#include "autodiff.h"
#include <string.h>

int ad_is_loss(const Func *f) {
  size_t n = strlen(f->name);
  return strcmp(f->name, "loss") == 0 || (n > 5 && strcmp(f->name + n - 5, "_loss") == 0);
}

int ad_loss_grads(Module *m, DlmErr *e) {
  int added = 0, n = m->nfuncs;
  for (int i = 0; i < n; i++) {
    const Func *f = m->funcs[i];
    char name[512];
    snprintf(name, sizeof name, "%s.grad", f->name);
    if (!ad_is_loss(f) || ir_func_find(m, name)) continue;
    if (!ad_grad(m, f, 0, NULL, 0, 1, e)) return -1;
    added++;
  }
  return added;
}
