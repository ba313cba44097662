/* bind.h — argument checking and symbol binding for the compiled backends (runtime/bind.c), on top
 * of the interpreter's (ir/argbind.h). */
#ifndef DLM_BIND_H
#define DLM_BIND_H
#include "argbind.h"

/* Checks args against argn (missing, dtype, rank, dims) and fills symval[s] for every symbol f
 * uses, from presym (values > 0, may be NULL) and the argument shapes. 1, or 0 with *e set. */
int rt_bind_args(const Module *m, const Func *f, const Node **argn, Tensor *const *args, const int64_t *presym,
                 int64_t *symval, DlmErr *e);
#endif
