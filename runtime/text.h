/*
** text.h -- pure-C text helpers of lurl: growable capped buffers, percent
** encoding, HTTP header block parsing and Link header parsing.
** Nothing here knows Lua or libcurl, so every function is unit-tested in
** spec/c/ by ctest.
*/
#ifndef LURL_TEXT_H
#define LURL_TEXT_H

#include <stddef.h>

/* A growable byte buffer with an optional size limit.
** Zero-initialise it (lurl_buf b = {0}) to get an empty, unlimited buffer.
** `data` is always NUL-terminated once anything has been added. */
/* A shared byte budget several buffers draw on (a limited state's memory
** cap, host.c): `used` counts what they hold, an allocation past `max`
** fails as LURL_BUF_NOMEM and sets `refused`.  Owned by whoever set it up,
** which must outlive every buffer pointing at it. */
typedef struct lurl_acct {
  size_t used, max;
  int refused;
} lurl_acct;

typedef struct lurl_buf {
  char *data;
  size_t len;    /* bytes in use (not counting the terminating NUL) */
  size_t cap;    /* bytes allocated */
  size_t limit;  /* 0 = no limit; otherwise len may never exceed it */
  lurl_acct *acct; /* NULL, or the budget its allocation counts against */
} lurl_buf;

#define LURL_BUF_OK 0
#define LURL_BUF_NOMEM (-1)   /* allocation failed; buffer unchanged */
#define LURL_BUF_LIMIT (-2)   /* would exceed limit; buffer unchanged */

/* Appends n bytes.  Returns LURL_BUF_OK, LURL_BUF_NOMEM or LURL_BUF_LIMIT.
** p must not point into b->data (growing may move it).  Even n == 0 leaves
** `data` allocated, so after any successful add it is a valid string. */
int lurl_buf_add(lurl_buf *b, const void *p, size_t n);
/* Appends a NUL-terminated string. */
int lurl_buf_adds(lurl_buf *b, const char *s);
/* Empties the buffer, keeping its allocation. */
void lurl_buf_reset(lurl_buf *b);
/* Frees the allocation and zeroes the buffer (limit and acct are kept). */
void lurl_buf_free(lurl_buf *b);

/* Percent-encodes n bytes of s onto b.  Unreserved bytes (ALPHA DIGIT - . _ ~)
** are kept; every other byte becomes %XX with upper-case hex digits.  When
** `form` is nonzero a space becomes '+' (application/x-www-form-urlencoded,
** as requests encodes params and form data).  Returns as lurl_buf_add; all or
** nothing: on LIMIT/NOMEM nothing of s has been appended. */
int lurl_buf_add_pct(lurl_buf *b, const char *s, size_t n, int form);

/* requests' requote_uri for an absolute URL: in its path, query and
** fragment (after "scheme://authority"), every byte that is neither an RFC
** 3986 reserved nor unreserved character (a space, a control, one of
** "<>\"\\^`{|}", any byte >= 0x80) becomes %XX, and a '%' that starts no
** %XX escape becomes %25; valid escapes and the authority stay as they are.
** lurl_url_needs_requote says whether that changes anything;
** lurl_url_requote appends the result to b (returns as lurl_buf_add). */
int lurl_url_needs_requote(const char *url);
int lurl_url_requote(lurl_buf *b, const char *url);

/* Is the URL an http or https one (any case) whose scheme is not followed
** by "//" and a host: "http:/h/x", "http:h", "http://", "http:///x",
** "http://?q"?  libcurl parses some of these leniently; requests refuses
** them ("No host supplied").  Other schemes and scheme-less text: 0. */
int lurl_url_lacks_host(const char *url);

/* Writes v in decimal, as Lua's tostring writes an integer ("%lld"), and
** a NUL into buf (LURL_INT_CHARS bytes at least); returns the length.  No
** printf: a number in a query or a header is formatted per request. */
#define LURL_INT_CHARS 21 /* "-9223372036854775808" and the NUL */
size_t lurl_fmt_int(char *buf, long long v);

/* Is (s, n) an RFC 9110 token (a method, a header or cookie name): one or
** more of ALPHA DIGIT !#$%&'*+-.^_`|~ -- no CR, LF, NUL, space or
** separator? */
int lurl_is_token(const char *s, size_t n);

static inline int lurl_is_hex(unsigned char c) {
  return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'f');
}

/* Whether byte i of the NUL-terminated s is one requoting escapes: not an
** RFC 3986 reserved or unreserved character (printable ASCII except
** "<>\"\\^`{|}"), or a '%' that starts no %XX escape.  Inline: request.c
** asks it of every byte of every plain URL. */
static inline int lurl_url_quotes(const char *s, size_t i) {
  unsigned char c = (unsigned char)s[i];
  if (c == '%') /* s[i + 2] is read only when s[i + 1] is a hex digit */
    return !(lurl_is_hex((unsigned char)s[i + 1]) && lurl_is_hex((unsigned char)s[i + 2]));
  return c <= 32 || c >= 127 || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' ||
         c == '`' || c == '{' || c == '|' || c == '}';
}

/* The parsed status line of one response. */
typedef struct lurl_status {
  int major, minor;          /* HTTP/1.1 -> 1,1; HTTP/2 -> 2,0 */
  int code;                  /* 200 */
  const char *reason;        /* points into the input; may be empty */
  size_t reason_len;
} lurl_status;

/* Parses "HTTP/1.1 200 OK\r\n" (the trailing CRLF or LF is optional and not
** part of the reason; "HTTP/2 200" has an empty reason).  Returns 0 on
** success, -1 when the line is not a status line. */
int lurl_parse_status(const char *line, size_t n, lurl_status *st);

/* One header field: name and value point into the parsed block; the value
** has leading and trailing spaces/tabs removed. */
typedef struct lurl_field {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} lurl_field;

/* Iterates the fields of a raw header block (lines separated by CRLF or LF,
** as libcurl hands them over: status line first, then fields, then an empty
** line).  Start with *pos = 0.  Each call skips the status line and any line
** without a colon, stores the next field in *f, advances *pos and returns 1;
** returns 0 at the end of the block.  Obsolete line folding (a line starting
** with a space or tab) is not merged: such a line is skipped.  Any status
** line (not only the first) and empty lines are skipped, so a block holding
** several responses yields all their fields; so are lines with an empty
** name.  Spaces/tabs between name and colon are not part of the name. */
int lurl_next_field(const char *blk, size_t n, size_t *pos, lurl_field *f);

/* Case-insensitive ASCII comparison of two byte ranges; returns 1 if equal. */
int lurl_ieq(const char *a, size_t an, const char *b, size_t bn);

/* One link of an RFC 8288 Link header value. */
typedef struct lurl_link {
  const char *url;           /* between < and >, points into the input */
  size_t url_len;
  const char *rel;           /* the rel parameter's value, quotes removed; */
  size_t rel_len;            /* NULL/0 when there is none; may hold several
                                space-separated relation types */
  const char *params;        /* the "; name=value" list after '>', up to */
  size_t params_len;         /* and including the comma that ends the link */
} lurl_link;

/* One parameter of a link: value NULL when there is no '='. */
typedef struct lurl_link_param {
  const char *name;
  size_t name_len;
  const char *value; /* quotes removed, escapes not undone */
  size_t value_len;
} lurl_link_param;

/* Iterates the parameters of l.params (start with *pos = 0 over
** l.params/l.params_len): returns 1 with the next one in *p, 0 at the end
** of the link, -1 when malformed (never for a span lurl_next_link gave). */
int lurl_next_link_param(const char *v, size_t n, size_t *pos, lurl_link_param *p);

/* Iterates the links of a Link header value such as
**   <https://x/?page=2>; rel="next", <https://x/?page=9>; rel=last
** Start with *pos = 0; each call stores the next link in *l and returns 1, or
** returns 0 at the end.  Commas inside <...> or inside quoted strings do not
** split links; malformed pieces are skipped.  Only the first rel counts; a
** quoted rel is given as written between the quotes (escapes not undone). */
int lurl_next_link(const char *v, size_t n, size_t *pos, lurl_link *l);

#endif /* LURL_TEXT_H */
