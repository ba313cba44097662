/* tok_gpt2.c — GPT-2's byte-level BPE tokenizer, id-exact with GPT-2's encoder.py:
 *  - the vocabulary (encoder.json / vocab.json) maps tokens, written in GPT-2's byte-to-unicode
 *    alphabet, to ids; merges (vocab.bpe / merges.txt) are pairs of tokens by rank;
 *  - text is split by GPT-2's pattern
 *      's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *    implemented by hand over UTF-8 (invalid bytes count as "other" characters);
 *  - each piece starts as one symbol per byte and the adjacent pair of lowest merge rank is merged
 *    (all its non-overlapping occurrences, left to right) until no pair has a rank.
 * Every token and merge result must be in the vocabulary (checked at load), so BPE runs on ids and
 * encoding cannot fail. Results per piece are cached. */
#include "tok_impl.h"
#include "fileio.h"
#include "json_mini.h"
#include "unicode_class.h"
#include <stdlib.h>
#include <string.h>

#define GPT2_MAX_FILE (256u << 20)
#define GPT2_MAX_ID (1 << 24)
#define CACHE_SLOTS (1u << 16)      /* power of two; cleared when half full */
#define CACHE_MAX_PIECE 256         /* longer pieces are not cached */

static const SrcLoc noloc = {0, 0, 0};

typedef struct {
  uint64_t hash;
  uint32_t key_off, key_len, ids_off, nids;
  int used;
} CacheSlot;

typedef struct {
  Tokenizer base;
  int32_t nvocab;
  char **tok;                  /* id -> bytes (NULL for unused ids) */
  uint32_t *toklen;
  int32_t *vmap;               /* open addressing over token bytes: id or -1 */
  size_t vcap;
  int32_t byte_id[256];
  uint64_t *pkey;              /* open addressing over pairs: (a << 32 | b) + 1, 0 = empty */
  int32_t *prank, *pmerged;
  size_t pcap;
  CacheSlot *cache;
  size_t cache_used;
  char *ckeys;                 /* cache key bytes */
  size_t ckeys_n, ckeys_cap;
  int32_t *cids;               /* cache id lists */
  size_t cids_n, cids_cap;
} Gpt2;

static uint64_t fnv1a(const void *p, size_t n) {
  const unsigned char *s = p;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
  return h;
}

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
  return x;
}

/* ---------------------------------------------------------------- byte <-> unicode alphabet */
/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes to
 * U+0100.. in byte order. */
static void byte_alphabet(uint32_t byte_to_cp[256], int cp_to_byte[324]) {
  int n = 0;
  for (int i = 0; i < 324; i++) cp_to_byte[i] = -1;
  for (int b = 0; b < 256; b++) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    byte_to_cp[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
    cp_to_byte[byte_to_cp[b]] = b;
  }
}

/* Decode one UTF-8 code point at s[i] (i < n). Invalid, overlong, surrogate or truncated
 * sequences give UINT32_MAX with length 1. */
static size_t utf8_next(const unsigned char *s, size_t n, size_t i, uint32_t *cp) {
  unsigned c = s[i];
  size_t len;
  uint32_t v, min;
  if (c < 0x80) { *cp = c; return 1; }
  if (c >= 0xc2 && c <= 0xdf) { len = 2; v = c & 0x1f; min = 0x80; }
  else if (c >= 0xe0 && c <= 0xef) { len = 3; v = c & 0x0f; min = 0x800; }
  else if (c >= 0xf0 && c <= 0xf4) { len = 4; v = c & 0x07; min = 0x10000; }
  else { *cp = UINT32_MAX; return 1; }
  if (n - i < len) { *cp = UINT32_MAX; return 1; }
  for (size_t k = 1; k < len; k++) {
    if ((s[i + k] & 0xc0) != 0x80) { *cp = UINT32_MAX; return 1; }
    v = (v << 6) | (s[i + k] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) { *cp = UINT32_MAX; return 1; }
  *cp = v;
  return len;
}

/* Convert a token written in the byte alphabet to raw bytes; -1 if it has a character outside
 * the alphabet (its code point in *bad) or is not valid UTF-8. out has room for len bytes. */
static long token_to_bytes(const char *s, size_t len, const int cp_to_byte[324], char *out, uint32_t *bad) {
  size_t i = 0, k = 0;
  while (i < len) {
    uint32_t cp;
    i += utf8_next((const unsigned char *)s, len, i, &cp);
    if (cp >= 324 || cp_to_byte[cp] < 0) { *bad = cp; return -1; }
    out[k++] = (char)cp_to_byte[cp];
  }
  return (long)k;
}

/* ---------------------------------------------------------------- vocabulary map */
static int32_t vocab_find(const Gpt2 *g, const char *b, size_t n) {
  size_t mask = g->vcap - 1, i = fnv1a(b, n) & mask;
  while (g->vmap[i] >= 0) {
    int32_t id = g->vmap[i];
    if (g->toklen[id] == n && memcmp(g->tok[id], b, n) == 0) return id;
    i = (i + 1) & mask;
  }
  return -1;
}

static void vocab_insert(Gpt2 *g, int32_t id) {
  size_t mask = g->vcap - 1, i = fnv1a(g->tok[id], g->toklen[id]) & mask;
  while (g->vmap[i] >= 0) i = (i + 1) & mask;
  g->vmap[i] = id;
}

/* Show a token for an error message (raw bytes, at most 40). */
static const char *show(const char *b, size_t n, char *buf, size_t cap) {
  size_t k = 0;
  for (size_t i = 0; i < n && k + 5 < cap && i < 40; i++) {
    unsigned char c = (unsigned char)b[i];
    if (c >= 0x20 && c < 0x7f && c != '\\') buf[k++] = (char)c;
    else k += (size_t)snprintf(buf + k, cap - k, "\\x%02x", c);
  }
  buf[k] = 0;
  return buf;
}

static int load_vocab(Gpt2 *g, const char *path, const int cp_to_byte[324], DlmErr *err) {
  size_t len;
  char *text = file_read_all(path, GPT2_MAX_FILE, &len, err);
  if (!text) return -1;
  char jerr[160];
  JsonVal *root = json_parse(text, len, jerr, sizeof jerr);
  free(text);
  if (!root) { err_set(err, noloc, "%s: malformed JSON: %s", path, jerr); return -1; }
  int rc = -1;
  if (root->kind != JSON_OBJ) { err_set(err, noloc, "%s: expected a JSON object mapping tokens to ids", path); goto out; }
  int32_t maxid = -1;
  for (int i = 0; i < root->n; i++) {
    const JsonVal *v = root->items[i];
    char sb[200];
    if (v->kind != JSON_NUM || !v->is_int || v->ival < 0 || v->ival >= GPT2_MAX_ID) {
      err_set(err, noloc, "%s: token \"%s\": id must be an integer in [0, %d)", path,
              show(root->keys[i], root->keylens[i], sb, sizeof sb), GPT2_MAX_ID);
      goto out;
    }
    if (v->ival > maxid) maxid = (int32_t)v->ival;
  }
  if (maxid < 0) { err_set(err, noloc, "%s: empty vocabulary", path); goto out; }
  g->nvocab = maxid + 1;
  g->tok = calloc((size_t)g->nvocab, sizeof *g->tok);
  g->toklen = calloc((size_t)g->nvocab, sizeof *g->toklen);
  g->vcap = 1;
  while (g->vcap < 2 * (size_t)root->n) g->vcap *= 2;
  g->vmap = malloc(g->vcap * sizeof *g->vmap);
  if (!g->tok || !g->toklen || !g->vmap) { err_set(err, noloc, "%s: out of memory", path); goto out; }
  memset(g->vmap, 0xff, g->vcap * sizeof *g->vmap);
  for (int i = 0; i < root->n; i++) {
    int32_t id = (int32_t)root->items[i]->ival;
    char sb[200];
    const char *key = root->keys[i];
    size_t kl = root->keylens[i];
    if (g->tok[id]) {
      err_set(err, noloc, "%s: id %d is given to two tokens (\"%s\" and another)", path, (int)id, show(key, kl, sb, sizeof sb));
      goto out;
    }
    char *b = malloc(kl ? kl : 1);
    if (!b) { err_set(err, noloc, "%s: out of memory", path); goto out; }
    uint32_t bad = 0;
    long bl = token_to_bytes(key, kl, cp_to_byte, b, &bad);
    if (bl <= 0) {
      free(b);
      if (bl == 0) err_set(err, noloc, "%s: empty token for id %d", path, (int)id);
      else if (bad == UINT32_MAX) err_set(err, noloc, "%s: token for id %d is not valid UTF-8", path, (int)id);
      else err_set(err, noloc, "%s: token for id %d has character U+%04X outside GPT-2's byte alphabet", path, (int)id, (unsigned)bad);
      goto out;
    }
    g->tok[id] = b;
    g->toklen[id] = (uint32_t)bl;
    if (vocab_find(g, b, (size_t)bl) >= 0) {
      err_set(err, noloc, "%s: token \"%s\" appears twice", path, show(key, kl, sb, sizeof sb));
      goto out;
    }
    vocab_insert(g, id);
  }
  for (int b = 0; b < 256; b++) {
    char c = (char)b;
    g->byte_id[b] = vocab_find(g, &c, 1);
    if (g->byte_id[b] < 0) { err_set(err, noloc, "%s: no token for byte 0x%02x (a byte-level vocabulary needs all 256)", path, b); goto out; }
  }
  rc = 0;
out:
  json_free(root);
  return rc;
}

/* ---------------------------------------------------------------- merges */
static size_t pair_slot(const Gpt2 *g, int32_t a, int32_t b) {
  uint64_t key = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
  size_t mask = g->pcap - 1, i = mix64(key) & mask;
  while (g->pkey[i] && g->pkey[i] != key) i = (i + 1) & mask;
  return i;
}

static int32_t pair_rank(const Gpt2 *g, int32_t a, int32_t b, int32_t *merged) {
  size_t i = pair_slot(g, a, b);
  if (!g->pkey[i]) return -1;
  *merged = g->pmerged[i];
  return g->prank[i];
}

/* Look up one merge-file token (in the byte alphabet) as an id; -1 + err if not in the vocabulary. */
static int32_t merge_token(const Gpt2 *g, const char *s, size_t n, const int cp_to_byte[324], char *scratch,
                           const char *path, int line, const char *vpath, DlmErr *err) {
  uint32_t bad = 0;
  long bl = token_to_bytes(s, n, cp_to_byte, scratch, &bad);
  char sb[200];
  if (bl < 0) {
    if (bad == UINT32_MAX) err_set(err, noloc, "%s line %d: token is not valid UTF-8", path, line);
    else err_set(err, noloc, "%s line %d: character U+%04X is outside GPT-2's byte alphabet", path, line, (unsigned)bad);
    return -1;
  }
  int32_t id = vocab_find(g, scratch, (size_t)bl);
  if (id < 0) err_set(err, noloc, "%s line %d: token \"%s\" is not in %s", path, line, show(scratch, (size_t)bl, sb, sizeof sb), vpath);
  return id;
}

static int load_merges(Gpt2 *g, const char *path, const char *vpath, const int cp_to_byte[324], DlmErr *err) {
  size_t len;
  char *text = file_read_all(path, GPT2_MAX_FILE, &len, err);
  if (!text) return -1;
  int rc = -1;
  size_t nlines = 1;
  for (size_t i = 0; i < len; i++) nlines += text[i] == '\n';
  g->pcap = 1;
  while (g->pcap < 2 * nlines) g->pcap *= 2;
  g->pkey = calloc(g->pcap, sizeof *g->pkey);
  g->prank = malloc(g->pcap * sizeof *g->prank);
  g->pmerged = malloc(g->pcap * sizeof *g->pmerged);
  char *scratch = malloc(len + 1);
  if (!g->pkey || !g->prank || !g->pmerged || !scratch) { err_set(err, noloc, "%s: out of memory", path); goto out; }
  int32_t rank = 0;
  int line = 0;
  for (size_t pos = 0; pos < len;) {
    size_t end = pos;
    while (end < len && text[end] != '\n') end++;
    size_t next = end < len ? end + 1 : end;
    line++;
    if (end > pos && text[end - 1] == '\r') end--;
    const char *s = text + pos;
    size_t n = end - pos;
    pos = next;
    if (line == 1 && n >= 8 && memcmp(s, "#version", 8) == 0) continue;
    if (n == 0 && pos >= len) break; /* final newline */
    const char *sp = memchr(s, ' ', n);
    if (!sp || sp == s || sp == s + n - 1 || memchr(sp + 1, ' ', (size_t)(s + n - sp - 1))) {
      err_set(err, noloc, "%s line %d: expected two tokens separated by one space", path, line);
      goto out;
    }
    int32_t a = merge_token(g, s, (size_t)(sp - s), cp_to_byte, scratch, path, line, vpath, err);
    if (a < 0) goto out;
    int32_t b = merge_token(g, sp + 1, (size_t)(s + n - sp - 1), cp_to_byte, scratch, path, line, vpath, err);
    if (b < 0) goto out;
    size_t la = g->toklen[a], lb = g->toklen[b];
    memcpy(scratch, g->tok[a], la);
    memcpy(scratch + la, g->tok[b], lb);
    int32_t m = vocab_find(g, scratch, la + lb);
    char sb[200];
    if (m < 0) {
      err_set(err, noloc, "%s line %d: merge result \"%s\" is not in %s", path, line, show(scratch, la + lb, sb, sizeof sb), vpath);
      goto out;
    }
    size_t slot = pair_slot(g, a, b);
    if (g->pkey[slot]) { err_set(err, noloc, "%s line %d: duplicate merge", path, line); goto out; }
    g->pkey[slot] = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
    g->prank[slot] = rank++;
    g->pmerged[slot] = m;
  }
  rc = 0;
out:
  free(scratch);
  free(text);
  return rc;
}

/* ---------------------------------------------------------------- BPE with a cache */
/* GPT-2's loop (merge every occurrence of the lowest-ranked adjacent pair, left to right, then
 * look again) done in O(n log n) with a heap of candidate pairs ordered by (rank, position):
 * symbols form a linked list, a merged symbol keeps its left position, stale heap entries are
 * skipped when popped. All entries of one rank (one pair) are merged before the pairs that those
 * merges create enter the heap, exactly like one pass of the reference loop. */
typedef struct { int32_t rank, pos; } PairEnt;

static int ent_less(PairEnt a, PairEnt b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }

static void heap_push(PairEnt *h, size_t *n, PairEnt e) {
  size_t i = (*n)++;
  while (i > 0 && ent_less(e, h[(i - 1) / 2])) {
    h[i] = h[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h[i] = e;
}

static PairEnt heap_pop(PairEnt *h, size_t *n) {
  PairEnt top = h[0], last = h[--*n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && ent_less(h[c + 1], h[c])) c++;
    if (!ent_less(h[c], last)) break;
    h[i] = h[c];
    i = c;
  }
  if (*n) h[i] = last;
  return top;
}

/* Work space for pieces of n symbols: links 2n int32, pairs 5n entries (heap <= 3n: the initial
 * n - 1 pairs and at most two per merge; pending <= 2n). */
typedef struct { int32_t *nxt, *prv; PairEnt *heap, *pend; } BpeWork;

/* Merge sym[0..n) in place; returns the new length. */
static size_t bpe(const Gpt2 *g, int32_t *sym, size_t n, BpeWork *w) {
  int32_t *nxt = w->nxt, *prv = w->prv, m = -1;
  size_t nh = 0;
  for (size_t i = 0; i < n; i++) {
    nxt[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
    prv[i] = (int32_t)i - 1;
  }
  for (size_t i = 0; i + 1 < n; i++) {
    int32_t r = pair_rank(g, sym[i], sym[i + 1], &m);
    if (r >= 0) heap_push(w->heap, &nh, (PairEnt){r, (int32_t)i});
  }
  while (nh) {
    int32_t rank = w->heap[0].rank;
    size_t np = 0;
    while (nh && w->heap[0].rank == rank) {
      int32_t i = heap_pop(w->heap, &nh).pos, j = nxt[i];
      if (sym[i] < 0 || j < 0 || pair_rank(g, sym[i], sym[j], &m) != rank) continue; /* stale */
      sym[i] = m;
      sym[j] = -1;
      nxt[i] = nxt[j];
      if (nxt[j] >= 0) prv[nxt[j]] = i;
      int32_t r, unused;
      if (prv[i] >= 0 && (r = pair_rank(g, sym[prv[i]], m, &unused)) >= 0) w->pend[np++] = (PairEnt){r, prv[i]};
      if (nxt[i] >= 0 && (r = pair_rank(g, m, sym[nxt[i]], &unused)) >= 0) w->pend[np++] = (PairEnt){r, i};
    }
    for (size_t k = 0; k < np; k++) heap_push(w->heap, &nh, w->pend[k]);
  }
  size_t k = 0;
  for (int32_t i = 0; i >= 0; i = nxt[i]) sym[k++] = sym[i];
  return k;
}

static void cache_clear(Gpt2 *g) {
  memset(g->cache, 0, CACHE_SLOTS * sizeof *g->cache);
  g->cache_used = 0;
  g->ckeys_n = 0;
  g->cids_n = 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t nc = *cap ? *cap : 4096;
  while (nc < need) nc *= 2;
  void *np = realloc(*p, nc * elem);
  if (!np) return -1;
  *p = np;
  *cap = nc;
  return 0;
}

static int encode_piece(Gpt2 *g, const unsigned char *s, size_t n, TokIds *out) {
  uint64_t h = fnv1a(s, n);
  size_t slot = 0;
  if (n <= CACHE_MAX_PIECE) {
    size_t mask = CACHE_SLOTS - 1;
    slot = h & mask;
    while (g->cache[slot].used) {
      CacheSlot *c = &g->cache[slot];
      if (c->hash == h && c->key_len == n && memcmp(g->ckeys + c->key_off, s, n) == 0) {
        for (uint32_t k = 0; k < c->nids; k++)
          if (tokids_push(out, g->cids[c->ids_off + k]) != 0) return -1;
        return 0;
      }
      slot = (slot + 1) & mask;
    }
  }
  int32_t ints[3 * CACHE_MAX_PIECE], *sym = ints;
  PairEnt pairs[5 * CACHE_MAX_PIECE];
  BpeWork w = {ints + CACHE_MAX_PIECE, ints + 2 * CACHE_MAX_PIECE, pairs, pairs + 3 * CACHE_MAX_PIECE};
  void *big = NULL;
  if (n > CACHE_MAX_PIECE) {
    if (n > (size_t)INT32_MAX / 8) return -1;
    big = malloc(n * (3 * sizeof(int32_t) + 5 * sizeof(PairEnt)));
    if (!big) return -1;
    sym = big;
    w.nxt = sym + n;
    w.prv = sym + 2 * n;
    w.heap = (PairEnt *)(sym + 3 * n);
    w.pend = w.heap + 3 * n;
  }
  for (size_t i = 0; i < n; i++) sym[i] = g->byte_id[s[i]];
  size_t m = bpe(g, sym, n, &w);
  int rc = 0;
  for (size_t i = 0; i < m && rc == 0; i++) rc = tokids_push(out, sym[i]);
  if (n <= CACHE_MAX_PIECE && rc == 0) {
    if (g->cache_used >= CACHE_SLOTS / 2) {
      cache_clear(g);
      slot = h & (CACHE_SLOTS - 1);
    }
    if (grow((void **)&g->ckeys, &g->ckeys_cap, g->ckeys_n + n, 1) == 0 &&
        grow((void **)&g->cids, &g->cids_cap, g->cids_n + m, sizeof *g->cids) == 0) {
      CacheSlot *c = &g->cache[slot];
      c->used = 1;
      c->hash = h;
      c->key_off = (uint32_t)g->ckeys_n;
      c->key_len = (uint32_t)n;
      c->ids_off = (uint32_t)g->cids_n;
      c->nids = (uint32_t)m;
      memcpy(g->ckeys + g->ckeys_n, s, n);
      memcpy(g->cids + g->cids_n, sym, m * sizeof *sym);
      g->ckeys_n += n;
      g->cids_n += m;
      g->cache_used++;
    }
  }
  free(big);
  return rc;
}

/* ---------------------------------------------------------------- pre-tokenization */
enum { C_LETTER, C_NUMBER, C_SPACE, C_OTHER };

static int cls_at(const unsigned char *s, size_t n, size_t i, size_t *len) {
  uint32_t cp;
  *len = utf8_next(s, n, i, &cp);
  if (cp == UINT32_MAX) return C_OTHER;
  if (uc_is_letter(cp)) return C_LETTER;
  if (uc_is_number(cp)) return C_NUMBER;
  if (uc_is_space(cp)) return C_SPACE;
  return C_OTHER;
}

/* End of the run of characters of class k starting at i. */
static size_t run_end(const unsigned char *s, size_t n, size_t i, int k) {
  while (i < n) {
    size_t l;
    if (cls_at(s, n, i, &l) != k) break;
    i += l;
  }
  return i;
}

/* Length of the pre-token starting at s[i] (i < n), following the alternatives of GPT-2's pattern
 * in order. */
static size_t pretoken(const unsigned char *s, size_t n, size_t i) {
  if (s[i] == '\'' && i + 1 < n) {
    unsigned char a = s[i + 1], b = i + 2 < n ? s[i + 2] : 0;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  size_t l0, l1;
  int k0 = cls_at(s, n, i, &l0);
  if (s[i] == ' ' && i + 1 < n) {
    int k1 = cls_at(s, n, i + 1, &l1);
    if (k1 != C_SPACE) return run_end(s, n, i + 1, k1) - i;  /* ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+` */
  }
  if (k0 != C_SPACE) return run_end(s, n, i, k0) - i;
  /* \s+(?!\S) backtracks to leave the last white space character before a non-space; a single
   * white space character before a non-space is matched by the final \s+. */
  size_t j = i, last = i;
  while (j < n) {
    size_t l;
    if (cls_at(s, n, j, &l) != C_SPACE) break;
    last = j;
    j += l;
  }
  if (j < n && last > i) return last - i;
  return j - i;
}

static int gpt2_encode(Tokenizer *t, const char *text, size_t len, TokIds *out, DlmErr *err) {
  Gpt2 *g = (Gpt2 *)t;
  const unsigned char *s = (const unsigned char *)text;
  for (size_t i = 0; i < len;) {
    size_t l = pretoken(s, len, i);
    if (encode_piece(g, s + i, l, out) != 0) {
      err_set(err, noloc, "out of memory encoding %zu bytes", len);
      return -1;
    }
    i += l;
  }
  return 0;
}

static const char *gpt2_token_bytes(const Tokenizer *t, int32_t id, size_t *len) {
  const Gpt2 *g = (const Gpt2 *)t;
  if (!g->tok[id]) return NULL;
  *len = g->toklen[id];
  return g->tok[id];
}

static void gpt2_destroy(Tokenizer *t) {
  Gpt2 *g = (Gpt2 *)t;
  if (g->tok)
    for (int32_t i = 0; i < g->nvocab; i++) free(g->tok[i]);
  free(g->tok);
  free(g->toklen);
  free(g->vmap);
  free(g->pkey);
  free(g->prank);
  free(g->pmerged);
  free(g->cache);
  free(g->ckeys);
  free(g->cids);
  free(g);
}

static char *join(const char *dir, const char *file) {
  size_t n = strlen(dir) + strlen(file) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, file);
  return p;
}

static int readable(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  fclose(f);
  return 1;
}

Tokenizer *tok_gpt2_open(const char *dir, DlmErr *err) {
  char *vpath = join(dir, "encoder.json"), *mpath = join(dir, "vocab.bpe");
  if (vpath && mpath && !readable(vpath) && !readable(mpath)) {
    free(vpath);
    free(mpath);
    vpath = join(dir, "vocab.json");
    mpath = join(dir, "merges.txt");
    if (vpath && mpath && !readable(vpath) && !readable(mpath)) {
      err_set(err, noloc, "%s: no GPT-2 tokenizer files (expected encoder.json + vocab.bpe or vocab.json + merges.txt)", dir);
      free(vpath);
      free(mpath);
      return NULL;
    }
  }
  Gpt2 *g = calloc(1, sizeof *g);
  if (g) g->cache = calloc(CACHE_SLOTS, sizeof *g->cache);
  if (!vpath || !mpath || !g || !g->cache) {
    err_set(err, noloc, "%s: out of memory opening the GPT-2 tokenizer", dir);
    free(vpath);
    free(mpath);
    if (g) gpt2_destroy(&g->base);
    return NULL;
  }
  g->base.name = "gpt2";
  g->base.encode = gpt2_encode;
  g->base.token_bytes = gpt2_token_bytes;
  g->base.destroy = gpt2_destroy;
  uint32_t byte_to_cp[256];
  int cp_to_byte[324];
  byte_alphabet(byte_to_cp, cp_to_byte);
  const char *vname = strrchr(vpath, '/') + 1;
  if (load_vocab(g, vpath, cp_to_byte, err) != 0 || load_merges(g, mpath, vname, cp_to_byte, err) != 0) {
    free(vpath);
    free(mpath);
    gpt2_destroy(&g->base);
    return NULL;
  }
  free(vpath);
  free(mpath);
  g->base.vocab_size = g->nvocab;
  g->base.eot_id = vocab_find(g, "<|endoftext|>", 13);
  return &g->base;
}
