/* test_tok_json.c — the small JSON reader used for GPT-2's encoder.json and safetensors headers:
 * escapes (\uXXXX and surrogate pairs to UTF-8), numbers, nesting, and rejected inputs; and the
 * JSON string writer. */
#include "check.h"
#include "json_mini.h"
#include <stdlib.h>
#include <string.h>

static JsonVal *parse(const char *s) {
  char e[160];
  return json_parse(s, strlen(s), e, sizeof e);
}

static int rejects(const char *s, const char *want) {
  char e[160] = "";
  JsonVal *v = json_parse(s, strlen(s), e, sizeof e);
  if (v) { json_free(v); fprintf(stderr, "accepted: %s\n", s); return 0; }
  if (!strstr(e, want)) { fprintf(stderr, "error '%s' lacks '%s'\n", e, want); return 0; }
  return 1;
}

int main(void) {
  /* U+00E9 é = c3 a9; U+65E5 日 = e6 97 a5; U+1F600 (surrogates d83d de00) = f0 9f 98 80 */
  JsonVal *v = parse(" {\"\\u00e9\\u65E5\": 1, \"\\ud83d\\ude00\": -2, \"t\\\"\\\\\\/\\b\\f\\n\\r\\t\": 3,"
                     " \"n\\u0000ul\": 4} ");
  CHECK(v && v->kind == JSON_OBJ && v->n == 4);
  if (v && v->n == 4) {
    CHECK(v->keylens[0] == 5 && memcmp(v->keys[0], "\xc3\xa9\xe6\x97\xa5", 5) == 0);
    CHECK(v->keylens[1] == 4 && memcmp(v->keys[1], "\xf0\x9f\x98\x80", 4) == 0);
    CHECK(v->items[1]->is_int && v->items[1]->ival == -2);
    CHECK(v->keylens[2] == 9 && memcmp(v->keys[2], "t\"\\/\b\f\n\r\t", 9) == 0);
    CHECK(v->keylens[3] == 4 && memcmp(v->keys[3], "n\0ul", 4) == 0);
    CHECK(json_get(v, "t\"\\/\b\f\n\r\t") == v->items[2] && json_get(v, "zz") == NULL);
  }
  json_free(v);
  v = parse("[0, -0.5, 1e3, 2.5E-1, 9223372036854775807, 9223372036854775808, true, false, null, [], {}, \"\"]");
  CHECK(v && v->kind == JSON_ARR && v->n == 12);
  if (v && v->n == 12) {
    CHECK(v->items[0]->is_int && v->items[0]->ival == 0);
    CHECK(!v->items[1]->is_int && v->items[1]->num == -0.5);
    CHECK(!v->items[2]->is_int && v->items[2]->num == 1000);
    CHECK(v->items[3]->num == 0.25);
    CHECK(v->items[4]->is_int && v->items[4]->ival == INT64_MAX);
    CHECK(!v->items[5]->is_int);              /* does not fit int64 */
    CHECK(v->items[6]->kind == JSON_BOOL && v->items[6]->boolean == 1 && v->items[7]->boolean == 0);
    CHECK(v->items[8]->kind == JSON_NULL && v->items[9]->n == 0 && v->items[10]->kind == JSON_OBJ);
    CHECK(v->items[11]->kind == JSON_STR && v->items[11]->len == 0);
  }
  json_free(v);

  CHECK(rejects("{\"a\": 1,}", "offset 8: expected a string key"));
  CHECK(rejects("[1 2]", "offset 3: expected ',' or ']'"));
  CHECK(rejects("\"\\ud83d\"", "high surrogate not followed"));
  CHECK(rejects("\"\\ud83d\\u0041\"", "not followed by a low surrogate"));
  CHECK(rejects("\"\\ude00\"", "unpaired low surrogate"));
  CHECK(rejects("\"\\u12g4\"", "bad hex digit"));
  CHECK(rejects("\"\\u12\"", "truncated \\u escape"));
  CHECK(rejects("\"\\x\"", "invalid escape"));
  CHECK(rejects("\"a\nb\"", "control character"));
  CHECK(rejects("\"abc", "unterminated string"));
  CHECK(rejects("\"abc\\", "unterminated string"));
  CHECK(rejects("01", "leading zero"));
  CHECK(rejects("1.", "digit expected after '.'"));
  CHECK(rejects("-", "bad number"));
  CHECK(rejects("tru", "unexpected character"));
  CHECK(rejects("{} x", "trailing characters"));
  CHECK(rejects("", "unexpected end of input"));
  char deep[200];
  memset(deep, '[', sizeof deep);
  deep[sizeof deep - 1] = 0;
  CHECK(rejects(deep, "nesting too deep"));
  /* every prefix of a valid document is rejected without crashing */
  const char *doc = "{\"k\\u00e9\": [1, -2.5e3, \"s\\ud83d\\ude00\", {\"x\": null}], \"b\": true}";
  int ok = 1;
  for (size_t k = 0; k < strlen(doc); k++) {
    char e[160];
    char *cut = malloc(k ? k : 1);
    memcpy(cut, doc, k);
    JsonVal *x = json_parse(cut, k, e, sizeof e);
    if (x) ok = 0;
    json_free(x);
    free(cut);
  }
  CHECK(ok);

  /* writer: quotes, backslashes and control bytes are escaped; the result parses back */
  JsonBuf b = {0};
  json_put_string(&b, "a\"b\\c\n\x01\xc3\xa9", 9);
  CHECK(!b.oom && strcmp(b.p, "\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\"") == 0);
  v = parse(b.p);
  CHECK(v && v->kind == JSON_STR && v->len == 9 && memcmp(v->str, "a\"b\\c\n\x01\xc3\xa9", 9) == 0);
  json_free(v);
  jbuf_printf(&b, "%0300d", 5);  /* longer than the formatter's stack buffer */
  CHECK(b.n == 23 + 300 && b.p[b.n - 1] == '5');
  jbuf_free(&b);
  return check_summary("test_tok_json");
}
