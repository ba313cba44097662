/* artifact.c — writing and validating .dlmc artifacts (see artifact.h). */
#include "artifact.h"
#include "autodiff.h"
#include "fileio.h"
#include "json_mini.h"
#include "passes.h"
#include <stdlib.h>
#include <string.h>

#define HDR_FIXED 16u
#define SEC_ENTRY 32u
static const SrcLoc noloc = {0, 0, 0};

uint32_t crc32_update(uint32_t crc, const void *data, size_t len) {
  static uint32_t table[256];
  static int ready;
  if (!ready) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    ready = 1;
  }
  const unsigned char *p = data;
  crc = ~crc;
  for (size_t i = 0; i < len; i++) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

int artifact_prepare(Module *m, DlmErr *e) {
  int added = ad_loss_grads(m, e);
  if (added <= 0) return added == 0;
  PassOptions po = {0};
  return pass_pipeline_run(m, &po, e);
}

static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint32_t get32(const unsigned char *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint64_t get64(const unsigned char *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

static char *module_text(const Module *m, size_t *len) {
  char *buf = NULL;
  FILE *f = open_memstream(&buf, len);
  if (!f) return NULL;
  ir_print(m, f);
  if (fclose(f) != 0) { free(buf); return NULL; }
  return buf;
}

static void meta_json(const Module *m, JsonBuf *b) {
  jbuf_puts(b, "{\"producer\": \"dlmc\", \"module\": ");
  json_put_string(b, m->name ? m->name : "", strlen(m->name ? m->name : ""));
  jbuf_puts(b, ", \"consts\": {");
  for (int i = 0; i < m->nmeta; i++) {
    if (i) jbuf_puts(b, ", ");
    json_put_string(b, m->meta_keys[i], strlen(m->meta_keys[i]));
    jbuf_puts(b, ": ");
    json_put_string(b, m->meta_vals[i], strlen(m->meta_vals[i]));
  }
  jbuf_puts(b, "}}\n");
}

void *artifact_encode(const Module *m, size_t *len, DlmErr *e) {
  size_t irlen = 0;
  char *ir = module_text(m, &irlen);
  JsonBuf meta = {0};
  meta_json(m, &meta);
  if (!ir || meta.oom) { free(ir); jbuf_free(&meta); err_set(e, noloc, "out of memory"); return NULL; }
  const unsigned nsec = 2;
  size_t hdr = HDR_FIXED + SEC_ENTRY * nsec;
  size_t total = hdr + irlen + meta.n;
  unsigned char *out = calloc(1, total);
  if (!out) { free(ir); jbuf_free(&meta); err_set(e, noloc, "out of memory"); return NULL; }
  memcpy(out, "DLMC", 4);
  put32(out + 4, ARTIFACT_VERSION);
  put32(out + 8, nsec);
  const void *data[2] = {ir, meta.p};
  size_t lens[2] = {irlen, meta.n};
  uint32_t kinds[2] = {ART_SEC_IR, ART_SEC_META};
  size_t off = hdr;
  for (unsigned i = 0; i < nsec; i++) {
    unsigned char *ent = out + HDR_FIXED + SEC_ENTRY * i;
    put32(ent, kinds[i]);
    put64(ent + 8, off);
    put64(ent + 16, lens[i]);
    put32(ent + 24, crc32_update(0, data[i], lens[i]));
    memcpy(out + off, data[i], lens[i]);
    off += lens[i];
  }
  put32(out + 12, crc32_update(0, out, hdr));
  free(ir);
  jbuf_free(&meta);
  *len = total;
  return out;
}

int artifact_write(const char *path, const Module *m, DlmErr *e) {
  size_t len;
  void *buf = artifact_encode(m, &len, e);
  if (!buf) return 0;
  int ok = file_write_atomic(path, buf, len, e) == 0;
  free(buf);
  return ok;
}

/* The consts recorded in the metadata must be exactly the module's. */
static int check_meta(const char *name, const char *text, size_t len, const Module *m, DlmErr *e) {
  char jerr[160];
  JsonVal *v = json_parse(text, len, jerr, sizeof jerr);
  if (!v) { err_set(e, noloc, "%s: metadata section is not valid JSON (%s)", name, jerr); return 0; }
  const JsonVal *consts = json_get(v, "consts");
  int ok = 0;
  if (v->kind != JSON_OBJ || !consts || consts->kind != JSON_OBJ) {
    err_set(e, noloc, "%s: metadata section lacks the \"consts\" object", name);
  } else if (consts->n != m->nmeta) {
    err_set(e, noloc, "%s: metadata lists %d consts but the IR has %d", name, consts->n, m->nmeta);
  } else {
    ok = 1;
    for (int i = 0; i < consts->n && ok; i++) {
      const char *irv = ir_meta_get(m, consts->keys[i]);
      if (consts->items[i]->kind != JSON_STR || !irv || strcmp(irv, consts->items[i]->str) != 0) {
        err_set(e, noloc, "%s: metadata const '%s' disagrees with the IR", name, consts->keys[i]);
        ok = 0;
      }
    }
  }
  json_free(v);
  return ok;
}

Module *artifact_decode(const char *name, const void *buf, size_t len, DlmErr *e) {
  const unsigned char *p = buf;
  if (len < HDR_FIXED) { err_set(e, noloc, "%s: truncated artifact (%zu bytes, the header needs %u)", name, len, HDR_FIXED); return NULL; }
  if (memcmp(p, "DLMC", 4) != 0) { err_set(e, noloc, "%s: not a dlmc artifact (bad magic)", name); return NULL; }
  uint32_t version = get32(p + 4), nsec = get32(p + 8);
  if (version != ARTIFACT_VERSION) {
    err_set(e, noloc, "%s: artifact version %u is not supported (this dlmrun reads version %u)", name, version, ARTIFACT_VERSION);
    return NULL;
  }
  if (nsec == 0 || nsec > ARTIFACT_MAX_SECTIONS) { err_set(e, noloc, "%s: bad section count %u", name, nsec); return NULL; }
  size_t hdr = HDR_FIXED + SEC_ENTRY * (size_t)nsec;
  if (len < hdr) { err_set(e, noloc, "%s: truncated artifact (%zu bytes, the section table needs %zu)", name, len, hdr); return NULL; }
  unsigned char *copy = malloc(hdr);
  if (!copy) { err_set(e, noloc, "out of memory"); return NULL; }
  memcpy(copy, p, hdr);
  put32(copy + 12, 0);
  uint32_t hcrc = crc32_update(0, copy, hdr);
  free(copy);
  if (hcrc != get32(p + 12)) { err_set(e, noloc, "%s: header checksum mismatch (the file is corrupted)", name); return NULL; }
  const unsigned char *ir = NULL, *meta = NULL;
  size_t irlen = 0, metalen = 0;
  uint64_t end = hdr;
  for (uint32_t i = 0; i < nsec; i++) {
    const unsigned char *ent = p + HDR_FIXED + SEC_ENTRY * i;
    uint32_t kind = get32(ent);
    uint64_t off = get64(ent + 8), n = get64(ent + 16);
    if (off < end || off > len || n > len - off) {
      err_set(e, noloc, "%s: section %u (kind %u) at [%llu, +%llu) is outside the file (%zu bytes) or overlaps another; "
              "the file is truncated or corrupted", name, i, kind, (unsigned long long)off, (unsigned long long)n, len);
      return NULL;
    }
    if (crc32_update(0, p + off, n) != get32(ent + 24)) {
      err_set(e, noloc, "%s: section %u (kind %u) checksum mismatch (the file is corrupted)", name, i, kind);
      return NULL;
    }
    end = off + n;
    if (kind == ART_SEC_IR || kind == ART_SEC_META) {
      if ((kind == ART_SEC_IR ? ir : meta) != NULL) { err_set(e, noloc, "%s: duplicate section of kind %u", name, kind); return NULL; }
      if (kind == ART_SEC_IR) { ir = p + off; irlen = n; } else { meta = p + off; metalen = n; }
    }
  }
  if (end != len) { err_set(e, noloc, "%s: %zu bytes after the last section (the file is corrupted)", name, len - (size_t)end); return NULL; }
  if (!ir || !meta) { err_set(e, noloc, "%s: the %s section is missing", name, ir ? "metadata" : "IR"); return NULL; }
  if (memchr(ir, 0, irlen)) { err_set(e, noloc, "%s: the IR section contains a NUL byte", name); return NULL; }
  char *text = malloc(irlen + 1);
  if (!text) { err_set(e, noloc, "out of memory"); return NULL; }
  memcpy(text, ir, irlen);
  text[irlen] = 0;
  DlmErr pe = {0};
  Module *m = ir_parse(text, name, &pe);
  free(text);
  if (!m) { err_set(e, noloc, "%s: IR section, line %d col %d: %s", name, pe.loc.line, pe.loc.col, pe.msg); return NULL; }
  if (!ir_verify(m, &pe)) { err_set(e, noloc, "%s: the IR does not verify: %s", name, pe.msg); ir_module_free(m); return NULL; }
  if (!check_meta(name, (const char *)meta, metalen, m, e)) { ir_module_free(m); return NULL; }
  return m;
}

Module *artifact_read(const char *path, DlmErr *e) {
  size_t len;
  char *buf = file_read_all(path, ARTIFACT_MAX_BYTES, &len, e);
  if (!buf) return NULL;
  Module *m = artifact_decode(path, buf, len, e);
  free(buf);
  return m;
}
