/* type_text.h — test helpers that write IR types and attributes briefly: fx_type(m, "f32[B,2*L,3]")
 * (also "i64[]" or "bool"; symbols are registered in m) and ia(n, ...) for integer attributes.
 * Shared by the interpreter fixture and the shape-rule tests. */
#ifndef DLM_TYPE_TEXT_H
#define DLM_TYPE_TEXT_H
#include "ir.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static __attribute__((unused)) Type fx_type(Module *m, const char *s) {
  Type t;
  memset(&t, 0, sizeof t);
  char dt[8] = {0};
  int i = 0;
  while (s[i] && s[i] != '[' && i < 7) { dt[i] = s[i]; i++; }
  if (!dtype_from_name(dt, &t.dtype)) { fprintf(stderr, "bad dtype in %s\n", s); return t; }
  if (s[i] != '[') return t;
  i++;
  while (s[i] && s[i] != ']') {
    Dim d = dim_const(1);
    for (;;) {
      if (s[i] >= '0' && s[i] <= '9') {
        int64_t k = 0;
        while (s[i] >= '0' && s[i] <= '9') k = k * 10 + (s[i++] - '0');
        d.k *= k;
      } else {
        char nm[16] = {0};
        int j = 0;
        while (s[i] && s[i] != '*' && s[i] != ',' && s[i] != ']' && j < 15) nm[j++] = s[i++];
        d.syms |= 1u << ir_sym(m, nm);
      }
      if (s[i] != '*') break;
      i++;
    }
    t.dims[t.rank++] = d;
    if (s[i] == ',') i++;
  }
  return t;
}

static __attribute__((unused)) Attrs ia(int ni, ...) {
  Attrs a = attrs_none();
  va_list ap;
  va_start(ap, ni);
  for (int i = 0; i < ni; i++) a.i[i] = va_arg(ap, int);
  va_end(ap);
  a.ni = ni;
  return a;
}
#endif
