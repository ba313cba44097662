/* json_mini.c — strict JSON reader into a tree and a JSON string writer (see json_mini.h). */
#include "json_mini.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *s;
  size_t n, i;
  char *err;
  size_t errlen;
  int failed;
} P;

static void fail(P *p, const char *what) {
  if (p->failed) return;
  p->failed = 1;
  snprintf(p->err, p->errlen, "offset %zu: %s", p->i, what);
}

static void skip_ws(P *p) {
  while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}

static JsonVal *new_val(P *p, JsonKind k) {
  JsonVal *v = calloc(1, sizeof *v);
  if (!v) { fail(p, "out of memory"); return NULL; }
  v->kind = k;
  return v;
}

void json_free(JsonVal *v) {
  if (!v) return;
  free(v->str);
  for (int i = 0; i < v->n; i++) {
    if (v->keys) free(v->keys[i]);
    json_free(v->items[i]);
  }
  free(v->keys);
  free(v->keylens);
  free(v->items);
  free(v);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int read_hex4(P *p, unsigned *out) {
  if (p->n - p->i < 4) { fail(p, "truncated \\u escape"); return 0; }
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    int h = hexval(p->s[p->i + k]);
    if (h < 0) { fail(p, "bad hex digit in \\u escape"); return 0; }
    v = v * 16 + (unsigned)h;
  }
  p->i += 4;
  *out = v;
  return 1;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xc0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Parses a string starting at the opening quote. The decoded form is never longer than the
 * escaped source, so the output buffer is sized from the source span. */
static char *parse_string(P *p, size_t *outlen) {
  size_t start = ++p->i, end = start;
  while (end < p->n && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
  if (end >= p->n) { fail(p, "unterminated string"); return NULL; }
  char *o = malloc(end - start + 1);
  if (!o) { fail(p, "out of memory"); return NULL; }
  size_t k = 0;
  while (p->s[p->i] != '"') {
    unsigned char c = (unsigned char)p->s[p->i];
    if (c < 0x20) { fail(p, "control character in string"); free(o); return NULL; }
    if (c != '\\') { o[k++] = (char)c; p->i++; continue; }
    p->i++;
    char e = p->s[p->i++];
    switch (e) {
    case '"': o[k++] = '"'; break;
    case '\\': o[k++] = '\\'; break;
    case '/': o[k++] = '/'; break;
    case 'b': o[k++] = '\b'; break;
    case 'f': o[k++] = '\f'; break;
    case 'n': o[k++] = '\n'; break;
    case 'r': o[k++] = '\r'; break;
    case 't': o[k++] = '\t'; break;
    case 'u': {
      unsigned cp;
      if (!read_hex4(p, &cp)) { free(o); return NULL; }
      if (cp >= 0xdc00 && cp <= 0xdfff) { fail(p, "unpaired low surrogate in \\u escape"); free(o); return NULL; }
      if (cp >= 0xd800 && cp <= 0xdbff) {
        unsigned lo;
        if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') {
          fail(p, "high surrogate not followed by a \\u low surrogate"); free(o); return NULL;
        }
        p->i += 2;
        if (!read_hex4(p, &lo)) { free(o); return NULL; }
        if (lo < 0xdc00 || lo > 0xdfff) { fail(p, "high surrogate not followed by a low surrogate"); free(o); return NULL; }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      }
      k += put_utf8(o + k, cp);
      break;
    }
    default:
      p->i--;
      fail(p, "invalid escape in string");
      free(o);
      return NULL;
    }
  }
  p->i++; /* closing quote */
  o[k] = 0;
  *outlen = k;
  return o;
}

static JsonVal *parse_value(P *p, int depth);

static int push_item(P *p, JsonVal *v, JsonVal *item, char *key, size_t keylen, int *cap) {
  if (v->n == *cap) {
    int nc = *cap ? *cap * 2 : 8;
    JsonVal **ni = realloc(v->items, (size_t)nc * sizeof *ni);
    if (ni) v->items = ni;
    if (ni && v->kind == JSON_OBJ) {
      char **nk = realloc(v->keys, (size_t)nc * sizeof *nk);
      if (nk) v->keys = nk;
      size_t *nl = nk ? realloc(v->keylens, (size_t)nc * sizeof *nl) : NULL;
      if (nl) v->keylens = nl;
      if (!nk || !nl) ni = NULL;
    }
    if (!ni) { fail(p, "out of memory"); json_free(item); free(key); return 0; }
    *cap = nc;
  }
  if (v->kind == JSON_OBJ) { v->keys[v->n] = key; v->keylens[v->n] = keylen; }
  v->items[v->n++] = item;
  return 1;
}

static JsonVal *parse_container(P *p, int depth, int is_obj) {
  JsonVal *v = new_val(p, is_obj ? JSON_OBJ : JSON_ARR);
  if (!v) return NULL;
  int cap = 0;
  char close = is_obj ? '}' : ']';
  p->i++;
  skip_ws(p);
  if (p->i < p->n && p->s[p->i] == close) { p->i++; return v; }
  for (;;) {
    char *key = NULL;
    size_t keylen = 0;
    if (is_obj) {
      skip_ws(p);
      if (p->i >= p->n || p->s[p->i] != '"') { fail(p, "expected a string key"); json_free(v); return NULL; }
      key = parse_string(p, &keylen);
      if (!key) { json_free(v); return NULL; }
      skip_ws(p);
      if (p->i >= p->n || p->s[p->i] != ':') { fail(p, "expected ':' after key"); free(key); json_free(v); return NULL; }
      p->i++;
    }
    JsonVal *item = parse_value(p, depth + 1);
    if (!item) { free(key); json_free(v); return NULL; }
    if (!push_item(p, v, item, key, keylen, &cap)) { json_free(v); return NULL; }
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
    if (p->i < p->n && p->s[p->i] == close) { p->i++; return v; }
    fail(p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    json_free(v);
    return NULL;
  }
}

static JsonVal *parse_number(P *p) {
  size_t st = p->i, i = p->i;
  int is_int = 1;
  if (i < p->n && p->s[i] == '-') i++;
  if (i >= p->n || p->s[i] < '0' || p->s[i] > '9') { p->i = i; fail(p, "bad number"); return NULL; }
  if (p->s[i] == '0' && i + 1 < p->n && p->s[i + 1] >= '0' && p->s[i + 1] <= '9') { p->i = i; fail(p, "leading zero in number"); return NULL; }
  while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') i++;
  if (i < p->n && p->s[i] == '.') {
    is_int = 0;
    i++;
    if (i >= p->n || p->s[i] < '0' || p->s[i] > '9') { p->i = i; fail(p, "digit expected after '.'"); return NULL; }
    while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') i++;
  }
  if (i < p->n && (p->s[i] == 'e' || p->s[i] == 'E')) {
    is_int = 0;
    i++;
    if (i < p->n && (p->s[i] == '+' || p->s[i] == '-')) i++;
    if (i >= p->n || p->s[i] < '0' || p->s[i] > '9') { p->i = i; fail(p, "digit expected in exponent"); return NULL; }
    while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') i++;
  }
  char tmp[64];
  size_t len = i - st;
  JsonVal *v = new_val(p, JSON_NUM);
  if (!v) return NULL;
  if (len >= sizeof tmp) {
    /* Far too long for any value we use; keep only whether it is valid. */
    v->num = 0;
  } else {
    memcpy(tmp, p->s + st, len);
    tmp[len] = 0;
    v->num = strtod(tmp, NULL);
    if (is_int) {
      /* exact int64 parse with overflow detection */
      const char *q = tmp;
      int neg = *q == '-';
      if (neg) q++;
      uint64_t acc = 0;
      int ok = 1;
      for (; *q; q++) {
        unsigned d = (unsigned)(*q - '0');
        if (acc > (UINT64_MAX - d) / 10) { ok = 0; break; }
        acc = acc * 10 + d;
      }
      if (ok && (neg ? acc <= (uint64_t)INT64_MAX + 1 : acc <= (uint64_t)INT64_MAX)) {
        v->is_int = 1;
        v->ival = neg ? (int64_t)(0 - acc) : (int64_t)acc;
      }
    }
  }
  p->i = i;
  return v;
}

static int match_word(P *p, const char *w) {
  size_t l = strlen(w);
  if (p->n - p->i >= l && memcmp(p->s + p->i, w, l) == 0) { p->i += l; return 1; }
  return 0;
}

static JsonVal *parse_value(P *p, int depth) {
  if (depth > JSON_MAX_DEPTH) { fail(p, "nesting too deep"); return NULL; }
  skip_ws(p);
  if (p->i >= p->n) { fail(p, "unexpected end of input"); return NULL; }
  char c = p->s[p->i];
  if (c == '{' || c == '[') return parse_container(p, depth, c == '{');
  if (c == '"') {
    size_t len;
    char *s = parse_string(p, &len);
    if (!s) return NULL;
    JsonVal *v = new_val(p, JSON_STR);
    if (!v) { free(s); return NULL; }
    v->str = s;
    v->len = len;
    return v;
  }
  if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p);
  if (match_word(p, "true") || match_word(p, "false")) {
    JsonVal *v = new_val(p, JSON_BOOL);
    if (v) v->boolean = c == 't';
    return v;
  }
  if (match_word(p, "null")) return new_val(p, JSON_NULL);
  fail(p, "unexpected character");
  return NULL;
}

JsonVal *json_parse(const char *text, size_t len, char *errbuf, size_t errlen) {
  P p = {text, len, 0, errbuf, errlen, 0};
  JsonVal *v = parse_value(&p, 0);
  if (!v) return NULL;
  skip_ws(&p);
  if (p.i != p.n) {
    fail(&p, "trailing characters after the JSON value");
    json_free(v);
    return NULL;
  }
  return v;
}

const JsonVal *json_get(const JsonVal *obj, const char *key) {
  if (!obj || obj->kind != JSON_OBJ) return NULL;
  size_t kl = strlen(key);
  for (int i = 0; i < obj->n; i++)
    if (obj->keylens[i] == kl && memcmp(obj->keys[i], key, kl) == 0) return obj->items[i];
  return NULL;
}

void jbuf_put(JsonBuf *b, const void *data, size_t len) {
  if (b->oom) return;
  if (b->n + len + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->n + len + 1) nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np) { b->oom = 1; return; }
    b->p = np;
    b->cap = nc;
  }
  memcpy(b->p + b->n, data, len);
  b->n += len;
  b->p[b->n] = 0;
}

void jbuf_puts(JsonBuf *b, const char *s) { jbuf_put(b, s, strlen(s)); }

void jbuf_printf(JsonBuf *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) { b->oom = 1; return; }
  if ((size_t)n < sizeof tmp) { jbuf_put(b, tmp, (size_t)n); return; }
  char *big = malloc((size_t)n + 1);
  if (!big) { b->oom = 1; return; }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  jbuf_put(b, big, (size_t)n);
  free(big);
}

void json_put_string(JsonBuf *b, const char *s, size_t len) {
  jbuf_put(b, "\"", 1);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      jbuf_put(b, e, 2);
    } else if (c < 0x20) {
      jbuf_printf(b, "\\u%04x", c);
    } else {
      jbuf_put(b, &s[i], 1);
    }
  }
  jbuf_put(b, "\"", 1);
}

void jbuf_free(JsonBuf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}
