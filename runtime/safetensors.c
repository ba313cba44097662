/* safetensors.c — validated reading and atomic writing of safetensors files (see safetensors.h).
 * Tensor bytes are little-endian on disk; this code assumes a little-endian host (checked at
 * compile time). */
#include "safetensors.h"
#include "fileio.h"
#include "json_mini.h"
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

#define ST_MAX_FILE ((size_t)1 << 40)

static const SrcLoc noloc = {0, 0, 0};

typedef struct {
  const char *name;       /* the file's dtype string */
  DType dtype;            /* in memory */
  int size;               /* bytes per element on disk */
} StType;

static const StType st_types[] = {
  {"F32", DT_F32, 4}, {"F64", DT_F64, 8}, {"BF16", DT_BF16, 2}, {"F16", DT_F16, 2},
  {"I32", DT_I32, 4}, {"I64", DT_I64, 8}, {"BOOL", DT_BOOL, 1}, {"U8", DT_I32, 1},
};
#define NTYPES (int)(sizeof st_types / sizeof st_types[0])

typedef struct {
  char *name;
  const StType *type;
  int rank;
  int64_t shape[DLM_MAX_RANK];
  uint64_t begin, end;    /* relative to the data region */
} StEntry;

struct StFile {
  char *path;
  unsigned char *buf;
  size_t len;
  size_t data_start;
  int n;
  StEntry *e;
  int nmeta;
  char **mkeys, **mvals;
};

void st_close(StFile *f) {
  if (!f) return;
  for (int i = 0; i < f->n; i++) free(f->e[i].name);
  for (int i = 0; i < f->nmeta; i++) { free(f->mkeys[i]); free(f->mvals[i]); }
  free(f->e);
  free(f->mkeys);
  free(f->mvals);
  free(f->buf);
  free(f->path);
  free(f);
}

static char *dup_str(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p) { memcpy(p, s, n); p[n] = 0; }
  return p;
}

/* Parse one tensor entry; returns an error message (field named) or NULL. */
static const char *parse_entry(const JsonVal *v, StEntry *e, uint64_t data_len) {
  if (v->kind != JSON_OBJ) return "entry is not a JSON object";
  const JsonVal *dt = NULL, *sh = NULL, *off = NULL;
  for (int i = 0; i < v->n; i++) {
    const char *k = v->keys[i];
    const JsonVal **slot = strcmp(k, "dtype") == 0 ? &dt : strcmp(k, "shape") == 0 ? &sh : strcmp(k, "data_offsets") == 0 ? &off : NULL;
    if (!slot || strlen(k) != v->keylens[i]) return "unknown field (expected dtype, shape, data_offsets)";
    if (*slot) return "a field is given twice";
    *slot = v->items[i];
  }
  if (!dt) return "field dtype is missing";
  if (!sh) return "field shape is missing";
  if (!off) return "field data_offsets is missing";
  if (dt->kind != JSON_STR) return "field dtype is not a string";
  e->type = NULL;
  for (int i = 0; i < NTYPES; i++)
    if (strcmp(dt->str, st_types[i].name) == 0 && strlen(st_types[i].name) == dt->len) e->type = &st_types[i];
  if (!e->type) return "field dtype is not supported (expected F32 F64 BF16 F16 I32 I64 BOOL U8)";
  if (sh->kind != JSON_ARR) return "field shape is not an array";
  if (sh->n > DLM_MAX_RANK) return "field shape has too many dimensions";
  e->rank = sh->n;
  uint64_t numel = 1;
  for (int i = 0; i < sh->n; i++) {
    const JsonVal *d = sh->items[i];
    if (d->kind != JSON_NUM || !d->is_int || d->ival < 0) return "field shape: dimensions must be non-negative integers";
    e->shape[i] = d->ival;
    if (d->ival && numel > (uint64_t)ST_MAX_FILE / (uint64_t)d->ival) return "field shape: too many elements";
    numel *= (uint64_t)d->ival;
  }
  if (off->kind != JSON_ARR || off->n != 2) return "field data_offsets is not an array of two integers";
  for (int i = 0; i < 2; i++)
    if (off->items[i]->kind != JSON_NUM || !off->items[i]->is_int || off->items[i]->ival < 0)
      return "field data_offsets: offsets must be non-negative integers";
  e->begin = (uint64_t)off->items[0]->ival;
  e->end = (uint64_t)off->items[1]->ival;
  if (e->begin > e->end) return "field data_offsets: begin is after end";
  if (e->end > data_len) return "field data_offsets: end is past the end of the file";
  if (e->end - e->begin != numel * (uint64_t)e->type->size) return "field data_offsets: byte size does not match dtype and shape";
  return NULL;
}

static const StFile *sort_ctx;
static int cmp_name(const void *a, const void *b) {
  return strcmp(sort_ctx->e[*(const int *)a].name, sort_ctx->e[*(const int *)b].name);
}
static int cmp_offset(const void *a, const void *b) {
  const StEntry *x = &sort_ctx->e[*(const int *)a], *y = &sort_ctx->e[*(const int *)b];
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

static int parse_metadata(StFile *f, const JsonVal *m, const char *name, DlmErr *err) {
  if (m->kind != JSON_OBJ) { err_set(err, noloc, "%s: __metadata__ is not a JSON object", name); return -1; }
  f->mkeys = calloc((size_t)m->n + 1, sizeof *f->mkeys);
  f->mvals = calloc((size_t)m->n + 1, sizeof *f->mvals);
  if (!f->mkeys || !f->mvals) { err_set(err, noloc, "%s: out of memory", name); return -1; }
  for (int i = 0; i < m->n; i++) {
    const JsonVal *v = m->items[i];
    if (v->kind != JSON_STR) { err_set(err, noloc, "%s: __metadata__ key '%.64s': value is not a string", name, m->keys[i]); return -1; }
    if (strlen(m->keys[i]) != m->keylens[i] || strlen(v->str) != v->len) {
      err_set(err, noloc, "%s: __metadata__ key '%.64s': contains a NUL character", name, m->keys[i]);
      return -1;
    }
    if (st_meta_get(f, m->keys[i])) { err_set(err, noloc, "%s: __metadata__ key '%.64s' is given twice", name, m->keys[i]); return -1; }
    f->mkeys[f->nmeta] = dup_str(m->keys[i], m->keylens[i]);
    f->mvals[f->nmeta] = dup_str(v->str, v->len);
    f->nmeta++;
    if (!f->mkeys[f->nmeta - 1] || !f->mvals[f->nmeta - 1]) { err_set(err, noloc, "%s: out of memory", name); return -1; }
  }
  return 0;
}

/* Duplicate names and the tiling of the data region. */
static int check_layout(StFile *f, const char *name, DlmErr *err) {
  int *idx = malloc(((size_t)f->n + 1) * sizeof *idx);
  if (!idx) { err_set(err, noloc, "%s: out of memory", name); return -1; }
  for (int i = 0; i < f->n; i++) idx[i] = i;
  sort_ctx = f;
  qsort(idx, (size_t)f->n, sizeof *idx, cmp_name);
  for (int i = 1; i < f->n; i++)
    if (strcmp(f->e[idx[i]].name, f->e[idx[i - 1]].name) == 0) {
      err_set(err, noloc, "%s: tensor '%.64s' is given twice", name, f->e[idx[i]].name);
      free(idx);
      return -1;
    }
  qsort(idx, (size_t)f->n, sizeof *idx, cmp_offset);
  uint64_t pos = 0, data_len = f->len - f->data_start;
  for (int i = 0; i < f->n; i++) {
    const StEntry *e = &f->e[idx[i]];
    if (e->begin < pos) {
      err_set(err, noloc, "%s: tensor '%.64s' field data_offsets: overlaps tensor '%.64s'", name, e->name, f->e[idx[i - 1]].name);
      free(idx);
      return -1;
    }
    if (e->begin > pos) {
      err_set(err, noloc, "%s: data bytes [%llu, %llu) before tensor '%.64s' belong to no tensor", name,
              (unsigned long long)pos, (unsigned long long)e->begin, e->name);
      free(idx);
      return -1;
    }
    pos = e->end;
  }
  free(idx);
  if (pos != data_len) {
    err_set(err, noloc, "%s: %llu bytes after the last tensor's data belong to no tensor", name, (unsigned long long)(data_len - pos));
    return -1;
  }
  return 0;
}

/* Takes ownership of buf. */
static StFile *open_buf(const char *name, unsigned char *buf, size_t len, DlmErr *err) {
  StFile *f = calloc(1, sizeof *f);
  if (!f) { free(buf); err_set(err, noloc, "%s: out of memory", name); return NULL; }
  f->buf = buf;
  f->len = len;
  f->path = dup_str(name, strlen(name));
  if (!f->path) { err_set(err, noloc, "%s: out of memory", name); st_close(f); return NULL; }
  if (len < 8) { err_set(err, noloc, "%s: file is %zu bytes, too short for the 8-byte header length", name, len); st_close(f); return NULL; }
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
  if (hlen > ST_MAX_HEADER) { err_set(err, noloc, "%s: header length %llu is larger than the limit %u", name, (unsigned long long)hlen, ST_MAX_HEADER); st_close(f); return NULL; }
  if (hlen > len - 8) {
    err_set(err, noloc, "%s: header length %llu is past the end of the file (%zu bytes; truncated?)", name, (unsigned long long)hlen, len);
    st_close(f);
    return NULL;
  }
  f->data_start = 8 + (size_t)hlen;
  if (hlen == 0 || buf[8] != '{') { err_set(err, noloc, "%s: header does not start with '{'", name); st_close(f); return NULL; }
  char jerr[160];
  JsonVal *root = json_parse((const char *)buf + 8, (size_t)hlen, jerr, sizeof jerr);
  if (!root) { err_set(err, noloc, "%s: header is not valid JSON: %s", name, jerr); st_close(f); return NULL; }
  if (root->kind != JSON_OBJ) { err_set(err, noloc, "%s: header is not a JSON object", name); goto fail; }
  f->e = calloc((size_t)root->n + 1, sizeof *f->e);
  if (!f->e) { err_set(err, noloc, "%s: out of memory", name); goto fail; }
  for (int i = 0; i < root->n; i++) {
    const char *key = root->keys[i];
    if (strcmp(key, "__metadata__") == 0 && root->keylens[i] == 12) {
      if (f->mkeys) { err_set(err, noloc, "%s: __metadata__ is given twice", name); goto fail; }
      if (parse_metadata(f, root->items[i], name, err) != 0) goto fail;
      continue;
    }
    if (strlen(key) != root->keylens[i]) { err_set(err, noloc, "%s: a tensor name contains a NUL character", name); goto fail; }
    StEntry *e = &f->e[f->n];
    const char *msg = parse_entry(root->items[i], e, f->len - f->data_start);
    if (msg) { err_set(err, noloc, "%s: tensor '%.64s': %s", name, key, msg); goto fail; }
    e->name = dup_str(key, root->keylens[i]);
    if (!e->name) { err_set(err, noloc, "%s: out of memory", name); goto fail; }
    f->n++;
  }
  json_free(root);
  root = NULL;
  if (check_layout(f, name, err) != 0) goto fail;
  for (int i = 0; i < f->n; i++) {
    const StEntry *e = &f->e[i];
    if (e->type->dtype != DT_BOOL) continue;
    for (uint64_t k = e->begin; k < e->end; k++)
      if (buf[f->data_start + k] > 1) {
        err_set(err, noloc, "%s: tensor '%.64s': BOOL element %llu is %d (expected 0 or 1)", name, e->name,
                (unsigned long long)(k - e->begin), buf[f->data_start + k]);
        goto fail;
      }
  }
  return f;
fail:
  json_free(root);
  st_close(f);
  return NULL;
}

StFile *st_open(const char *path, DlmErr *err) {
  size_t len;
  char *buf = file_read_all(path, ST_MAX_FILE, &len, err);
  if (!buf) return NULL;
  return open_buf(path, (unsigned char *)buf, len, err);
}

StFile *st_open_mem(const char *name, const void *buf, size_t len, DlmErr *err) {
  unsigned char *copy = malloc(len ? len : 1);
  if (!copy) { err_set(err, noloc, "%s: out of memory", name); return NULL; }
  if (len) memcpy(copy, buf, len);
  return open_buf(name, copy, len, err);
}

int st_count(const StFile *f) { return f->n; }
const char *st_name(const StFile *f, int i) { return i >= 0 && i < f->n ? f->e[i].name : NULL; }

int st_find(const StFile *f, const char *name) {
  for (int i = 0; i < f->n; i++)
    if (strcmp(f->e[i].name, name) == 0) return i;
  return -1;
}

void st_info(const StFile *f, int i, DType *dtype, int *rank, int64_t shape[DLM_MAX_RANK]) {
  const StEntry *e = &f->e[i];
  *dtype = e->type->dtype;
  *rank = e->rank;
  for (int k = 0; k < e->rank; k++) shape[k] = e->shape[k];
}

static Tensor *entry_tensor(const StFile *f, const StEntry *e, DlmErr *err) {
  Tensor *t = tensor_new(e->type->dtype, e->rank, e->shape);
  if (!t) { err_set(err, noloc, "%s: tensor '%.64s': out of memory", f->path, e->name); return NULL; }
  const unsigned char *src = f->buf + f->data_start + e->begin;
  if (e->type->size == 1 && e->type->dtype == DT_I32) { /* U8 widened */
    for (int64_t i = 0; i < t->numel; i++) ((int32_t *)t->data)[i] = src[i];
  } else if (e->end > e->begin) {
    memcpy(t->data, src, (size_t)(e->end - e->begin));
  }
  return t;
}

Tensor *st_tensor(const StFile *f, const char *name, DlmErr *err) {
  int i = st_find(f, name);
  if (i < 0) { err_set(err, noloc, "%s: no tensor named '%s'", f->path, name); return NULL; }
  return entry_tensor(f, &f->e[i], err);
}

ParamStore *st_to_store(const StFile *f, DlmErr *err) {
  ParamStore *ps = pstore_new();
  if (!ps) { err_set(err, noloc, "%s: out of memory", f->path); return NULL; }
  for (int i = 0; i < f->n; i++) {
    Tensor *t = entry_tensor(f, &f->e[i], err);
    if (!t) { pstore_free(ps); return NULL; }
    if (!pstore_put(ps, f->e[i].name, t)) {  /* 1 on success; the tensor is not taken on failure */
      tensor_free(t);
      err_set(err, noloc, "%s: out of memory", f->path);
      pstore_free(ps);
      return NULL;
    }
  }
  return ps;
}

int st_meta_count(const StFile *f) { return f->nmeta; }
const char *st_meta_key(const StFile *f, int i) { return i >= 0 && i < f->nmeta ? f->mkeys[i] : NULL; }

const char *st_meta_get(const StFile *f, const char *key) {
  for (int i = 0; i < f->nmeta; i++)
    if (strcmp(f->mkeys[i], key) == 0) return f->mvals[i];
  return NULL;
}

ParamStore *st_load(const char *path, DlmErr *err) {
  StFile *f = st_open(path, err);
  if (!f) return NULL;
  ParamStore *ps = st_to_store(f, err);
  st_close(f);
  return ps;
}

/* ---------------------------------------------------------------- writing */
static const char *file_dtype(DType d) {
  for (int i = 0; i < NTYPES; i++)
    if (st_types[i].dtype == d && st_types[i].size == (int)dtype_size(d)) return st_types[i].name;
  return NULL;
}

int st_save(const char *path, const ParamStore *ps, const StMeta *meta, DlmErr *err) {
  JsonBuf h = {0};
  jbuf_puts(&h, "{");
  if (meta && meta->n > 0) {
    jbuf_puts(&h, "\"__metadata__\":{");
    for (int i = 0; i < meta->n; i++) {
      for (int k = 0; k < i; k++)
        if (strcmp(meta->keys[k], meta->keys[i]) == 0) {
          err_set(err, noloc, "%s: metadata key '%s' is given twice", path, meta->keys[i]);
          jbuf_free(&h);
          return -1;
        }
      if (i) jbuf_puts(&h, ",");
      json_put_string(&h, meta->keys[i], strlen(meta->keys[i]));
      jbuf_puts(&h, ":");
      json_put_string(&h, meta->values[i], strlen(meta->values[i]));
    }
    jbuf_puts(&h, "}");
  }
  uint64_t off = 0;
  for (int i = 0; i < ps->n; i++) {
    const Tensor *t = ps->tensors[i];
    const char *dt = file_dtype(t->dtype);
    if (strcmp(ps->names[i], "__metadata__") == 0) {
      err_set(err, noloc, "%s: '__metadata__' cannot be a tensor name", path);
      jbuf_free(&h);
      return -1;
    }
    if (!dt) {
      err_set(err, noloc, "%s: tensor '%s': dtype %s cannot be stored", path, ps->names[i], dtype_name(t->dtype));
      jbuf_free(&h);
      return -1;
    }
    uint64_t bytes = (uint64_t)t->numel * dtype_size(t->dtype);
    if (h.n > 1) jbuf_puts(&h, ",");
    json_put_string(&h, ps->names[i], strlen(ps->names[i]));
    jbuf_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", dt);
    for (int k = 0; k < t->rank; k++) jbuf_printf(&h, k ? ",%lld" : "%lld", (long long)t->shape[k]);
    jbuf_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + bytes));
    off += bytes;
  }
  jbuf_puts(&h, "}");
  while (h.n % 8) jbuf_puts(&h, " ");  /* data starts 8-byte aligned, as the reference writer does */
  if (h.oom) { err_set(err, noloc, "%s: out of memory", path); jbuf_free(&h); return -1; }
  unsigned char lenb[8];
  for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
  AtomicFile *af = atomic_open(path, err);
  if (!af) { jbuf_free(&h); return -1; }
  int rc = atomic_write(af, lenb, 8, err);
  if (rc == 0) rc = atomic_write(af, h.p, h.n, err);
  for (int i = 0; i < ps->n && rc == 0; i++) {
    const Tensor *t = ps->tensors[i];
    rc = atomic_write(af, t->data, (size_t)t->numel * dtype_size(t->dtype), err);
  }
  jbuf_free(&h);
  if (rc != 0) { atomic_abort(af); return -1; }
  return atomic_commit(af, err);
}
