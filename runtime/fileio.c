/* fileio.c — whole-file reads with size limits and atomic replacement of files (see fileio.h). */
#include "fileio.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const SrcLoc noloc = {0, 0, 0};

char *file_read_all(const char *path, size_t max_bytes, size_t *len, DlmErr *err) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) { err_set(err, noloc, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    err_set(err, noloc, "%s: cannot stat: %s", path, strerror(errno));
    close(fd);
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    err_set(err, noloc, "%s: not a regular file", path);
    close(fd);
    return NULL;
  }
  if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
    err_set(err, noloc, "%s: file is %lld bytes, more than the limit of %zu", path, (long long)st.st_size, max_bytes);
    close(fd);
    return NULL;
  }
  size_t size = (size_t)st.st_size, got = 0;
  char *buf = malloc(size + 1);
  if (!buf) { err_set(err, noloc, "%s: out of memory reading %zu bytes", path, size); close(fd); return NULL; }
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      err_set(err, noloc, "%s: read error: %s", path, strerror(errno));
      free(buf);
      close(fd);
      return NULL;
    }
    if (r == 0) break; /* file shrank while reading */
    got += (size_t)r;
  }
  close(fd);
  buf[got] = 0;
  *len = got;
  return buf;
}

struct AtomicFile {
  int fd;
  int failed;
  char *path;
  char *tmp;
};

AtomicFile *atomic_open(const char *path, DlmErr *err) {
  AtomicFile *af = calloc(1, sizeof *af);
  size_t n = strlen(path);
  if (af) {
    af->path = malloc(n + 1);
    af->tmp = malloc(n + 16);
  }
  if (!af || !af->path || !af->tmp) {
    err_set(err, noloc, "%s: out of memory", path);
    if (af) { free(af->path); free(af->tmp); free(af); }
    return NULL;
  }
  memcpy(af->path, path, n + 1);
  snprintf(af->tmp, n + 16, "%s.tmp.XXXXXX", path);
  af->fd = mkstemp(af->tmp);
  if (af->fd < 0) {
    err_set(err, noloc, "%s: cannot create temporary file %s: %s", path, af->tmp, strerror(errno));
    free(af->path); free(af->tmp); free(af);
    return NULL;
  }
  if (fchmod(af->fd, 0644) != 0) {
    err_set(err, noloc, "%s: cannot set permissions of %s: %s", path, af->tmp, strerror(errno));
    atomic_abort(af);
    return NULL;
  }
  return af;
}

int atomic_write(AtomicFile *af, const void *data, size_t len, DlmErr *err) {
  const char *p = data;
  if (af->failed) { err_set(err, noloc, "%s: write after an earlier error", af->path); return -1; }
  while (len) {
    ssize_t w = write(af->fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      err_set(err, noloc, "%s: write error on %s: %s", af->path, af->tmp, w < 0 ? strerror(errno) : "no progress");
      af->failed = 1;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

static void free_af(AtomicFile *af) {
  free(af->path);
  free(af->tmp);
  free(af);
}

void atomic_abort(AtomicFile *af) {
  if (!af) return;
  if (af->fd >= 0) close(af->fd);
  unlink(af->tmp);
  free_af(af);
}

/* fsync the directory holding path so that the rename itself is durable (best effort: some
 * file systems refuse fsync on directories). */
static void sync_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char dir[4096];
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == path) snprintf(dir, sizeof dir, "/");
  else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  int fd = open(dir, O_RDONLY);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
}

int atomic_commit(AtomicFile *af, DlmErr *err) {
  if (af->failed) {
    err_set(err, noloc, "%s: not written because of an earlier write error", af->path);
    atomic_abort(af);
    return -1;
  }
  if (fsync(af->fd) != 0) {
    err_set(err, noloc, "%s: fsync of %s failed: %s", af->path, af->tmp, strerror(errno));
    atomic_abort(af);
    return -1;
  }
  int rc = close(af->fd);
  af->fd = -1;
  if (rc != 0) {
    err_set(err, noloc, "%s: close of %s failed: %s", af->path, af->tmp, strerror(errno));
    atomic_abort(af);
    return -1;
  }
  if (rename(af->tmp, af->path) != 0) {
    err_set(err, noloc, "%s: cannot rename %s over it: %s", af->path, af->tmp, strerror(errno));
    atomic_abort(af);
    return -1;
  }
  sync_dir(af->path);
  free_af(af);
  return 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, DlmErr *err) {
  AtomicFile *af = atomic_open(path, err);
  if (!af) return -1;
  if (atomic_write(af, data, len, err) != 0) { atomic_abort(af); return -1; }
  return atomic_commit(af, err);
}
