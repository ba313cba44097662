/* test_models_masks.c — the attention masks of docs/examples: the `mask` line is taken from the
 * example file, used in a probe program (zero queries and keys, identity values, so output row i is
 * uniform over the keys query i may see), run by the interpreter, and compared with the mask as
 * the spec defines it (bd3lm-esolm.md §2.3), written here in C. */
#include "check.h"
#include "frontend.h"
#include "interp.h"
#include <stdlib.h>
#include <string.h>

/* The line of `path` that starts with `prefix` (without the newline), or NULL. */
static char *find_line(const char *path, const char *prefix) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char line[2048];
  char *res = NULL;
  while (!res && fgets(line, sizeof line, f)) {
    if (strncmp(line, prefix, strlen(prefix)) != 0) continue;
    line[strcspn(line, "\n")] = 0;
    res = malloc(strlen(line) + 1);
    strcpy(res, line);
  }
  fclose(f);
  return res;
}

/* Runs attention(0, 0, I, mask = call) over n positions; allowed[i*n+j] = output[i][j] > 0. */
static int probe(const char *mask_line, const char *call, int n, int *allowed) {
  char src[4096];
  snprintf(src, sizeof src,
           "%s\nconst n = %d\nexport fn probe(v: f32[n, n]) -> f32[n, n] {\n"
           "  z = zeros([n, 4], f32)\n  return attention(z, z, v, mask = %s, scale = 1.0)\n}\n",
           mask_line, n, call);
  Module *m = dsl_compile_string("probe.dsl", src, strlen(src), NULL, 0, stderr);
  CHECK(m != NULL);
  if (!m) return 0;
  Tensor *v = tensor_new(DT_F32, 2, (int64_t[]){n, n}), *out = NULL;
  for (int i = 0; i < n; i++) tensor_set(v, (int64_t)i * n + i, 1.0);
  DlmErr e;
  memset(&e, 0, sizeof e);
  int ok = interp_run(m, ir_func_find(m, "probe"), NULL, &v, &out, DT_F64, &e);
  CHECK_MSG(ok, "probe: %s", e.msg);
  if (ok) {
    for (int i = 0; i < n * n; i++) allowed[i] = tensor_get(out, i) > 0;
    tensor_free(out);
  }
  tensor_free(v);
  ir_module_free(m);
  return ok;
}

static void check_block_causal(void) {
  enum { N = 12, BS = 4 };
  char *line = find_line("docs/examples/block_causal.dsl", "mask block_causal");
  CHECK(line != NULL);
  if (!line) return;
  int got[N * N];
  if (probe(line, "block_causal(4)", N, got))
    for (int q = 0; q < N; q++)
      for (int k = 0; k < N; k++) CHECK_MSG(got[q * N + k] == (k / BS <= q / BS), "block_causal(%d, %d)", q, k);
  free(line);
}

/* bd3lm-esolm.md §2.3 over 2L positions: half(i) = i >= L, blk(i) = (i mod L) / L'. */
static int bd3_allowed(int q, int k, int L, int bs) {
  int hq = q >= L, hk = k >= L, bq = (q % L) / bs, bk = (k % L) / bs;
  return (hq == hk && bq == bk) || (!hq && hk && bk < bq) || (hq && hk && bk <= bq);
}

static void check_bd3(void) {
  enum { L = 8, BS = 2, N = 2 * L };
  char *line = find_line("docs/examples/bd3lm_train_mask.dsl", "mask bd3_train");
  CHECK(line != NULL);
  if (!line) return;
  int got[N * N], clean_sees_noisy = 0, noisy_sees_own_clean = 0;
  if (probe(line, "bd3_train(8, 2)", N, got)) {
    for (int q = 0; q < N; q++)
      for (int k = 0; k < N; k++) {
        CHECK_MSG(got[q * N + k] == bd3_allowed(q, k, L, BS), "bd3_train(%d, %d)", q, k);
        if (q >= L && k < L) clean_sees_noisy |= got[q * N + k];
        if (q < L && k == q + L) noisy_sees_own_clean |= got[q * N + k];
      }
    CHECK(!clean_sees_noisy);
    CHECK(!noisy_sees_own_clean);
  }
  free(line);
}

int main(void) {
  check_block_causal();
  check_bd3();
  return check_summary("test_models_masks");
}
