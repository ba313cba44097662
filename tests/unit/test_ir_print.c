/* test_ir_print.c — the IR text form: hand-written expected lines of a printed module, the exact
 * round trip print(parse(print(M))) == print(M), hand-written text read back into the expected
 * structure, parse errors with their line:col, and the Graphviz output. */
#include "check.h"
#include "test_ir_sample.h"

static int has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; (p = strstr(p, line)); p++)
    if ((p == text || p[-1] == '\n') && p[n] == '\n') return 1;
  return 0;
}

static void test_printed_lines(const char *t) {
  static const char *const lines[] = {
    "module blk",
    "file 0 \"models/blk.dsl\"",
    "sym B",
    "sym L",
    "meta \"vocab\" \"100\"",
    "meta \"note\" \"tab\\there \\\"quoted\\\" \\\\ back\\nline\"",
    "param \"blk.norm.weight\" f32[64] init ones !0:2:1",
    "param \"blk.qkv.weight\" f32[64,192] init normal 0 0.02 !0:3:1",
    "param \"emb\" f32[100,64] init uniform -0.1 0.1",
    "func @block {",
    "  %0 = arg \"x\" {index=0} : i32[B,L] \"x\" !0:5:14",
    "  %1 = arg \"t\" {index=1} : f32[B] \"t\" !0:5:30",
    "  %2 = param \"emb\" : f32[100,64] !0:6:3",
    "  %3 = gather %2, %0 : f32[B,L,64] \"h\" !0:6:3",
    "  %4 = layer_norm %3 {eps=1e-05} : f32[B,L,64] !0:7:3",
    "  %8 = matmul %6, %7 {transpose_a=0 transpose_b=0} : f32[B,L,192] \"qkv\" !0:8:3",
    "  %12 = slice %8 {axis=2 start=64 end=128 step=1} : f32[B,L,64] \"k\" !0:9:3",
    "  %13 = reshape %12 : f32[B,L,4,16] !0:9:3",
    "  %11 = transpose %10 {perm=[0,2,1,3]} : f32[B,4,L,16] !0:9:3",
    "  %18 = iota {axis=0} : i32[L,L] !0:10:3",
    "  %20 = le %19, %18 : bool[L,L] \"mask\" !0:10:3",
    "  %21 = attention %11, %14, %17, %20 {scale=0.25} : f32[B,4,L,16] !0:11:3",
    "  %25 = matmul %23, %24 {transpose_a=0 transpose_b=1} : f32[B,L,64] !0:13:3",
    "  %26 = add %3, %25 : f32[B,L,64] \"weird \\\"name\\\"\\n\" !0:14:3",
    "  %27 = reshape %1 : f32[B,1,1] !0:15:3",
    "  %29 = sum %28 {axis=-1 keepdim=0} : f32[B,L] !0:16:3",
    "  %30 = const {value=-inf} : f32 !0:16:3",
    "  %32 = argmax %28 {axis=-1 keepdim=0} : i32[B,L] !0:17:3",
    "  ret %31 \"score\", %32 \"tok\"",
    "func @noise {",
    "  %1 = arg \"offset\" {index=1} : i64 \"offset\"",
    "  %2 = rand_uniform %0, %1 {stream=7} : f32[B,L] !0:18:3",
    "  ret %2",
    "sched @sample !0:19:1 {",
    "  var %0 x input i32[B,L]",
    "  var %2 steps knob i64 = 8 !0:19:20",
    "  var %3 zero const i64 = 0",
    "  var %4 i loopvar i64",
    "  var %7 done state bool",
    "  loop %4 in %3, %2 cache \"exact\" !0:19:30 {",
    "    call @block(%0, %1) -> %5, %6 !0:20:5",
    "    break_if %7",
    "  }",
    "  ret %6",
  };
  for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
    CHECK_MSG(has_line(t, lines[i]), "missing line: %s", lines[i]);
}

static void test_round_trip(const char *t1) {
  DlmErr e = {0};
  Module *m2 = ir_parse(t1, "sample.ir", &e);
  CHECK_MSG(m2 != NULL, "parse of printed module failed: %d:%d: %s", e.loc.line, e.loc.col, e.msg);
  if (!m2) return;
  char *t2 = sample_print(m2);
  CHECK_MSG(strcmp(t1, t2) == 0, "round trip differs:\n%s\n---\n%s", t1, t2);
  DlmErr ve = {0};
  CHECK(ir_verify(m2, &ve));
  /* structure, not just text: the parsed module has the built one's pieces */
  CHECK(m2->nfuncs == 2 && m2->funcs[0]->nnodes == 33 && m2->funcs[0]->nargs == 2 && m2->funcs[1]->nargs == 2);
  CHECK(m2->nparams == 4 && m2->params[1].init == INIT_NORMAL && m2->params[1].b == 0.02);
  CHECK(isinf(m2->funcs[0]->nodes[30].attr.f[0]) && m2->funcs[0]->nodes[30].attr.f[0] < 0);
  CHECK(strcmp(m2->funcs[0]->nodes[26].name, "weird \"name\"\n") == 0);
  CHECK(strcmp(ir_meta_get(m2, "note"), "tab\there \"quoted\" \\ back\nline") == 0);
  CHECK(m2->scheds[0]->body[0].kind == SS_LOOP && m2->scheds[0]->body[0].nbody == 2 &&
        strcmp(m2->scheds[0]->body[0].cache_policy, "exact") == 0);
  free(t2);
  ir_module_free(m2);
}

static void test_hand_written(void) {
  const char *text =
    "# a comment line\n"
    "module \"my module\"\n"
    "\n"
    "sym N   # trailing comment\n"
    "func @f {\n"
    "  %0 = arg \"a\" {index=0} : f32[N,3]\n"
    "  %1 = const {value=0.5} : f32[]\n"
    "  %2 = mul %0, %1 : f32[N,3]\n"
    "  %3 = reshape %2 : f32[3*N]\n"
    "  %4 = cumsum %3 {axis=0} : f32[3*N]\n"
    "  ret %4\n"
    "}\n";
  DlmErr e = {0};
  Module *m = ir_parse(text, "hand.ir", &e);
  CHECK_MSG(m != NULL, "%d:%d: %s", e.loc.line, e.loc.col, e.msg);
  if (!m) return;
  CHECK(strcmp(m->name, "my module") == 0);
  Func *f = m->funcs[0];
  CHECK(f->nnodes == 5 && f->nargs == 1 && f->nout == 1 && f->outs[0] == 4 && f->outnames == NULL);
  CHECK(f->nodes[1].attr.f[0] == 0.5 && f->nodes[1].type.rank == 0);
  CHECK(f->nodes[3].type.rank == 1 && f->nodes[3].type.dims[0].k == 3 && f->nodes[3].type.dims[0].syms == 1);
  CHECK(f->nodes[2].in[0] == 0 && f->nodes[2].in[1] == 1);
  CHECK(f->nodes[4].attr.ni == 1 && f->nodes[0].attr.ni == 1 && f->nodes[1].attr.ni == 0);
  char *t = sample_print(m);
  CHECK(has_line(t, "module \"my module\""));
  CHECK(has_line(t, "  %1 = const {value=0.5} : f32"));
  CHECK(has_line(t, "  %3 = reshape %2 : f32[3*N]"));
  free(t);
  ir_module_free(m);
}

/* Floats survive print and parse bit for bit, and print in their short form when that is exact. */
static void test_floats(void) {
  static const double vals[] = {0.1, 1.0 / 3, 1e-310, 1.7976931348623157e308, -0.0, 2.5e-8, 123456789.125, -1e6};
  enum { N = sizeof vals / sizeof *vals };
  Module *m = ir_module_new("fl");
  Func *f = ir_func_new(m, "f");
  Type s = type_scalar(DT_F64);
  for (int i = 0; i < N; i++) {
    Attrs a = attrs_none();
    a.f[0] = vals[i];
    DlmErr e = {0};
    ir_emit(m, f, OP_CONST, &s, 0, NULL, &a, (SrcLoc){0, 0, 0}, &e);
  }
  ir_set_outputs(m, f, 0, NULL, NULL);
  char *t = sample_print(m);
  CHECK(has_line(t, "  %0 = const {value=0.1} : f64"));
  CHECK(has_line(t, "  %1 = const {value=0.3333333333333333} : f64"));
  CHECK(has_line(t, "  %4 = const {value=-0} : f64"));
  CHECK(has_line(t, "  %7 = const {value=-1000000} : f64"));
  DlmErr e = {0};
  Module *m2 = ir_parse(t, "fl.ir", &e);
  CHECK_MSG(m2 != NULL, "%s", e.msg);
  for (int i = 0; m2 && i < N; i++) {
    double v = m2->funcs[0]->nodes[i].attr.f[0];
    CHECK_MSG(memcmp(&v, &vals[i], sizeof v) == 0, "value %d: %.17g read back as %.17g", i, vals[i], v);
  }
  free(t);
  ir_module_free(m2);
  ir_module_free(m);
}

typedef struct { const char *text; int line, col; const char *frag; } BadCase;

static void test_errors(void) {
  static const BadCase cases[] = {
    {"func @f {\n", 1, 1, "expected 'module'"},
    {"module m\nfunc @f {\n  %0 = add %1, %2 : f32\n  ret\n}\n", 3, 12, "%1 is not a defined value"},
    {"module m\nfunc @f {\n  %0 = frob : f32\n", 3, 8, "unknown op 'frob'"},
    {"module m\nfunc @f {\n  %1 = const {value=1} : f32\n", 3, 3, "expected value %0 here"},
    {"module m\nsym B\nfunc @f {\n  %0 = arg \"a\" {index=0} : f32[B,64]\n  %1 = arg \"b\" {index=1} : f32[32,64]\n"
     "  %2 = matmul %0, %1 {transpose_a=0 transpose_b=0} : f32[B,64]\n  ret %2\n}\n",
     6, 8, "matmul: inner dimensions differ: f32[B,64] and f32[32,64]"},
    {"module m\nsym B\nfunc @f {\n  %0 = arg \"a\" {index=0} : f32[B,64]\n  %1 = add %0, %0 : f32[B,65]\n",
     5, 8, "declared type f32[B,65] does not match computed type f32[B,64]"},
    {"module m\nmeta \"a\" \"b\n", 2, 10, "unterminated string"},
    {"module m\nmeta \"a\\q\" \"b\"\n", 2, 6, "invalid escape"},
    {"module m\nparam \"w\" f32[N] init ones\n", 2, 15, "unknown symbol 'N'"},
    {"module m\nparam \"w\" f32[3] init gauss\n", 2, 23, "unknown init kind 'gauss'"},
    {"module m\nsym B\nparam \"w\" f32[B] init ones\n", 3, 11, "constant shape"},
    {"module m\nfunc @f {\n  %0 = arg \"a\" {index=3} : f32\n  ret %0\n}\n", 5, 1, "argument position 3"},
    {"module m\nfunc @f {\n  ret\n}\nfunc @f {\n", 5, 6, "@f is defined twice"},
    {"module m\nfunc @f {\n  %0 = arg \"a\" {index=0} : f32[2,3]\n  %1 = transpose %0 {perm=1} : f32[3,2]\n", 4, 27, "expected '['"},
    {"module m\nfunc @f {\n  %0 = iota {axis=0 axis=0} : i32[4]\n", 3, 21, "given twice"},
    {"module m\nfunc @f {\n  %0 = iota {size=0} : i32[4]\n", 3, 14, "iota has no attribute 'size'"},
    {"module m\nfunc @f {\n  %0 = const {value=1} : f32 !0:0:1\n", 3, 33, "out of range 1.."},
    {"module m\nfunc @f {\n  %0 = const {value=x} : f32\n", 3, 21, "expected a number"},
    {"module m\nsched @s {\n  call @g()\n  ret\n}\n", 3, 8, "undefined function @g"},
    {"module m\nfunc @g {\n  %0 = arg \"a\" {index=0} : i64\n  ret %0\n}\nsched @s {\n  call @g()\n  ret\n}\n", 9, 1,
     "call of @g with 0 arguments and 0 results; it takes 1 and returns 1"},
    {"module m\nsched @s {\n  var %0 c state bool\n  break_if %0\n  ret\n}\n", 6, 1, "break_if outside a loop"},
    {"module m\nsched @s {\n  var %0 c state bool\n  break_if %1\n", 4, 12, "%1 is not a defined variable"},
    {"module m\nsched @s {\n  var %0 c sometimes bool\n", 3, 12, "unknown variable kind 'sometimes'"},
    {"module m\nsched @s {\n  var %0 i loopvar i64\n  loop %0 in %0, %0 {\n    ret\n", 5, 5, "expected a statement"},
    {"module m\nsched @s {\n  var %0 i loopvar i64\n  loop %0 in %0, %0 {\n", 5, 1, "unexpected end of text"},
    {"module m\nfunc @f {\n  %0 = const {value=1} : f32[1,1,1,1,1,1,1]\n", 3, 42, "more than 6 dimensions"},
    {"module m\nsym B\nfunc @f {\n  %0 = const {value=1} : f32[B*B]\n", 4, 32, "repeats a symbol"},
    {"module m\nfunc @f {\n  %0 = const {value=1} : f32[99999999999999999999]\n", 3, 30, "expected an integer"},
    {"module m\nfunc @f {\n  %0 = const {value=1} : f32 junk\n", 3, 30, "expected end of line"},
    {"module m\nfunc @f {\n  %0 = const {value=1} : f32\n  ret %0\n", 5, 1, "expected '}'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    DlmErr e = {0};
    Module *m = ir_parse(cases[i].text, "bad.ir", &e);
    CHECK_MSG(m == NULL, "case %zu parsed", i);
    ir_module_free(m);
    CHECK_MSG(e.set && e.loc.line == cases[i].line && e.loc.col == cases[i].col && strstr(e.msg, cases[i].frag),
              "case %zu: got %d:%d: %s; expected %d:%d: ...%s...", i, e.loc.line, e.loc.col, e.msg, cases[i].line,
              cases[i].col, cases[i].frag);
  }
}

static void test_dot(const Module *m) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ir_print_dot(m, f);
  fclose(f);
  CHECK(strncmp(buf, "digraph \"blk\" {\n", 16) == 0);
  CHECK(strstr(buf, "subgraph \"cluster_0\" {\n    label=\"@block\";") != NULL);
  CHECK(strstr(buf, "f0_n3 [label=\"%3 gather\\nf32[B,L,64]\\nh\"];") != NULL);
  CHECK(strstr(buf, "f0_n2 -> f0_n3;") != NULL && strstr(buf, "f0_n0 -> f0_n3;") != NULL);
  CHECK(strstr(buf, "f0_n31 [label=\"%31 maximum\\nf32[B,L]\" peripheries=2];") != NULL);
  CHECK(strstr(buf, "subgraph \"cluster_1\"") != NULL);
  free(buf);
}

int main(void) {
  Module *m = sample_module();
  DlmErr e = {0};
  CHECK_MSG(ir_verify(m, &e), "sample module does not verify: %s", e.msg);
  char *t1 = sample_print(m);
  test_printed_lines(t1);
  test_round_trip(t1);
  test_hand_written();
  test_floats();
  test_errors();
  test_dot(m);
  free(t1);
  ir_module_free(m);
  return check_summary("test_ir_print");
}
