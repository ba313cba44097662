/* test_fuzz_replay.c — replays the libFuzzer corpus (tests/fuzz/corpus) through the frontend fuzz
 * entry point, so every input the fuzzer ever kept is re-checked on each test run (under ASan+UBSan
 * in the sanitized build). */
#include "../fuzz/fuzz_frontend.c"
#include "check.h"
#include "fileio_test.h"
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  const char *dir = "tests/fuzz/corpus";
  DIR *d = opendir(dir);
  CHECK_MSG(d != NULL, "cannot open %s", dir);
  if (!d) return check_summary("fuzz_replay");
  int files = 0;
  struct dirent *ent;
  while ((ent = readdir(d))) {
    if (ent->d_name[0] == '.') continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
    size_t n = 0;
    char *buf = test_read_file(path, &n);
    if (!buf) continue;
    LLVMFuzzerTestOneInput((const uint8_t *)buf, n);
    free(buf);
    files++;
  }
  closedir(d);
  printf("replayed %d corpus files\n", files);
  CHECK(files >= 20);
  return check_summary("fuzz_replay");
}
