/* autodiff.h — reverse-mode automatic differentiation over the graph IR.
 *
 * ad_grad builds, in the same module, a function "<f>.grad" that takes f's arguments and returns
 *   f's outputs (in order, same names), then
 *   the gradient of the scalar output f->outs[loss_out] with respect to each argument listed in
 *   wrt_args (named "grad:<arg name>", same type as the argument), then
 *   if wrt_params, the gradient with respect to every floating module parameter that f reads, in
 *   module parameter order (named "grad:<param name>", same type as the parameter); frozen copies
 *   (ir_param_copy_source >= 0) are constants: no gradient flows into or through them.
 * The gradient graph is made only of ops from ir/ops.def (built with ir_emit), so every backend that
 * runs the forward ops runs it. Gradients are computed in the dtype of the value they belong to.
 *
 * Semantics of the gradient rules where the math leaves a choice:
 *   reduce_max      ties share the gradient equally among the maximal elements;
 *   maximum/minimum on ties the gradient goes to the first operand;
 *   abs             gradient 0 at 0;
 *   pow(a, b)       d/db uses log(a), so it is only finite for a > 0 (d/da is exact everywhere);
 *   where           no gradient to the condition; rand_uniform, iota, comparisons, argmax, integer
 *                   values and the index operands of gather / take_along / scatter_add carry no
 *                   gradient;
 *   attention       the mask (4th input) gets no gradient; a query row whose keys are all masked
 *                   (forward value 0) passes no gradient;
 *   gather          the table gradient is scatter_add (an op added for this, see ops.def), whose
 *                   own gradient is gather;
 *   slice / pad / concat gradients need the sliced / padded / concatenated axis to be constant.
 * Values that do not depend on the differentiated inputs are left out of the backward pass.
 * Asking for a gradient that must flow through a non-differentiable op (diff 0 in ops.def, e.g.
 * floor, sort_desc, mod on floats) is an error naming the op and its source location.
 *
 * Returns the new function, or NULL with *e set (bad loss index / wrt list, a non-scalar or
 * non-float loss, a non-differentiable op on the gradient path, an existing "<f>.grad").
 */
#ifndef DLM_AUTODIFF_H
#define DLM_AUTODIFF_H

#include "ir.h"

Func *ad_grad(Module *m, const Func *f, int loss_out, const int *wrt_args, int nwrt, int wrt_params,
              DlmErr *e);

/* ================================================================ passes/loss_grads.c
 * Training objectives: the functions named `loss` or `*_loss`. ad_loss_grads adds "<name>.grad"
 * (ad_grad of the first output over every trained parameter) for each objective that lacks one:
 * the number added, or -1 with *e set. */
int ad_is_loss(const Func *f);
int ad_loss_grads(Module *m, DlmErr *e);

#endif
