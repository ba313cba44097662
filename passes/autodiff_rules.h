/* autodiff_rules.h — internal interface between the autodiff driver (autodiff.c) and the gradient
 * rules (autodiff_rules_*.c): the per-node rule context and small emit helpers.
 *
 * The helpers emit into the gradient function at the forward node's source location. They take and
 * return value ids; an input id < 0 means an earlier emit failed, so the helper returns -1 at once
 * (the first error stays in *e). A rule can therefore chain helpers and check only its results. */
#ifndef DLM_AUTODIFF_RULES_H
#define DLM_AUTODIFF_RULES_H

#include "ir.h"

typedef struct AdCtx {
  Module *m;
  Func *g;              /* the gradient function being built */
  DlmErr *e;
  const Node *n;        /* the forward node (in the source function) */
  SrcLoc loc;           /* n->loc: where emitted nodes and errors point */
  const int *x;         /* ids in g of n's inputs */
  int y;                /* id in g of n's result */
  int gy;               /* id in g of the gradient of n's result */
  const unsigned char *want; /* want[j]: input j needs a gradient */
  int *gx;              /* out: gx[j] = gradient of input j (set only where want[j]), else -1 */
} AdCtx;

/* Rules by family; each returns 1, or 0 with *c->e set. */
int ad_rule_elem(AdCtx *c);     /* unary math, cast, binary arithmetic, where */
int ad_rule_reduce(AdCtx *c);   /* sum mean reduce_max logsumexp sum_to softmax log_softmax layer_norm cumsum */
int ad_rule_layout(AdCtx *c);   /* reshape transpose broadcast_to slice pad concat gather take_along scatter_add */
int ad_rule_contract(AdCtx *c); /* matmul attention */

/* autodiff_rules_emit.c: emit helpers */
Type ad_type(const AdCtx *c, int v);                    /* type of value v (a copy) */
int ad_emit(AdCtx *c, OpKind op, const Type *given, int nin, const int *in, const Attrs *a);
int ad_const(AdCtx *c, double v, DType dt);             /* rank-0 constant */
int ad_un(AdCtx *c, OpKind op, int x);
int ad_bin(AdCtx *c, OpKind op, int a, int b);
int ad_binc(AdCtx *c, OpKind op, int a, double k);      /* a op constant k (k of a's dtype) */
int ad_where(AdCtx *c, int cond, int a, int b);
int ad_where0(AdCtx *c, int cond, int a, int a_if_true);/* where(cond, a, 0) or where(cond, 0, a) */
int ad_reduce(AdCtx *c, OpKind op, int x, int axis, int keepdim);
int ad_sum_to(AdCtx *c, int x, const Type *t);          /* x itself if it already has type t */
int ad_broadcast(AdCtx *c, int x, const Type *t);       /* x itself if it already has type t */
int ad_reshape(AdCtx *c, int x, const Type *t);         /* x itself if it already has type t */
int ad_cast(AdCtx *c, int x, DType dt);                 /* x itself if already dt */
int ad_matmul(AdCtx *c, int a, int b, int ta, int tb);
int ad_slice(AdCtx *c, int x, int axis, int64_t start, int64_t end, int64_t step);
int ad_pad(AdCtx *c, int x, int axis, int64_t before, int64_t after);
int ad_iota(AdCtx *c, const Type *t, int axis);
int ad_norm_axis(int axis, int rank);                   /* negative axis counted from the end */
Type ad_keepdim_type(const Type *t, int axis);          /* t with dims[axis] = 1 */

#endif
