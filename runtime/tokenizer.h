/* tokenizer.h — text tokenizers behind one interface: "byte" (id = byte value, vocabulary 256) and
 * "gpt2" (GPT-2's byte-level BPE, id-exact with GPT-2's encoder, loaded from a directory holding
 * encoder.json + vocab.bpe or vocab.json + merges.txt). Text is bytes (normally UTF-8; invalid
 * UTF-8 is tokenized byte-wise and still round-trips). Special tokens in the text are not
 * recognized: "<|endoftext|>" in the input is encoded as ordinary text, as GPT-2's encoder.py
 * does; use tok_eot_id to insert the end-of-text token. */
#ifndef DLM_TOKENIZER_H
#define DLM_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>
#include "ir.h"

typedef struct Tokenizer Tokenizer;

/* A growable id array that tok_encode appends to. Zero-initialize; free with tokids_free. */
typedef struct { int32_t *ids; size_t n, cap; } TokIds;
void tokids_free(TokIds *t);

/* name "byte" (dir unused, may be NULL) or "gpt2" (dir required). NULL + err on failure. */
Tokenizer *tok_open(const char *name, const char *dir, DlmErr *err);
Tokenizer *tok_byte_open(void);
Tokenizer *tok_gpt2_open(const char *dir, DlmErr *err);
void tok_free(Tokenizer *t);

const char *tok_name(const Tokenizer *t);
int tok_vocab_size(const Tokenizer *t);        /* ids are in [0, vocab size) */
int tok_eot_id(const Tokenizer *t);            /* gpt2: id of <|endoftext|> (50256); byte: -1 */

/* Append the ids of text[0..len) to out. 0 on success, -1 (+ err) on out of memory.
 * Not thread-safe for one Tokenizer (gpt2 keeps a cache). */
int tok_encode(Tokenizer *t, const char *text, size_t len, TokIds *out, DlmErr *err);
/* Bytes of one token (not NUL-terminated); NULL if id is not a token. */
const char *tok_token_bytes(const Tokenizer *t, int32_t id, size_t *len);
/* Concatenated bytes of ids into a malloc'd, NUL-terminated buffer (*outlen excludes the NUL).
 * -1 + err naming the position if an id is not a token. */
int tok_decode(const Tokenizer *t, const int32_t *ids, size_t n, char **out, size_t *outlen, DlmErr *err);

#endif
