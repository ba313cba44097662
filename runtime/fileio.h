/* fileio.h — whole-file reads with a size limit and atomic file replacement (temp file in the same
 * directory, fsync, rename), with errors that name the file. Used by the tokenizers, npy and
 * safetensors readers/writers and checkpointing. All functions return NULL / -1 on error and record
 * a message in err (err may be NULL). */
#ifndef DLM_FILEIO_H
#define DLM_FILEIO_H
#include <stddef.h>
#include "ir.h"

/* Read all of `path` into a malloc'd buffer with one extra NUL byte after the data (not counted
 * in *len). Files larger than max_bytes are refused. */
char *file_read_all(const char *path, size_t max_bytes, size_t *len, DlmErr *err);

/* Streaming atomic writer: data goes to a temporary file next to `path`; atomic_commit flushes,
 * fsyncs and renames it over `path` (then fsyncs the directory); atomic_abort removes it.
 * Both commit and abort free the handle. A failed atomic_write leaves the handle usable only for
 * atomic_abort (commit then fails as well). */
typedef struct AtomicFile AtomicFile;
AtomicFile *atomic_open(const char *path, DlmErr *err);
int atomic_write(AtomicFile *af, const void *data, size_t len, DlmErr *err);
int atomic_commit(AtomicFile *af, DlmErr *err);
void atomic_abort(AtomicFile *af);

/* One-shot form: replace `path` with the given bytes atomically. */
int file_write_atomic(const char *path, const void *data, size_t len, DlmErr *err);

#endif
