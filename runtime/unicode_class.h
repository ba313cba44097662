/* unicode_class.h — Unicode character classes needed by the GPT-2 pre-tokenizer: \p{L}, \p{N} and
 * \s as Python's `regex` module defines them (all planes). Tables are generated; see
 * unicode_class.c. */
#ifndef DLM_UNICODE_CLASS_H
#define DLM_UNICODE_CLASS_H
#include <stdint.h>

int uc_is_letter(uint32_t cp);
int uc_is_number(uint32_t cp);
int uc_is_space(uint32_t cp);

#endif
