/* interp_nn.c — reference kernels for the contractions: batched matmul (numpy-broadcast batch dims,
 * optional transposes of either operand) and attention(q, k, v[, mask]) =
 * softmax(q k^T * scale, masked positions excluded) v. A query row whose mask excludes every key
 * yields a zero output row (not NaN). Accumulation is in double. */
#include "interp_internal.h"
#include <math.h>
#include <stdlib.h>

/* Broadcast strides of x (rank >= 2) against the shape (out batch dims..., x's last two dims). */
static void lead_strides(const Val *x, const Val *out, int64_t *st) {
  int64_t shape[DLM_MAX_RANK];
  int r = out->rank;
  for (int d = 0; d < r - 2; d++) shape[d] = out->shape[d];
  shape[r - 2] = x->shape[x->rank - 2];
  shape[r - 1] = x->shape[x->rank - 1];
  interp_bcast_strides(x, r, shape, st);
}

int interp_matmul(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  const Val *a = in[0], *b = in[1];
  int ta = n->attr.i[0] != 0, tb = n->attr.i[1] != 0, r = out->rank;
  int64_t M = out->shape[r - 2], N = out->shape[r - 1];
  int64_t K = a->shape[a->rank - (ta ? 2 : 1)];
  int64_t sa[DLM_MAX_RANK], sb[DLM_MAX_RANK];
  lead_strides(a, out, sa);
  lead_strides(b, out, sb);
  /* element (m, k) of op(a) and (k, nn) of op(b) */
  int64_t am = ta ? sa[r - 1] : sa[r - 2], ak = ta ? sa[r - 2] : sa[r - 1];
  int64_t bk = tb ? sb[r - 1] : sb[r - 2], bn = tb ? sb[r - 2] : sb[r - 1];
  Odo o;
  odo_init(&o, r - 2, out->shape, 2);
  for (int d = 0; d < r - 2; d++) { o.st[0][d] = sa[d]; o.st[1][d] = sb[d]; }
  int64_t nb = M && N ? out->numel / (M * N) : 0;
  for (int64_t bt = 0; bt < nb; bt++, odo_next(&o))
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        int64_t k0 = (bt * M + i) * N + j, pa = o.off[0] + i * am, pb = o.off[1] + j * bn;
        if (out->isf) {
          double s = 0;
          for (int64_t k = 0; k < K; k++) s += val_get(a, pa + k * ak) * val_get(b, pb + k * bk);
          out->f[k0] = s;
        } else {
          uint64_t s = 0;
          for (int64_t k = 0; k < K; k++) s += (uint64_t)a->i[pa + k * ak] * (uint64_t)b->i[pb + k * bk];
          out->i[k0] = (int64_t)s;
        }
      }
  return 1;
}

int interp_attention(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  const Val *q = in[0], *k = in[1], *v = in[2], *mask = n->nin == 4 ? in[3] : NULL;
  int r = out->rank;
  int64_t Lq = q->shape[q->rank - 2], D = q->shape[q->rank - 1];
  int64_t Lk = k->shape[k->rank - 2], Dv = v->shape[v->rank - 1];
  double scale = n->attr.f[0];
  int64_t sq[DLM_MAX_RANK], sk[DLM_MAX_RANK], sv[DLM_MAX_RANK], sm[DLM_MAX_RANK] = {0};
  lead_strides(q, out, sq);
  lead_strides(k, out, sk);
  lead_strides(v, out, sv);
  if (mask) { /* the mask broadcasts to the scores [batch..., Lq, Lk] (any rank up to that) */
    int64_t scores[DLM_MAX_RANK];
    for (int d = 0; d < r - 2; d++) scores[d] = out->shape[d];
    scores[r - 2] = Lq;
    scores[r - 1] = Lk;
    interp_bcast_strides(mask, r, scores, sm);
  }
  double *p = malloc((size_t)(Lk ? Lk : 1) * sizeof *p);
  char *keep = malloc((size_t)(Lk ? Lk : 1));
  if (!p || !keep) { free(p); free(keep); err_set(e, n->loc, "attention: out of memory"); return 0; }
  Odo o;
  odo_init(&o, r - 2, out->shape, 4);
  for (int d = 0; d < r - 2; d++) { o.st[0][d] = sq[d]; o.st[1][d] = sk[d]; o.st[2][d] = sv[d]; o.st[3][d] = sm[d]; }
  int64_t nb = Lq && Dv ? out->numel / (Lq * Dv) : 0;
  for (int64_t bt = 0; bt < nb; bt++, odo_next(&o))
    for (int64_t i = 0; i < Lq; i++) {
      double m = -INFINITY, s = 0;
      int any = 0;
      for (int64_t j = 0; j < Lk; j++) {
        keep[j] = !mask || val_get(mask, o.off[3] + i * sm[r - 2] + j * sm[r - 1]) != 0;
        if (!keep[j]) continue;
        double dot = 0;
        for (int64_t d = 0; d < D; d++)
          dot += val_get(q, o.off[0] + i * sq[r - 2] + d * sq[r - 1]) * val_get(k, o.off[1] + j * sk[r - 2] + d * sk[r - 1]);
        p[j] = dot * scale;
        if (!any || p[j] > m) m = p[j];
        any = 1;
      }
      for (int64_t j = 0; j < Lk; j++)
        if (keep[j]) { p[j] = exp(p[j] - m); s += p[j]; }
      for (int64_t d = 0; d < Dv; d++) {
        double acc = 0;
        for (int64_t j = 0; j < Lk && any; j++)
          if (keep[j]) acc += p[j] * val_get(v, o.off[2] + j * sv[r - 2] + d * sv[r - 1]);
        out->f[(bt * Lq + i) * Dv + d] = any ? acc / s : 0;
      }
    }
  free(p);
  free(keep);
  return 1;
}
