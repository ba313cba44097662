/* arena.c — bump allocator that owns everything a Module (or any other compilation unit) allocates. */
#include "ir.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct Chunk { struct Chunk *next; size_t used, cap; unsigned char *mem; } Chunk;
struct Arena { Chunk *head; };

Arena *arena_new(void) {
  Arena *a = calloc(1, sizeof *a);
  if (!a) { fprintf(stderr, "dlm: out of memory\n"); abort(); }
  return a;
}

void arena_free(Arena *a) {
  if (!a) return;
  for (Chunk *c = a->head, *n; c; c = n) { n = c->next; free(c->mem); free(c); }
  free(a);
}

void *arena_alloc(Arena *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (n == 0) n = 16;
  Chunk *c = a->head;
  if (!c || c->used + n > c->cap) {
    size_t cap = n > 65536 ? n : 65536;
    c = calloc(1, sizeof *c);
    if (c) c->mem = calloc(1, cap);
    if (!c || !c->mem) { fprintf(stderr, "dlm: out of memory\n"); abort(); }
    c->cap = cap;
    c->next = a->head;
    a->head = c;
  }
  void *p = c->mem + c->used;
  c->used += n;
  return p;
}

char *arena_strdup(Arena *a, const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *p = arena_alloc(a, n);
  memcpy(p, s, n);
  return p;
}

char *arena_printf(Arena *a, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *p = arena_alloc(a, (size_t)(n < 0 ? 0 : n) + 1);
  vsnprintf(p, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return p;
}
