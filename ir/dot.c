/* dot.c — Graphviz output of a module's graph functions: one cluster per function, one box per
 * node labelled "%id op" and its type (and the DSL name when known), edges from inputs to users,
 * and the function outputs marked as double-bordered boxes. */
#include "ir.h"

static void dot_str(FILE *out, const char *s) {
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', out);
    if (*s == '\n') { fputs("\\n", out); continue; }
    fputc(*s, out);
  }
}

void ir_print_dot(const Module *m, FILE *out) {
  fputs("digraph \"", out);
  dot_str(out, m->name ? m->name : "module");
  fputs("\" {\n  node [shape=box fontname=\"monospace\"];\n", out);
  for (int fi = 0; fi < m->nfuncs; fi++) {
    const Func *f = m->funcs[fi];
    fprintf(out, "  subgraph \"cluster_%d\" {\n    label=\"@", fi);
    dot_str(out, f->name);
    fputs("\";\n", out);
    for (int i = 0; i < f->nnodes; i++) {
      const Node *n = &f->nodes[i];
      char ty[256];
      int is_out = 0;
      for (int j = 0; j < f->nout; j++) is_out |= f->outs[j] == i;
      fprintf(out, "    f%d_n%d [label=\"%%%d %s", fi, i, i, op_info[n->op].name);
      if (n->attr.s) { fputs(" ", out); dot_str(out, n->attr.s); }
      fputs("\\n", out);
      dot_str(out, type_str(m, &n->type, ty, sizeof ty));
      if (n->name) { fputs("\\n", out); dot_str(out, n->name); }
      fprintf(out, "\"%s];\n", is_out ? " peripheries=2" : "");
    }
    for (int i = 0; i < f->nnodes; i++)
      for (int j = 0; j < f->nodes[i].nin; j++) fprintf(out, "    f%d_n%d -> f%d_n%d;\n", fi, f->nodes[i].in[j], fi, i);
    fputs("  }\n", out);
  }
  fputs("}\n", out);
}
