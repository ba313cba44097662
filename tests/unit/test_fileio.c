/* test_fileio.c — whole-file reads (size limit, errors naming the file) and atomic replacement
 * (content replaced, no temporary file left behind, failures reported). */
#include "check.h"
#include "fileio.h"
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  if (d) closedir(d);
  return n;
}

int main(void) {
  char dir[] = "/tmp/dlm_fio_XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[128];
  snprintf(path, sizeof path, "%s/out.bin", dir);
  DlmErr err = {0};
  CHECK(file_write_atomic(path, "hello", 5, &err) == 0);
  CHECK(file_write_atomic(path, "bye\0x", 5, &err) == 0);  /* replaces, binary-safe */
  size_t len = 0;
  char *b = file_read_all(path, 100, &len, &err);
  CHECK(b && len == 5 && memcmp(b, "bye\0x", 5) == 0 && b[5] == 0);
  free(b);
  CHECK(count_entries(dir) == 1);  /* no temporary file left */
  struct stat st;
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);

  DlmErr e1 = {0};
  CHECK(file_read_all(path, 4, &len, &e1) == NULL && strstr(e1.msg, path) && strstr(e1.msg, "more than the limit of 4"));
  DlmErr e2 = {0};
  CHECK(file_read_all(dir, 100, &len, &e2) == NULL && strstr(e2.msg, "not a regular file"));
  char missing[160];
  snprintf(missing, sizeof missing, "%s/none/x.bin", dir);
  DlmErr e3 = {0};
  CHECK(file_read_all(missing, 100, &len, &e3) == NULL && strstr(e3.msg, missing) && strstr(e3.msg, "cannot open"));
  DlmErr e4 = {0};
  CHECK(file_write_atomic(missing, "x", 1, &e4) == -1 && strstr(e4.msg, missing));

  /* streaming writer: an aborted write leaves the old content and no temporary file */
  AtomicFile *af = atomic_open(path, &err);
  CHECK(af && atomic_write(af, "partial", 7, &err) == 0);
  atomic_abort(af);
  b = file_read_all(path, 100, &len, &err);
  CHECK(b && len == 5 && memcmp(b, "bye", 3) == 0);
  free(b);
  CHECK(count_entries(dir) == 1);
  af = atomic_open(path, &err);
  CHECK(af && atomic_write(af, "ab", 2, &err) == 0 && atomic_write(af, "cd", 2, &err) == 0 && atomic_commit(af, &err) == 0);
  b = file_read_all(path, 100, &len, &err);
  CHECK(b && len == 4 && memcmp(b, "abcd", 4) == 0);
  free(b);
  unlink(path);
  rmdir(dir);
  return check_summary("test_fileio");
}
