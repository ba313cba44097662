/* npy.h — NumPy .npy files (format versions 1.0, 2.0 and 3.0; C order only) to and from Tensor.
 * Element types read: <f4 -> f32, <f8 -> f64, <f2 -> f16, <i4 -> i32, <i8 -> i64, |b1 -> bool,
 * and the unsigned |u1, <u2 -> i32 and <u4 -> i64 (widened: the IR has no unsigned types).
 * bf16 has no npy dtype. Files are untrusted: truncation, bad headers, fortran_order True,
 * big-endian data and size mismatches give errors naming the file and the field. */
#ifndef DLM_NPY_H
#define DLM_NPY_H
#include <stddef.h>
#include "tensor.h"

Tensor *npy_read(const char *path, DlmErr *err);
/* Parse an in-memory .npy image; name is used in messages. */
Tensor *npy_parse(const char *name, const void *buf, size_t len, DlmErr *err);

/* Write t in its own dtype (f32 <f4, f64 <f8, f16 <f2, i32 <i4, i64 <i8, bool |b1; bf16 is an
 * error), atomically. */
int npy_write(const char *path, const Tensor *t, DlmErr *err);
/* Write t stored as `descr` (any dtype listed above, e.g. "<u2" for uint16 token files). Values
 * are converted; integer and bool targets require each value to be integral and in range. */
int npy_write_as(const char *path, const Tensor *t, const char *descr, DlmErr *err);
/* The .npy image npy_write_as would write, as a malloc'd buffer. */
void *npy_encode(const char *name, const Tensor *t, const char *descr, size_t *len, DlmErr *err);

#endif
