/* fuzz_frontend.c — libFuzzer target for the DSL frontend: any byte string must compile to a module
 * or be rejected with a diagnostic; never crash, leak or trip a sanitizer. Built with -DDLM_FUZZ=ON
 * (clang); tests/unit/test_fuzz_replay.c replays the committed corpus through the same entry point. */
#include "frontend.h"
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FILE *sink = fopen("/dev/null", "w");
  if (!sink) return 0;
  Module *m = dsl_compile_string("tests/fuzz/input.dsl", (const char *)data, size, NULL, 0, sink);
  ir_module_free(m);
  fclose(sink);
  return 0;
}
