/* test_frontend_lower.c — how individual DSL constructs lower to IR: weak literal typing, slicing,
 * chunk, one_hot, rand_uniform streams, masks over symbolic lengths, shape-variable unification
 * (3*D, D/H, "..."), multiple results, compile-time folding and -D overrides of float consts. */
#include "check.h"
#include "frontend.h"
#include <string.h>

static Module *compile(const char *src) {
  Module *m = dsl_compile_string("t.dsl", src, strlen(src), NULL, 0, stderr);
  CHECK_MSG(m != NULL, "did not compile:\n%s", src);
  if (m) {
    DlmErr e;
    memset(&e, 0, sizeof e);
    CHECK_MSG(ir_verify(m, &e), "ir_verify: %s", e.msg);
  }
  return m;
}

static const char *ty(const Module *m, const Type *t) {
  static char buf[8][128];
  static int k;
  k = (k + 1) % 8;
  return type_str(m, t, buf[k], sizeof buf[k]);
}

static int count_op(const Func *f, OpKind op) {
  int n = 0;
  for (int i = 0; i < f->nnodes; i++) n += f->nodes[i].op == op;
  return n;
}

static const Node *out_node(const Func *f, int i) { return &f->nodes[f->outs[i]]; }

static void test_weak_literals(void) {
  Module *m = compile("export fn f(x: f64[4], n: i32[4], c: bool[4]) -> (f64[4], i32[4], f32[4], bool[4]) {\n"
                      "  return x * 2 + 0.5, n / 2, where(c, 1.0, 0.0), c && true\n}\n");
  if (!m) return;
  Func *f = m->funcs[0];
  int consts = 0;
  for (int i = 0; i < f->nnodes; i++)
    if (f->nodes[i].op == OP_CONST) {
      consts++;
      const Node *n = &f->nodes[i];
      if (n->attr.f[0] == 2 && n->loc.col == 14) CHECK(n->type.dtype == DT_F64);   /* the 2 in x * 2 */
      if (n->attr.f[0] == 0.5) CHECK(n->type.dtype == DT_F64);
    }
  CHECK(consts == 6);
  CHECK(out_node(f, 0)->type.dtype == DT_F64);
  CHECK(out_node(f, 1)->op == OP_DIV && out_node(f, 1)->type.dtype == DT_I32);
  CHECK(out_node(f, 2)->op == OP_WHERE && strcmp(ty(m, &out_node(f, 2)->type), "f32[4]") == 0);
  CHECK(out_node(f, 3)->op == OP_AND);
  ir_module_free(m);
}

static void test_slicing_and_chunk(void) {
  Module *m = compile("export fn f(x: f32[B, 6, 8]) -> (f32[B, 8], f32[B, 6, 2], f32[B, 3, 8], f32[B, 6, 4]) {\n"
                      "  a, b = chunk(x, 2, axis = -1)\n"
                      "  return x[:, 0], x[..., 6:], x[:, 1:4, :], b\n}\n");
  if (!m) return;
  Func *f = m->funcs[0];
  const Node *r0 = out_node(f, 0);
  CHECK(r0->op == OP_RESHAPE);
  const Node *s0 = &f->nodes[r0->in[0]];
  CHECK(s0->op == OP_SLICE && s0->attr.i[0] == 1 && s0->attr.i[1] == 0 && s0->attr.i[2] == 1);
  CHECK(strcmp(ty(m, &s0->type), "f32[B,1,8]") == 0);
  const Node *r1 = out_node(f, 1);
  CHECK(r1->op == OP_SLICE && r1->attr.i[0] == 2 && r1->attr.i[1] == 6 && r1->attr.i[2] == 8);
  const Node *r3 = out_node(f, 3);
  CHECK(r3->op == OP_SLICE && r3->attr.i[0] == 2 && r3->attr.i[1] == 4 && r3->attr.i[2] == 8);
  CHECK(count_op(f, OP_SLICE) == 5);
  ir_module_free(m);
}

static void test_one_hot_rand(void) {
  Module *m = compile("export fn f(z: i32[B, 5], s: i64) -> (f32[B, 5, 7], f32[3], f32[3]) {\n"
                      "  return one_hot(z, 7, f32), rand_uniform(s, 0, [3], f32), rand_uniform(s, 1, [3], f32)\n}\n");
  if (!m) return;
  Func *f = m->funcs[0];
  const Node *c = out_node(f, 0);
  CHECK(c->op == OP_CAST);
  const Node *eq = &f->nodes[c->in[0]];
  CHECK(eq->op == OP_EQ && strcmp(ty(m, &eq->type), "bool[B,5,7]") == 0);
  CHECK(f->nodes[eq->in[0]].op == OP_RESHAPE && f->nodes[eq->in[1]].op == OP_IOTA);
  CHECK(strcmp(ty(m, &f->nodes[eq->in[1]].type), "i32[7]") == 0);
  const Node *r1 = out_node(f, 1), *r2 = out_node(f, 2);
  CHECK(r1->op == OP_RAND && r2->op == OP_RAND && r1->attr.i[0] != r2->attr.i[0]);
  CHECK(f->nodes[r1->in[1]].type.dtype == DT_I64);
  ir_module_free(m);
}

static void test_unification(void) {
  Module *m = compile("const H = 4\n"
                      "fn split(x: f32[..., 3*D]) -> f32[..., D] { return x[..., 0:D] }\n"
                      "fn heads(x: f32[N, D]) -> f32[N, H, D / H] { return reshape(x, [N, H, D / H]) }\n"
                      "fn pair(a: f32[K], b: f32[K]) -> (f32[K], f32[K]) { return b, a }\n"
                      "export fn f(x: f32[B, L, 24], y: f32[5, 8]) -> (f32[B, L, 8], f32[5, 4, 2], f32[8], f32[8]) {\n"
                      "  p, q = pair(y[0], y[1])\n"
                      "  return split(x), heads(y), p, q\n}\n");
  if (!m) return;
  Func *f = m->funcs[0];
  CHECK(strcmp(ty(m, &out_node(f, 0)->type), "f32[B,L,8]") == 0);
  CHECK(strcmp(ty(m, &out_node(f, 1)->type), "f32[5,4,2]") == 0);
  ir_module_free(m);
}

static void test_mask_symbolic(void) {
  Module *m = compile("mask causal(q, k) = k <= q\n"
                      "mask window(q, k; W) = q - k < W && k <= q\n"
                      "export fn f(q: f32[B, 2, L, 8]) -> (f32[B, 2, L, 8], f32[B, 2, L, 8]) {\n"
                      "  return attention(q, q, q, mask = causal()), attention(q, q, q, mask = window(W = 3), scale = 1)\n}\n");
  if (!m) return;
  Func *f = m->funcs[0];
  const Node *a = out_node(f, 0), *b = out_node(f, 1);
  CHECK(a->op == OP_ATTENTION && a->nin == 4 && strcmp(ty(m, &f->nodes[a->in[3]].type), "bool[L,L]") == 0);
  CHECK(b->op == OP_ATTENTION && f->nodes[b->in[3]].op == OP_AND && b->attr.f[0] == 1);
  CHECK(count_op(f, OP_IOTA) == 4);
  ir_module_free(m);
}

static void test_compile_time(void) {
  DslDefine d = {"temp", "0.25"};
  const char *src = "const temp = 1.0\nconst n = 7 / 2 + 7 % 3 + (-7) / 2\nconst big = 2 ** 62\n"
                    "export fn f(x: f32[4]) -> f32[4] { return x / temp + n }\n";
  Module *m = dsl_compile_string("t.dsl", src, strlen(src), &d, 1, stderr);
  CHECK(m != NULL);
  if (!m) return;
  CHECK(strcmp(ir_meta_get(m, "temp"), "0.25") == 0);
  CHECK(strcmp(ir_meta_get(m, "n"), "0") == 0);                 /* 3 + 1 + (-4) */
  CHECK(strcmp(ir_meta_get(m, "big"), "4611686018427387904") == 0);
  Func *f = m->funcs[0];
  const Node *add = out_node(f, 0);
  CHECK(add->op == OP_ADD && f->nodes[add->in[1]].attr.f[0] == 0);
  const Node *div = &f->nodes[add->in[0]];
  CHECK(div->op == OP_DIV && f->nodes[div->in[1]].attr.f[0] == 0.25);
  ir_module_free(m);
}

static void test_params_plain(void) {
  Module *m = compile("struct L { w: f32[2, 3] = normal(0, 1) @ \"\" }\n"
                      "param w: f32[3] = zeros @ \"top.w\"\nparam ls: L[2] @ \"layers\"\n"
                      "export fn f(x: f32[3]) -> f32[2] { return matmul(ls[1].w, reshape(x * w, [3, 1]))[:, 0] }\n");
  if (!m) return;
  CHECK(m->nparams == 3);
  CHECK(ir_param_find(m, "top.w") >= 0 && ir_param_find(m, "layers.0") >= 0 && ir_param_find(m, "layers.1") >= 0);
  ir_module_free(m);
}

static void test_literal_results(void) {
  Module *m = compile("fn one() -> f32 { return 1 }\nexport fn f(x: f32[2]) -> (f32, f32[2]) { return 0.5, x * one() }\n"
                      "export fn g() -> i32 { return 3 }\n");
  if (!m) return;
  Func *f = ir_func_find(m, "f"), *g = ir_func_find(m, "g");
  CHECK(f && out_node(f, 0)->op == OP_CONST && out_node(f, 0)->attr.f[0] == 0.5 && out_node(f, 0)->type.dtype == DT_F32);
  CHECK(g && g->nout == 1 && out_node(g, 0)->op == OP_CONST && out_node(g, 0)->type.dtype == DT_I32 && out_node(g, 0)->attr.f[0] == 3);
  ir_module_free(m);
}

static void test_sampler_graphs(void) {
  Module *m = compile("sampler s(n: i64 = 3) -> f32[4] {\n"
                      "  state acc: f32[4] = zeros([4], f32)\n"
                      "  loop i in 0..n {\n"
                      "    unused = acc * 3\n"
                      "    t = acc + 1\n"
                      "    loop j in 0..2 { acc = acc + t }\n"
                      "  }\n"
                      "  return acc * 2\n}\n");
  if (!m) return;
  const Sched *s = m->scheds[0];
  CHECK(m->nfuncs == 4);   /* init, t (unused dropped), inner body, result */
  CHECK(ir_func_find(m, "s.0") && ir_func_find(m, "s.1") && ir_func_find(m, "s.2") && ir_func_find(m, "s.3"));
  CHECK(s->nbody == 3 && s->body[1].kind == SS_LOOP);
  if (s->nbody == 3 && s->body[1].nbody == 2) {
    const SchedStmt *c1 = &s->body[1].body[0];
    CHECK(c1->kind == SS_CALL && c1->nres == 1 && strcmp(s->vars[c1->res[0]].name, "t") == 0);   /* not 'unused' */
    const SchedStmt *inner = &s->body[1].body[1];
    CHECK(inner->kind == SS_LOOP && inner->nbody == 1 && inner->body[0].nargs == 2);          /* acc, t */
  }
  CHECK(s->nout == 1 && strcmp(s->vars[s->outs[0]].name, "$result0") == 0);
  ir_module_free(m);
}

static void test_sampler_input(void) {
  Module *m = compile("sampler infill(prompt: i32[B, 6], keep: bool[B, 6], steps: i64 = 2) -> i32[B, 6] {\n"
                      "  state x: i32[B, 6] = where(keep, prompt, 0)\n"
                      "  loop i in 0..steps { x = x + cast(i, i32) }\n"
                      "  return x\n}\n");
  if (!m) return;
  const Sched *s = m->scheds[0];
  CHECK(s->vars[0].kind == SV_INPUT && s->vars[1].kind == SV_INPUT && s->vars[2].kind == SV_KNOB);
  CHECK(strcmp(ty(m, &s->vars[0].type), "i32[B,6]") == 0);
  CHECK(s->body[0].kind == SS_CALL && s->body[0].nargs == 2);
  ir_module_free(m);
}

int main(void) {
  test_sampler_input();
  test_sampler_graphs();
  test_literal_results();
  test_weak_literals();
  test_slicing_and_chunk();
  test_one_hot_rand();
  test_unification();
  test_mask_symbolic();
  test_compile_time();
  test_params_plain();
  return check_summary("test_frontend_lower");
}
