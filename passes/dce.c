/* dce.c — dead code elimination: removes the nodes that no function output depends on, keeping
 * every argument (the calling convention), and renumbers the rest compactly in their old order, so
 * the function stays in topological order. */
#include "passes.h"

static int dce_func(Module *m, Func *f, DlmErr *e) {
  char *live = arena_alloc(m->arena, (size_t)(f->nnodes ? f->nnodes : 1));
  for (int i = 0; i < f->nout; i++)
    if (f->outs[i] >= 0 && f->outs[i] < f->nnodes) live[f->outs[i]] = 1;
  for (int id = f->nnodes - 1; id >= 0; id--) {
    const Node *n = &f->nodes[id];
    if (n->op == OP_ARG) live[id] = 1;
    if (!live[id]) continue;
    for (int i = 0; i < n->nin; i++)
      if (n->in[i] >= 0 && n->in[i] < id) live[n->in[i]] = 1;
  }
  int dead = 0;
  for (int id = 0; id < f->nnodes; id++) dead += !live[id];
  if (!dead) return 0;
  Rewrite rw;
  rw_begin(&rw, m, f);
  for (int old = 0; old < rw.nold; old++)
    if (live[old] && rw_copy(&rw, old, e) < 0) return -1;
  rw_end(&rw);
  return dead;
}

int pass_dce(Module *m, DlmErr *e) {
  int changes = 0;
  for (int fi = 0; fi < m->nfuncs; fi++) {
    int c = dce_func(m, m->funcs[fi], e);
    if (c < 0) return -1;
    changes += c;
  }
  return changes;
}
