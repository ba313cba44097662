/* cse.c — common subexpression elimination: a node with the same op, inputs, attributes and type
 * as an earlier node is replaced by that node. Function arguments are never merged. All ops are
 * pure; two rand_uniform nodes are merged only when stream, seed, offset and type all agree, and
 * then they produce the same numbers anyway. Attribute values are compared bit for bit. */
#include "passes.h"
#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

static uint64_t bits(double d) { uint64_t u; memcpy(&u, &d, sizeof u); return u; }

static uint64_t node_hash(const Node *n) {
  uint64_t h = mix((uint64_t)n->op, (uint64_t)n->nin);
  for (int i = 0; i < n->nin; i++) h = mix(h, (uint64_t)n->in[i]);
  for (int i = 0; i < DLM_MAX_IATTR; i++) h = mix(h, (uint64_t)n->attr.i[i]);
  for (int i = 0; i < DLM_MAX_FATTR; i++) h = mix(h, bits(n->attr.f[i]));
  for (const char *s = n->attr.s; s && *s; s++) h = mix(h, (unsigned char)*s);
  h = mix(h, (uint64_t)n->type.dtype);
  for (int i = 0; i < n->type.rank; i++) h = mix(mix(h, (uint64_t)n->type.dims[i].k), n->type.dims[i].syms);
  return h;
}

static int same_node(const Node *a, const Node *b) {
  if (a->op != b->op || a->nin != b->nin || a->attr.ni != b->attr.ni) return 0;
  if (memcmp(a->in, b->in, (size_t)a->nin * sizeof *a->in)) return 0;
  if (memcmp(a->attr.i, b->attr.i, sizeof a->attr.i)) return 0;
  for (int i = 0; i < DLM_MAX_FATTR; i++)
    if (bits(a->attr.f[i]) != bits(b->attr.f[i])) return 0;
  if ((a->attr.s == NULL) != (b->attr.s == NULL)) return 0;
  if (a->attr.s && strcmp(a->attr.s, b->attr.s)) return 0;
  return type_eq(&a->type, &b->type);
}

/* Open-addressing table of new ids, sized for the whole function. */
typedef struct { int *slot; size_t mask; } Table;

static int cse_func(Module *m, Func *f, DlmErr *e) {
  size_t cap = 16;
  while (cap < (size_t)f->nnodes * 2) cap *= 2;
  Table t = {arena_alloc(m->arena, cap * sizeof(int)), cap - 1};
  for (size_t i = 0; i < cap; i++) t.slot[i] = -1;
  int changes = 0;
  Rewrite rw;
  rw_begin(&rw, m, f);
  for (int old = 0; old < rw.nold; old++) {
    const Node *o = &rw.old[old];
    if (o->op == OP_ARG || o->nin > 64) {
      if (rw_copy(&rw, old, e) < 0) return -1;
      continue;
    }
    int in[64];
    Node key = *o;  /* the old node with its inputs translated to new ids */
    for (int i = 0; i < o->nin; i++) in[i] = rw_new(&rw, o->in[i]);
    key.in = in;
    size_t h = (size_t)node_hash(&key) & t.mask;
    while (t.slot[h] >= 0 && !same_node(&f->nodes[t.slot[h]], &key)) h = (h + 1) & t.mask;
    if (t.slot[h] >= 0) {
      rw_map(&rw, old, t.slot[h]);
      changes++;
    } else {
      int id = rw_copy(&rw, old, e);
      if (id < 0) return -1;
      t.slot[h] = id;
    }
  }
  rw_end(&rw);
  return changes;
}

int pass_cse(Module *m, DlmErr *e) {
  int changes = 0;
  for (int fi = 0; fi < m->nfuncs; fi++) {
    int c = cse_func(m, m->funcs[fi], e);
    if (c < 0) return -1;
    changes += c;
  }
  return changes;
}
