/* bind.h — argument checking and symbol binding shared by the compiled backends (runtime/bind.c). */
#ifndef DLM_BIND_H
#define DLM_BIND_H
#include "tensor.h"

/* argn[position] = the OP_ARG node of each argument of f (at most cap). 1, or 0 with *e set. */
int rt_arg_nodes(const Func *f, const Node **argn, int cap, DlmErr *e);
/* Checks args against argn (missing, dtype, rank, dims) and fills symval[s] for every symbol f
 * uses, from presym (values > 0, may be NULL) and the argument shapes. 1, or 0 with *e set. */
int rt_bind_args(const Module *m, const Func *f, const Node **argn, Tensor *const *args, const int64_t *presym,
                 int64_t *symval, DlmErr *e);
/* The value of d under symval; 0 on overflow. */
int rt_dim_value(Dim d, const int64_t *symval, int64_t *out);
/* Whether a tensor of dtype `from` may be passed where `to` is declared. */
int rt_convertible(DType from, DType to);
/* The argument's name, or "#position". */
const char *rt_arg_name(const Node *n, char *buf, size_t len);
#endif
