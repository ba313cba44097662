/* test_ir_sample.h — a small module built by hand through the builder API for the IR tests: one
 * attention block (embedding, layer norm, fused qkv projection, heads, causal mask, attention,
 * output projection, residual), a rand_uniform function, and a sampling schedule with a loop. */
#ifndef TEST_IR_SAMPLE_H
#define TEST_IR_SAMPLE_H
#include "ir.h"
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static inline Type sample_type(DType dt, int rank, ...) {
  Type t = type_scalar(dt);
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; i++) t.dims[t.rank++] = va_arg(ap, Dim);
  va_end(ap);
  return t;
}

static inline int sample_emit(Module *m, Func *f, OpKind op, const Type *given, int nin, const int *in, const Attrs *a,
                       const char *name, int line) {
  DlmErr e = {0};
  int id = ir_emit(m, f, op, given, nin, in, a, (SrcLoc){0, line, 3}, &e);
  if (id < 0) { fprintf(stderr, "sample module: %s\n", e.msg); abort(); }
  f->nodes[id].name = name ? arena_strdup(m->arena, name) : NULL;
  return id;
}

static inline Module *sample_module(void) {
  Module *m = ir_module_new("blk");
  ir_file(m, "models/blk.dsl");
  Dim B = dim_sym(ir_sym(m, "B")), L = dim_sym(ir_sym(m, "L")), c64 = dim_const(64), c16 = dim_const(16), c4 = dim_const(4);
  ir_meta_set(m, "vocab", "100");
  ir_meta_set(m, "note", "tab\there \"quoted\" \\ back\nline");
  SrcLoc none = {0, 0, 0};
  ir_param_add(m, "blk.norm.weight", sample_type(DT_F32, 1, c64), INIT_ONES, 0, 0, (SrcLoc){0, 2, 1});
  ir_param_add(m, "blk.qkv.weight", sample_type(DT_F32, 2, c64, dim_const(192)), INIT_NORMAL, 0, 0.02, (SrcLoc){0, 3, 1});
  ir_param_add(m, "blk.out.weight", sample_type(DT_F32, 2, c64, c64), INIT_NORMAL, 0, 0.02, none);
  ir_param_add(m, "emb", sample_type(DT_F32, 2, dim_const(100), c64), INIT_UNIFORM, -0.1, 0.1, none);

  Func *f = ir_func_new(m, "block");
  int x = ir_arg(m, f, "x", sample_type(DT_I32, 2, B, L), (SrcLoc){0, 5, 14});
  int t = ir_arg(m, f, "t", sample_type(DT_F32, 1, B), (SrcLoc){0, 5, 30});
  Attrs a = attrs_none();
  a.s = "emb";
  int emb = sample_emit(m, f, OP_PARAM, NULL, 0, NULL, &a, NULL, 6);
  int h = sample_emit(m, f, OP_GATHER, NULL, 2, (int[]){emb, x}, NULL, "h", 6);
  a = attrs_none();
  a.f[0] = 1e-5;
  int ln = sample_emit(m, f, OP_LAYER_NORM, NULL, 1, &h, &a, NULL, 7);
  a = attrs_none();
  a.s = "blk.norm.weight";
  int nw = sample_emit(m, f, OP_PARAM, NULL, 0, NULL, &a, NULL, 7);
  int hn = sample_emit(m, f, OP_MUL, NULL, 2, (int[]){ln, nw}, NULL, "hn", 7);
  a.s = "blk.qkv.weight";
  int qw = sample_emit(m, f, OP_PARAM, NULL, 0, NULL, &a, NULL, 8);
  int qkv = sample_emit(m, f, OP_MATMUL, NULL, 2, (int[]){hn, qw}, NULL, "qkv", 8);
  int heads[3];
  for (int i = 0; i < 3; i++) {
    a = attrs_none();
    a.i[0] = 2; a.i[1] = 64 * i; a.i[2] = 64 * (i + 1); a.i[3] = 1; a.ni = 4;
    int s = sample_emit(m, f, OP_SLICE, NULL, 1, &qkv, &a, i == 0 ? "q" : i == 1 ? "k" : "v", 9);
    Type r = sample_type(DT_F32, 4, B, L, c4, c16);
    int rs = sample_emit(m, f, OP_RESHAPE, &r, 1, &s, NULL, NULL, 9);
    a = attrs_none();
    a.i[0] = 0; a.i[1] = 2; a.i[2] = 1; a.i[3] = 3; a.ni = 4;
    heads[i] = sample_emit(m, f, OP_TRANSPOSE, NULL, 1, &rs, &a, NULL, 9);
  }
  Type ll = sample_type(DT_I32, 2, L, L);
  a = attrs_none();
  a.i[0] = 0; a.ni = 1;
  int qi = sample_emit(m, f, OP_IOTA, &ll, 0, NULL, &a, NULL, 10);
  a.i[0] = 1;
  int ki = sample_emit(m, f, OP_IOTA, &ll, 0, NULL, &a, NULL, 10);
  int mask = sample_emit(m, f, OP_LE, NULL, 2, (int[]){ki, qi}, NULL, "mask", 10);
  a = attrs_none();
  a.f[0] = 0.25;
  int att = sample_emit(m, f, OP_ATTENTION, NULL, 4, (int[]){heads[0], heads[1], heads[2], mask}, &a, NULL, 11);
  a = attrs_none();
  a.i[0] = 0; a.i[1] = 2; a.i[2] = 1; a.i[3] = 3; a.ni = 4;
  int back = sample_emit(m, f, OP_TRANSPOSE, NULL, 1, &att, &a, NULL, 12);
  Type blc = sample_type(DT_F32, 3, B, L, c64);
  int merged = sample_emit(m, f, OP_RESHAPE, &blc, 1, &back, NULL, NULL, 12);
  a = attrs_none();
  a.s = "blk.out.weight";
  int ow = sample_emit(m, f, OP_PARAM, NULL, 0, NULL, &a, NULL, 13);
  a = attrs_none();
  a.i[1] = 1; a.ni = 2;
  int proj = sample_emit(m, f, OP_MATMUL, NULL, 2, (int[]){merged, ow}, &a, NULL, 13);
  int res = sample_emit(m, f, OP_ADD, NULL, 2, (int[]){h, proj}, NULL, "weird \"name\"\n", 14);
  Type b11 = sample_type(DT_F32, 3, B, dim_const(1), dim_const(1));
  int tt = sample_emit(m, f, OP_RESHAPE, &b11, 1, &t, NULL, NULL, 15);
  int scaled = sample_emit(m, f, OP_MUL, NULL, 2, (int[]){res, tt}, NULL, NULL, 15);
  a = attrs_none();
  a.i[0] = -1; a.ni = 2;
  int sum = sample_emit(m, f, OP_SUM, NULL, 1, &scaled, &a, NULL, 16);
  a = attrs_none();
  a.f[0] = -INFINITY;
  Type f32s = type_scalar(DT_F32);
  int lo = sample_emit(m, f, OP_CONST, &f32s, 0, NULL, &a, NULL, 16);
  int score = sample_emit(m, f, OP_MAXIMUM, NULL, 2, (int[]){sum, lo}, NULL, NULL, 16);
  a = attrs_none();
  a.i[0] = -1; a.ni = 2;
  Type i32bl = sample_type(DT_I32, 2, B, L);
  int tok = sample_emit(m, f, OP_ARGMAX, &i32bl, 1, &scaled, &a, NULL, 17);
  ir_set_outputs(m, f, 2, (int[]){score, tok}, (const char *const[]){"score", "tok"});

  Func *g = ir_func_new(m, "noise");
  int seed = ir_arg(m, g, "seed", type_scalar(DT_I64), none);
  int off = ir_arg(m, g, "offset", type_scalar(DT_I64), none);
  Type fbl = sample_type(DT_F32, 2, B, L);
  a = attrs_none();
  a.i[0] = 7; a.ni = 1;
  int u = sample_emit(m, g, OP_RAND, &fbl, 2, (int[]){seed, off}, &a, NULL, 18);
  ir_set_outputs(m, g, 1, &u, NULL);

  Sched *s = ir_sched_new(m, "sample", (SrcLoc){0, 19, 1});
  int vx = ir_sched_var(m, s, "x", SV_INPUT, i32bl, 0, none);
  int vt = ir_sched_var(m, s, "t", SV_STATE, sample_type(DT_F32, 1, B), 0, none);
  int vsteps = ir_sched_var(m, s, "steps", SV_KNOB, type_scalar(DT_I64), 8, (SrcLoc){0, 19, 20});
  int vzero = ir_sched_var(m, s, "zero", SV_CONST, type_scalar(DT_I64), 0, none);
  int vi = ir_sched_var(m, s, "i", SV_LOOPVAR, type_scalar(DT_I64), 0, none);
  int vscore = ir_sched_var(m, s, "score", SV_STATE, fbl, 0, none);
  int vtok = ir_sched_var(m, s, "tok", SV_STATE, i32bl, 0, none);
  int vdone = ir_sched_var(m, s, "done", SV_STATE, type_scalar(DT_BOOL), 0, none);
  SchedStmt *body = arena_alloc(m->arena, 2 * sizeof *body);
  body[0].kind = SS_CALL;
  body[0].loc = (SrcLoc){0, 20, 5};
  body[0].func = ir_func_index(m, "block");
  body[0].nargs = 2;
  body[0].args = arena_alloc(m->arena, 2 * sizeof(int));
  body[0].args[0] = vx; body[0].args[1] = vt;
  body[0].nres = 2;
  body[0].res = arena_alloc(m->arena, 2 * sizeof(int));
  body[0].res[0] = vscore; body[0].res[1] = vtok;
  body[1].kind = SS_BREAK_IF;
  body[1].nargs = 1;
  body[1].args = arena_alloc(m->arena, sizeof(int));
  body[1].args[0] = vdone;
  s->body = arena_alloc(m->arena, sizeof *s->body);
  s->nbody = 1;
  s->body[0].kind = SS_LOOP;
  s->body[0].loc = (SrcLoc){0, 19, 30};
  s->body[0].var = vi; s->body[0].lo = vzero; s->body[0].hi = vsteps;
  s->body[0].body = body; s->body[0].nbody = 2;
  s->body[0].cache_policy = "exact";
  s->nout = 1;
  s->outs = arena_alloc(m->arena, sizeof(int));
  s->outs[0] = vtok;
  return m;
}

/* The module's text form in a malloc'd string. */
static inline char *sample_print(const Module *m) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ir_print(m, f);
  fclose(f);
  return buf;
}
#endif
