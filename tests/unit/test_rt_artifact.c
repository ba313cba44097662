/* test_rt_artifact.c — the .dlmc container: a round trip gives back the same IR text and the same
 * loss value; every truncation, every flipped header byte, random flips in the sections, a wrong
 * version, overlapping sections, a lying metadata section and a checksummed but cut or NUL-holding IR
 * section are all refused with a message naming the file; the gradient function is present. */
#include "check.h"
#include "interp.h"
#include "rt_fixture.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *text_of(const Module *m) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ir_print(m, f);
  fclose(f);
  return buf;
}

static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }

/* Recompute the header CRC after editing the header (as an attacker could). */
static void reseal(unsigned char *p) {
  uint32_t n = p[8] | p[9] << 8;
  put32(p + 12, 0);
  put32(p + 12, crc32_update(0, p, 16 + 32 * (size_t)n));
}

static int refused(const char *name, const unsigned char *buf, size_t len, const char *needle) {
  DlmErr e = {0};
  Module *m = artifact_decode(name, buf, len, &e);
  if (m) { ir_module_free(m); return 0; }
  if (!strstr(e.msg, name)) return 0;
  return !needle || strstr(e.msg, needle) != NULL;
}

static double run_loss(const Module *m) {
  const Func *f = ir_func_find(m, "loss");
  int64_t shape[2] = {2, 8};
  Tensor *x = tensor_new(DT_I32, 2, shape);
  for (int i = 0; i < 16; i++) tensor_set(x, i, (i * 37) % 256);
  Tensor *seed = tensor_new(DT_I64, 0, NULL), *step = tensor_new(DT_I64, 0, NULL);
  tensor_set(seed, 0, 5);
  tensor_set(step, 0, 3);
  ParamStore *ps = pstore_init(m, 11);
  Tensor *args[3] = {x, seed, step}, *out = NULL;
  DlmErr e = {0};
  double v = interp_run(m, f, ps, args, &out, DT_F32, &e) ? tensor_get(out, 0) : NAN;
  tensor_free(out); tensor_free(x); tensor_free(seed); tensor_free(step);
  pstore_free(ps);
  return v;
}

int main(void) {
  /* CRC-32 check value of the standard ("123456789" -> 0xCBF43926). */
  CHECK(crc32_update(0, "123456789", 9) == 0xCBF43926u);
  CHECK(crc32_update(crc32_update(0, "1234", 4), "56789", 5) == 0xCBF43926u);

  Module *m = rt_tiny_module();
  CHECK(m != NULL);
  if (!m) return check_summary("test_rt_artifact");
  const Func *g = ir_func_find(m, "loss.grad");
  CHECK(g != NULL && g->nout == 1 + m->nparams);
  size_t len = 0;
  DlmErr e = {0};
  unsigned char *buf = artifact_encode(m, &len, &e);
  CHECK(buf != NULL && memcmp(buf, "DLMC", 4) == 0);

  Module *back = artifact_decode("x.dlmc", buf, len, &e);
  CHECK_MSG(back != NULL, "%s", e.msg);
  if (back) {
    char *t1 = text_of(m), *t2 = text_of(back);
    CHECK(strcmp(t1, t2) == 0);
    free(t1); free(t2);
    double a = run_loss(m), b = run_loss(back);
    CHECK(a == b && isfinite(a));
    CHECK(ir_func_find(back, "loss.grad") != NULL && ir_meta_get(back, "mask_id") != NULL);
    ir_module_free(back);
  }

  /* write + read through a file */
  char path[] = "/tmp/test_rt_artifact.XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  CHECK(artifact_write(path, m, &e));
  back = artifact_read(path, &e);
  CHECK(back != NULL);
  ir_module_free(back);
  remove(path);

  int bad = 0;
  for (size_t n = 0; n < len; n++) bad += !refused("t.dlmc", buf, n, NULL);
  CHECK_MSG(bad == 0, "%d truncations accepted", bad);

  unsigned char *c = malloc(len);
  bad = 0;
  for (size_t i = 0; i < 16 + 64; i++)
    for (int bit = 0; bit < 8; bit++) {
      memcpy(c, buf, len);
      c[i] ^= (unsigned char)(1u << bit);
      bad += !refused("t.dlmc", c, len, NULL);
    }
  CHECK_MSG(bad == 0, "%d header flips accepted", bad);
  srand(7);
  bad = 0;
  for (int k = 0; k < 300; k++) {
    memcpy(c, buf, len);
    size_t i = (size_t)rand() % len;
    c[i] ^= (unsigned char)(1 + rand() % 255);
    bad += !refused("t.dlmc", c, len, NULL);
  }
  CHECK_MSG(bad == 0, "%d random flips accepted", bad);

  memcpy(c, buf, len);
  put32(c + 4, 99);
  reseal(c);
  CHECK(refused("t.dlmc", c, len, "version 99"));
  memcpy(c, buf, len);
  put64(c + 16 + 32 + 8, 16 + 64);   /* section 1 starts where section 0 does */
  reseal(c);
  CHECK(refused("t.dlmc", c, len, "overlaps"));
  memcpy(c, buf, len);
  memcpy(c, "DLMX", 4);
  CHECK(refused("t.dlmc", c, len, "bad magic"));

  /* A metadata section that disagrees with the IR, correctly checksummed. */
  const char *lie = "{\"consts\": {\"vocab\": \"7\"}}";
  size_t irlen = (size_t)(c[16 + 16] | c[16 + 17] << 8 | c[16 + 18] << 16);
  size_t nlen = 16 + 64 + irlen + strlen(lie);
  unsigned char *d = calloc(1, nlen);
  memcpy(d, buf, 16 + 64 + irlen);
  memcpy(d + 16 + 64 + irlen, lie, strlen(lie));
  put64(d + 16 + 32 + 16, strlen(lie));
  put32(d + 16 + 32 + 24, crc32_update(0, lie, strlen(lie)));
  reseal(d);
  CHECK(refused("t.dlmc", d, nlen, "consts"));
  free(d);

  /* A correctly checksummed IR section cut in half (the parser or verifier must refuse it), and one
   * holding a NUL byte. */
  size_t half = irlen / 2, metalen = len - 16 - 64 - irlen, hlen = 16 + 64 + half + metalen;
  unsigned char *h = calloc(1, hlen);
  memcpy(h, buf, 16 + 64 + half);
  memcpy(h + 16 + 64 + half, buf + 16 + 64 + irlen, metalen);   /* the true metadata */
  put64(h + 16 + 16, half);
  put32(h + 16 + 24, crc32_update(0, h + 16 + 64, half));
  put64(h + 16 + 32 + 8, 16 + 64 + half);
  reseal(h);
  CHECK(refused("t.dlmc", h, hlen, "IR"));
  h[16 + 64 + 10] = 0;
  put32(h + 16 + 24, crc32_update(0, h + 16 + 64, half));
  reseal(h);
  CHECK(refused("t.dlmc", h, hlen, "NUL"));
  free(h);

  free(c);
  free(buf);
  ir_module_free(m);
  return check_summary("test_rt_artifact");
}
