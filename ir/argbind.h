/* argbind.h — checking a function's arguments and binding its symbolic dims, shared by the
 * interpreter and every compiled backend so that all of them accept and refuse the same calls
 * (ir/argbind.c). */
#ifndef DLM_ARGBIND_H
#define DLM_ARGBIND_H
#include "tensor.h"

/* argn[position] = the OP_ARG node of each argument of f (at most cap). 1, or 0 with *e set. */
int argbind_nodes(const Func *f, const Node **argn, int cap, DlmErr *e);
/* Checks args against argn (missing, dtype, rank, dims) and binds the symbols of the argument
 * types from the argument shapes: symval[s] is set and bit s of *bound raised for each; symbols
 * already in *bound are checked, not rebound. 1, or 0 with *e set. */
int argbind_check(const Module *m, const Func *f, const Node *const *argn, Tensor *const *args, int64_t *symval,
                  uint32_t *bound, DlmErr *e);
/* The value of d under symval; 0 on int64 overflow. */
int argbind_dim_value(Dim d, const int64_t *symval, int64_t *out);
/* Whether a tensor of dtype `from` may be passed where `to` is declared. */
int argbind_convertible(DType from, DType to);
/* The argument's name, or "#position". */
const char *argbind_name(const Node *n, char *buf, size_t len);
#endif
