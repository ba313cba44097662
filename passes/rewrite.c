/* rewrite.c — helpers for passes that rebuild a function in one forward sweep (see passes.h):
 * old nodes are copied, replaced or forwarded, and the result is compact and in topological order
 * by construction. */
#include "passes.h"
#include <stdlib.h>
#include <string.h>

void rw_begin(Rewrite *rw, Module *m, Func *f) {
  rw->m = m;
  rw->f = f;
  rw->old = f->nodes;
  rw->nold = f->nnodes;
  rw->map = arena_alloc(m->arena, (size_t)(f->nnodes ? f->nnodes : 1) * sizeof *rw->map);
  for (int i = 0; i < f->nnodes; i++) rw->map[i] = -1;
  f->nodes = NULL;
  f->nnodes = 0;
  f->cap = 0;
}

int rw_new(const Rewrite *rw, int old) {
  if (old < 0 || old >= rw->nold || rw->map[old] < 0) {
    fprintf(stderr, "internal error: rewrite of %s uses dropped value %%%d\n", rw->f->name, old);
    abort();
  }
  return rw->map[old];
}

void rw_map(Rewrite *rw, int old, int newid) { rw->map[old] = newid; }

int rw_emit(Rewrite *rw, OpKind op, const Type *given, int nin, const int *newin, const Attrs *a,
            SrcLoc loc, const char *name, DlmErr *e) {
  int id = ir_emit(rw->m, rw->f, op, given, nin, newin, a, loc, e);
  if (id >= 0 && name) rw->f->nodes[id].name = name;
  return id;
}

int rw_copy(Rewrite *rw, int old, DlmErr *e) {
  const Node *n = &rw->old[old];
  int in[64];
  if (n->nin > (int)(sizeof in / sizeof *in)) {
    err_set(e, n->loc, "%s: too many inputs (%d)", op_info[n->op].name, n->nin);
    return -1;
  }
  for (int i = 0; i < n->nin; i++) in[i] = rw_new(rw, n->in[i]);
  int id = rw_emit(rw, n->op, &n->type, n->nin, in, &n->attr, n->loc, n->name, e);
  if (id >= 0) rw->map[old] = id;
  return id;
}

void rw_end(Rewrite *rw) {
  for (int i = 0; i < rw->f->nout; i++) rw->f->outs[i] = rw_new(rw, rw->f->outs[i]);
}

int node_const_value(const Func *f, int id, double *value) {
  if (id < 0 || id >= f->nnodes || f->nodes[id].op != OP_CONST) return 0;
  *value = f->nodes[id].attr.f[0];
  return 1;
}
