/* cpu_emit.c — the CPU code generator's driver: liveness (nodes no output depends on are skipped),
 * buffer ownership (reshape aliases its input; args and params are the caller's; small consts are
 * read as literals), the entry function with every computed value placed in one workspace by a
 * liveness-based plan (values whose lives do not overlap share memory; the workspace is kept by
 * the caller between calls, with the plan, reused while the sizes stay the same), and the
 * C-expression helpers shared with the kernel emitters (cpu_emit_ops.c). */
#include "cpu_emit_internal.h"
#include "tensor.h"
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- strings */
void sb_printf(Sb *b, const char *fmt, ...) {
  if (b->oom) return;
  va_list ap;
  va_start(ap, fmt);
  va_list ap2;
  va_copy(ap2, ap);
  int need = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (need < 0) { b->oom = 1; va_end(ap2); return; }
  if (b->n + (size_t)need + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + (size_t)need + 1) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) { b->oom = 1; va_end(ap2); return; }
    b->s = s;
    b->cap = cap;
  }
  vsnprintf(b->s + b->n, (size_t)need + 1, fmt, ap2);
  va_end(ap2);
  b->n += (size_t)need;
}

void sb_free(Sb *b) {
  free(b->s);
  memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------- expressions */
int cpu_fmt(char *buf, size_t n, const char *fmt, ...) {
  if (n == 0) return 0;
  va_list ap;
  va_start(ap, fmt);
  int r = vsnprintf(buf, n, fmt, ap);
  va_end(ap);
  if (r < 0) { buf[0] = 0; return 0; }
  return (size_t)r < n ? r : (int)(n - 1);
}

const char *cpu_ctype(DType t) {
  switch (t) {
  case DT_F64: return "double";
  case DT_I32: return "int32_t";
  case DT_I64: return "int64_t";
  case DT_BOOL: return "uint8_t";
  default: return "float";
  }
}

int cpu_is_floatish(DType t) { return t == DT_F32 || t == DT_BF16 || t == DT_F16; }

void cpu_dim(Dim d, char *buf) {
  int n = cpu_fmt(buf, CPU_EXPR, "((int64_t)%lld", (long long)d.k);
  for (int s = 0; s < DLM_MAX_SYMS; s++)
    if (d.syms & (1u << s)) n += cpu_fmt(buf + n, (size_t)(CPU_EXPR - n), "*S[%d]", s);
  cpu_fmt(buf + n, (size_t)(CPU_EXPR - n), ")");
}

void cpu_prod(const Type *t, int from, int to, char *buf) {
  if (from >= to) { cpu_fmt(buf, CPU_EXPR, "1"); return; }
  int n = cpu_fmt(buf, CPU_EXPR, "(");
  for (int d = from; d < to; d++) {
    char db[CPU_EXPR];
    cpu_dim(t->dims[d], db);
    n += cpu_fmt(buf + n, (size_t)(CPU_EXPR - n), "%s%s", d > from ? "*" : "", db);
  }
  cpu_fmt(buf + n, (size_t)(CPU_EXPR - n), ")");
}

/* The value of a const node as a literal of its storage type, rounded as the interpreter rounds. */
void cpu_const_literal(const Node *n, char *buf) {
  double v = n->attr.f[0];
  DType t = n->type.dtype;
  if (dtype_is_float(t)) {
    if (t == DT_BF16) v = bf16_to_f32(f32_to_bf16((float)v));
    else if (t == DT_F16) v = f16_to_f32(f32_to_f16((float)v));
    else if (t != DT_F64) v = (float)v;
    const char *ct = cpu_ctype(t);
    if (isnan(v)) cpu_fmt(buf, CPU_EXPR, "((%s)NAN)", ct);
    else if (isinf(v)) cpu_fmt(buf, CPU_EXPR, "((%s)%sINFINITY)", ct, v < 0 ? "-" : "");
    else cpu_fmt(buf, CPU_EXPR, "((%s)%.17g)", ct, v);
    return;
  }
  int64_t i = t == DT_BOOL ? v != 0 : (int64_t)v;
  if (t == DT_I32) i = (int32_t)(uint32_t)(uint64_t)i;
  if (i == INT64_MIN) cpu_fmt(buf, CPU_EXPR, "((int64_t)INT64_MIN)");
  else cpu_fmt(buf, CPU_EXPR, "((%s)%lldLL)", cpu_ctype(t), (long long)i);
}

void cpu_read(const Em *em, int id, const char *off, char *buf) {
  if (em->inl[id] == CPU_INL_CONST) cpu_const_literal(&em->f->nodes[id], buf);
  else cpu_fmt(buf, CPU_EXPR, "v%d[%s]", id, off);
}

/* msg as the body of a C string literal */
static void c_escape(const char *s, char *buf, size_t n) {
  size_t k = 0;
  for (; *s && k + 5 < n; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { buf[k++] = '\\'; buf[k++] = (char)c; }
    else if (c < 32 || c >= 127 || c == '?' || c == '%') k += (size_t)cpu_fmt(buf + k, n - k, "\\%03o", c);
    else buf[k++] = (char)c;
  }
  buf[k] = 0;
}

void cpu_fail(Em *em, int id, const char *msg) {
  char esc[1024];
  c_escape(msg, esc, sizeof esc);
  sb_printf(em->b, "  if (bad) { snprintf(err, (size_t)errlen, \"%%s\", \"%s\"); rc = %d; goto done; }\n", esc, id + 1);
}

/* ---------------------------------------------------------------- the unit */
void cpu_node_comment(const Em *em, int id, const char *prefix) {
  const Node *n = &em->f->nodes[id];
  char ty[192], where[256] = "", name[160] = "";
  type_str(em->m, &n->type, ty, sizeof ty);
  if (n->loc.line) {
    const char *file = n->loc.file >= 0 && n->loc.file < em->m->nfiles ? em->m->files[n->loc.file] : "?";
    cpu_fmt(where, sizeof where, " at %s:%d:%d", file, n->loc.line, n->loc.col);
  }
  if (n->name) cpu_fmt(name, sizeof name, " (%s)", n->name);
  /* keep comment text free of the sequences that would end or nest it */
  char text[768];
  cpu_fmt(text, sizeof text, "%%%d = %s : %s%s%s", id, op_info[n->op].name, ty, name, where);
  for (char *p = text; *p; p++)
    if ((p[0] == '*' && p[1] == '/') || (p[0] == '/' && p[1] == '*')) p[0] = '_';
  sb_printf(em->b, "  /* %s%s */\n", prefix, text);
}

void cpu_unit_free(CpuUnit *u) {
  free(u->src);
  free(u->param_nodes);
  memset(u, 0, sizeof *u);
}

/* With $DLM_CPU_PROFILE set when a unit is generated, each kernel's wall time is added up over
 * the calls (dlm_prof_, by node id) and, when the library is unloaded, the kernels are printed to
 * stderr by time per call, longest first (with the node each computes). */
static void emit_profile_report(Em *em, const char *live, const char *inl) {
  const Func *f = em->f;
  int nk = 0;
  for (int id = 0; id < f->nnodes; id++) nk += live[id] && !inl[id];
  sb_printf(em->b, "static const char *const dlm_prof_what_[%d] = {\n", f->nnodes ? f->nnodes : 1);
  for (int id = 0; id < f->nnodes; id++) {
    const Node *n = &f->nodes[id];
    char ty[192];
    type_str(em->m, &n->type, ty, sizeof ty);
    if (live[id] && !inl[id])
      sb_printf(em->b, "  [%d] = \"%%%d %s %s%s%s\",\n", id, id, op_info[n->op].name, ty, n->name ? " " : "", n->name ? n->name : "");
  }
  sb_printf(em->b, "};\n__attribute__((destructor)) static void dlm_prof_report_(void) {\n");
  sb_printf(em->b, "  if (!dlm_calls_) return;\n  double total_ = 0;\n  int ord_[%d], n_ = 0;\n", nk ? nk : 1);
  sb_printf(em->b, "  for (int i = 0; i < %d; i++) if (dlm_prof_what_[i]) { ord_[n_++] = i; total_ += dlm_prof_[i]; }\n", f->nnodes);
  sb_printf(em->b, "  for (int i = 1; i < n_; i++) for (int j = i; j > 0 && dlm_prof_[ord_[j]] > dlm_prof_[ord_[j - 1]]; j--) {\n"
                   "    const int t_ = ord_[j]; ord_[j] = ord_[j - 1]; ord_[j - 1] = t_;\n  }\n");
  sb_printf(em->b, "  fprintf(stderr, \"profile of %s: %%ld calls, %%.3f ms per call in kernels\\n\", dlm_calls_, 1e3 * total_ / (double)dlm_calls_);\n", f->name);
  sb_printf(em->b, "  for (int i = 0; i < n_; i++) fprintf(stderr, \"%%9.3f ms %%5.1f%%%%  %%s\\n\", 1e3 * dlm_prof_[ord_[i]] / (double)dlm_calls_,\n"
                   "                                  total_ > 0 ? 100 * dlm_prof_[ord_[i]] / total_ : 0.0, dlm_prof_what_[ord_[i]]);\n}\n");
}

/* v<id> = its buffer: output O[direct] of the call, or its workspace slot */
static void buf_assign(Sb *b, int id, const char *ct, int slot, int direct) {
  if (direct >= 0) sb_printf(b, "  v%d = (%s *)O[%d];\n", id, ct, direct);
  else sb_printf(b, "  v%d = (%s *)(base_ + off_[%d]);\n", id, ct, slot);
}

int cpu_emit_func(const Module *m, const Func *f, CpuUnit *u, DlmErr *e) {
  memset(u, 0, sizeof *u);
  int nn = f->nnodes, sz = nn ? nn : 1;
  char *live = calloc((size_t)sz, 1), *inl = calloc((size_t)sz, 1), *needbuf = calloc((size_t)sz, 1);
  int *root = malloc((size_t)sz * sizeof *root), *last = malloc((size_t)sz * sizeof *last);
  u->param_nodes = malloc((size_t)sz * sizeof *u->param_nodes);
  Sb b = {0};
  int ok = live && inl && needbuf && root && last && u->param_nodes;
  if (!ok) err_set(e, (SrcLoc){0, 0, 0}, "cpu: out of memory");
  for (int k = 0; ok && k < f->nout; k++) {
    if (f->outs[k] < 0 || f->outs[k] >= nn) { err_set(e, (SrcLoc){0, 0, 0}, "%s: output %d is undefined", f->name, k); ok = 0; }
    else live[f->outs[k]] = 1;
  }
  for (int id = nn - 1; ok && id >= 0; id--) {
    const Node *n = &f->nodes[id];
    if (!live[id]) continue;
    for (int j = 0; j < n->nin; j++) {
      if (n->in[j] < 0 || n->in[j] >= id) {
        err_set(e, n->loc, "%s: %%%d reads %%%d, which is not defined before it", op_info[n->op].name, id, n->in[j]);
        ok = 0;
        break;
      }
      live[n->in[j]] = 1;
      if (cpu_op_needs_buffers(n->op)) needbuf[n->in[j]] = 1;
    }
  }
  for (int id = 0; ok && id < nn; id++) {
    const Node *n = &f->nodes[id];
    inl[id] = live[id] && n->op == OP_CONST && !needbuf[id] ? CPU_INL_CONST : 0;
    root[id] = n->op == OP_RESHAPE ? root[n->in[0]] : id;
    last[id] = -1;
  }
  /* Elementwise chains: a value read once, by an elementwise node of the same shape, is computed
   * in that reader's loop (fused) and gets no buffer; what it reads is read at its final reader
   * (eff), so buffers live until then. Likewise a folded matmul is computed at its sum_to and the
   * nodes of an attention backward at their kernel's node (at). */
  int *uses = calloc((size_t)sz, sizeof *uses), *eff = malloc((size_t)sz * sizeof *eff), *reader = malloc((size_t)sz * sizeof *reader);
  if (ok && !(uses && eff && reader)) { err_set(e, (SrcLoc){0, 0, 0}, "cpu: out of memory"); ok = 0; }
  for (int id = 0; ok && id < nn; id++)
    if (live[id])
      for (int j = 0; j < f->nodes[id].nin; j++) { uses[f->nodes[id].in[j]]++; reader[f->nodes[id].in[j]] = id; }
  for (int k = 0; ok && k < f->nout; k++) uses[f->outs[k]]++;
  int *at = malloc((size_t)sz * sizeof *at);
  CpuCx *cx = calloc(1, sizeof *cx);
  Em *emp = cx ? &cx->em : NULL;
  if (ok && !(at && cx)) { err_set(e, (SrcLoc){0, 0, 0}, "cpu: out of memory"); ok = 0; }
  for (int id = 0; ok && id < nn; id++) at[id] = id;
  if (ok) {
    cx->em = (Em){m, f, &b, inl};
    cx->at = at;
  }
  if (ok && !getenv("DLM_CPU_NOFUSE")) {
    cpu_mark_fusion(emp, live, uses, reader, inl);
    cpu_mark_attention_bw(cx, live, uses, inl, at);
    cpu_mark_attention_views(cx, live, inl, at);
    cpu_mark_side_sums(cx, live, at);
  }
  /* a sum over an axis of length 1 of a value with its own buffer reads that buffer as it is (and
   * so do reshapes of it) */
  for (int id = 0; ok && id < nn; id++) {
    const Node *n = &f->nodes[id];
    int alias = live[id] && !inl[id] && at[id] == id && cpu_sum_alias(emp, n) && !inl[n->in[0]];
    if (alias || n->op == OP_RESHAPE) root[id] = root[n->in[0]];
  }
  /* eff of a value without a kernel of its own: the latest eff of its readers (a value recomputed
   * in two loops, or a view read by several kernels, is read until the later one) */
  for (int id = 0; ok && id < nn; id++) eff[id] = -1;
  for (int id = nn - 1; ok && id >= 0; id--) {
    int later = inl[id] == CPU_INL_FUSED || inl[id] == CPU_INL_FOLDED || inl[id] == CPU_INL_VIEW;
    eff[id] = later && eff[id] >= 0 ? eff[id] : at[id];
    for (int j = 0; live[id] && j < f->nodes[id].nin; j++)
      if (eff[f->nodes[id].in[j]] < eff[id]) eff[f->nodes[id].in[j]] = eff[id];
  }
  for (int id = 0; ok && id < nn; id++)
    if (live[id])
      for (int j = 0; j < f->nodes[id].nin; j++) {
        int r = root[f->nodes[id].in[j]];
        if (last[r] < eff[id]) last[r] = eff[id];
      }
  for (int k = 0; ok && k < f->nout; k++) last[root[f->outs[k]]] = nn;

  /* The arena: every computed buffer gets an offset in one workspace, planned at run time from
   * its size and its life [defining node, last reader] (outputs live to the end). */
  int nbuf = 0;
  int *slot = malloc((size_t)sz * sizeof *slot), *direct = malloc((size_t)sz * sizeof *direct);
  if (!slot || !direct) { err_set(e, (SrcLoc){0, 0, 0}, "cpu: out of memory"); ok = 0; }
  /* An f32 output computed into a buffer of its own is computed into the caller's output buffer
   * (direct[id] = its output index) instead of the workspace and copied there at the end. */
  for (int id = 0; ok && id < nn; id++) direct[id] = -1;
  for (int k = 0; ok && k < f->nout; k++) {
    int o = f->outs[k];
    const Node *n = &f->nodes[o];
    if (!inl[o] && root[o] == o && n->op != OP_ARG && n->op != OP_PARAM && n->type.dtype == DT_F32 && direct[o] < 0) direct[o] = k;
  }
  for (int id = 0; ok && id < nn; id++) {
    const Node *n = &f->nodes[id];
    slot[id] = live[id] && !inl[id] && root[id] == id && n->op != OP_ARG && n->op != OP_PARAM && direct[id] < 0 ? nbuf++ : -1;
  }
  const char *pe = getenv("DLM_CPU_PROFILE");
  int prof = pe && *pe && strcmp(pe, "0") != 0;
  if (ok) {
    sb_printf(&b, "/* Generated by dlmc (codegen/cpu_emit.c): function %s of module %s. */\n", f->name,
              m->name ? m->name : "?");
    sb_printf(&b, "%s%s", cpu_prelude, cpu_attn_prelude);
    if (prof) sb_printf(&b, "static double dlm_prof_[%d];\nstatic long dlm_calls_;\n", sz);
    sb_printf(&b, "int dlm_entry(const int64_t *S, void *const *A, void *const *P, void *const *O, void **ws, int64_t *wsz,\n"
                  "              char *err, int errlen) {\n");
    sb_printf(&b, "  int rc = 0, bad = 0;\n  (void)S; (void)A; (void)P; (void)O; (void)ws; (void)wsz; (void)err; (void)errlen; (void)bad;\n");
    for (int id = 0; id < nn; id++)
      if (live[id] && !inl[id]) sb_printf(&b, "  %s *v%d = NULL;\n", cpu_ctype(f->nodes[id].type.dtype), id);
    if (nbuf) {
      sb_printf(&b, "  /* workspace plan: buffer sizes (64-byte multiples), first and last node using each */\n");
      sb_printf(&b, "  const int64_t sz_[%d] = {\n", nbuf);
      for (int id = 0; id < nn; id++)
        if (slot[id] >= 0) {
          char numel[CPU_EXPR];
          cpu_prod(&f->nodes[id].type, 0, f->nodes[id].type.rank, numel);
          sb_printf(&b, "    (%s * (int64_t)sizeof(%s) + 63) / 64 * 64,\n", numel, cpu_ctype(f->nodes[id].type.dtype));
        }
      sb_printf(&b, "  };\n  static const int beg_[%d] = {", nbuf);
      for (int id = 0; id < nn; id++)
        if (slot[id] >= 0) sb_printf(&b, "%d,", at[id] < id ? at[id] : id);
      sb_printf(&b, "};\n  static const int end_[%d] = {", nbuf);
      for (int id = 0; id < nn; id++)
        if (slot[id] >= 0) sb_printf(&b, "%d,", last[id]);
      /* the workspace starts with the sizes it was planned for, the offsets and the total: a call
       * with the same sizes (every training step) reuses the plan instead of redoing it */
      const long long hdr = ((2LL * nbuf + 1) * 8 + 63) / 64 * 64;
      sb_printf(&b, "};\n  int64_t off_[%d], total_;\n  int64_t *hdr_ = (int64_t *)*ws;\n", nbuf);
      sb_printf(&b, "  if (*wsz >= %lld && memcmp(hdr_, sz_, sizeof sz_) == 0) {\n"
                    "    memcpy(off_, hdr_ + %d, sizeof off_);\n    total_ = hdr_[%d];\n  } else {\n", hdr, nbuf, 2 * nbuf);
      sb_printf(&b, "    total_ = dlm_plan(%d, sz_, beg_, end_, off_);\n    if (*wsz < %lld + total_) {\n      free(*ws);\n      *wsz = 0;\n"
                    "      *ws = malloc((size_t)(%lld + total_));\n      if (!*ws) { rc = -1; goto done; }\n      *wsz = %lld + total_;\n    }\n",
                nbuf, hdr, hdr, hdr);
      sb_printf(&b, "    hdr_ = (int64_t *)*ws;\n    memcpy(hdr_, sz_, sizeof sz_);\n    memcpy(hdr_ + %d, off_, sizeof off_);\n"
                    "    hdr_[%d] = total_;\n  }\n  char *base_ = (char *)*ws + %lld;\n", nbuf, 2 * nbuf, hdr);
    }
  }
  for (int id = 0; ok && id < nn; id++) {
    const Node *n = &f->nodes[id];
    if (!live[id] || inl[id]) continue;
    cpu_node_comment(emp, id, "");
    const char *ct = cpu_ctype(n->type.dtype);
    if (n->op == OP_ARG) sb_printf(&b, "  v%d = (%s *)A[%lld];\n", id, ct, (long long)n->attr.i[0]);
    else if (n->op == OP_PARAM) {
      sb_printf(&b, "  v%d = (%s *)P[%d];\n", id, ct, u->nparams);
      u->param_nodes[u->nparams++] = id;
    } else if (n->op == OP_RESHAPE || root[id] != id) sb_printf(&b, "  v%d = v%d;\n", id, n->in[0]);
    else {
      char numel[CPU_EXPR];
      cpu_prod(&n->type, 0, n->type.rank, numel);
      buf_assign(&b, id, ct, slot[id], direct[id]);
      for (int s = id + 1; s < nn; s++) /* values this kernel computes for later nodes (side sums) */
        if (at[s] == id && (slot[s] >= 0 || direct[s] >= 0)) buf_assign(&b, s, cpu_ctype(f->nodes[s].type.dtype), slot[s], direct[s]);
      if (prof) sb_printf(&b, "  const double pt%d_ = omp_get_wtime();\n", id);
      if (!cpu_emit_kernel(emp, id, e)) { ok = 0; break; }
      if (prof) sb_printf(&b, "  dlm_prof_[%d] += omp_get_wtime() - pt%d_;\n", id, id);
      if (n->type.dtype == DT_BF16 || n->type.dtype == DT_F16)
        sb_printf(&b, "  for (int64_t k = 0; k < %s; k++) v%d[k] = %s(v%d[k]);\n", numel, id,
                  n->type.dtype == DT_BF16 ? "dlm_rbf16" : "dlm_rf16", id);
    }
  }
  for (int k = 0; ok && k < f->nout; k++) {
    const Node *n = &f->nodes[f->outs[k]];
    char numel[CPU_EXPR], rd[CPU_EXPR];
    if (direct[f->outs[k]] == k) {
      sb_printf(&b, "  /* output %d: %%%d, computed in place */\n", k, f->outs[k]);
      continue;
    }
    cpu_prod(&n->type, 0, n->type.rank, numel);
    cpu_read(emp, f->outs[k], "k", rd);
    const char *ot = dtype_is_float(n->type.dtype) ? "float" : cpu_ctype(n->type.dtype);
    sb_printf(&b, "  /* output %d: %%%d */\n#pragma omp parallel for if (%s > 32768) schedule(static)\n"
                  "  for (int64_t k = 0; k < %s; k++) ((%s *)O[%d])[k] = (%s)%s;\n", k, f->outs[k], numel, numel, ot, k, ot, rd);
  }
  if (ok) {
    sb_printf(&b, "  goto done;\ndone:\n");
    if (prof) sb_printf(&b, "  dlm_calls_++;\n");
    sb_printf(&b, "  if (rc == -1) snprintf(err, (size_t)errlen, \"out of memory\");\n  return rc;\n}\n");
    if (prof) emit_profile_report(emp, live, inl);
    if (b.oom) { err_set(e, (SrcLoc){0, 0, 0}, "cpu: out of memory generating code"); ok = 0; }
  }
  free(slot);
  free(direct);
  free(uses);
  free(eff);
  free(reader);
  free(at);
  free(cx);
  free(live);
  free(inl);
  free(needbuf);
  free(root);
  free(last);
  if (!ok) {
    sb_free(&b);
    cpu_unit_free(u);
    return 0;
  }
  u->src = b.s;
  return 1;
}
