/* lower_mask.c — attention and masks: `attention(q, k, v, mask = m(args), scale = s)` lowers the mask
 * body to a bool[Lq, Lk] subgraph over i32 iotas (q indexes rows, k columns), with the mask's extra
 * parameters bound to compile-time values, and passes it as attention's 4th input. */
#include "lower.h"
#include <math.h>
#include <string.h>

static int lower_mask(Lower *L, const Expr *call, const Item *mk, Dim lq, Dim lk, int *out) {
  const char *names[16];
  const Expr *slots[16];
  Val args[16];
  if (mk->nextra > 16) return fail(L, mk->loc, "too many mask parameters");
  for (int i = 0; i < mk->nextra; i++) names[i] = mk->extra[i]->name;
  if (!call_slots(L, call, names, mk->nextra, mk->nextra, slots)) return 0;
  for (int i = 0; i < mk->nextra; i++) {
    if (!lower_expr(L, slots[i], &args[i])) return 0;
    if (args[i].kind != V_NUM && args[i].kind != V_DIM)
      return fail(L, slots[i]->loc, "mask parameter '%s' must be a compile-time value", names[i]);
  }
  Type it = type_scalar(DT_I32);
  it.rank = 2;
  it.dims[0] = lq;
  it.dims[1] = lk;
  Attrs a0 = attrs_none(), a1 = attrs_none();
  a0.i[0] = 0; a0.ni = 1;
  a1.i[0] = 1; a1.ni = 1;
  int qi = emit(L, OP_IOTA, &it, 0, NULL, &a0, call->loc);
  int ki = qi < 0 ? -1 : emit(L, OP_IOTA, &it, 0, NULL, &a1, call->loc);
  if (ki < 0) return 0;
  Env *caller = L->env, frame = {0, 0, 0};
  L->env = &frame;
  for (int i = 0; i < mk->nextra; i++) env_set(L, &frame, names[i], args[i]);
  env_set(L, &frame, mk->params[0]->name, val_tensor(qi));
  env_set(L, &frame, mk->params[1]->name, val_tensor(ki));
  Val r;
  int ok = lower_expr(L, mk->value, &r);
  L->env = caller;
  if (!ok) return 0;
  Type bt = it;
  bt.dtype = DT_BOOL;
  if (r.kind == V_NUM) {
    if (!r.is_bool) return fail(L, mk->value->loc, "a mask must be a boolean expression");
    Attrs a = attrs_none();
    a.f[0] = (double)r.ival;
    return (*out = emit(L, OP_CONST, &bt, 0, NULL, &a, call->loc)) >= 0;
  }
  if (r.kind != V_TENSOR || val_type(L, r)->dtype != DT_BOOL) return fail(L, mk->value->loc, "a mask must be a boolean expression");
  if (type_eq(val_type(L, r), &bt)) { *out = r.id; return 1; }
  return (*out = emit(L, OP_BROADCAST, &bt, 1, &r.id, NULL, call->loc)) >= 0;
}

int lower_attention(Lower *L, const Expr *e, Val *out) {
  static const char *const nm[] = {"q", "k", "v", "mask", "scale"};
  const Expr *s[5];
  Val q, k, v;
  char b1[128], b2[128];
  if (!call_slots(L, e, nm, 5, 3, s)) return 0;
  if (!lower_expr(L, s[0], &q) || !lower_expr(L, s[1], &k) || !lower_expr(L, s[2], &v)) return 0;
  if (q.kind != V_TENSOR || k.kind != V_TENSOR || v.kind != V_TENSOR) return fail(L, e->loc, "attention expects tensors q, k, v");
  const Type *qt = val_type(L, q), *kt = val_type(L, k);
  if (qt->rank < 2 || kt->rank < 2) return fail(L, e->loc, "attention: q and k need rank >= 2");
  if (qt->dtype != kt->dtype || qt->dtype != val_type(L, v)->dtype)
    return fail(L, e->loc, "type error: attention of %s and %s (element types differ)", val_str(L, q, b1, sizeof b1), val_str(L, k, b2, sizeof b2));
  Dim lq = qt->dims[qt->rank - 2], lk = kt->dims[kt->rank - 2], dh = qt->dims[qt->rank - 1];
  Attrs a = attrs_none();
  if (s[4]) {
    if (!ct_num(L, s[4], &a.f[0])) return 0;
  } else {
    if (!dim_is_const(dh) || dh.k <= 0) return fail(L, e->loc, "attention: give scale = ... (the head dimension is not a constant)");
    a.f[0] = 1.0 / sqrt((double)dh.k);
  }
  int in[4] = {q.id, k.id, v.id, -1}, nin = 3;
  if (s[3]) {
    Global *g = s[3]->kind == E_CALL ? global_find(L, s[3]->name) : NULL;
    if (g && g->item->kind == I_MASK) {
      if (!lower_mask(L, s[3], g->item, lq, lk, &in[3])) return 0;
    } else {
      Val m;
      if (!lower_expr(L, s[3], &m)) return 0;
      if (m.kind != V_TENSOR || val_type(L, m)->dtype != DT_BOOL) return fail(L, s[3]->loc, "attention: mask must be a mask call or a bool tensor");
      in[3] = m.id;
    }
    nin = 4;
  }
  int id = emit(L, OP_ATTENTION, NULL, nin, in, &a, e->loc);
  if (id < 0) return 0;
  *out = val_tensor(id);
  return 1;
}
