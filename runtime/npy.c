/* npy.c — reading and writing NumPy .npy files (see npy.h). Data is little-endian on disk; this
 * code assumes a little-endian host (checked at compile time). */
#include "npy.h"
#include "fileio.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host"
#endif

#define NPY_MAX_FILE ((size_t)1 << 40)
#define NPY_MAX_HEADER (1u << 20)

static const SrcLoc noloc = {0, 0, 0};

typedef struct {
  const char *descr;
  DType dtype;       /* in-memory dtype */
  int itemsize;      /* bytes per element on disk */
  int is_unsigned;
} NpyType;

static const NpyType npy_types[] = {
  {"<f4", DT_F32, 4, 0}, {"<f8", DT_F64, 8, 0}, {"<f2", DT_F16, 2, 0}, {"<i4", DT_I32, 4, 0},
  {"<i8", DT_I64, 8, 0}, {"|b1", DT_BOOL, 1, 0}, {"|u1", DT_I32, 1, 1}, {"<u2", DT_I32, 2, 1},
  {"<u4", DT_I64, 4, 1},
};
#define NTYPES (sizeof npy_types / sizeof npy_types[0])

static const NpyType *find_type(const char *descr, size_t n) {
  for (size_t i = 0; i < NTYPES; i++)
    if (strlen(npy_types[i].descr) == n && memcmp(npy_types[i].descr, descr, n) == 0) return &npy_types[i];
  return NULL;
}

/* ---------------------------------------------------------------- header parsing */
typedef struct {
  const char *s;
  size_t n, i;
} Hp;

static void hws(Hp *h) {
  while (h->i < h->n && (h->s[h->i] == ' ' || h->s[h->i] == '\t' || h->s[h->i] == '\n' || h->s[h->i] == '\r')) h->i++;
}

static int hchar(Hp *h, char c) {
  hws(h);
  if (h->i < h->n && h->s[h->i] == c) { h->i++; return 1; }
  return 0;
}

/* A quoted Python string literal without escapes; returns start/len. */
static int hstring(Hp *h, const char **str, size_t *len) {
  hws(h);
  if (h->i >= h->n || (h->s[h->i] != '\'' && h->s[h->i] != '"')) return 0;
  char q = h->s[h->i++];
  size_t st = h->i;
  while (h->i < h->n && h->s[h->i] != q && h->s[h->i] != '\\') h->i++;
  if (h->i >= h->n || h->s[h->i] != q) return 0;
  *str = h->s + st;
  *len = h->i - st;
  h->i++;
  return 1;
}

static int hword(Hp *h, const char *w) {
  size_t l = strlen(w);
  hws(h);
  if (h->n - h->i >= l && memcmp(h->s + h->i, w, l) == 0) { h->i += l; return 1; }
  return 0;
}

/* Parses the header dict. On error returns a message and sets *field. */
static const char *parse_header(Hp *h, const NpyType **type, int *rank, int64_t *shape, const char **field) {
  int seen_descr = 0, seen_fortran = 0, seen_shape = 0;
  *field = "header";
  if (!hchar(h, '{')) return "does not start with '{'";
  for (;;) {
    if (hchar(h, '}')) break;
    const char *key;
    size_t kl;
    if (!hstring(h, &key, &kl)) return "expected a quoted key or '}'";
    if (!hchar(h, ':')) return "expected ':' after a key";
    if (kl == 5 && memcmp(key, "descr", 5) == 0) {
      *field = "descr";
      const char *d;
      size_t dl;
      if (seen_descr++) return "given twice";
      if (!hstring(h, &d, &dl)) return "expected a quoted dtype string (structured dtypes are not supported)";
      *type = find_type(d, dl);
      if (!*type) {
        if (dl > 0 && d[0] == '>') return "big-endian data is not supported";
        return "unsupported dtype (supported: <f4 <f8 <f2 <i4 <i8 |b1 |u1 <u2 <u4)";
      }
    } else if (kl == 13 && memcmp(key, "fortran_order", 13) == 0) {
      *field = "fortran_order";
      if (seen_fortran++) return "given twice";
      if (hword(h, "True")) return "Fortran-order arrays are not supported (save in C order)";
      if (!hword(h, "False")) return "expected True or False";
    } else if (kl == 5 && memcmp(key, "shape", 5) == 0) {
      *field = "shape";
      if (seen_shape++) return "given twice";
      if (!hchar(h, '(')) return "expected a tuple";
      *rank = 0;
      for (;;) {
        if (hchar(h, ')')) break;
        hws(h);
        if (h->i >= h->n || h->s[h->i] < '0' || h->s[h->i] > '9') return "expected a non-negative integer";
        int64_t v = 0;
        while (h->i < h->n && h->s[h->i] >= '0' && h->s[h->i] <= '9') {
          if (v > (INT64_MAX - 9) / 10) return "dimension too large";
          v = v * 10 + (h->s[h->i++] - '0');
        }
        if (h->i < h->n && h->s[h->i] == 'L') h->i++; /* Python 2 long suffix */
        if (*rank >= DLM_MAX_RANK) return "too many dimensions";
        shape[(*rank)++] = v;
        if (hchar(h, ')')) break;
        if (!hchar(h, ',')) return "expected ',' or ')'";
      }
    } else {
      *field = "header";
      return "unknown key (expected descr, fortran_order, shape)";
    }
    *field = "header";
    if (hchar(h, '}')) break;
    if (!hchar(h, ',')) return "expected ',' or '}'";
  }
  hws(h);
  if (h->i != h->n) return "unexpected text after the dict";
  if (!seen_descr) { *field = "descr"; return "missing"; }
  if (!seen_fortran) { *field = "fortran_order"; return "missing"; }
  if (!seen_shape) { *field = "shape"; return "missing"; }
  return NULL;
}

static uint32_t rd_le(const unsigned char *p, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

Tensor *npy_parse(const char *name, const void *buf, size_t len, DlmErr *err) {
  const unsigned char *b = buf;
  if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0) {
    err_set(err, noloc, "%s: not a .npy file (magic string missing%s)", name, len < 10 ? " or file truncated" : "");
    return NULL;
  }
  int major = b[6], minor = b[7];
  if (major < 1 || major > 3 || minor != 0) {
    err_set(err, noloc, "%s: unsupported .npy format version %d.%d", name, major, minor);
    return NULL;
  }
  size_t hstart = major == 1 ? 10 : 12;
  if (len < hstart) { err_set(err, noloc, "%s: truncated in header_len", name); return NULL; }
  uint32_t hlen = rd_le(b + 8, major == 1 ? 2 : 4);
  if (hlen > NPY_MAX_HEADER) { err_set(err, noloc, "%s: header_len %u is too large", name, (unsigned)hlen); return NULL; }
  if (len - hstart < hlen) {
    err_set(err, noloc, "%s: truncated header (header_len %u, %zu bytes present)", name, (unsigned)hlen, len - hstart);
    return NULL;
  }
  Hp h = {(const char *)b + hstart, hlen, 0};
  const NpyType *type = NULL;
  int rank = 0;
  int64_t shape[DLM_MAX_RANK];
  const char *field;
  const char *msg = parse_header(&h, &type, &rank, shape, &field);
  if (msg) { err_set(err, noloc, "%s: header field %s: %s", name, field, msg); return NULL; }
  uint64_t numel = 1;
  for (int i = 0; i < rank; i++) {
    if (shape[i] && numel > (uint64_t)(NPY_MAX_FILE / (uint64_t)shape[i])) {
      err_set(err, noloc, "%s: header field shape: too many elements", name);
      return NULL;
    }
    numel *= (uint64_t)shape[i];
  }
  size_t dstart = hstart + hlen, want = (size_t)numel * (size_t)type->itemsize;
  if (len - dstart != want) {
    err_set(err, noloc, "%s: data is %zu bytes but descr %s and shape give %zu (file %s)", name, len - dstart,
            type->descr, want, len - dstart < want ? "truncated" : "has trailing bytes");
    return NULL;
  }
  Tensor *t = tensor_new(type->dtype, rank, shape);
  if (!t) { err_set(err, noloc, "%s: out of memory for %llu elements", name, (unsigned long long)numel); return NULL; }
  const unsigned char *d = b + dstart;
  if (type->is_unsigned) {
    for (uint64_t i = 0; i < numel; i++) {
      uint32_t v = rd_le(d + i * (size_t)type->itemsize, type->itemsize);
      if (t->dtype == DT_I32) ((int32_t *)t->data)[i] = (int32_t)v;
      else ((int64_t *)t->data)[i] = v;
    }
  } else {
    if (want) memcpy(t->data, d, want);
    if (type->dtype == DT_BOOL)
      for (uint64_t i = 0; i < numel; i++)
        if (d[i] > 1) {
          err_set(err, noloc, "%s: bool element %llu has byte value %d (expected 0 or 1)", name, (unsigned long long)i, d[i]);
          tensor_free(t);
          return NULL;
        }
  }
  return t;
}

Tensor *npy_read(const char *path, DlmErr *err) {
  size_t len;
  char *buf = file_read_all(path, NPY_MAX_FILE, &len, err);
  if (!buf) return NULL;
  Tensor *t = npy_parse(path, buf, len, err);
  free(buf);
  return t;
}

/* ---------------------------------------------------------------- writing */
static const char *natural_descr(DType d) {
  switch (d) {
  case DT_F32: return "<f4";
  case DT_F64: return "<f8";
  case DT_F16: return "<f2";
  case DT_I32: return "<i4";
  case DT_I64: return "<i8";
  case DT_BOOL: return "|b1";
  default: return NULL;
  }
}

/* Convert element value v to the on-disk type; 0 if it does not fit. */
static int put_elem(const NpyType *ty, double v, unsigned char *o) {
  if (ty->dtype == DT_F32 || ty->dtype == DT_F64 || ty->dtype == DT_F16) {
    if (ty->dtype == DT_F32) { float f = (float)v; memcpy(o, &f, 4); }
    else if (ty->dtype == DT_F64) memcpy(o, &v, 8);
    else { uint16_t hv = f32_to_f16((float)v); memcpy(o, &hv, 2); }
    return 1;
  }
  if (v != floor(v)) return 0;
  double lo, hi;
  if (ty->dtype == DT_BOOL) { lo = 0; hi = 1; }
  else if (ty->is_unsigned) { lo = 0; hi = ldexp(1.0, 8 * ty->itemsize) - 1; }
  else { lo = -ldexp(1.0, 8 * ty->itemsize - 1); hi = ldexp(1.0, 8 * ty->itemsize - 1) - 1; }
  if (!(v >= lo && v <= hi)) return 0;
  if (ty->itemsize == 8) { int64_t x = (int64_t)v; memcpy(o, &x, 8); }
  else {
    uint32_t x = ty->is_unsigned ? (uint32_t)v : (uint32_t)(int32_t)v;
    for (int k = 0; k < ty->itemsize; k++) o[k] = (unsigned char)(x >> (8 * k));
  }
  return 1;
}

void *npy_encode(const char *name, const Tensor *t, const char *descr, size_t *len, DlmErr *err) {
  const NpyType *ty = find_type(descr, strlen(descr));
  if (!ty) { err_set(err, noloc, "%s: unsupported npy dtype '%s'", name, descr); return NULL; }
  char hdr[512];
  int k = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", ty->descr);
  for (int i = 0; i < t->rank; i++)  /* Python tuple syntax: (), (3,), (2, 3) */
    k += snprintf(hdr + k, sizeof hdr - (size_t)k, "%s%lld%s", i ? ", " : "", (long long)t->shape[i], t->rank == 1 ? "," : "");
  k += snprintf(hdr + k, sizeof hdr - (size_t)k, "), }");
  size_t hlen = (size_t)k + 1; /* with the final '\n' */
  size_t total_hdr = 10 + hlen;
  total_hdr = (total_hdr + 63) / 64 * 64;
  size_t data = (size_t)t->numel * (size_t)ty->itemsize;
  unsigned char *out = malloc(total_hdr + data);
  if (!out) { err_set(err, noloc, "%s: out of memory", name); return NULL; }
  memcpy(out, "\x93NUMPY\x01\x00", 8);
  size_t padded = total_hdr - 10;
  out[8] = (unsigned char)(padded & 0xff);
  out[9] = (unsigned char)(padded >> 8);
  memcpy(out + 10, hdr, (size_t)k);
  memset(out + 10 + k, ' ', padded - (size_t)k - 1);
  out[total_hdr - 1] = '\n';
  unsigned char *d = out + total_hdr;
  if (natural_descr(t->dtype) && strcmp(natural_descr(t->dtype), ty->descr) == 0) {
    if (data) memcpy(d, t->data, data);
  } else {
    for (int64_t i = 0; i < t->numel; i++) {
      double v = tensor_get(t, i);
      if (!put_elem(ty, v, d + (size_t)i * (size_t)ty->itemsize)) {
        err_set(err, noloc, "%s: element %lld (%.17g) does not fit npy dtype %s", name, (long long)i, v, ty->descr);
        free(out);
        return NULL;
      }
    }
  }
  *len = total_hdr + data;
  return out;
}

int npy_write_as(const char *path, const Tensor *t, const char *descr, DlmErr *err) {
  size_t len;
  void *buf = npy_encode(path, t, descr, &len, err);
  if (!buf) return -1;
  int rc = file_write_atomic(path, buf, len, err);
  free(buf);
  return rc;
}

int npy_write(const char *path, const Tensor *t, DlmErr *err) {
  const char *descr = natural_descr(t->dtype);
  if (!descr) {
    err_set(err, noloc, "%s: dtype %s has no npy equivalent (convert to f32 first)", path, dtype_name(t->dtype));
    return -1;
  }
  return npy_write_as(path, t, descr, err);
}
