/* bind.c — what every compiled backend does before running a function: the interpreter's argument
 * checks and symbol binding (ir/argbind.c), starting from the symbols the caller fixes, and a
 * refusal when some symbol the function uses is still unbound. */
#include "bind.h"

int rt_bind_args(const Module *m, const Func *f, const Node **argn, Tensor *const *args, const int64_t *presym,
                 int64_t *symval, DlmErr *e) {
  uint32_t bound = 0;
  for (int s = 0; presym && s < m->nsyms; s++)
    if (presym[s] > 0) { symval[s] = presym[s]; bound |= 1u << s; }
  if (!argbind_check(m, f, argn, args, symval, &bound, e)) return 0;
  /* symbols no argument binds stay unbound: a function using them cannot run */
  for (int id = 0; id < f->nnodes; id++) {
    const Node *n = &f->nodes[id];
    for (int d = 0; d < n->type.rank; d++) {
      uint32_t unb = n->type.dims[d].k ? n->type.dims[d].syms & ~bound : 0;
      if (unb) {
        int s = __builtin_ctz(unb);
        err_set(e, n->loc, "%s: symbol %s is not bound by the argument shapes", op_info[n->op].name,
                s < m->nsyms ? m->syms[s] : "?");
        return 0;
      }
    }
  }
  return 1;
}
