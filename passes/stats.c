/* stats.c — what a compiled module costs: per function the op counts by name, the kernel count
 * (one kernel per op until fusion exists) and FLOPs; for the module the parameter count.
 *
 * FLOPs per node, for given symbol values (docs/passes.md):
 *   matmul        2 * M * N * K * batch   (= 2 * elements of the result * K)
 *   attention     2 * batch * Lq * Lk * (Dh + Dv), + batch * Lq * Lk when a mask is given;
 *                 with Dv = Dh that is 4 * B * H * Lq * Lk * Dh (+ mask); batch = B * H
 *   elementwise   elements of the result (unary, binary, where, cast, rand_uniform)
 *   reductions    elements of the input (sum, mean, max, logsumexp, argmax, sum_to, softmax,
 *                 log_softmax, layer_norm, cumsum) and sort_desc
 *   others        0 (arg, param, const, iota and layout: reshape, transpose, broadcast_to, slice,
 *                 pad, concat, gather, take_along)
 * FLOPs per token = FLOPs of the function divided by its token count, the size of the last dim of
 * its first argument of rank >= 2 (token ids [B, L]; sampler steps also take scalar knobs first);
 * 1 when there is none. Symbols not given a value count as 1 (so a batch B is 1). */
#include "passes.h"
#include <stdlib.h>
#include <string.h>

static double numel(const Type *t, const int64_t *symval) {
  double n = 1;
  for (int i = 0; i < t->rank; i++) n *= (double)dim_eval(t->dims[i], symval);
  return n;
}

static double dimv(const Type *t, int axis, const int64_t *symval) {
  if (axis < 0) axis += t->rank;
  return axis >= 0 && axis < t->rank ? (double)dim_eval(t->dims[axis], symval) : 1;
}

double stats_node_flops(const Module *m, const Func *f, const Node *n, const int64_t *symval) {
  (void)m;
  const Type *in0 = n->nin > 0 ? &f->nodes[n->in[0]].type : NULL;
  switch (n->op) {
  case OP_MATMUL: {
    double k = in0->rank == 1 ? dimv(in0, 0, symval) : dimv(in0, n->attr.i[0] ? -2 : -1, symval);
    return 2 * numel(&n->type, symval) * k;
  }
  case OP_ATTENTION: {
    if (n->nin < 3) return 0;
    const Type *k = &f->nodes[n->in[1]].type, *v = &f->nodes[n->in[2]].type;
    double lq = dimv(in0, -2, symval), dh = dimv(in0, -1, symval);
    double lk = dimv(k, -2, symval), dv = dimv(v, -1, symval);
    double batch = numel(&n->type, symval) / (lq * dv > 0 ? lq * dv : 1);  /* result [batch..., Lq, Dv] */
    double fl = 2 * batch * lq * lk * (dh + dv);
    return n->nin >= 4 ? fl + batch * lq * lk : fl;
  }
  case OP_BROADCAST: case OP_RESHAPE: case OP_TRANSPOSE: case OP_SLICE: case OP_PAD:
  case OP_CONCAT: case OP_GATHER: case OP_TAKE: case OP_IOTA:
    return 0;
  case OP_SORT_DESC:
    return numel(in0, symval);
  default:
    break;
  }
  switch (op_info[n->op].fclass) {
  case FC_ELEMWISE: case FC_BROADCAST: return numel(&n->type, symval);
  case FC_REDUCE: return in0 ? numel(in0, symval) : 0;
  default: return 0;
  }
}

static int is_source(OpKind op) { return op == OP_ARG || op == OP_PARAM || op == OP_CONST; }

void stats_func(const Module *m, const Func *f, const int64_t *symval, FuncStats *out) {
  memset(out, 0, sizeof *out);
  out->tokens = 1;
  int64_t token_arg = INT64_MAX; /* position of the argument that gives the token count */
  for (int id = 0; id < f->nnodes; id++) {
    const Node *n = &f->nodes[id];
    out->ops[n->op]++;
    if (n->op == OP_ARG && n->type.rank >= 2 && n->attr.i[0] < token_arg) {
      token_arg = n->attr.i[0];
      out->tokens = dimv(&n->type, -1, symval);
    }
    if (is_source(n->op)) continue;
    out->nops++;
    out->flops += stats_node_flops(m, f, n, symval);
  }
  out->kernels = out->nops;
  if (out->tokens < 1) out->tokens = 1;
}

int64_t stats_param_count(const Module *m) {
  int64_t total = 0;
  for (int i = 0; i < m->nparams; i++) {
    int64_t n;
    if (ir_param_copy_source(m, i) < 0 && type_numel_const(&m->params[i].type, &n)) total += n;
  }
  return total;
}

char *stats_commas(int64_t n, char *buf, size_t len) {
  char digits[32];
  int nd = snprintf(digits, sizeof digits, "%lld", (long long)(n < 0 ? -n : n));
  size_t o = 0;
  if (n < 0 && o + 1 < len) buf[o++] = '-';
  for (int i = 0; i < nd && o + 1 < len; i++) {
    if (i > 0 && (nd - i) % 3 == 0 && o + 2 < len) buf[o++] = ',';
    buf[o++] = digits[i];
  }
  buf[o] = 0;
  return buf;
}

static int op_name_cmp(const void *a, const void *b) {
  return strcmp(op_info[*(const int *)a].name, op_info[*(const int *)b].name);
}

void stats_print(const Module *m, const int64_t *symval, FILE *out) {
  int order[OP_COUNT];
  for (int i = 0; i < OP_COUNT; i++) order[i] = i;
  qsort(order, OP_COUNT, sizeof *order, op_name_cmp);
  if (m->nsyms) {
    fprintf(out, "symbols:");
    for (int i = 0; i < m->nsyms; i++) fprintf(out, " %s=%lld", m->syms[i], (long long)symval[i]);
    fprintf(out, "\n");
  }
  for (int fi = 0; fi < m->nfuncs; fi++) {
    const Func *f = m->funcs[fi];
    FuncStats s;
    char b1[40], b2[40], b3[40];
    stats_func(m, f, symval, &s);
    fprintf(out, "function %s\n  ops: %lld", f->name, (long long)s.nops);
    int first = 1;
    for (int i = 0; i < OP_COUNT; i++) {
      int op = order[i];
      if (!s.ops[op] || is_source((OpKind)op)) continue;
      fprintf(out, "%s%s %lld", first ? " (" : ", ", op_info[op].name, (long long)s.ops[op]);
      first = 0;
    }
    fprintf(out, "%s\n  kernels: %lld\n", first ? "" : ")", (long long)s.kernels);
    fprintf(out, "  FLOPs: %s\n  FLOPs per token: %s (%s tokens)\n", stats_commas((int64_t)(s.flops + 0.5), b1, sizeof b1),
            stats_commas((int64_t)(s.flops / s.tokens + 0.5), b2, sizeof b2),
            stats_commas((int64_t)s.tokens, b3, sizeof b3));
  }
  char b[40];
  int64_t p = stats_param_count(m);
  fprintf(out, "parameters: %lld (%s)\n", (long long)p, stats_commas(p, b, sizeof b));
}
