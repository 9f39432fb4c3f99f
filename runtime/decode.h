/*
** decode.h -- content decoding (Content-Encoding) of response bodies, done
** by lurl rather than libcurl so that memory stays bounded whatever the
** compression ratio: a decoder is fed what arrives and gives at most
** LURL_DECODE_STEP bytes per step; what it was handed and could not use yet
** is kept (at most one delivery of libcurl's) until the caller asks again.
** Knows neither Lua nor libcurl.
*/
#ifndef LURL_DECODE_H
#define LURL_DECODE_H

#include <stddef.h>

/* The codings lurl decodes (identity is dropped when parsed). */
enum lurl_coding { LURL_CODING_GZIP = 1, LURL_CODING_DEFLATE, LURL_CODING_BR, LURL_CODING_ZSTD };

/* At most this many codings stacked on one body (libcurl's limit too). */
#define LURL_MAX_CODINGS 5
/* Decoded bytes one step gives at most. */
#define LURL_DECODE_STEP 65536
/* The largest zstd window accepted: 2^23 = 8 MiB (RFC 9659 for HTTP). */
#define LURL_ZSTD_WINDOW_LOG 23

/* Adds the codings of one Content-Encoding value (a comma list, case
** insensitive; "identity" is skipped, "x-gzip" is gzip) to codes[*n].
** Returns 0; -1 for a coding lurl cannot decode or more than
** LURL_MAX_CODINGS, with the reason in why (at most whylen bytes). */
int lurl_codings_parse(const char *v, size_t len, unsigned char *codes, int *n, char *why,
                       size_t whylen);

/* The Accept-Encoding value of what lurl decodes. */
#define LURL_ACCEPT_ENCODING "deflate, gzip, br, zstd"

typedef struct lurl_decoder lurl_decoder;

/* A decoder for a body encoded with codes[0], then codes[1]... (the order
** of Content-Encoding); NULL when out of memory. */
lurl_decoder *lurl_decoder_new(const unsigned char *codes, int n);
void lurl_decoder_free(lurl_decoder *d);

/*
** One step: decodes what was kept from earlier calls, then in[0..len).
** *used: bytes of in consumed; *out, *made: up to LURL_DECODE_STEP decoded
** bytes (valid until the next call).  *made == 0 with all of in used means
** the decoder needs more input.  Returns 0, or -1 when the body is not
** what its Content-Encoding says (lurl_decoder_error says why).
*/
int lurl_decoder_step(lurl_decoder *d, const char *in, size_t len, size_t *used,
                      const char **out, size_t *made);
/* Keeps in[0..len) to be decoded by the next steps (which take it before
** any new input); 0, or -1 when out of memory. */
int lurl_decoder_keep(lurl_decoder *d, const char *in, size_t len);
/* Whether a step without new input could still give bytes. */
int lurl_decoder_pending(const lurl_decoder *d);
const char *lurl_decoder_error(const lurl_decoder *d);

#endif /* LURL_DECODE_H */
