/* json_mini.h — a small strict JSON reader (RFC 8259: objects, arrays, strings with \uXXXX escapes
 * and surrogate pairs decoded to UTF-8, numbers, true/false/null) building a tree, plus a growable
 * byte buffer with a JSON string writer. Used for GPT-2's encoder.json / vocab.json and safetensors
 * headers. Input is untrusted: nesting depth is limited and
 * every error reports the byte offset. Duplicate object keys are kept (callers that care check). */
#ifndef DLM_JSON_MINI_H
#define DLM_JSON_MINI_H
#include <stddef.h>
#include <stdint.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ } JsonKind;

typedef struct JsonVal {
  JsonKind kind;
  int boolean;              /* JSON_BOOL */
  double num;               /* JSON_NUM */
  int is_int;               /* JSON_NUM written as an integer (no '.', no exponent) fitting int64 */
  int64_t ival;             /* JSON_NUM when is_int */
  char *str;                /* JSON_STR: decoded UTF-8, NUL-terminated (may contain NULs) */
  size_t len;               /* JSON_STR: byte length */
  int n;                    /* JSON_ARR / JSON_OBJ: number of items */
  char **keys;              /* JSON_OBJ: decoded keys, NUL-terminated */
  size_t *keylens;          /* JSON_OBJ */
  struct JsonVal **items;   /* JSON_ARR / JSON_OBJ values, in file order */
} JsonVal;

#define JSON_MAX_DEPTH 64

/* Parse exactly one JSON value (surrounding whitespace allowed). On error returns NULL and writes
 * "offset N: what" into errbuf. */
JsonVal *json_parse(const char *text, size_t len, char *errbuf, size_t errlen);
void json_free(JsonVal *v);
/* Value of key in an object (NULL if absent or v is not an object). */
const JsonVal *json_get(const JsonVal *obj, const char *key);

typedef struct { char *p; size_t n, cap; int oom; } JsonBuf;
void jbuf_put(JsonBuf *b, const void *data, size_t len);
void jbuf_puts(JsonBuf *b, const char *s);
void jbuf_printf(JsonBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as a quoted JSON string (escaping quotes, backslashes and control bytes). */
void json_put_string(JsonBuf *b, const char *s, size_t len);
void jbuf_free(JsonBuf *b);

#endif
