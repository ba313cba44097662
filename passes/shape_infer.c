/* shape_infer.c — re-derives the type of every node from its inputs with the op's shape rule
 * (ops.def) and checks it against the type the node carries; a mismatch is reported at the node's
 * source location. The module is not changed. */
#include "passes.h"

static int check_node(const Module *m, const Func *f, int id, DlmErr *e) {
  const Node *n = &f->nodes[id];
  const OpInfo *oi = &op_info[n->op];
  const Type *in[16];
  if (n->nin > 16) {
    err_set(e, n->loc, "in %s: %%%d = %s has too many inputs (%d)", f->name, id, oi->name, n->nin);
    return 0;
  }
  for (int i = 0; i < n->nin; i++) {
    if (n->in[i] < 0 || n->in[i] >= id) {
      err_set(e, n->loc, "in %s: %%%d = %s uses %%%d, which is not defined before it", f->name, id, oi->name, n->in[i]);
      return 0;
    }
    in[i] = &f->nodes[n->in[i]].type;
  }
  Type derived = n->type;
  DlmErr se = {0};
  if (!oi->shape(m, n, in, &derived, &se)) {
    err_set(e, n->loc, "in %s: %%%d = %s: %s", f->name, id, oi->name, se.set ? se.msg : "invalid operands");
    return 0;
  }
  if (!type_eq(&derived, &n->type)) {
    char a[160], b[160];
    err_set(e, n->loc, "in %s: %%%d = %s has type %s, but its inputs give %s", f->name, id, oi->name,
            type_str(m, &n->type, a, sizeof a), type_str(m, &derived, b, sizeof b));
    return 0;
  }
  return 1;
}

int pass_shape_infer(Module *m, DlmErr *e) {
  for (int fi = 0; fi < m->nfuncs; fi++) {
    const Func *f = m->funcs[fi];
    for (int id = 0; id < f->nnodes; id++)
      if (!check_node(m, f, id, e)) return -1;
  }
  return 0;
}
