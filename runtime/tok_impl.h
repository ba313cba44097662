/* tok_impl.h — the tokenizer vtable shared by tokenizer.c and the implementations (tok_byte.c,
 * tok_gpt2.c). Not part of the public interface. */
#ifndef DLM_TOK_IMPL_H
#define DLM_TOK_IMPL_H
#include "tokenizer.h"

struct Tokenizer {
  const char *name;
  int vocab_size;
  int eot_id;
  int (*encode)(Tokenizer *t, const char *text, size_t len, TokIds *out, DlmErr *err);
  const char *(*token_bytes)(const Tokenizer *t, int32_t id, size_t *len);
  void (*destroy)(Tokenizer *t);
};

/* Append one id; -1 on out of memory. */
int tokids_push(TokIds *t, int32_t id);

#endif
