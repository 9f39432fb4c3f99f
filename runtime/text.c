/*
** text.c -- pure-C text helpers of lurl (see text.h for the contracts).
**
** Everything here works on byte ranges (pointer + length) rather than C
** strings, because HTTP data may hold NUL bytes and libcurl hands headers
** over without terminators.  Parsers never allocate: results point into the
** caller's input.  Only lurl_buf allocates, and it never aborts.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

#define MIN_CAP 256 /* a response head or small body in one allocation */

static int is_ows(char c) { return c == ' ' || c == '\t'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 9110 tchar: what a parameter name (token) may be made of. */
static int is_tchar(char c) {
  return is_alpha(c) || is_digit(c) ||
         (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* ------------------------------------------------------------------ */
/* Buffers                                                             */
/* ------------------------------------------------------------------ */

/*
** Makes room for `extra` more bytes plus the NUL, without changing len.
** Returns LURL_BUF_LIMIT if len + extra would pass the limit, or
** LURL_BUF_NOMEM on size overflow / allocation failure; in both cases the
** buffer is untouched.  Always leaves `data` allocated on success, so even a
** zero-byte add yields a valid "" string.
*/
static int buf_reserve(lurl_buf *b, size_t extra) {
  /* Written as subtractions so that no sum can wrap around. */
  if (b->limit && (b->len > b->limit || extra > b->limit - b->len))
    return LURL_BUF_LIMIT;
  if (extra > SIZE_MAX - 1 - b->len) return LURL_BUF_NOMEM;
  size_t need = b->len + extra + 1;
  if (b->data && need <= b->cap) return LURL_BUF_OK;
  size_t cap = b->cap ? b->cap : MIN_CAP;
  while (cap < need) /* doubling keeps appends amortised O(1) */
    cap = (cap > SIZE_MAX / 2) ? need : cap * 2;
  /* Never allocate more than the limit can ever use (limit + NUL). */
  if (b->limit && b->limit < SIZE_MAX && cap > b->limit + 1) cap = b->limit + 1;
  lurl_acct *a = b->acct;
  if (a && a->max && cap > b->cap && cap - b->cap > a->max - (a->used < a->max ? a->used : a->max)) {
    a->refused = 1; /* over the shared budget: as if malloc had failed */
    return LURL_BUF_NOMEM;
  }
  char *p = realloc(b->data, cap);
  if (!p) return LURL_BUF_NOMEM; /* realloc left the old block intact */
  if (a) a->used = a->used - b->cap + cap;
  if (!b->data) p[0] = '\0';
  b->data = p;
  b->cap = cap;
  return LURL_BUF_OK;
}

/* `p` must not point into b->data: growing may move the block. */
int lurl_buf_add(lurl_buf *b, const void *p, size_t n) {
  int r = buf_reserve(b, n);
  if (r != LURL_BUF_OK) return r;
  if (n) memcpy(b->data + b->len, p, n); /* memcpy(NULL, 0) is UB */
  b->len += n;
  b->data[b->len] = '\0';
  return LURL_BUF_OK;
}

int lurl_buf_adds(lurl_buf *b, const char *s) {
  return lurl_buf_add(b, s, strlen(s));
}

void lurl_buf_reset(lurl_buf *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

void lurl_buf_free(lurl_buf *b) {
  if (b->acct && b->data) b->acct->used -= b->cap;
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

static int is_unreserved(unsigned char c) {
  return is_alpha((char)c) || is_digit((char)c) || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

/*
** Percent-encodes s[0..n) onto b.  All or nothing: the encoded size is
** computed first so that a LIMIT/NOMEM failure leaves b unchanged, exactly
** like lurl_buf_add.
*/
size_t lurl_fmt_int(char *buf, long long v) {
  char tmp[LURL_INT_CHARS];
  /* the magnitude as unsigned: -LLONG_MIN does not fit a long long */
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  size_t n = 0, len = 0;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) buf[len++] = '-';
  while (n) buf[len++] = tmp[--n];
  buf[len] = '\0';
  return len;
}

int lurl_buf_add_pct(lurl_buf *b, const char *s, size_t n, int form) {
  static const char hex[] = "0123456789ABCDEF";
  size_t out = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    size_t w = (is_unreserved(c) || (form && c == ' ')) ? 1 : 3;
    if (out > SIZE_MAX - w) return LURL_BUF_NOMEM;
    out += w;
  }
  int r = buf_reserve(b, out);
  if (r != LURL_BUF_OK) return r;
  char *d = b->data + b->len;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (is_unreserved(c)) {
      *d++ = (char)c;
    } else if (form && c == ' ') {
      *d++ = '+';
    } else {
      *d++ = '%';
      *d++ = hex[c >> 4];
      *d++ = hex[c & 15];
    }
  }
  b->len += out;
  b->data[b->len] = '\0';
  return LURL_BUF_OK;
}

/* Where the path of an absolute URL starts (after "scheme://authority"),
** or NULL when the URL has no "://". */
static const char *url_path(const char *url) {
  const char *p = strstr(url, "://");
  return p ? p + 3 + strcspn(p + 3, "/?#") : NULL;
}

int lurl_url_needs_requote(const char *url) {
  const char *p = url_path(url);
  if (!p) return 0;
  for (size_t i = 0; p[i]; i++)
    if (lurl_url_quotes(p, i)) return 1;
  return 0;
}

int lurl_url_requote(lurl_buf *b, const char *url) {
  static const char hex[] = "0123456789ABCDEF";
  const char *p = url_path(url);
  size_t head = p ? (size_t)(p - url) : strlen(url);
  int rc = lurl_buf_add(b, url, head);
  if (rc != LURL_BUF_OK || !p) return rc;
  for (size_t i = 0; p[i] && rc == LURL_BUF_OK; i++) {
    if (!lurl_url_quotes(p, i)) {
      rc = lurl_buf_add(b, p + i, 1);
    } else {
      unsigned char c = (unsigned char)p[i];
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      rc = lurl_buf_add(b, e, 3);
    }
  }
  return rc;
}

int lurl_url_lacks_host(const char *url) {
  size_t n = 0;
  while (is_alpha(url[n])) n++;
  if (url[n] != ':' || (n != 4 && n != 5) || !lurl_ieq(url, 4, "http", 4) ||
      (n == 5 && (url[4] | 32) != 's'))
    return 0;
  return url[n + 1] != '/' || url[n + 2] != '/' || url[n + 3] == '\0' ||
         url[n + 3] == '/' || url[n + 3] == '?' || url[n + 3] == '#';
}

int lurl_is_token(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (!is_tchar(s[i])) return 0;
  return 1;
}

/* ------------------------------------------------------------------ */
/* Status lines and header blocks                                      */
/* ------------------------------------------------------------------ */

/*
** Accepts  "HTTP/" DIGIT ["." DIGIT] SP+ 3DIGIT [SP reason] [CR] [LF].
** The reason runs from after the single SP following the code up to the
** first CR or LF (or n); anything after that line end is ignored.  A code
** followed directly by a non-space ("200x", "2000") is rejected.
*/
int lurl_parse_status(const char *line, size_t n, lurl_status *st) {
  size_t i = 5;
  if (n < 5 || memcmp(line, "HTTP/", 5) != 0) return -1;
  if (i >= n || !is_digit(line[i])) return -1;
  int major = line[i++] - '0', minor = 0;
  if (i < n && line[i] == '.') {
    if (++i >= n || !is_digit(line[i])) return -1;
    minor = line[i++] - '0';
  }
  if (i >= n || line[i] != ' ') return -1;
  while (i < n && line[i] == ' ') i++;
  if (n - i < 3 || !is_digit(line[i]) || !is_digit(line[i + 1]) ||
      !is_digit(line[i + 2]))
    return -1;
  int code = (line[i] - '0') * 100 + (line[i + 1] - '0') * 10 +
             (line[i + 2] - '0');
  i += 3;
  if (i < n && line[i] != ' ' && line[i] != '\r' && line[i] != '\n') return -1;
  if (i < n && line[i] == ' ') i++;
  size_t start = i;
  while (i < n && line[i] != '\r' && line[i] != '\n') i++;
  st->major = major;
  st->minor = minor;
  st->code = code;
  st->reason = line + start;
  st->reason_len = i - start;
  return 0;
}

/*
** Walks the block line by line from *pos.  A line is skipped when it is a
** status line (recognised by lurl_parse_status, not by position, so blocks
** holding several responses -- 100 Continue, redirects -- work too), is
** empty, starts with SP/HT (obsolete folding), has no colon, or has an
** empty name.  Trailing SP/HT before the colon is not part of the name.
** *pos ends up at the start of the line after the returned field.
*/
int lurl_next_field(const char *blk, size_t n, size_t *pos, lurl_field *f) {
  size_t i = *pos;
  while (i < n) {
    size_t start = i;
    const char *nl = memchr(blk + i, '\n', n - i);
    size_t end = nl ? (size_t)(nl - blk) : n;
    i = nl ? end + 1 : n;
    if (end > start && blk[end - 1] == '\r') end--; /* CRLF or bare LF */
    if (end == start || is_ows(blk[start])) continue;
    lurl_status st;
    if (lurl_parse_status(blk + start, end - start, &st) == 0) continue;
    const char *colon = memchr(blk + start, ':', end - start);
    if (!colon) continue;
    size_t ne = (size_t)(colon - blk);
    while (ne > start && is_ows(blk[ne - 1])) ne--;
    if (ne == start) continue;
    size_t vs = (size_t)(colon - blk) + 1, ve = end;
    while (vs < ve && is_ows(blk[vs])) vs++;
    while (ve > vs && is_ows(blk[ve - 1])) ve--;
    f->name = blk + start;
    f->name_len = ne - start;
    f->value = blk + vs;
    f->value_len = ve - vs;
    *pos = i;
    return 1;
  }
  *pos = n > *pos ? n : *pos;
  return 0;
}

int lurl_ieq(const char *a, size_t an, const char *b, size_t bn) {
  if (an != bn) return 0;
  for (size_t i = 0; i < an; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    /* ASCII-only folding: locale-dependent tolower() has no place in HTTP. */
    if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
    if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
    if (x != y) return 0;
  }
  return 1;
}

/* ------------------------------------------------------------------ */
/* Link headers (RFC 8288)                                             */
/* ------------------------------------------------------------------ */

static size_t skip_ows(const char *v, size_t n, size_t i) {
  while (i < n && is_ows(v[i])) i++;
  return i;
}

/*
** From i, skips to just past the next comma that is outside <...> and
** outside a quoted string (honouring backslash escapes), or to n.  Used to
** drop a malformed link without losing the ones after it.
*/
static size_t skip_piece(const char *v, size_t n, size_t i) {
  while (i < n && v[i] != ',') {
    if (v[i] == '<') {
      const char *gt = memchr(v + i, '>', n - i);
      i = gt ? (size_t)(gt - v) + 1 : n;
    } else if (v[i] == '"') {
      for (i++; i < n && v[i] != '"'; i++)
        if (v[i] == '\\') i++;
      i = i < n ? i + 1 : n;
    } else {
      i++;
    }
  }
  return i < n ? i + 1 : n;
}

/*
** One parameter of a link's "; name[=value]" list, from *pos.  Empty
** parameters (";;" or a trailing ';') are skipped.  A quoted value is given
** as it appears between the quotes: escapes are not undone, since the
** result must point into the input.  Each byte is looked at once or twice.
*/
int lurl_next_link_param(const char *v, size_t n, size_t *pos, lurl_link_param *p) {
  size_t i = *pos;
  for (;;) {
    i = skip_ows(v, n, i);
    if (i >= n) { *pos = n; return 0; }
    if (v[i] == ',') { *pos = i + 1; return 0; }
    if (v[i] != ';') return -1;
    i = skip_ows(v, n, i + 1);
    if (i >= n || v[i] == ',' || v[i] == ';') continue;
    break;
  }
  size_t ns = i;
  while (i < n && is_tchar(v[i])) i++;
  if (i == ns) return -1;
  p->name = v + ns;
  p->name_len = i - ns;
  p->value = NULL;
  p->value_len = 0;
  i = skip_ows(v, n, i);
  if (i < n && v[i] == '=') {
    i = skip_ows(v, n, i + 1);
    if (i < n && v[i] == '"') {
      size_t vs = ++i;
      while (i < n && v[i] != '"') i += (v[i] == '\\') ? 2 : 1;
      if (i >= n) return -1; /* unterminated quoted string */
      p->value = v + vs;
      p->value_len = i - vs;
      i++;
    } else {
      /* Lenient: unquoted values such as anchor=http://x are not tokens. */
      size_t vs = i;
      while (i < n && !is_ows(v[i]) && v[i] != ';' && v[i] != ',') i++;
      p->value = v + vs;
      p->value_len = i - vs;
    }
  }
  *pos = i;
  return 1;
}

/*
** Parses the parameters after "<url>" starting at i, up to the comma that
** ends the link (or n).  On success stores the first rel (later ones are
** ignored, as RFC 8288 section 3.3 asks) and the span of the parameters,
** and returns the index just past the link; returns (size_t)-1 if the
** parameters are malformed.
*/
static size_t parse_params(const char *v, size_t n, size_t i, lurl_link *l) {
  lurl_link_param p;
  int r;
  l->params = v + i;
  while ((r = lurl_next_link_param(v, n, &i, &p)) == 1) {
    if (!l->rel && p.value && lurl_ieq(p.name, p.name_len, "rel", 3)) {
      l->rel = p.value;
      l->rel_len = p.value_len;
    }
  }
  if (r < 0) return (size_t)-1;
  l->params_len = (size_t)(v + i - l->params);
  return i;
}

/*
** Link values are separated by commas; empty elements (", ,") are skipped
** as RFC 9110's list rules allow.  A piece is malformed -- and skipped up to
** the next top-level comma -- when it does not start with '<', or its
** parameters are not ';'-separated name[=value] pairs.  An unclosed '<'
** ends the iteration.  `<>` yields an empty URL; rel="" yields rel non-NULL
** with rel_len 0.
*/
int lurl_next_link(const char *v, size_t n, size_t *pos, lurl_link *l) {
  size_t i = *pos;
  while (i < n) {
    while (i < n && (is_ows(v[i]) || v[i] == ',')) i++;
    if (i >= n) break;
    if (v[i] != '<') {
      i = skip_piece(v, n, i);
      continue;
    }
    const char *gt = memchr(v + i, '>', n - i);
    if (!gt) break;
    lurl_link cur = {v + i + 1, (size_t)(gt - v) - i - 1, NULL, 0, NULL, 0};
    size_t next = parse_params(v, n, (size_t)(gt - v) + 1, &cur);
    if (next == (size_t)-1) {
      i = skip_piece(v, n, (size_t)(gt - v) + 1);
      continue;
    }
    *l = cur;
    *pos = next;
    return 1;
  }
  *pos = n > *pos ? n : *pos;
  return 0;
}
