/* special.c — special functions of the elementwise ops that libm lacks, in float64 (the interpreter's
 * definitions; the CPU and CUDA preludes carry the same formulas, the f32 variants round the f64
 * result).
 *
 * log_ndtr(x) = log Phi(x), Phi the standard normal CDF, with Phi(x) = erfc(-x / sqrt 2) / 2:
 *   x > 0          log1p(-erfc(x / sqrt 2) / 2)      (Phi close to 1: keeps the tiny log)
 *   -20 < x <= 0   log(erfc(-x / sqrt 2) / 2)
 *   x <= -20       -x^2/2 - log(-x) - log(2 pi)/2 + log1p(sum_{n=1..10} (-1)^n (2n-1)!! / x^(2n))
 *                  (the asymptotic series of Mills' ratio; its truncation error at x = -20 is ~1e-19;
 *                  erfc would underflow below x ~ -38) */
#include "interp.h"
#include <math.h>

double dlm_log_ndtr(double x) {
  if (x > 0) return log1p(-0.5 * erfc(x * 0.70710678118654752440));
  if (x > -20) return log(0.5 * erfc(-x * 0.70710678118654752440));
  double r = 1 / (x * x), term = 1, s = 0;
  for (int n = 1; n <= 10; n++) {
    term *= -(2 * n - 1) * r;
    s += term;
  }
  return -0.5 * x * x - log(-x) - 0.91893853320467274178 + log1p(s);
}
