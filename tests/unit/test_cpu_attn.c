/* test_cpu_attn.c — the CPU backend's f32 attention kernels (the forward of codegen/cpu_emit_ops.c
 * and the fused backward of codegen/cpu_emit_attn.c, both on the helpers of
 * codegen/cpu_attn_prelude.c) against the interpreter (f32 mode), on shapes that reach every tile
 * and tail of the products (query and key lengths that are not multiples of 16, rows left over
 * after the 6- and 10-row tiles, head sizes from 2 to 48, key lengths 130 = 2 x 64 + 2
 * and 600, longer than the 256-value blocks of the row sums; 3 and 5 queries, fewer than the 16
 * that K^T is packed for) and the model's 128 x 128 x 32,
 * without a mask, with a shared [Lq, Lk] mask that blanks a whole query row and a whole key
 * column, and with a per-batch-entry mask broadcast over the heads; half of the forwards are read
 * only by their merge_heads transpose (written there directly) and half of the backwards write dV
 * into the transpose that is v's gradient (v = split_heads(x)). Each case runs twice: with the
 * host's kernels (AVX-512 where the host has it) and with the portable path forced (CC with
 * -DDLM_ATTN_PORTABLE: cblas_sgemm and the scalar rows). Also: attention on rotary embeddings of q
 * and k that the kernels compute themselves (forward and backward, one also read elsewhere), and the
 * model's qkv block, whose gradient's columns the backward writes directly (and two that it must
 * not). */
#include "autodiff.h"
#include "cpu_emit.h"
#include "interp_fixture.h"
#include "passes.h"
#include "test_cpu_fixture.h"

enum { NO_MASK, SHARED_MASK, BATCH_MASK };
static const char *VARIANT = "host";
/* the arguments (more than interp_fixture's ARGS holds) */
static Tensor *TARGS[96];
static int NTARGS;

static int targ(const char *decl, Tensor *t) {
  if (NTARGS == (int)(sizeof TARGS / sizeof *TARGS)) abort();
  TARGS[NTARGS++] = t;
  return ir_arg(M, F, "x", ty(decl), (SrcLoc){0, 0, 0});
}

static void targs_free(void) {
  for (int i = 0; i < NTARGS; i++) tensor_free(TARGS[i]);
  NTARGS = 0;
}

/* the number of occurrences of frag in the generated source of f */
static int source_count(const Func *f, const char *frag) { return cpu_source_count(M, f, frag); }

/* the mask argument: SHARED_MASK [lq, lk] with query row 1 and key column lk - 1 blanked and about
 * a quarter of the rest; BATCH_MASK [B = 2, 1, lq, lk] with a different random quarter per entry
 * and, in entry 1, query row 0 blanked */
static int mask_arg(int kind, int64_t lq, int64_t lk) {
  char decl[64];
  Tensor *m;
  if (kind == SHARED_MASK) {
    snprintf(decl, sizeof decl, "bool[%lld,%lld]", (long long)lq, (long long)lk);
    m = tensor_new(DT_BOOL, 2, SHAPE(lq, lk));
  } else {
    snprintf(decl, sizeof decl, "bool[B,1,%lld,%lld]", (long long)lq, (long long)lk);
    m = tensor_new(DT_BOOL, 4, SHAPE(2, 1, lq, lk));
  }
  for (int64_t k = 0; k < m->numel; k++) {
    int64_t b = k / (lq * lk), i = k / lk % lq, j = k % lk;
    int blank = kind == SHARED_MASK ? (lq > 1 && i == 1) || (lk > 1 && j == lk - 1) : b == 1 && i == 0;
    tensor_set(m, k, !blank && cpu_rand01() >= 0.25);
  }
  return targ(decl, m);
}

/* attention(q, k, v[, mask]) with q [B = 2, 3, lq, d], k [B, 3, lk, d], v [B, 3, lk, dv]; with
 * split_v, v is split_heads of an argument [B, lk, 3, dv] (a transpose) */
static int attention(int kind, int64_t lq, int64_t lk, int64_t d, int64_t dv, int split_v) {
  char tq[64], tk[64], tv[64];
  snprintf(tq, sizeof tq, "f32[B,3,%lld,%lld]", (long long)lq, (long long)d);
  snprintf(tk, sizeof tk, "f32[B,3,%lld,%lld]", (long long)lk, (long long)d);
  int q = targ(tq, cpu_rand_tensor(DT_F32, 4, SHAPE(2, 3, lq, d), -1.5, 1.5));
  int k = targ(tk, cpu_rand_tensor(DT_F32, 4, SHAPE(2, 3, lk, d), -1.5, 1.5)), v;
  if (split_v) {
    snprintf(tv, sizeof tv, "f32[B,%lld,3,%lld]", (long long)lk, (long long)dv);
    v = op(OP_TRANSPOSE, NULL, ia(4, 0, 2, 1, 3), 1, targ(tv, cpu_rand_tensor(DT_F32, 4, SHAPE(2, lk, 3, dv), -1, 1)));
  } else {
    snprintf(tv, sizeof tv, "f32[B,3,%lld,%lld]", (long long)lk, (long long)dv);
    v = targ(tv, cpu_rand_tensor(DT_F32, 4, SHAPE(2, 3, lk, dv), -1, 1));
  }
  if (kind == NO_MASK) return op(OP_ATTENTION, NULL, fa(0.4), 3, q, k, v);
  return op(OP_ATTENTION, NULL, fa(0.4), 4, q, k, v, mask_arg(kind, lq, lk));
}

static void compare(const char *what, const Func *f) { cpu_compare_new(what, M, f, TARGS, CPU_TOL); }

/* The backward of test_backward: float32 products over up to 600 keys (dP = dO V^T, dQ = dS K,
 * dK = dS^T Q, dV = P^T dO) on both sides, in different orders, with cancellation: the rows of
 * dS = P (dP - rowsum(dP P)) sum to zero, so dQ and dK are small sums of large terms, and their
 * rounding errors (the interpreter's included) reach 4e-5 normalized on some random draws (1.5e-6
 * on this test's). 1e-4 keeps a margin above that; a missing term (the last key left out of the
 * portable rowsum, checked) gives 1.7e-3 to 1.5e-2. */
#define ATTN_BWD_TOL 1e-4

/* sum(x * w) over the 4 axes of x [B = 2, 3, l, d], w a new argument */
static int weighted_sum(int x, int64_t l, int64_t d) {
  char tw[64];
  snprintf(tw, sizeof tw, "f32[B,3,%lld,%lld]", (long long)l, (long long)d);
  x = op(OP_MUL, NULL, attrs_none(), 2, x, targ(tw, cpu_rand_tensor(DT_F32, 4, SHAPE(2, 3, l, d), -1, 1)));
  for (int ax = 3; ax >= 0; ax--) x = op(OP_SUM, NULL, ia(2, ax, 0), 1, x);
  return x;
}

static const int64_t SHAPES[][4] = {{3, 2, 2, 2}, {37, 45, 5, 7}, {70, 130, 33, 20}, {23, 64, 16, 48}, {128, 128, 32, 32}, {5, 600, 8, 8}};
#define NSHAPES (int)(sizeof SHAPES / sizeof *SHAPES)
#define NCASES (NSHAPES * 3)

/* every shape with every mask kind as the outputs of one function: in odd cases the output is the
 * attention's merge_heads transpose alone (the kernel writes it in place), and case 0's attention
 * is read by such a transpose and is an output too (so it keeps its own buffer) */
static void test_forward(void) {
  fx_begin();
  int outs[NCASES + 1], nout = 0;
  for (int c = 0; c < NCASES; c++) {
    const int64_t *sh = SHAPES[c / 3];
    int att = attention(c % 3, sh[0], sh[1], sh[2], sh[3], c % 2);
    if (c % 2 == 0) outs[nout++] = att;
    if (c % 2 == 1 || c == 0) outs[nout++] = op(OP_TRANSPOSE, NULL, ia(4, 0, 2, 1, 3), 1, att);
  }
  ir_set_outputs(M, F, nout, outs, NULL);
  char what[96];
  snprintf(what, sizeof what, "attention forward (%s)", VARIANT);
  int n = source_count(F, "dlm_attn_exp_row(p_, LK_)"), nb = source_count(F, "dlm_attn_exp_rows(s_, nb_"),
      nt = source_count(F, "written transposed here");
  CHECK_MSG(n == 2 * NSHAPES, "%s: %d masked kernels on the attention helpers, expected %d", what, n, 2 * NSHAPES);
  CHECK_MSG(nb == NSHAPES, "%s: %d unmasked kernels on the block softmax rows, expected %d", what, nb, NSHAPES);
  CHECK_MSG(nt == NCASES / 2, "%s: %d attentions written into their transpose, expected %d", what, nt, NCASES / 2);
  compare(what, F);
  targs_free();
  fx_end();
}

/* the gradients for every q, k and v of the sum over the cases of sum(attention * w), after the
 * pass pipeline (one fused backward per case; in odd cases v is split_heads of the argument, so
 * the kernel writes dV into the gradient's transpose) */
static void test_backward(void) {
  fx_begin();
  int wrt[3 * NCASES], loss = -1;
  for (int c = 0; c < NCASES; c++) {
    const int64_t *sh = SHAPES[c / 3];
    for (int i = 0; i < 3; i++) wrt[3 * c + i] = NTARGS + i; /* q, k, v by argument position */
    int att = attention(c % 3, sh[0], sh[1], sh[2], sh[3], c % 2);
    int x = weighted_sum(att, sh[0], sh[3]);
    loss = loss < 0 ? x : op(OP_ADD, NULL, attrs_none(), 2, loss, x);
  }
  ir_set_outputs(M, F, 1, &loss, NULL);
  Func *g = cpu_grad_passes(M, F, wrt, 3 * NCASES);
  if (g) {
    char what[96];
    snprintf(what, sizeof what, "attention backward (%s)", VARIANT);
    int n = source_count(g, "dlm_attn_dsoftmax_rows(s_, d_"), nt = source_count(g, "dV written transposed here");
    CHECK_MSG(n == NCASES, "%s: %d fused kernels on the attention helpers, expected %d", what, n, NCASES);
    CHECK_MSG(nt == NCASES / 2, "%s: %d kernels writing dV into its transpose, expected %d", what, nt, NCASES / 2);
    cpu_compare_new(what, M, g, TARGS, ATTN_BWD_TOL);
  }
  targs_free();
  fx_end();
}

/* the rotary embedding of x [B = 2, 3, l, d] (or of split_heads of an argument [B, l, 3, d]):
 * x cos + concat(-x[.., d/2:], x[.., :d/2]) sin, cos and sin arguments [l, d] */
static int rotary_of(int x, int64_t l, int64_t d) {
  char tt[64];
  snprintf(tt, sizeof tt, "f32[%lld,%lld]", (long long)l, (long long)d);
  int c = targ(tt, cpu_rand_tensor(DT_F32, 2, SHAPE(l, d), -1, 1)), sn = targ(tt, cpu_rand_tensor(DT_F32, 2, SHAPE(l, d), -1, 1));
  Attrs none = attrs_none();
  int x1 = op(OP_SLICE, NULL, ia(4, 3, 0, d / 2, 1), 1, x), x2 = op(OP_SLICE, NULL, ia(4, -1, d / 2, d, 1), 1, x);
  int rot = op(OP_CONCAT, NULL, ia(1, -1), 2, op(OP_NEG, NULL, none, 1, x2), x1);
  return op(OP_ADD, NULL, none, 2, op(OP_MUL, NULL, none, 2, x, c), op(OP_MUL, NULL, none, 2, sn, rot));
}

static int rotary(int64_t l, int64_t d, int split) {
  char tx[64];
  int x;
  if (split) {
    snprintf(tx, sizeof tx, "f32[B,%lld,3,%lld]", (long long)l, (long long)d);
    x = op(OP_TRANSPOSE, NULL, ia(4, 0, 2, 1, 3), 1, targ(tx, cpu_rand_tensor(DT_F32, 4, SHAPE(2, l, 3, d), -1.5, 1.5)));
  } else {
    snprintf(tx, sizeof tx, "f32[B,3,%lld,%lld]", (long long)l, (long long)d);
    x = targ(tx, cpu_rand_tensor(DT_F32, 4, SHAPE(2, 3, l, d), -1.5, 1.5));
  }
  return rotary_of(x, l, d);
}

static int value_arg(int64_t l, int64_t d) {
  char tv[64];
  snprintf(tv, sizeof tv, "f32[B,3,%lld,%lld]", (long long)l, (long long)d);
  return targ(tv, cpu_rand_tensor(DT_F32, 4, SHAPE(2, 3, l, d), -1, 1));
}

/* attention on rotary embeddings of q and k, computed inside the attention kernels: two forwards
 * (37 x 8 and, with split_heads views and a mask, 130 x 32), the second's q also an output (so it
 * keeps its own kernel); and the gradients of both for x, the k argument and v (in the split_heads
 * case the backward kernel applies the rotary's gradient to dQ and dK and writes the transposes) */
static void test_rotary(void) {
  for (int grad = 0; grad < 2; grad++) {
    fx_begin();
    int wrt[6], nw = 0;
    wrt[nw++] = NTARGS;
    int q1 = rotary(37, 8, 0);
    wrt[nw++] = NTARGS;
    int k1 = rotary(37, 8, 0);
    wrt[nw++] = NTARGS;
    int a1 = op(OP_ATTENTION, NULL, fa(0.4), 3, q1, k1, value_arg(37, 8));
    wrt[nw++] = NTARGS;
    int q2 = rotary(130, 32, 1);
    wrt[nw++] = NTARGS;
    int k2 = rotary(130, 32, 1);
    wrt[nw++] = NTARGS;
    int v2 = value_arg(130, 32);
    int a2 = op(OP_ATTENTION, NULL, fa(0.3), 4, q2, k2, v2, mask_arg(SHARED_MASK, 130, 130));
    char what[96];
    snprintf(what, sizeof what, "rotary attention %s (%s)", grad ? "backward" : "forward", VARIANT);
    if (!grad) {
      int outs[3] = {a1, a2, q2};
      ir_set_outputs(M, F, 3, outs, NULL);
      int n = source_count(F, "rotary embedding of");
      CHECK_MSG(n == 3, "%s: %d rotary embeddings computed in attention kernels, expected 3", what, n);
      compare(what, F);
    } else {
      int loss = -1;
      const int atts[2] = {a1, a2};
      const int64_t ls[2] = {37, 130}, ds[2] = {8, 32};
      for (int i = 0; i < 2; i++) {
        int x = weighted_sum(atts[i], ls[i], ds[i]);
        loss = loss < 0 ? x : op(OP_ADD, NULL, attrs_none(), 2, loss, x);
      }
      ir_set_outputs(M, F, 1, &loss, NULL);
      Func *g = cpu_grad_passes(M, F, wrt, nw);
      if (g) {
        int n = source_count(g, "rotary embedding of"), nb = source_count(g, "rotary gradient written transposed");
        CHECK_MSG(n >= 4, "%s: %d rotary embeddings computed in attention kernels, expected at least 4", what, n);
        CHECK_MSG(nb == 2, "%s: %d rotary gradients written by the attention backward, expected 2 (of the split_heads case)", what, nb);
        compare(what, g);
      }
    }
    targs_free();
    fx_end();
  }
}

/* The model's attention block on a qkv product: y = h w^T (+ b with bias, whose gradient, a sum of
 * y's, must not go into the loop the backward kernel replaces), [B = 2, l, 3 e] with e = 3 heads
 * x d (h [B, l, 16], w [3 e, 16] and b arguments, their indices added to wrt); q, k, v the column
 * thirds of y as heads (split_heads), rotary embeddings of q (unless plain_q) and k. Returns the
 * loss term sum(attention * weights), plus sum(y * weights) with also_y (a fourth term of y's
 * gradient). */
static int qkv_block(int64_t l, int64_t d, int kind, int plain_q, int also_y, int bias, int *wrt, int *nw) {
  char th[64], tw[64], ts[64];
  int64_t e = 3 * d;
  snprintf(th, sizeof th, "f32[B,%lld,16]", (long long)l);
  snprintf(tw, sizeof tw, "f32[%lld,16]", (long long)(3 * e));
  snprintf(ts, sizeof ts, "f32[B,%lld,3,%lld]", (long long)l, (long long)d);
  wrt[(*nw)++] = NTARGS;
  int h = targ(th, cpu_rand_tensor(DT_F32, 3, SHAPE(2, l, 16), -1, 1));
  wrt[(*nw)++] = NTARGS;
  int w = targ(tw, cpu_rand_tensor(DT_F32, 2, SHAPE(3 * e, 16), -0.5, 0.5));
  int y = op(OP_MATMUL, NULL, ia(2, 0, 1), 2, h, w), heads[3];
  if (bias) {
    char tb[64];
    snprintf(tb, sizeof tb, "f32[%lld]", (long long)(3 * e));
    wrt[(*nw)++] = NTARGS;
    y = op(OP_ADD, NULL, attrs_none(), 2, y, targ(tb, cpu_rand_tensor(DT_F32, 1, SHAPE(3 * e), -1, 1)));
  }
  for (int i = 0; i < 3; i++) {
    int part = op(OP_SLICE, NULL, ia(4, -1, i * e, (i + 1) * e, 1), 1, y);
    heads[i] = op(OP_TRANSPOSE, NULL, ia(4, 0, 2, 1, 3), 1, op(OP_RESHAPE, ts, attrs_none(), 1, part));
  }
  int q = plain_q ? heads[0] : rotary_of(heads[0], l, d), k = rotary_of(heads[1], l, d), att;
  if (kind == NO_MASK) att = op(OP_ATTENTION, NULL, fa(0.35), 3, q, k, heads[2]);
  else att = op(OP_ATTENTION, NULL, fa(0.35), 4, q, k, heads[2], mask_arg(kind, l, l));
  int loss = weighted_sum(att, l, d);
  if (also_y) {
    char ty3[64];
    snprintf(ty3, sizeof ty3, "f32[B,%lld,%lld]", (long long)l, (long long)(3 * e));
    int x = op(OP_MUL, NULL, attrs_none(), 2, y, targ(ty3, cpu_rand_tensor(DT_F32, 3, SHAPE(2, l, 3 * e), -1, 1)));
    for (int ax = 2; ax >= 0; ax--) x = op(OP_SUM, NULL, ia(2, ax, 0), 1, x);
    loss = op(OP_ADD, NULL, attrs_none(), 2, loss, x);
  }
  return loss;
}

/* the gradients of h and w (and b) of four qkv blocks: two (without and with a mask, the first with a
 * bias) where the fused
 * backward writes dV, dQ and dK straight into the columns of y's gradient (no pad + add kernel),
 * and two where it must not: q without a rotary embedding (dQ is not written transposed), and y
 * also read elsewhere (its gradient sums a fourth term). Those two take the generic path (here
 * without a fused backward: autodiff places their pads between the transposes) */
static void test_qkv(void) {
  const uint64_t rng = cpu_rng; /* a stream of its own: the other tests' data do not depend on it */
  cpu_rng = 0x2545f4914f6cdd1dull;
  fx_begin();
  int wrt[12], nw = 0, loss = -1;
  const int cases[4][5] = {{NO_MASK, 0, 0, 1, 37}, {SHARED_MASK, 0, 0, 0, 20}, {NO_MASK, 1, 0, 0, 19}, {BATCH_MASK, 0, 1, 0, 21}};
  for (int c = 0; c < 4; c++) {
    int x = qkv_block(cases[c][4], c == 1 ? 8 : 4, cases[c][0], cases[c][1], cases[c][2], cases[c][3], wrt, &nw);
    loss = loss < 0 ? x : op(OP_ADD, NULL, attrs_none(), 2, loss, x);
  }
  ir_set_outputs(M, F, 1, &loss, NULL);
  Func *g = cpu_grad_passes(M, F, wrt, nw);
  if (g) {
    char what[96];
    snprintf(what, sizeof what, "qkv attention backward (%s)", VARIANT);
    int n = source_count(g, "dlm_attn_dsoftmax_rows(s_, d_"), nc = source_count(g, "written into the columns");
    CHECK_MSG(n >= 2, "%s: %d fused backward kernels, expected at least 2", what, n);
    CHECK_MSG(nc == 2, "%s: %d backward kernels writing the qkv gradient's columns, expected 2", what, nc);
    compare(what, g);
  }
  targs_free();
  fx_end();
  cpu_rng = rng;
}

int main(void) {
  cpu_test_env();
  test_forward();
  test_backward();
  test_rotary();
  test_qkv();
  const char *cc = getenv("CC");
  char portable[512];
  snprintf(portable, sizeof portable, "%s -DDLM_ATTN_PORTABLE", cc && *cc ? cc : "cc");
  setenv("CC", portable, 1);
  VARIANT = "portable";
  test_forward();
  test_backward();
  test_rotary();
  test_qkv();
  return check_summary("test_cpu_attn");
}
