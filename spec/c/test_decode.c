/*
** test_decode.c -- unit tests for runtime/decode.c (run by ctest as
** c_decode): every coding and stacks round-trip whatever the input split
** (one byte at a time too), no step gives more than LURL_DECODE_STEP, a
** bomb decodes in bounded steps with the rest kept back, bad data and the
** zstd window cap fail with a reason.  Bodies are compressed here with
** zlib, brotli's encoder and zstd.  The last line is "N passed, N failed".
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include "decode.h"

static int passed, failed;

#define CHECK(cond)                                                  \
  do {                                                               \
    if (cond) {                                                      \
      passed++;                                                      \
    } else {                                                         \
      failed++;                                                      \
      printf("%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                \
  } while (0)

typedef struct bytes {
  unsigned char *p;
  size_t n;
} bytes;

/* zlib: wbits 31 gzip, 15 zlib, -15 raw deflate. */
static bytes zlib_encode(const unsigned char *in, size_t n, int wbits) {
  z_stream z;
  memset(&z, 0, sizeof z);
  deflateInit2(&z, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY);
  bytes out = {malloc(deflateBound(&z, n) + 64), 0};
  z.next_in = (Bytef *)(uintptr_t)in;
  z.avail_in = (uInt)n;
  z.next_out = out.p;
  z.avail_out = (uInt)(deflateBound(&z, n) + 64);
  deflate(&z, Z_FINISH);
  out.n = z.total_out;
  deflateEnd(&z);
  return out;
}

static bytes br_encode(const unsigned char *in, size_t n) {
  size_t cap = BrotliEncoderMaxCompressedSize(n) + 64;
  bytes out = {malloc(cap), cap};
  BrotliEncoderCompress(5, 22, BROTLI_MODE_GENERIC, n, in, &out.n, out.p);
  return out;
}

static bytes zstd_encode(const unsigned char *in, size_t n, int wlog) {
  size_t cap = ZSTD_compressBound(n);
  bytes out = {malloc(cap), 0};
  ZSTD_CCtx *c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, wlog);
  ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0); /* a window, not one segment */
  out.n = ZSTD_compress2(c, out.p, cap, in, n);
  ZSTD_freeCCtx(c);
  return out;
}

/* Decodes in (split into pieces of `piece` bytes) with codes; returns the
** output (caller frees) in *out, -1 on a decoding error.  Checks that no
** step gives more than LURL_DECODE_STEP. */
static int decode_all(const unsigned char *codes, int nc, const bytes *in, size_t piece,
                      bytes *out, char *why) {
  lurl_decoder *d = lurl_decoder_new(codes, nc);
  size_t cap = 1 << 20;
  *out = (bytes){malloc(cap), 0};
  int rc = 0;
  for (size_t off = 0; off < in->n && rc == 0;) {
    size_t len = in->n - off < piece ? in->n - off : piece;
    const char *p = (const char *)in->p + off;
    off += len;
    for (;;) {
      size_t used, made;
      const char *o;
      if ((rc = lurl_decoder_step(d, p, len, &used, &o, &made)) != 0) break;
      CHECK(made <= LURL_DECODE_STEP);
      if (out->n + made > cap) out->p = realloc(out->p, cap = 2 * (out->n + made));
      memcpy(out->p + out->n, o, made);
      out->n += made, p += used, len -= used;
      if (made == 0 && len == 0) break;
    }
  }
  if (rc != 0 && why) snprintf(why, 160, "%s", lurl_decoder_error(d));
  lurl_decoder_free(d);
  return rc;
}

static unsigned char *text(size_t n) {
  unsigned char *t = malloc(n);
  for (size_t i = 0; i < n; i++) t[i] = (unsigned char)("lurl decodes this "[i % 18] + (i / 977) % 7);
  return t;
}

static void test_round_trips(void) {
  size_t n = 300000;
  unsigned char *t = text(n);
  bytes gz = zlib_encode(t, n, 31), zl = zlib_encode(t, n, 15), raw = zlib_encode(t, n, -15);
  bytes br = br_encode(t, n), zs = zstd_encode(t, n, 20);
  struct { unsigned char code; bytes *b; } one[] = {
    {LURL_CODING_GZIP, &gz}, {LURL_CODING_DEFLATE, &zl}, {LURL_CODING_DEFLATE, &raw},
    {LURL_CODING_BR, &br}, {LURL_CODING_ZSTD, &zs}};
  size_t pieces[] = {1, 7, 65536, (size_t)-1};
  for (size_t i = 0; i < sizeof one / sizeof one[0]; i++)
    for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
      bytes out;
      CHECK(decode_all(&one[i].code, 1, one[i].b, pieces[k], &out, NULL) == 0);
      CHECK(out.n == n && memcmp(out.p, t, n) == 0);
      free(out.p);
    }
  /* "gzip, br": gzip first, then br over it */
  bytes gzbr = br_encode(gz.p, gz.n);
  unsigned char stack[] = {LURL_CODING_GZIP, LURL_CODING_BR};
  for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
    bytes out;
    CHECK(decode_all(stack, 2, &gzbr, pieces[k], &out, NULL) == 0);
    CHECK(out.n == n && memcmp(out.p, t, n) == 0);
    free(out.p);
  }
  /* bytes after the end of a gzip stream are ignored */
  bytes tail = {malloc(gz.n + 5), gz.n + 5};
  memcpy(tail.p, gz.p, gz.n);
  memcpy(tail.p + gz.n, "junk!", 5);
  bytes out;
  CHECK(decode_all(&one[0].code, 1, &tail, 4096, &out, NULL) == 0 && out.n == n);
  free(out.p);
  free(tail.p);
  free(gzbr.p), free(gz.p), free(zl.p), free(raw.p), free(br.p), free(zs.p), free(t);
}

/* 64 MiB of zeros: every step bounded; stopping after each step and
** keeping the rest (as a paused stream does) still gives every byte. */
static void test_bomb(void) {
  size_t n = (size_t)64 << 20;
  unsigned char *z = calloc(1, n);
  bytes gz = zlib_encode(z, n, 31), zs = zstd_encode(z, n, 23), br = br_encode(z, n);
  bytes gzbr = br_encode(gz.p, gz.n);
  free(z);
  struct { unsigned char codes[2]; int nc; bytes *b; } cases[] = {
    {{LURL_CODING_GZIP}, 1, &gz}, {{LURL_CODING_ZSTD}, 1, &zs}, {{LURL_CODING_BR}, 1, &br},
    {{LURL_CODING_GZIP, LURL_CODING_BR}, 2, &gzbr}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    lurl_decoder *d = lurl_decoder_new(cases[i].codes, cases[i].nc);
    size_t total = 0, steps = 0, used, made;
    const char *o;
    int nonzero = 0;
    /* one step on the whole body, then the rest is kept */
    CHECK(lurl_decoder_step(d, (const char *)cases[i].b->p, cases[i].b->n, &used, &o, &made) == 0);
    CHECK(made > 0 && made <= LURL_DECODE_STEP);
    total += made;
    CHECK(lurl_decoder_keep(d, (const char *)cases[i].b->p + used, cases[i].b->n - used) == 0);
    while (lurl_decoder_pending(d)) {
      CHECK(lurl_decoder_step(d, "", 0, &used, &o, &made) == 0);
      if (made > LURL_DECODE_STEP) failed++;
      for (size_t k = 0; k < made; k++) nonzero |= o[k];
      total += made, steps++;
      if (made == 0) break;
    }
    CHECK(total == n);
    CHECK(!nonzero);
    CHECK(steps >= n / LURL_DECODE_STEP - 1);
    lurl_decoder_free(d);
  }
  free(gz.p), free(zs.p), free(br.p), free(gzbr.p);
}

static void test_errors(void) {
  bytes junk = {(unsigned char *)"this is not compressed at all", 29};
  char why[160];
  bytes out;
  unsigned char c;
  c = LURL_CODING_GZIP;
  CHECK(decode_all(&c, 1, &junk, 1000, &out, why) == -1);
  CHECK(strstr(why, "cannot decode the gzip body") != NULL);
  free(out.p);
  c = LURL_CODING_BR;
  CHECK(decode_all(&c, 1, &junk, 1000, &out, why) == -1);
  CHECK(strstr(why, "cannot decode the br body: invalid data") != NULL);
  free(out.p);
  c = LURL_CODING_ZSTD;
  CHECK(decode_all(&c, 1, &junk, 1000, &out, why) == -1);
  CHECK(strstr(why, "cannot decode the zstd body") != NULL);
  free(out.p);
  /* a zstd window of 16 MiB is refused, 8 MiB accepted */
  size_t n = (size_t)20 << 20;
  unsigned char *t = text(n);
  bytes big = zstd_encode(t, n, 24), ok = zstd_encode(t, n, 23);
  CHECK(decode_all(&c, 1, &big, 65536, &out, why) == -1);
  CHECK(strstr(why, "larger than 8 MiB") != NULL);
  free(out.p);
  CHECK(decode_all(&c, 1, &ok, 65536, &out, why) == 0 && out.n == n);
  free(out.p), free(big.p), free(ok.p), free(t);
}

static void test_parse(void) {
  unsigned char codes[LURL_MAX_CODINGS];
  int n = 0;
  char why[96];
  CHECK(lurl_codings_parse(" gzip, BR\r\n", 11, codes, &n, why, sizeof why) == 0);
  CHECK(n == 2 && codes[0] == LURL_CODING_GZIP && codes[1] == LURL_CODING_BR);
  n = 0;
  CHECK(lurl_codings_parse("identity", 8, codes, &n, why, sizeof why) == 0 && n == 0);
  CHECK(lurl_codings_parse("x-gzip,,zstd , deflate", 22, codes, &n, why, sizeof why) == 0);
  CHECK(n == 3 && codes[0] == LURL_CODING_GZIP && codes[2] == LURL_CODING_DEFLATE);
  n = 0;
  CHECK(lurl_codings_parse("compress", 8, codes, &n, why, sizeof why) == -1);
  CHECK(strcmp(why, "unsupported content coding 'compress'") == 0);
  n = 0;
  CHECK(lurl_codings_parse("gzip,gzip,gzip,gzip,gzip,gzip", 29, codes, &n, why, sizeof why) == -1);
  CHECK(strcmp(why, "more than 5 content codings") == 0);
}

int main(void) {
  test_parse();
  test_round_trips();
  test_bomb();
  test_errors();
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
