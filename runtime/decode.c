/*
** decode.c -- Content-Encoding decoders (gzip, deflate, br, zstd, stacked)
** with bounded output per step; see decode.h.
**
** Why here and not in libcurl: libcurl 7.88 decodes a whole delivery at
** once and keeps up to 64 MiB of decoded output per paused transfer, and
** opens zstd frames with windows up to 128 MiB.  Here every step gives at
** most LURL_DECODE_STEP bytes, so a streamed body stays one chunk whatever
** the ratio, and max_body is checked as the bytes come out.
**
** A stack ("gzip, br": gzip applied first) is a pipeline: stage 0 undoes the
** last coding listed and reads the body; stage k reads stage k-1's output
** from its own buffer (at most one step).  Bytes after the end of a coded
** stream are ignored, as libcurl did; a body cut short inside a coded stream
** is not an error (libcurl and urllib3 do the same; Content-Length and
** chunked framing catch a cut connection).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "decode.h"

typedef struct stage {
  unsigned char code;   /* enum lurl_coding */
  int started, ended;   /* the library is set up; its stream ended */
  int more;             /* the last call filled its output: it may have more */
  z_stream z;
  BrotliDecoderState *br;
  ZSTD_DCtx *zs;
  unsigned char hdr[2]; /* deflate: first two bytes, to tell zlib from raw */
  int hdr_n;
  char *buf;            /* stages > 0: the previous stage's output */
  size_t off, len;
} stage;

struct lurl_decoder {
  int n;
  stage st[LURL_MAX_CODINGS];
  char *kept;           /* input handed over and not used yet */
  size_t kept_off, kept_len, kept_cap;
  char out[LURL_DECODE_STEP];
  char err[160];
};

static const char *const coding_names[] = {"", "gzip", "deflate", "br", "zstd"};

int lurl_codings_parse(const char *v, size_t len, unsigned char *codes, int *n, char *why,
                       size_t whylen) {
  size_t i = 0;
  while (i < len) {
    while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    size_t s = i;
    while (i < len && v[i] != ',') i++;
    size_t e = i;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t' || v[e - 1] == '\r' || v[e - 1] == '\n'))
      e--;
    if (e == s) continue;
    size_t k = e - s;
    const char *w = v + s;
    unsigned char c = 0;
    if ((k == 4 && strncasecmp(w, "gzip", 4) == 0) || (k == 6 && strncasecmp(w, "x-gzip", 6) == 0))
      c = LURL_CODING_GZIP;
    else if (k == 7 && strncasecmp(w, "deflate", 7) == 0) c = LURL_CODING_DEFLATE;
    else if (k == 2 && strncasecmp(w, "br", 2) == 0) c = LURL_CODING_BR;
    else if (k == 4 && strncasecmp(w, "zstd", 4) == 0) c = LURL_CODING_ZSTD;
    else if (k == 8 && strncasecmp(w, "identity", 8) == 0) continue;
    if (!c) {
      snprintf(why, whylen, "unsupported content coding '%.*s'", (int)(k > 40 ? 40 : k), w);
      return -1;
    }
    if (*n >= LURL_MAX_CODINGS) {
      snprintf(why, whylen, "more than %d content codings", LURL_MAX_CODINGS);
      return -1;
    }
    codes[(*n)++] = c;
  }
  return 0;
}

lurl_decoder *lurl_decoder_new(const unsigned char *codes, int n) {
  if (n < 1 || n > LURL_MAX_CODINGS) return NULL;
  lurl_decoder *d = (lurl_decoder *)calloc(1, sizeof *d);
  if (!d) return NULL;
  d->n = n;
  for (int k = 0; k < n; k++) {
    d->st[k].code = codes[n - 1 - k]; /* the last coding applied comes off first */
    if (k > 0 && (d->st[k].buf = (char *)malloc(LURL_DECODE_STEP)) == NULL) {
      lurl_decoder_free(d);
      return NULL;
    }
  }
  return d;
}

void lurl_decoder_free(lurl_decoder *d) {
  if (!d) return;
  for (int k = 0; k < d->n; k++) {
    stage *s = &d->st[k];
    if (s->started && (s->code == LURL_CODING_GZIP || s->code == LURL_CODING_DEFLATE))
      inflateEnd(&s->z);
    if (s->br) BrotliDecoderDestroyInstance(s->br);
    if (s->zs) ZSTD_freeDCtx(s->zs);
    free(s->buf);
  }
  free(d->kept);
  free(d);
}

const char *lurl_decoder_error(const lurl_decoder *d) { return d->err; }

static int fail(lurl_decoder *d, const stage *s, const char *why) {
  snprintf(d->err, sizeof d->err, "cannot decode the %s body: %s", coding_names[s->code],
           why && *why ? why : "invalid data");
  return -1;
}

/* Sets up a stage's library on its first input.  Deflate waits for two
** bytes: a zlib header (RFC 1950) or raw deflate (RFC 1951), which servers
** also send as "deflate" and browsers accept. */
static int start(lurl_decoder *d, stage *s) {
  int rc = Z_OK;
  if (s->code == LURL_CODING_GZIP) {
    rc = inflateInit2(&s->z, 16 + MAX_WBITS);
  } else if (s->code == LURL_CODING_DEFLATE) {
    unsigned h = (unsigned)s->hdr[0] << 8 | s->hdr[1];
    int zlib = (s->hdr[0] & 0x0f) == Z_DEFLATED && (s->hdr[0] >> 4) <= 7 && h % 31 == 0;
    rc = inflateInit2(&s->z, zlib ? MAX_WBITS : -MAX_WBITS);
  } else if (s->code == LURL_CODING_BR) {
    if ((s->br = BrotliDecoderCreateInstance(NULL, NULL, NULL)) == NULL) rc = Z_MEM_ERROR;
  } else {
    s->zs = ZSTD_createDCtx();
    if (!s->zs) rc = Z_MEM_ERROR;
    else if (ZSTD_isError(ZSTD_DCtx_setParameter(s->zs, ZSTD_d_windowLogMax, LURL_ZSTD_WINDOW_LOG)))
      return fail(d, s, "cannot limit the zstd window");
  }
  if (rc == Z_MEM_ERROR) return fail(d, s, "out of memory");
  if (rc != Z_OK) return fail(d, s, s->z.msg);
  s->started = 1;
  return 0;
}

/* One zlib call: at most cap bytes out. */
static int run_zlib(lurl_decoder *d, stage *s, const char *in, size_t len, size_t *used,
                    char *out, size_t cap, size_t *made) {
  s->z.next_in = (Bytef *)(uintptr_t)in;
  s->z.avail_in = (uInt)(len > 0x40000000 ? 0x40000000 : len);
  s->z.next_out = (Bytef *)out;
  s->z.avail_out = (uInt)cap;
  int rc = inflate(&s->z, Z_NO_FLUSH);
  *used = (size_t)((const char *)s->z.next_in - in);
  *made = cap - s->z.avail_out;
  if (rc == Z_STREAM_END) s->ended = 1;
  else if (rc == Z_NEED_DICT) return fail(d, s, "a preset dictionary is needed");
  else if (rc == Z_MEM_ERROR) return fail(d, s, "out of memory");
  else if (rc != Z_OK && rc != Z_BUF_ERROR) return fail(d, s, s->z.msg);
  s->more = !s->ended && *made == cap;
  return 0;
}

/* One call of the stage's decoder on in[0..len) into out[0..cap). */
static int run_stage(lurl_decoder *d, stage *s, const char *in, size_t len, size_t *used,
                     char *out, size_t cap, size_t *made) {
  *used = *made = 0;
  if (s->ended) { /* bytes after the end of the coded stream: ignored */
    *used = len;
    return 0;
  }
  if (!s->started && s->code == LURL_CODING_DEFLATE) {
    while (s->hdr_n < 2 && *used < len) s->hdr[s->hdr_n++] = (unsigned char)in[(*used)++];
    if (s->hdr_n < 2) return 0;
    if (start(d, s) != 0) return -1;
    size_t u, m; /* the two bytes first: they give little or nothing */
    if (run_zlib(d, s, (const char *)s->hdr, 2, &u, out, cap, &m) != 0) return -1;
    *made = m;
    if (u < 2) return fail(d, s, "invalid data");
    return 0;
  }
  if (!s->started && start(d, s) != 0) return -1;
  if (s->code == LURL_CODING_GZIP || s->code == LURL_CODING_DEFLATE)
    return run_zlib(d, s, in, len, used, out, cap, made);
  if (s->code == LURL_CODING_BR) {
    const uint8_t *ni = (const uint8_t *)in;
    uint8_t *no = (uint8_t *)out;
    size_t ai = len, ao = cap;
    BrotliDecoderResult r = BrotliDecoderDecompressStream(s->br, &ai, &ni, &ao, &no, NULL);
    *used = len - ai;
    *made = cap - ao;
    if (r == BROTLI_DECODER_RESULT_ERROR) {
      char why[64];
      snprintf(why, sizeof why, "invalid data (%s)",
               BrotliDecoderErrorString(BrotliDecoderGetErrorCode(s->br)));
      return fail(d, s, why);
    }
    if (r == BROTLI_DECODER_RESULT_SUCCESS) s->ended = 1;
    s->more = r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT;
    return 0;
  }
  /* zstd: frames may follow one another; each is checked against the window cap */
  ZSTD_inBuffer ib = {in, len, 0};
  ZSTD_outBuffer ob = {out, cap, 0};
  size_t r = ZSTD_decompressStream(s->zs, &ob, &ib);
  *used = ib.pos;
  *made = ob.pos;
  if (ZSTD_isError(r)) {
    if (ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge)
      return fail(d, s, "its window is larger than 8 MiB (RFC 9659's limit for HTTP)");
    return fail(d, s, ZSTD_getErrorName(r));
  }
  s->more = ob.pos == cap;
  return 0;
}

/* Up to cap decoded bytes from stage k: stage 0 reads in[*in_used..len),
** later stages their buffer, refilled from the stage before. */
static int produce(lurl_decoder *d, int k, const char *in, size_t len, size_t *in_used,
                   char *out, size_t cap, size_t *made) {
  stage *s = &d->st[k];
  *made = 0;
  for (;;) {
    const char *src = k == 0 ? in + *in_used : s->buf + s->off;
    size_t n = k == 0 ? len - *in_used : s->len - s->off;
    if (n > 0 || s->more) {
      size_t u, m;
      if (run_stage(d, s, src, n, &u, out, cap, &m) != 0) return -1;
      if (k == 0) *in_used += u;
      else s->off += u;
      if (m > 0) {
        *made = m;
        return 0;
      }
      if (u > 0) continue;
      if (n > 0) return fail(d, s, "the decoder made no progress");
      s->more = 0; /* nothing came of it: it needs input */
    }
    if (k == 0) return 0;
    size_t got;
    if (produce(d, k - 1, in, len, in_used, s->buf, LURL_DECODE_STEP, &got) != 0) return -1;
    if (got == 0) return 0;
    s->off = 0, s->len = got;
  }
}

int lurl_decoder_step(lurl_decoder *d, const char *in, size_t len, size_t *used,
                      const char **out, size_t *made) {
  *used = *made = 0;
  *out = d->out;
  if (d->kept_off < d->kept_len) { /* what was kept comes first */
    size_t ku = 0;
    int rc = produce(d, d->n - 1, d->kept + d->kept_off, d->kept_len - d->kept_off, &ku, d->out,
                     sizeof d->out, made);
    d->kept_off += ku;
    if (d->kept_off == d->kept_len) d->kept_off = d->kept_len = 0;
    if (rc != 0 || *made > 0 || d->kept_len > 0) return rc;
  }
  return produce(d, d->n - 1, in, len, used, d->out, sizeof d->out, made);
}

int lurl_decoder_keep(lurl_decoder *d, const char *in, size_t len) {
  if (len == 0) return 0;
  if (d->kept_off > 0) { /* move what is left to the front */
    memmove(d->kept, d->kept + d->kept_off, d->kept_len - d->kept_off);
    d->kept_len -= d->kept_off;
    d->kept_off = 0;
  }
  if (d->kept_len + len > d->kept_cap) {
    size_t cap = d->kept_len + len;
    char *p = (char *)realloc(d->kept, cap);
    if (!p) return -1;
    d->kept = p, d->kept_cap = cap;
  }
  memcpy(d->kept + d->kept_len, in, len);
  d->kept_len += len;
  return 0;
}

int lurl_decoder_pending(const lurl_decoder *d) {
  if (d->kept_off < d->kept_len) return 1;
  for (int k = 0; k < d->n; k++)
    if (d->st[k].more || d->st[k].off < d->st[k].len) return 1;
  return 0;
}
