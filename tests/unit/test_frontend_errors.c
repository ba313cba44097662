/* test_frontend_errors.c — every user error class of the DSL frontend gives one diagnostic
 * "file:line:col: error: message" with the source line and a caret, and compilation returns NULL;
 * hostile inputs (deep nesting, huge numbers, NUL bytes, unterminated strings/comments, random
 * mutations) give errors and never crash. */
#include "check.h"
#include "frontend.h"
#include <stdlib.h>
#include <string.h>

/* Compiles src as "t.dsl"; returns the diagnostic text (caller frees) or NULL if it compiled. */
static char *compile_err(const char *src, size_t len, const DslDefine *defs, int ndefs) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  Module *m = dsl_compile_string("t.dsl", src, len, defs, ndefs, f);
  fclose(f);
  if (m) { ir_module_free(m); free(buf); return NULL; }
  return buf;
}

static void expect_err_d(const char *src, const DslDefine *defs, int ndefs, const char *where, const char *msg) {
  char *out = compile_err(src, strlen(src), defs, ndefs);
  CHECK_MSG(out != NULL, "expected an error containing '%s' for:\n%s", msg, src);
  if (!out) return;
  char head[128];
  snprintf(head, sizeof head, "t.dsl:%s%serror: ", where, where[0] ? ": " : " ");
  CHECK_MSG(strncmp(out, head, strlen(head)) == 0, "expected '%s...', got: %s", head, out);
  CHECK_MSG(strstr(out, msg) != NULL, "expected '%s' in: %s", msg, out);
  char *nl = strchr(out, '\n');
  CHECK_MSG(nl && (strchr(where, ':') == NULL || strchr(nl, '^')), "expected a source line and caret in: %s", out);
  free(out);
}

static void expect_err(const char *src, const char *where, const char *msg) { expect_err_d(src, NULL, 0, where, msg); }

static void test_required_classes(void) {
  expect_err("fn f(x: f32) -> f32 {\n  return x +\n}\n", "3:1", "syntax error");
  expect_err("export fn f(x: f32[4]) -> f32[4] {\n  return x + y\n}\n", "2:14", "unknown name 'y'");
  const char *mm = "export fn f(x: f32[B, L, 64], w: f32[32, 64]) -> f32[B, L, 32] {\n  return matmul(x, w)\n}\n";
  expect_err(mm, "2:10", "f32[B,L,64]");
  expect_err(mm, "2:10", "f32[32,64]");
  expect_err(mm, "2:10", "shape mismatch");
  expect_err("fn g(a: f32[4]) -> f32[4] { return a }\nexport fn f(x: f32[4]) -> f32[4] {\n  return g(x, x)\n}\n",
             "3:10", "wrong number of arguments");
  expect_err("export fn f(x: f32[4]) -> f32[4] {\n  return exp(x, 1, 2)\n}\n", "2:10", "wrong number of arguments");
  expect_err("export fn f(x: f32[4], y: f64[4]) -> f32[4] {\n  return x + y\n}\n", "2:12", "type error");
  expect_err("export fn f(x: i32[4]) -> i32[4] {\n  return x + 0.5\n}\n", "2:12", "float literal");
  expect_err("fn g(x: f32[N]) -> f32[N] {\n  return x + cast(x, f64)\n}\n", "2:12", "type error");   /* unused fn is checked */
  expect_err("fn g(x: f32[4]) -> f32[4] {\n  return x\n}\nexport fn f(x: f32[5]) -> f32[5] {\n  return g(x)\n}\n",
             "5:12", "shape mismatch");
}

static void test_program_errors(void) {
  DslDefine bad_name = {"nope", "1"}, bad_val = {"n", "abc"};
  expect_err_d("const n = 3\n", &bad_name, 1, "", "no top-level const named 'nope'");
  expect_err_d("const n = 3\n", &bad_val, 1, "", "bad value 'abc'");
  expect_err("import \"nothere.dsl\"\n", "1:8", "cannot find imported file 'nothere.dsl'");
  expect_err("const a = 1\nconst a = 2\n", "2:7", "duplicate definition of 'a'");
  expect_err("fn g(a: f32[4]) -> f32[4] {\n  return g(a)\n}\n", "2:10", "recursive call to 'g'");
  expect_err("fn g(a: f32[4]) -> f32[4] { return h(a) }\nfn h(a: f32[4]) -> f32[4] { return g(a) }\n", "2:36", "recursive call to 'g'");
  expect_err("const a = 2 ** 70\n", "1:13", "overflow");
  expect_err("const a = 1 / 0\n", "1:13", "division by zero");
  expect_err("const a = (-1) ** 3\nconst b = 3 ** 40\n", "2:13", "overflow");
  expect_err("struct S { w: f32[2] }\nstruct T { s: S[4000] }\nstruct U { t: T[4000] }\nparam p: U\n", "4:7", "too many parameters");
  expect_err("const a = b\nconst b = 1\n", "1:11", "before its definition");
  expect_err("export fn f(x: f32[4]) -> f32[4] {\n  loop i in 0..3 { }\n  return x\n}\n", "2:3", "only allowed in a sampler");
  expect_err("sampler s(n: i64 = 2) -> f32[4] {\n  break if true\n  return zeros([4], f32)\n}\n", "2:3", "outside a loop");
  expect_err("sampler s(n: i64 = 2) -> f32[4] {\n  loop i in 0..n cache(fast) { }\n  return zeros([4], f32)\n}\n", "2:18", "unknown cache policy");
  expect_err("sampler s(n: i64 = 2) -> i64 {\n  loop i in 0..n {\n    n = i + 1\n  }\n  return n\n}\n", "3:5", "cannot assign to knob 'n'");
  expect_err("sampler s(p: f32[4]) -> f32[4] {\n  p = p * 2\n  return p\n}\n", "2:3", "cannot assign to input 'p'");
  expect_err("sampler s(n: i64 = 2) -> f32[4] {\n  state x: f32[4] = zeros([4], f32)\n  loop i in 0..n {\n    x = x[0:2]\n  }\n  return x\n}\n",
             "4:5", "state 'x' is f32[4] but is assigned f32[2]");
  expect_err("sampler s(n: i64 = 2) -> f32[4] {\n  state x: f32[4] = zeros([4], f32)\n  x = 1\n  return x\n}\n", "3:3", "must be assigned a tensor");
  expect_err("fn g(x: f32[N]) -> f32[N, 1] {\n  y = x\n  return  y\n}\nexport fn f(x: f32[3]) -> f32[3, 1] { return g(x) }\n", "3:11", "result 1 of 'g'");
  expect_err("struct S { w: f32[4] }\nparam p: S\nexport fn f(x: f32[4]) -> f32[4] {\n  return x + p.v\n}\n", "4:16", "no field 'v'");
  expect_err("mask m(q, k; BS) = q <= k\nexport fn f(x: f32[2, 4, 8]) -> f32[2, 4, 8] {\n  return attention(x, x, x, mask = m())\n}\n",
             "3:36", "wrong number of arguments");
  expect_err("export fn f(x: f32[4]) -> f32[4] {\n  a, b = chunk(x, 3)\n  return a\n}\n", "2:10", "not a constant multiple");
  expect_err("export fn f(x: f32[4]) -> f32[4] {\n  a, b = chunk(x, 4)\n  return a\n}\n", "2:3", "wrong number of values");
}

static void test_hostile_input(void) {
  size_t n = 3000;
  char *deep = malloc(2 * n + 32);
  strcpy(deep, "const a = ");
  size_t p = strlen(deep);
  for (size_t i = 0; i < n; i++) deep[p++] = '(';
  deep[p++] = '1';
  for (size_t i = 0; i < n; i++) deep[p++] = ')';
  deep[p] = 0;
  expect_err(deep, "1:211", "nested too deeply");
  free(deep);
  size_t terms = 20000;
  char *chain = malloc(terms * 2 + 32);
  strcpy(chain, "const a = 1");
  p = strlen(chain);
  for (size_t i = 0; i < terms; i++) { chain[p++] = '+'; chain[p++] = '1'; }
  chain[p] = 0;
  char *out = compile_err(chain, strlen(chain), NULL, 0);
  CHECK(out && strstr(out, "nested too deeply"));
  free(out);
  free(chain);
  char *neg = malloc(20000 + 32);
  strcpy(neg, "const a = ");
  p = strlen(neg);
  for (int i = 0; i < 20000; i++) neg[p++] = '-';
  strcpy(neg + p, "1\n");
  out = compile_err(neg, strlen(neg), NULL, 0);
  CHECK(out && strstr(out, "nested too deeply"));
  free(out);
  free(neg);
  expect_err("const a = 99999999999999999999999\n", "1:11", "too large");
  expect_err("const a = 1e999\n", "1:11", "out of range");
  static const char nul[] = "const a = 1\nconst b\0 = 2\n";
  out = compile_err(nul, sizeof nul - 1, NULL, 0);
  CHECK(out && strstr(out, "t.dsl:2:8: error: NUL byte"));
  free(out);
  expect_err("import \"abc\nconst a = 1\n", "1:8", "unterminated string");
  expect_err("const a = 1\n/* never closed\n", "2:1", "unterminated comment");
  expect_err("const a = 1 $\n", "1:13", "unexpected character");
  expect_err("const a = \"s\"\n", "1:11", "syntax error");
}

static void test_files(void) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  Module *m = dsl_compile_file("tests/dsl/cycle_a.dsl", NULL, 0, f);
  fclose(f);
  CHECK(m == NULL);
  CHECK_MSG(buf && strstr(buf, "tests/dsl/cycle_b.dsl:2:8: error: import cycle"), "got: %s", buf ? buf : "");
  free(buf);
  buf = NULL;
  f = open_memstream(&buf, &n);
  m = dsl_compile_file("tests/dsl/no_such_file.dsl", NULL, 0, f);
  fclose(f);
  CHECK(m == NULL);
  CHECK_MSG(buf && strstr(buf, "tests/dsl/no_such_file.dsl: error: cannot read file"), "got: %s", buf ? buf : "");
  free(buf);
}

/* Random byte mutations of a valid program: each compiles or reports an error, never crashes. */
static void test_mutations(void) {
  const char *base =
      "const D = 8\nstruct S { w: f32[D, D] = normal(0, 0.02) @ \"w\" }\nparam p: S\n"
      "mask causal(q, k) = k <= q\n"
      "fn lin(x: f32[..., I], w: f32[O, I]) -> f32[..., O] { return matmul(x, w, transpose_b = true) }\n"
      "export fn f(x: f32[B, 4, D]) -> f32[B, 4, D] {\n  h = lin(x, p.w)[..., 0:D]\n"
      "  return attention(h, h, h, mask = causal()) + sum(h, axis = -1, keepdim = true)\n}\n"
      "sampler s(n: i64 = 2) -> f32[2, 4, D] {\n  state y: f32[2, 4, D] = zeros([2, 4, D], f32)\n"
      "  loop i in 0..n cache(exact) { y = f(y) * 0.5\n break if sum(sum(sum(y, axis = -1), axis = -1), axis = -1) > 1.0 }\n  return y\n}\n";
  size_t len = strlen(base);
  Module *ok = dsl_compile_string("t.dsl", base, len, NULL, 0, stderr);
  CHECK(ok != NULL);
  ir_module_free(ok);
  char *buf = malloc(len + 1);
  unsigned seed = 12345;
  const char alphabet[] = "()[]{},:;.=+-*/%<>!&|@\"0123456789abzDIOB_ \n\0";
  for (int it = 0; it < 400; it++) {
    memcpy(buf, base, len + 1);
    int nmut = 1 + it % 3;
    for (int k = 0; k < nmut; k++) {
      seed = seed * 1103515245u + 12345u;
      size_t pos = (seed >> 8) % len;
      seed = seed * 1103515245u + 12345u;
      buf[pos] = alphabet[(seed >> 8) % (sizeof alphabet - 1)];
    }
    FILE *devnull = fopen("/dev/null", "w");
    Module *m = dsl_compile_string("t.dsl", buf, len, NULL, 0, devnull);
    fclose(devnull);
    ir_module_free(m);
  }
  free(buf);
  CHECK(1);
}

int main(void) {
  test_required_classes();
  test_program_errors();
  test_hostile_input();
  test_files();
  test_mutations();
  return check_summary("test_frontend_errors");
}
