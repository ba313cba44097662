/* test_npy.c — .npy reading and writing: hand-built files in the exact layout NumPy writes (so
 * the format is checked independently of our writer), every supported dtype, round trips,
 * malformed headers and every truncation of a valid file. */
#include "check.h"
#include "npy.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Build a file: magic, version major.0, header_len, the header dict padded with spaces and '\n' to
 * a multiple of 64 bytes in all (NumPy's layout), then the data bytes. */
static size_t build(unsigned char *out, int major, const char *dict, const void *data, size_t dlen) {
  size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
  size_t total = (pre + dl + 1 + 63) / 64 * 64, hlen = total - pre;
  memcpy(out, "\x93NUMPY", 6);
  out[6] = (unsigned char)major;
  out[7] = 0;
  out[8] = (unsigned char)(hlen & 0xff);
  out[9] = (unsigned char)(hlen >> 8);
  if (major > 1) out[10] = out[11] = 0;
  memcpy(out + pre, dict, dl);
  memset(out + pre + dl, ' ', hlen - dl - 1);
  out[total - 1] = '\n';
  if (dlen) memcpy(out + total, data, dlen);
  return total + dlen;
}

static unsigned char buf[4096];

static int fails_with(const char *dict, const void *data, size_t dlen, const char *want) {
  size_t n = build(buf, 1, dict, data, dlen);
  DlmErr err = {0};
  Tensor *t = npy_parse("x.npy", buf, n, &err);
  if (t) { tensor_free(t); fprintf(stderr, "expected failure '%s' for %s\n", want, dict); return 0; }
  if (!strstr(err.msg, want)) { fprintf(stderr, "error '%s' lacks '%s'\n", err.msg, want); return 0; }
  return 1;
}

int main(void) {
  DlmErr err = {0};
  /* f32 (2, 3): 1..6 as little-endian IEEE bytes written out by hand */
  const unsigned char f32data[24] = {0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40,
                                     0, 0, 0x80, 0x40, 0, 0, 0xa0, 0x40, 0, 0, 0xc0, 0x40};
  const char *f32dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  size_t n = build(buf, 1, f32dict, f32data, 24);
  CHECK(n == 128 + 24);  /* 10 + 59-byte dict + newline, padded to 128 */
  Tensor *t = npy_parse("a.npy", buf, n, &err);
  CHECK_MSG(t != NULL, "%s", err.msg);
  if (t) {
    CHECK(t->dtype == DT_F32 && t->rank == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->numel == 6);
    for (int i = 0; i < 6; i++) CHECK(((float *)t->data)[i] == (float)(i + 1));
    /* our writer produces exactly NumPy's bytes */
    size_t len = 0;
    unsigned char *enc = npy_encode("a.npy", t, "<f4", &len, &err);
    CHECK(enc && len == n && memcmp(enc, buf, n) == 0);
    free(enc);
    tensor_free(t);
  }
  /* every truncation of that file is rejected with a message, no crash */
  unsigned char full[256];
  memcpy(full, buf, n);
  int all_fail = 1;
  for (size_t k = 0; k < n; k++) {
    DlmErr e = {0};
    unsigned char *cut = malloc(k ? k : 1);
    memcpy(cut, full, k);
    Tensor *x = npy_parse("cut.npy", cut, k, &e);
    if (x || !e.set || !strstr(e.msg, "cut.npy")) all_fail = 0;
    tensor_free(x);
    free(cut);
  }
  CHECK(all_fail);

  /* format 2.0 (4-byte header_len), double quotes, <i8 (3,) with negative values */
  const int64_t i8[3] = {-1, 0, INT64_MAX};
  n = build(buf, 2, "{\"descr\": \"<i8\", \"fortran_order\": False, \"shape\": (3,)}", i8, sizeof i8);
  t = npy_parse("b.npy", buf, n, &err);
  CHECK_MSG(t && t->dtype == DT_I64 && t->rank == 1 && t->shape[0] == 3, "%s", err.msg);
  if (t) CHECK(((int64_t *)t->data)[0] == -1 && ((int64_t *)t->data)[2] == INT64_MAX);
  tensor_free(t);

  /* unsigned types widen: |u1, <u2 -> i32, <u4 -> i64 */
  const unsigned char u1[3] = {0, 7, 255};
  n = build(buf, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", u1, 3);
  t = npy_parse("c.npy", buf, n, &err);
  CHECK(t && t->dtype == DT_I32 && ((int32_t *)t->data)[2] == 255 && ((int32_t *)t->data)[1] == 7);
  tensor_free(t);
  const unsigned char u2[4] = {0x34, 0x12, 0xff, 0xff};
  n = build(buf, 1, "{'descr': '<u2', 'fortran_order': False, 'shape': (2,), }", u2, 4);
  t = npy_parse("d.npy", buf, n, &err);
  CHECK(t && t->dtype == DT_I32 && ((int32_t *)t->data)[0] == 0x1234 && ((int32_t *)t->data)[1] == 65535);
  tensor_free(t);
  const unsigned char u4[4] = {0xff, 0xff, 0xff, 0xff};
  n = build(buf, 1, "{'descr': '<u4', 'fortran_order': False, 'shape': (1, 1), }", u4, 4);
  t = npy_parse("e.npy", buf, n, &err);
  CHECK(t && t->dtype == DT_I64 && t->rank == 2 && ((int64_t *)t->data)[0] == 4294967295LL);
  tensor_free(t);
  /* bool, f16 (0x3c00 = 1.0), scalar f8, empty array */
  const unsigned char b1[2] = {1, 0};
  n = build(buf, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", b1, 2);
  t = npy_parse("f.npy", buf, n, &err);
  CHECK(t && t->dtype == DT_BOOL && ((uint8_t *)t->data)[0] == 1 && ((uint8_t *)t->data)[1] == 0);
  tensor_free(t);
  const unsigned char f2[2] = {0x00, 0x3c};
  n = build(buf, 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", f2, 2);
  t = npy_parse("g.npy", buf, n, &err);
  CHECK(t && t->dtype == DT_F16 && tensor_get(t, 0) == 1.0);
  tensor_free(t);
  const double half = 0.5;
  n = build(buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", &half, 8);
  t = npy_parse("h.npy", buf, n, &err);
  CHECK(t && t->dtype == DT_F64 && t->rank == 0 && t->numel == 1 && ((double *)t->data)[0] == 0.5);
  tensor_free(t);
  n = build(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", NULL, 0);
  t = npy_parse("i.npy", buf, n, &err);
  CHECK(t && t->numel == 0 && t->rank == 2 && t->shape[1] == 4);
  tensor_free(t);

  /* malformed inputs */
  CHECK(fails_with("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", f32data, 24, "x.npy: header field fortran_order: Fortran-order"));
  CHECK(fails_with("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", f32data, 24, "header field descr: big-endian"));
  CHECK(fails_with("{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", f32data, 24, "header field descr: unsupported dtype"));
  CHECK(fails_with("{'descr': '<f4', 'fortran_order': False, }", f32data, 24, "header field shape: missing"));
  CHECK(fails_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", f32data, 24, "unknown key"));
  CHECK(fails_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", f32data, 24, "header field shape: expected a non-negative"));
  CHECK(fails_with("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1), }", f32data, 4, "too many dimensions"));
  CHECK(fails_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f32data, 20, "data is 20 bytes but descr <f4 and shape give 24 (file truncated)"));
  CHECK(fails_with("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }", f32data, 8, "has trailing bytes"));
  CHECK(fails_with("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", f32data, 8, "too many elements"));
  CHECK(fails_with("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", f32data, 4, "descr: given twice"));
  CHECK(fails_with("{'descr': '|b1', 'fortran_order': False, 'shape': (1,), }", "\x02", 1, "bool element 0 has byte value 2"));
  CHECK(fails_with("['descr']", f32data, 4, "does not start with '{'"));
  n = build(buf, 1, f32dict, f32data, 24);
  buf[6] = 4;
  DlmErr e1 = {0};
  CHECK(npy_parse("v.npy", buf, n, &e1) == NULL && strstr(e1.msg, "v.npy: unsupported .npy format version 4.0"));
  buf[6] = 1;
  buf[9] = 0x40;  /* header_len beyond the file */
  DlmErr e2 = {0};
  CHECK(npy_parse("v.npy", buf, n, &e2) == NULL && strstr(e2.msg, "truncated header"));
  DlmErr e3 = {0};
  CHECK(npy_parse("m.npy", "PK\x03\x04 not npy", 15, &e3) == NULL && strstr(e3.msg, "m.npy: not a .npy file"));

  /* round trips through files for every natural dtype */
  char path[] = "/tmp/dlm_npy_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  DType dts[] = {DT_F32, DT_F64, DT_F16, DT_I32, DT_I64, DT_BOOL};
  for (size_t k = 0; k < sizeof dts / sizeof dts[0]; k++) {
    int64_t shape[3] = {2, 1, 3};
    Tensor *a = tensor_new(dts[k], 3, shape);
    for (int i = 0; i < 6; i++) tensor_set(a, i, dts[k] == DT_BOOL ? i % 2 : i * 3 - 7);
    DlmErr e = {0};
    CHECK_MSG(npy_write(path, a, &e) == 0, "%s", e.msg);
    Tensor *r = npy_read(path, &e);
    CHECK_MSG(r && r->dtype == a->dtype && tensor_same_shape(r, a) &&
              memcmp(r->data, a->data, (size_t)a->numel * dtype_size(a->dtype)) == 0, "dtype %s", dtype_name(dts[k]));
    tensor_free(r);
    tensor_free(a);
  }
  /* token file as <u2; out-of-range values and bf16 are refused */
  int64_t len3 = 3;
  Tensor *tok = tensor_new(DT_I64, 1, &len3);
  tensor_set(tok, 0, 50256);
  tensor_set(tok, 1, 0);
  tensor_set(tok, 2, 65535);
  CHECK(npy_write_as(path, tok, "<u2", &err) == 0);
  Tensor *r = npy_read(path, &err);
  CHECK(r && r->dtype == DT_I32 && ((int32_t *)r->data)[0] == 50256 && ((int32_t *)r->data)[2] == 65535);
  tensor_free(r);
  tensor_set(tok, 2, 65536);
  DlmErr e4 = {0};
  CHECK(npy_write_as(path, tok, "<u2", &e4) == -1 && strstr(e4.msg, "element 2 (65536) does not fit npy dtype <u2"));
  DlmErr e5 = {0};
  CHECK(npy_write_as(path, tok, "<x9", &e5) == -1 && strstr(e5.msg, "unsupported npy dtype '<x9'"));
  tensor_free(tok);
  Tensor *bf = tensor_new(DT_BF16, 1, &len3);
  DlmErr e6 = {0};
  CHECK(npy_write(path, bf, &e6) == -1 && strstr(e6.msg, "bf16 has no npy equivalent"));
  CHECK(npy_write_as(path, bf, "<f4", &err) == 0);  /* explicit conversion is fine */
  tensor_free(bf);
  unlink(path);
  DlmErr e7 = {0};
  CHECK(npy_read(path, &e7) == NULL && strstr(e7.msg, path) && strstr(e7.msg, "cannot open"));
  return check_summary("test_npy");
}
