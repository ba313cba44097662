/* test_safetensors.c — safetensors reading and writing: files built byte by byte here (so the
 * format is checked independently of our writer), the exact bytes our writer produces, round
 * trips of every dtype with metadata, malformed headers and layouts, every truncation and every
 * single-byte corruption of a valid file (none may crash). */
#include "check.h"
#include "safetensors.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned char img[8192];

/* 8-byte little-endian header length, the header text, then the data bytes. */
static size_t build(const char *header, const void *data, size_t dlen) {
  size_t hl = strlen(header);
  for (int i = 0; i < 8; i++) img[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(img + 8, header, hl);
  if (dlen) memcpy(img + 8 + hl, data, dlen);
  return 8 + hl + dlen;
}

static int fails_with(const char *header, const void *data, size_t dlen, const char *want) {
  size_t n = build(header, data, dlen);
  DlmErr err = {0};
  StFile *f = st_open_mem("m.safetensors", img, n, &err);
  if (f) { st_close(f); fprintf(stderr, "expected failure '%s' for %s\n", want, header); return 0; }
  if (!strstr(err.msg, want)) { fprintf(stderr, "error '%s' lacks '%s'\n", err.msg, want); return 0; }
  return 1;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
  fclose(f);
  *len = (size_t)n;
  return b;
}

static void hand_built(void) {
  /* a: F32 [2] = {1, -2}; b: U8 [3] = {1, 2, 255}; c: BF16 [] = 1.5 (0x3fc0); d: I64 [0];
   * e: BOOL [2, 1] = {1, 0}. Little-endian bytes written out by hand. */
  const unsigned char data[] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 1, 2, 255, 0xc0, 0x3f, 1, 0};
  const char *hdr =
    "{\"__metadata__\": {\"format\": \"pt\", \"note\": \"caf\\u00e9\"},"
    " \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
    " \"b\": {\"dtype\": \"U8\", \"shape\": [3], \"data_offsets\": [8, 11]},"
    " \"c\": {\"dtype\": \"BF16\", \"shape\": [], \"data_offsets\": [11, 13]},"
    " \"d\": {\"dtype\": \"I64\", \"shape\": [0], \"data_offsets\": [13, 13]},"
    " \"e\": {\"dtype\": \"BOOL\", \"shape\": [2, 1], \"data_offsets\": [13, 15]}}   ";
  size_t n = build(hdr, data, sizeof data);
  DlmErr err = {0};
  StFile *f = st_open_mem("h.safetensors", img, n, &err);
  CHECK_MSG(f != NULL, "%s", err.msg);
  if (!f) return;
  CHECK(st_count(f) == 5);
  CHECK(strcmp(st_name(f, 0), "a") == 0 && strcmp(st_name(f, 4), "e") == 0 && st_name(f, 5) == NULL);
  CHECK(st_meta_count(f) == 2 && strcmp(st_meta_get(f, "format"), "pt") == 0);
  CHECK(strcmp(st_meta_get(f, "note"), "caf\xc3\xa9") == 0 && st_meta_get(f, "x") == NULL);
  CHECK(strcmp(st_meta_key(f, 1), "note") == 0);
  DType dt;
  int rank;
  int64_t shape[DLM_MAX_RANK];
  st_info(f, st_find(f, "e"), &dt, &rank, shape);
  CHECK(dt == DT_BOOL && rank == 2 && shape[0] == 2 && shape[1] == 1);
  Tensor *a = st_tensor(f, "a", &err), *b = st_tensor(f, "b", &err), *c = st_tensor(f, "c", &err);
  Tensor *d = st_tensor(f, "d", &err), *e = st_tensor(f, "e", &err);
  CHECK(a && a->dtype == DT_F32 && a->numel == 2 && ((float *)a->data)[0] == 1.0f && ((float *)a->data)[1] == -2.0f);
  CHECK(b && b->dtype == DT_I32 && b->numel == 3 && ((int32_t *)b->data)[2] == 255 && ((int32_t *)b->data)[0] == 1);
  CHECK(c && c->dtype == DT_BF16 && c->rank == 0 && tensor_get(c, 0) == 1.5);
  CHECK(d && d->dtype == DT_I64 && d->numel == 0 && d->rank == 1);
  CHECK(e && e->dtype == DT_BOOL && ((uint8_t *)e->data)[0] == 1 && ((uint8_t *)e->data)[1] == 0);
  tensor_free(a); tensor_free(b); tensor_free(c); tensor_free(d); tensor_free(e);
  DlmErr e2 = {0};
  CHECK(st_tensor(f, "zz", &e2) == NULL && strstr(e2.msg, "h.safetensors: no tensor named 'zz'"));
  ParamStore *ps = st_to_store(f, &err);
  CHECK(ps && ps->n == 5 && pstore_get(ps, "c") && pstore_get(ps, "c")->dtype == DT_BF16);
  pstore_free(ps);
  st_close(f);
}

/* Our writer's bytes for a small store match the layout written out by hand. */
static void exact_bytes(const char *path) {
  ParamStore *ps = pstore_new();
  int64_t two = 2;
  Tensor *w = tensor_new(DT_F32, 1, &two);
  ((float *)w->data)[0] = 1.0f;
  ((float *)w->data)[1] = -2.0f;
  pstore_put(ps, "w", w);
  const char *keys[] = {"step"}, *vals[] = {"7\n!"};
  StMeta meta = {1, keys, vals};
  DlmErr err = {0};
  CHECK_MSG(st_save(path, ps, &meta, &err) == 0, "%s", err.msg);
  pstore_free(ps);
  const char *hdr = "{\"__metadata__\":{\"step\":\"7\\u000a!\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;   /* 89 -> 96: seven spaces */
  unsigned char want[256];
  memset(want, 0, sizeof want);
  want[0] = (unsigned char)padded;
  memcpy(want + 8, hdr, hl);
  memset(want + 8 + hl, ' ', padded - hl);
  const unsigned char data[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0};
  memcpy(want + 8 + padded, data, 8);
  size_t len = 0;
  char *got = slurp(path, &len);
  CHECK(got && len == 8 + padded + 8 && memcmp(got, want, len) == 0);
  free(got);
}

static void round_trip(const char *path) {
  ParamStore *ps = pstore_new();
  DType dts[] = {DT_F32, DT_F64, DT_BF16, DT_F16, DT_I32, DT_I64, DT_BOOL};
  const char *names[] = {"model.f32", "opt.m/f64", "ema.bf16", "x.f16", "step.i32", "rng \"quoted\"", "mask"};
  for (int k = 0; k < 7; k++) {
    int64_t shape[2] = {3, k + 1};
    Tensor *t = tensor_new(dts[k], k == 5 ? 0 : 2, shape);
    for (int64_t i = 0; i < t->numel; i++) tensor_set(t, i, dts[k] == DT_BOOL ? (double)(i % 2) : (double)(i * 5 - 3) / 4);
    pstore_put(ps, names[k], t);
  }
  const char *keys[] = {"step", "rng_state"}, *vals[] = {"1200", "{\"seed\": 1}"};
  StMeta meta = {2, keys, vals};
  DlmErr err = {0};
  CHECK_MSG(st_save(path, ps, &meta, &err) == 0, "%s", err.msg);
  StFile *f = st_open(path, &err);
  CHECK_MSG(f != NULL, "%s", err.msg);
  if (f) {
    CHECK(st_count(f) == 7 && strcmp(st_meta_get(f, "rng_state"), "{\"seed\": 1}") == 0);
    ParamStore *back = st_to_store(f, &err);
    CHECK(back && back->n == 7);
    for (int k = 0; back && k < 7; k++) {
      Tensor *a = pstore_get(ps, names[k]), *b = pstore_get(back, names[k]);
      CHECK_MSG(b && b->dtype == a->dtype && tensor_same_shape(a, b) &&
                memcmp(a->data, b->data, (size_t)a->numel * dtype_size(a->dtype)) == 0, "tensor %s", names[k]);
    }
    pstore_free(back);
    st_close(f);
  }
  ParamStore *l = st_load(path, &err);
  CHECK(l && l->n == 7);
  pstore_free(l);
  /* the header length is a multiple of 8 so the data is aligned */
  size_t len = 0;
  unsigned char *bytes = (unsigned char *)slurp(path, &len);
  CHECK(bytes && len > 8 && bytes[0] % 8 == 0);
  /* every truncation fails cleanly */
  int all_fail = 1;
  for (size_t k = 0; bytes && k < len; k++) {
    DlmErr e = {0};
    StFile *t = st_open_mem("cut", bytes, k, &e);
    if (t || !strstr(e.msg, "cut: ")) all_fail = 0;
    st_close(t);
  }
  CHECK(all_fail);
  /* every single-byte corruption either loads or fails with a message; none crashes */
  int ok = 1;
  for (size_t k = 0; bytes && k < len; k++) {
    const unsigned char subs[] = {0x00, '}', '9', 0xff, '"'};
    for (size_t s = 0; s < sizeof subs; s++) {
      unsigned char old = bytes[k];
      bytes[k] = subs[s];
      DlmErr e = {0};
      StFile *t = st_open_mem("bad", bytes, len, &e);
      if (!t && !e.set) ok = 0;
      st_close(t);
      bytes[k] = old;
    }
  }
  CHECK(ok);
  free(bytes);
  /* refused stores */
  int64_t one = 1;
  pstore_put(ps, "__metadata__", tensor_new(DT_F32, 1, &one));
  DlmErr e3 = {0};
  CHECK(st_save(path, ps, NULL, &e3) == -1 && strstr(e3.msg, "'__metadata__' cannot be a tensor name"));
  pstore_free(ps);
  const char *dk[] = {"a", "a"}, *dv[] = {"1", "2"};
  StMeta dup = {2, dk, dv};
  ParamStore *empty = pstore_new();
  DlmErr e4 = {0};
  CHECK(st_save(path, empty, &dup, &e4) == -1 && strstr(e4.msg, "metadata key 'a' is given twice"));
  DlmErr e5 = {0};
  CHECK(st_save("/nonexistent-dir/x.safetensors", empty, NULL, &e5) == -1 && strstr(e5.msg, "/nonexistent-dir/x.safetensors"));
  CHECK(st_save(path, empty, NULL, &err) == 0);  /* an empty store is a valid file */
  StFile *f2 = st_open(path, &err);
  CHECK(f2 && st_count(f2) == 0 && st_meta_count(f2) == 0);
  st_close(f2);
  pstore_free(empty);
}

int main(void) {
  hand_built();
  char path[] = "/tmp/dlm_st_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  exact_bytes(path);
  round_trip(path);
  unlink(path);
  DlmErr e0 = {0};
  CHECK(st_open(path, &e0) == NULL && strstr(e0.msg, path));

  const unsigned char d8[16] = {0};
  const char *ok1 = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  CHECK(fails_with(ok1, d8, 4, "tensor 'a': field data_offsets: end is past the end of the file"));
  CHECK(fails_with(ok1, d8, 12, "4 bytes after the last tensor's data belong to no tensor"));
  CHECK(fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", d8, 8, "tensor 'a': field data_offsets: byte size does not match"));
  CHECK(fails_with("{\"a\":{\"dtype\":\"I8\",\"shape\":[8],\"data_offsets\":[0,8]}}", d8, 8, "tensor 'a': field dtype is not supported"));
  CHECK(fails_with("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", d8, 8, "tensor 'a': field dtype is missing"));
  CHECK(fails_with("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", d8, 8, "field shape is missing"));
  CHECK(fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", d8, 8, "field data_offsets is missing"));
  CHECK(fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", d8, 8, "dimensions must be non-negative"));
  CHECK(fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", d8, 8, "dimensions must be non-negative integers"));
  CHECK(fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", d8, 8, "too many dimensions"));
  CHECK(fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", d8, 8, "begin is after end"));
  CHECK(fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", d8, 8, "not an array of two integers"));
  CHECK(fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", d8, 8, "unknown field"));
  CHECK(fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", d8, 8, "tensor 'b' field data_offsets: overlaps tensor 'a'"));
  CHECK(fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", d8, 8, "data bytes [0, 4) before tensor 'a' belong to no tensor"));
  CHECK(fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", d8, 8, "tensor 'a' is given twice"));
  CHECK(fails_with("{\"__metadata__\":{\"k\":1}}", d8, 0, "__metadata__ key 'k': value is not a string"));
  CHECK(fails_with("{\"__metadata__\":[]}", d8, 0, "__metadata__ is not a JSON object"));
  CHECK(fails_with("{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", d8, 1, "contains a NUL"));
  CHECK(fails_with("{\"a\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[0,2]}}", "\x01\x02", 2, "tensor 'a': BOOL element 1 is 2"));
  CHECK(fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", d8, 8, "header is not valid JSON: offset"));
  CHECK(fails_with("[1, 2]", d8, 0, "header does not start with '{'"));
  CHECK(fails_with("{\"a\":[1]}", d8, 0, "tensor 'a': entry is not a JSON object"));
  /* header length larger than the file, and larger than the limit */
  size_t n = build(ok1, d8, 8);
  img[0] = 0xff;
  DlmErr e1 = {0};
  CHECK(st_open_mem("m", img, n, &e1) == NULL && strstr(e1.msg, "header length 255 is past the end of the file"));
  img[6] = 1;
  DlmErr e2 = {0};
  CHECK(st_open_mem("m", img, n, &e2) == NULL && strstr(e2.msg, "is larger than the limit"));
  DlmErr e3 = {0};
  CHECK(st_open_mem("m", img, 5, &e3) == NULL && strstr(e3.msg, "too short for the 8-byte header length"));
  return check_summary("test_safetensors");
}
