/* artifact.h — the .dlmc file: one versioned container holding a compiled module for `dlmrun`.
 *
 * Layout (all integers little-endian):
 *   0   "DLMC"              magic
 *   4   u32 version         ARTIFACT_VERSION
 *   8   u32 nsections       1..ARTIFACT_MAX_SECTIONS
 *   12  u32 header_crc      CRC-32 of bytes [0, 16 + 32 * nsections) with this field taken as 0
 *   16  section table, nsections entries of 32 bytes:
 *         u32 kind, u32 reserved (0), u64 offset, u64 length, u32 crc32 (of the section bytes), u32 0
 *   then the section bytes. Sections lie after the table, do not overlap, and the last one ends
 *   exactly at the end of the file (so every truncation is detected).
 * Sections: ART_SEC_IR (required, once): the module as ir_print text; ART_SEC_META (required,
 * once): a JSON object of string values (the module's consts and the producer); unknown kinds are
 * checked (bounds, CRC) and skipped. The loader treats the file as untrusted: every error names the
 * file and what is wrong, and the IR must parse and verify. */
#ifndef DLM_ARTIFACT_H
#define DLM_ARTIFACT_H
#include <stddef.h>
#include <stdint.h>
#include "ir.h"

#define ARTIFACT_VERSION 1u
#define ARTIFACT_MAX_SECTIONS 16u
#define ARTIFACT_MAX_BYTES ((size_t)1 << 30)
enum { ART_SEC_IR = 1, ART_SEC_META = 2 };

uint32_t crc32_update(uint32_t crc, const void *data, size_t len);  /* crc32_update(0, ...) starts */

/* Adds what dlmrun needs to a compiled module: "<f>.grad" (ad_grad of f's first output, a scalar,
 * over every trained parameter) for `loss` and every function whose name ends in "_loss" (e.g.
 * `distill_loss`, `curriculum_loss`; ad_loss_grads in passes/autodiff.h), then reruns the pass
 * pipeline.
 * 1, or 0 with *e set. */
int artifact_prepare(Module *m, DlmErr *e);

/* The artifact bytes of m (malloc'd). NULL + *e on failure. */
void *artifact_encode(const Module *m, size_t *len, DlmErr *e);
/* Write m to path atomically. 1, or 0 with *e set. */
int artifact_write(const char *path, const Module *m, DlmErr *e);
/* Validate and parse an in-memory artifact (name is used in messages). NULL + *e on failure. */
Module *artifact_decode(const char *name, const void *buf, size_t len, DlmErr *e);
Module *artifact_read(const char *path, DlmErr *e);

#endif
