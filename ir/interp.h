/* interp.h — the reference interpreter: runs any IR function on the CPU in float32 or float64.
 * It is the oracle every pass and backend is compared against. Floating values are held as double;
 * in DT_F32 mode each op's result is rounded to float32, in DT_F64 mode nothing is rounded.
 * Integer and bool values are held as int64. Symbol values (B, ...) are bound from the shapes of
 * the arguments. */
#ifndef DLM_INTERP_H
#define DLM_INTERP_H

#include "tensor.h"

/* Run f with args[0..f->nargs-1] (any dtypes convertible to the declared ones; shapes must match
 * the declared types, binding symbols). Parameters come from ps (by name; type checked).
 * outs[0..f->nout-1] receive new tensors: float outputs are f32 in DT_F32 mode and f64 in DT_F64
 * mode; others keep their declared dtype. Returns 1 on success, 0 with *e set. */
int interp_run(const Module *m, const Func *f, const ParamStore *ps, Tensor *const *args,
               Tensor **outs, DType fmode, DlmErr *e);
/* The same with symbol values given up front (presym[s] > 0 binds symbol s; the arguments must
 * agree): for functions whose symbols appear in no argument, such as a sampler's state setup. */
int interp_run_syms(const Module *m, const Func *f, const ParamStore *ps, Tensor *const *args,
                    Tensor **outs, DType fmode, const int64_t *presym, DlmErr *e);

/* Philox4x32-10 (Salmon et al. 2011): one block of 4 outputs for counter ctr and key. */
void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* The uniform in [0,1) of element j of a rand_uniform op (the definition shared by every backend):
 * ctr = {j lo, j hi, stream, offset lo}, key = {seed lo, seed hi}; f32: (out[0] >> 8) * 2^-24,
 * f64: (((uint64)out[0] << 32 | out[1]) >> 11) * 2^-53. */
double philox_uniform(uint64_t seed, uint64_t offset, uint32_t stream, uint64_t j, int f64);

/* ir/special.c: log Phi(x), the log of the standard normal CDF (the log_ndtr op), stable in both tails. */
double dlm_log_ndtr(double x);

#endif
