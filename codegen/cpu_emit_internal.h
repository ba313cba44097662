/* cpu_emit_internal.h — private to the CPU code generator (codegen/cpu_emit*.c): the emission
 * context and the helpers that spell dimensions, strides and operand reads as C expressions. */
#ifndef DLM_CPU_EMIT_INTERNAL_H
#define DLM_CPU_EMIT_INTERNAL_H

#include "cpu_emit.h"

#define CPU_EXPR 768   /* room for one C expression (a product of up to 6 dims, a read ...) */

/* A fused attention backward (codegen/cpu_emit_attn.c): the gradient cluster autodiff emits for
 * one attention node (probabilities recomputed, dV, dQ, dK), computed by one kernel per batch
 * entry at its last output node. Node ids; -1 when absent. */
typedef struct {
  int q, k, v, g, mask, s0; /* inputs; s0 the recomputed scores Q K^T (for their type) */
  int neg, zero;            /* the masked score and masked probability consts (mask >= 0) */
  double scale;
  int dv, dq, dk, at;       /* outputs, and the node where the kernel runs (the last output or late
                             * transpose, or cat) */
  int dvt;                  /* a transpose, dV's only reader, that the kernel writes dV into; or -1 */
  /* dQ ([0]) and dK ([1]) read only by the gradient of a rotary embedding, whose only reader is a
   * transpose keeping the last axis: the kernel applies that gradient (mul by rbc, the rotate-half
   * of the product with rbs: rbm, the sum rba) and writes into the transpose rbt; else -1 */
  int rbt[2], rbm[2], rba[2], rbc[2], rbs[2];
  /* the gradient of a qkv product: dvt, rbt[0] and rbt[1] each read only (through a reshape
   * merging trailing dims) by a last-axis pad, the pads summed by the fused add kernel cat and
   * covering its last axis once: the kernel runs at cat and writes the transposes into cat's
   * columns coff[] (of dvt, rbt[0], rbt[1]) with cat's row stride; cat = -1 otherwise */
  int cat;
  int64_t coff[3];
} CpuAttnBw;
#define CPU_MAX_ATTN_BW 64

/* A rotary embedding read only by attention kernels as q or k (codegen/cpu_emit_attn.c):
 * q = x * c + concat(-x[.., h:2h], x[.., :h]) * s, computed per batch entry inside those kernels
 * instead of by its own loop (node q then has inl CPU_INL_FUSED and no buffer). */
typedef struct { int q, x, c, s; } CpuRope;
#define CPU_MAX_ROPE 64

typedef struct {
  const Module *m;
  const Func *f;
  Sb *b;
  const char *inl;  /* inl[id]: CPU_INL_CONST, _FUSED, _FOLDED, _ATTN or 0 (a value with a buffer) */
} Em;

/* The CPU generator's whole context (Em first, so an Em pointer from it converts back). */
typedef struct {
  Em em;
  const int *at;    /* at[id]: the node whose kernel computes id (id itself but in an attention backward) */
  CpuAttnBw abw[CPU_MAX_ATTN_BW];
  int nabw;
  CpuRope rope[CPU_MAX_ROPE];
  int nrope;
} CpuCx;

#define CPU_INL_CONST 1   /* a const read as a literal, without a buffer */
#define CPU_INL_FUSED 2   /* an elementwise value computed inside its only reader's loop (or a
                           * rotary embedding computed inside the attention kernels, CpuRope) */
#define CPU_INL_FOLDED 3  /* a batched matmul whose only reader, a sum_to over its batch, computes it
                           * as one product (the batch folded into the contraction) */

#define CPU_INL_ATTN 4    /* an intermediate of a fused attention backward (no buffer), or an
                           * attention computed by its transpose's kernel (cpu_emit_attn.c) */
#define CPU_INL_VIEW 5    /* a last-axis slice (and the reshape of it) read only by one transpose,
                           * which reads the slice's input in place, and such a transpose when
                           * only elementwise loops read it (cpu_emit_ops.c), or a transpose read
                           * in place by attention kernels (cpu_emit_attn.c) */

#define CPU_MAX_LEAVES 16 /* most distinct buffers one fused elementwise kernel reads */

/* c_elem_expr.c: the C expression of elementwise node n on the operand expressions r[] (into out,
 * C_EXPR_OUT bytes), *checks set when it can fail (it then sets the dialect's `bad` flag); 0 for
 * an op that is not elementwise. c_wrap_int casts integer expression x to dtype t (wrapping). */
#define C_EXPR_OUT (4 * CPU_EXPR)
typedef struct { const char *expf, *tanhf, *bad; } CDialect;  /* f32 exp and tanh, the failure flag */
extern const CDialect cpu_c_dialect, cuda_c_dialect;
int c_elem_expr(const CDialect *d, const Node *n, DType tin, char r[][CPU_EXPR], char *out, int *checks);
void c_wrap_int(DType t, const char *x, char *out);

/* snprintf into a fixed buffer; generated expressions are bounded by CPU_EXPR multiples, and an
 * over-long one is cut (which the C compiler then rejects, so it cannot go unnoticed). */
int cpu_fmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* returns the characters stored (not counting the NUL), never more than n - 1 */
const char *cpu_ctype(DType t);                      /* storage type: float, double, int32_t ... */
int cpu_is_floatish(DType t);                        /* stored as float (f32, bf16, f16) */
void cpu_dim(Dim d, char *buf);                      /* "((int64_t)2*S[0])" */
void cpu_prod(const Type *t, int from, int to, char *buf); /* product of dims [from, to), "1" if empty */
/* The value of const node n as a literal of its storage type, rounded as the interpreter rounds. */
void cpu_const_literal(const Node *n, char *buf);
/* Element `off` (a C expression) of value id, in its storage type. */
void cpu_read(const Em *em, int id, const char *off, char *buf);
/* Emit the statements that fail the call from node id's kernel with message msg. */
void cpu_fail(Em *em, int id, const char *msg);

typedef char Strides[DLM_MAX_RANK][CPU_EXPR];
/* An operand of a strided loop: value id (-1: an offset only) read at offset base + the sum of
 * its digits times st. */
typedef struct { int id; Strides st; int64_t base; } MapOp;
/* The in-place read of a transpose marked CPU_INL_VIEW (cpu_emit_ops.c). */
void cpu_view_read(const Em *em, int t, MapOp *op);
/* Row-major strides of src read under numpy broadcasting against the shape of target. */
void cpu_bcast_strides(const Type *src, const Type *target, Strides st);
/* Declare int64 offsets names[k] = 0 and add the row-major digits of idx over dims [0, nd) of t
 * times st[k][d]. */
void cpu_emit_offsets(Em *em, const Type *t, int nd, const char *idx, int nops, const char *const *names,
                      Strides *const *st, const char *ind);

/* codegen/cpu_emit_attn.c: find the attention backward clusters (into em->abw; their
 * intermediates get inl CPU_INL_ATTN, and at[] of every node of a cluster is its kernel's node),
 * and emit one: the kernel at node id when some cluster runs there (returns 1), else 0. */
void cpu_mark_attention_bw(CpuCx *cx, const char *live, const int *uses, char *inl, int *at);
int cpu_emit_attention_bw(CpuCx *cx, int id);
/* 1 if a fused attention backward runs at node id (instead of id's own loop: the qkv case) */
int cpu_attention_bw_at(const CpuCx *cx, int id);
/* Mark (CPU_INL_VIEW) the transposes that keep the last axis last and are read only as q, k or v
 * by attention nodes or as q, k, v or g by fused attention backwards: those kernels read them in
 * place (split_heads of v, the gradient of merge_heads). Then an f32 attention with contiguous
 * rows read only by such a transpose (merge_heads of its output) gets CPU_INL_ATTN and at[] = that
 * transpose, whose kernel computes it into the transpose's buffer. After cpu_mark_attention_bw. */
void cpu_mark_attention_views(CpuCx *cx, const char *live, char *inl, int *at);

/* codegen/cpu_emit_ops.c: the kernel of node id into em->b (em: the em of a CpuCx) (v<id> is allocated already for ops
 * that compute a new buffer). Returns 1, or 0 with *e set for an op it cannot compile. */
int cpu_emit_kernel(Em *em, int id, DlmErr *e);
/* 1 if op reads its inputs through raw pointers (so a const input needs a buffer) */
int cpu_op_needs_buffers(OpKind op);
/* 1 if attention node id is f32 and its kernel reads contiguous rows of q, k and v (the kernel of
 * codegen/cpu_attn_prelude.c's helpers, which can write its rows at any stride) */
int cpu_attention_f32_rows(const Em *em, int id);
/* codegen/cpu_emit_attn.c: the rotary embedding computed inside attention kernels as node id
 * (NULL if none), and the code that fills buf (float, rows x D, rows of batch entry bt of lead,
 * whose first r - 2 dims are the entry's) with its values, in its own block. */
const CpuRope *cpu_rope_of(const Em *em, int id);
void cpu_emit_rope_rows(Em *em, const CpuRope *rp, const Type *lead, const char *rows, const char *buf, const char *ind);
/* The rows the rotary embedding rp reads (its input x, at the strides of rp's output dims) */
void cpu_rope_src(const Em *em, const CpuRope *rp, MapOp *op);
/* In an attention kernel's loop over batch entries bt < NB_ of lead: pointers pfp_[i] to the
 * rows of the n (at most 4) operands ops[i] for entry bt + 1 (NULL after the last entry), with
 * pfl_ their row strides, pfn_ = rows[i], pfw_ = width[i]: for dlm_attn_prefetch */
void cpu_emit_attn_next(Em *em, const Type *lead, int n, const MapOp *ops, const char *const *rows, const char *const *width,
                        const char *ind);
/* Mark the values to fuse into their reader's loop (inl[id] = CPU_INL_FUSED; inl is em->inl, see
 * cpu_emit_ops.c); uses[id] = the number of
 * reads of id by live nodes plus its appearances among the outputs; reader[id] = its last reader.
 * Also marks the batched matmuls folded into their sum_to reader (inl[id] = CPU_INL_FOLDED) and
 * the slices a transpose reads in place (CPU_INL_VIEW).
 * $DLM_CPU_NOFUSE turns fusion off (each node then has its own kernel). */
void cpu_mark_fusion(const Em *em, const char *live, const int *uses, const int *reader, char *inl);
/* A float sum or mean over an axis of length 1 into its input's dtype: the same elements in the
 * same order, so it shares its (unfused) input's buffer as a reshape does (cpu_emit.c). */
int cpu_sum_alias(const Em *em, const Node *n);
/* Mark the f32 sum_tos of f32 elementwise kernels' outputs to compute in those kernels' loops
 * (at[sum_to] = the kernel's node; cpu_emit_ops.c). After cpu_mark_fusion. */
void cpu_mark_side_sums(CpuCx *cx, const char *live, int *at);
/* the comment naming node id (op, type, DSL name, source location) */
void cpu_node_comment(const Em *em, int id, const char *prefix);

#endif
