/*
** request_head.c -- a request's head: our headers, the session's and the
** call's merged case-insensitively, auth (basic and bearer as our own
** Authorization header, digest and netrc through libcurl), cookies on one
** Cookie line; every name and value checked before anything is sent.
*/
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "lurl.h"
#include "engine.h"
#include "errors.h"
#include "handle.h"
#include "luac.h"
#include "request_int.h"
#include "share.h"

#define MAX_HEADERS 64

static const char default_ua[] = LURL_DEFAULT_UA;

typedef struct hdr {
  const char *name, *value; /* value NULL = remove the header */
  size_t vlen;
  unsigned nlen;            /* a longer name is refused (check_field) */
  unsigned short gen;       /* the pairs list that added it (hdrs.gen), or 0 */
  unsigned char ok;         /* the value is known to be fit for the head (ours,
                               or checked by check_field): check_head skips it */
  unsigned char ours;       /* OURS_UA, OURS_AE: the entry merge_ours made for
                               that name (a value set over it keeps the name),
                               else 0; joins_next reads it, see there */
} hdr;

enum { OURS_UA = 1, OURS_AE = 2 };

typedef struct hdrs {
  hdr h[MAX_HEADERS];
  int n;
  int nnum;                              /* integer values written in num */
  int gen;                               /* pairs lists merged so far */
  int multi;                             /* a name may have several entries */
  char num[MAX_HEADERS][LURL_INT_CHARS]; /* so they need no Lua string */
} hdrs;

#define HDRS_INIT(hs) ((hs).n = (hs).nnum = (hs).gen = (hs).multi = 0)

/* Is h's name `name`, ASCII case ignored?  The lengths first: most names
** differ in length, and then no call is made. */
static inline int hdr_is(const hdr *h, const char *name, size_t nlen) {
  return h->nlen == nlen && lurl_ieq(h->name, h->nlen, name, nlen);
}

static hdr *hdr_find(hdrs *hs, const char *name, size_t nlen) {
  for (int i = 0; i < hs->n; i++)
    if (hdr_is(&hs->h[i], name, nlen)) return &hs->h[i];
  return NULL;
}

/* Removes every entry for `name` from index k on (values = 1: only those
** that send a value, 0: only removals, -1: all). */
static void hdr_drop_from(hdrs *hs, int k, const char *name, size_t nlen, int values) {
  int j = k;
  for (int i = k; i < hs->n; i++) {
    const hdr *h = &hs->h[i];
    if (hdr_is(h, name, nlen) && (values < 0 || values == (h->value != NULL)))
      continue;
    hs->h[j++] = *h;
  }
  hs->n = j;
}

static hdr *hdr_add(req *r, hdrs *hs) {
  if (hs->n == MAX_HEADERS)
    lurl_field_error(r->L, r->argn, r->fname, "headers", "more than %d headers", MAX_HEADERS);
  hdr *h = &hs->h[hs->n++];
  h->ours = 0;
  return h;
}

/* Sets `name` to value (ok: the value is known to be fit for the head);
** returns its entry. */
static hdr *hdr_set(req *r, hdrs *hs, const char *name, size_t nlen, const char *value,
                    size_t vlen, int ok) {
  hdr *h = hdr_find(hs, name, nlen);
  if (!h) h = hdr_add(r, hs);
  else if (hs->multi) hdr_drop_from(hs, (int)(h - hs->h) + 1, name, nlen, -1); /* one left */
  h->name = name;
  h->nlen = (unsigned)nlen;
  h->value = value;
  h->vlen = vlen;
  h->gen = 0;
  h->ok = (unsigned char)ok;
  return h;
}

/* A {name, value} pair of the list being merged (hs->gen): its first pair
** of a name replaces every earlier entry of that name, the next ones add
** lines; false removes the field (and this list's earlier lines of it). */
static void hdr_pair(req *r, hdrs *hs, const char *name, size_t nlen, const char *value,
                     size_t vlen) {
  int first = 1;
  for (int i = 0; i < hs->n && first; i++)
    if (hs->h[i].gen == hs->gen && hdr_is(&hs->h[i], name, nlen)) first = 0;
  if (first || !value) hdr_drop_from(hs, 0, name, nlen, -1);
  else hdr_drop_from(hs, 0, name, nlen, 0); /* a false pair before it */
  hdr *h = hdr_add(r, hs);
  h->name = name;
  h->nlen = (unsigned)nlen;
  h->value = value;
  h->vlen = vlen;
  h->gen = (unsigned short)hs->gen; /* a few lists at most */
  h->ok = 1;                        /* checked by check_field */
  hs->multi = 1;
}

/* A header name (a method, a cookie name) is an HTTP token; values may not
** hold CR, LF or NUL. */
/* RFC 9110's tchar (as lurl_is_token, text.c): ALPHA, DIGIT and
** !#$%&'*+-.^_`|~; bytes 128-255 are none. */
static const unsigned char TCHAR[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
};

int lurl_req_bad_name(const char *s, size_t n) {
  if (n == 0) return 1;
  for (size_t i = 0; i < n; i++)
    if (!TCHAR[(unsigned char)s[i]]) return 1;
  return 0;
}

static int bad_value(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 1;
  return 0;
}

/* Pushes InvalidHeader: "header 'what' why; nothing was sent" [-0, +1].
** `what` is a header name lurl checked or chose, never a value (it may be
** a secret); the message names the request as the caller gave it. */
static void invalid_header(req *r, const char *what, const char *why) {
  lua_State *L = r->L;
  lua_pushfstring(L, "header '%s' %s; nothing was sent", what, why);
  lurl_push_error(L, "InvalidHeader", lua_tostring(L, -1), r->method, r->url, -1);
  lua_remove(L, -2);
}

/*
** The header value at the top of the stack (its name just below it): a
** string, a number (written in hs->num or kept in the anchor table), or
** false (NULL: the field is removed).  Raises naming the option for
** anything else.
*/
static const char *header_value(req *r, hdrs *hs, const char *name, size_t *vlen) {
  lua_State *L = r->L;
  const char *value = NULL;
  *vlen = 0;
  int ty = lua_type(L, -1);
  if (ty == LUA_TSTRING) {
    value = lua_tolstring(L, -1, vlen); /* the table keeps it */
  } else if (ty == LUA_TNUMBER && lua_isinteger(L, -1) && hs->nnum < MAX_HEADERS) {
    value = hs->num[hs->nnum++]; /* lives as long as hs */
    *vlen = lurl_req_fmt_int(hs->num[hs->nnum - 1], (long long)lua_tointeger(L, -1));
  } else if (ty == LUA_TNUMBER) {
    /* the string made from a number lives in the stack slot popped by the
    ** caller: it is kept in the anchor table until the request is built */
    lurl_req_check_finite(r, -1, "headers");
    if (!r->anchor) { /* made when first needed, below the name */
      lua_newtable(L);
      lua_insert(L, -3);
      r->anchor = lua_gettop(L) - 2;
    }
    value = lua_tolstring(L, -1, vlen);
    lua_pushvalue(L, -1);
    lua_rawseti(L, r->anchor, (lua_Integer)lua_rawlen(L, r->anchor) + 1);
  } else if (ty != LUA_TBOOLEAN || lua_toboolean(L, -1)) { /* the field names the header */
    const char *got = luaL_typename(L, -1);
    lurl_field_error(L, r->argn, r->fname, lua_pushfstring(L, "headers.%s", name),
                     "string, number or false expected, got %s", got);
  }
  return value;
}

/* Is this name and value fit for the head?  Returns 0, or -1 with an
** InvalidHeader error pushed (name and value stay on the stack). */
static int check_field(req *r, const char *name, size_t nlen, const char *value, size_t vlen) {
  lua_State *L = r->L;
  const char *why = nlen > UINT_MAX || lurl_req_bad_name(name, nlen) ? "is not a valid header name"
                    : value && bad_value(value, vlen) ? "has a value with CR, LF or NUL"
                                                      : NULL;
  if (!why) return 0;
  lua_pushfstring(L, "header '%s' %s; nothing was sent",
                  bad_value(name, nlen) ? "(name with CR, LF or NUL)" : name, why);
  lurl_push_error(L, "InvalidHeader", lua_tostring(L, -1), r->method, r->url, -1);
  lua_remove(L, -2);
  return -1;
}

/* A header of the call's own (not the session's) named Cookie, in any
** case: with HOP_RESOLVE core.start hands the call back (req.call_cookie). */
static void note_cookie(req *r, const char *name, size_t nlen) {
  if (nlen == 6 && lurl_ieq(name, 6, "Cookie", 6)) r->call_cookie = 1;
}

/* The {name, value} pairs at 1..npairs of the headers table at idx, in
** order, after its named fields (call: the call's table, note_cookie).
** Returns 0, or -1 with InvalidHeader pushed. */
static int merge_pairs(req *r, hdrs *hs, int idx, lua_Integer npairs, int call) {
  lua_State *L = r->L;
  hs->gen++;
  for (lua_Integer i = 1; i <= npairs; i++) {
    if (lua_rawgeti(L, idx, i) != LUA_TTABLE)
      lurl_req_field_error(r, "headers", "{name, value} pairs in a sequence", -1);
    lua_rawgeti(L, -1, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      lurl_req_field_error(r, "headers", "{name, value} pair with a string name", -1);
    lua_rawgeti(L, -2, 2);
    lua_remove(L, -3); /* the pair, which keeps both strings */
    size_t nlen, vlen;
    const char *name = lua_tolstring(L, -2, &nlen);
    const char *value = header_value(r, hs, name, &vlen);
    if (check_field(r, name, nlen, value, vlen)) {
      lua_remove(L, -2); /* the value, */
      lua_remove(L, -2); /* and the name; the error stays */
      return -1;
    }
    if (call) note_cookie(r, name, nlen);
    hdr_pair(r, hs, name, nlen, value, vlen);
    lua_pop(L, 2); /* an anchor made below the name stays */
  }
  return 0;
}

/*
** Merges the headers table at idx into hs: its named fields, then its
** {name, value} pairs (integer keys 1..n); call: it is the call's table,
** not the session's.  Returns 0, or -1 with an
** InvalidHeader error pushed.  Never puts the value in a message: it may be
** a secret.
*/
static int merge_headers(req *r, hdrs *hs, int idx, int call) {
  lua_State *L = r->L;
  idx = lua_absindex(L, idx);
  lua_Integer npairs = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_isinteger(L, -2)) { /* a pair: merged after the named fields */
      if (lua_type(L, -1) != LUA_TTABLE)
        lurl_req_field_error(r, "headers", "{name, value} pair", -1);
      npairs++;
      lua_pop(L, 1);
      continue;
    }
    if (lua_type(L, -2) != LUA_TSTRING) lurl_req_field_error(r, "headers", "string header name", -2);
    size_t nlen, vlen;
    const char *name = lua_tolstring(L, -2, &nlen);
    const char *value = header_value(r, hs, name, &vlen);
    if (check_field(r, name, nlen, value, vlen)) {
      lua_remove(L, -2); /* the value, */
      lua_remove(L, -2); /* and the key; the error stays */
      return -1;
    }
    if (call) note_cookie(r, name, nlen);
    hdr_set(r, hs, name, nlen, value, vlen, 1); /* checked just above */
    lua_pop(L, 1);
  }
  return npairs ? merge_pairs(r, hs, idx, npairs, call) : 0;
}

/* ------------------------------------------------ the list and record -- */

#define ACCEPT_LINE "Accept: */*\r\n" /* what libcurl sends, in its order */
#define COOKIE_LINE "Cookie: "

/*
** Speed trick, joined lines: a header line with a value goes to libcurl in
** the list node of the line before it, "Name: x\r\nOther: y", unless
** libcurl may look its name up.  libcurl compares every node of
** CURLOPT_HTTPHEADER with each header name it looks up for a request
** (Curl_checkheaders: Host, Accept, Cookie, Transfer-Encoding...) and with
** the names Curl_add_custom_headers filters, then writes the node verbatim
** followed by CRLF: one node less is ~1.1-1.3 k instructions fewer per
** request (callgrind, every bench shape: our User-Agent and
** Accept-Encoding lines are one node; a call's or a session's header
** joins them), and the bytes on the wire are the same.
** Invariant: a name libcurl 7.88 may look up or filter for any request
** (libcurl_reads below, the names of its http.c, http_proxy.c, http2.c and
** mime.c lookups, whatever the options) only ever starts a node, where
** libcurl finds it; the values it reads from such a node (a custom Host, a
** Content-Type, Transfer-Encoding) end at the first CR, as libcurl reads
** them (Curl_copy_header_value, Curl_compareheader).  Accept-Encoding is
** not such a name for lurl: libcurl looks it up only when
** CURLOPT_ACCEPT_ENCODING is set, which lurl never sets (it decodes
** bodies itself, handle.c).  Both lines are checked (no CR, LF or NUL)
** and start with a byte that is not white space (libcurl sends no line
** whose value is empty or blank, skipping white space that would include
** the joined CRLF; an empty value is a "Name;" node it rewrites; a
** removal, "Name:", sends nothing): such lines are never joined, nor
** joined to.  HTTP/2 requests are made from the HTTP/1 head libcurl wrote,
** line by line.  The engine's default list (handle.c) is the User-Agent
** and Accept-Encoding lines as one node.
*/
static int sent_as_is(const hdr *h) {
  return h->value && h->vlen && (unsigned char)h->value[0] > ' ';
}

/* May libcurl look this name up (or filter it) in the custom headers? */
static int libcurl_reads(const char *n, size_t len) {
#define IS(s) lurl_ieq(n, len, s, sizeof s - 1)
  switch (len) { /* by length: most names are no candidate's */
    case 2: return IS("TE");
    case 4: return IS("Host") || IS("Date");
    case 5: return IS("Range");
    case 6: return IS("Accept") || IS("Cookie") || IS("Expect") || IS("Origin");
    case 7: return IS("Referer") || IS("Upgrade");
    case 10: return IS("Connection") || IS("User-Agent");
    case 12: return IS("Content-Type") || IS("Mime-Version");
    case 13: return IS("Authorization") || IS("Last-Modified");
    case 14: return IS("Content-Length") || IS("HTTP2-Settings");
    case 16: return IS("Proxy-Connection");
    case 17: return IS("Transfer-Encoding") || IS("If-Modified-Since");
    case 19: return IS("Proxy-Authorization") || IS("If-Unmodified-Since");
    default: break;
  }
#undef IS
  return len >= 4 && lurl_ieq(n, 4, "Sec-", 4); /* WebSocket's */
}

static int joins_next(const hdr *prev, const hdr *h) {
  if (!sent_as_is(prev) || !sent_as_is(h)) return 0;
  /* ours by their tags (hdr.ours); any other by its name */
  return h->ours == OURS_AE || (!h->ours && !libcurl_reads(h->name, h->nlen));
}

/* The bytes of one header's line for libcurl: "Name: value", "Name:"
** (removes it) or "Name;" (sends it empty), without the NUL. */
static size_t line_len(const hdr *h) {
  return h->nlen + (!h->value || !h->vlen ? 1 : 2 + h->vlen);
}

/*
** A head's libcurl list and its record (what res.request.headers shows:
** the Cookie line if `cookie` is not NULL, the Accept line unless a header is named Accept, then
** "Name: value\r\n" of every header sent) laid out in one block: the list
** nodes, then the lines, then the record.  libcurl only reads the list,
** so its nodes need not come from curl_slist_append; the block's owner
** frees it whole.  head_block_size says how many bytes; head_block_fill
** writes them.
*/
static size_t head_block_size(const hdrs *hs, const char *cookie, size_t cookie_len,
                              size_t *rec_len) {
  size_t lines = 0, rec = cookie ? sizeof COOKIE_LINE - 1 + cookie_len + 2 : 0;
  int accept = 1;
  for (int i = 0; i < hs->n; i++) {
    const hdr *h = &hs->h[i];
    lines += line_len(h) + 1;
    if (h->value) rec += h->nlen + 2 + h->vlen + 2;
    if (hdr_is(h, "Accept", 6)) accept = 0;
  }
  if (accept) rec += sizeof ACCEPT_LINE - 1;
  *rec_len = rec;
  /* + hs->n: a joined pair's CRLF takes one byte more than the NUL it
  ** replaces (joins_next) */
  return (size_t)hs->n * sizeof(struct curl_slist) + lines + (size_t)hs->n + rec + 1;
}

static struct curl_slist *head_block_fill(const hdrs *hs, void *block, const char *cookie,
                                          size_t cookie_len, const char **rec) {
  struct curl_slist *nodes = (struct curl_slist *)block;
  char *p = (char *)(nodes + hs->n);
  int accept = 1, k = 0;
  for (int i = 0; i < hs->n; i++) {
    const hdr *h = &hs->h[i];
    if (i == 0 || !joins_next(&hs->h[i - 1], h)) {
      if (k) nodes[k - 1].next = &nodes[k];
      nodes[k].data = p, nodes[k].next = NULL, k++;
    } else {
      p[-1] = '\r', *p++ = '\n'; /* the previous line's NUL */
    }
    memcpy(p, h->name, h->nlen), p += h->nlen;
    if (!h->value) *p++ = ':';
    else if (!h->vlen) *p++ = ';';
    else {
      *p++ = ':', *p++ = ' ';
      memcpy(p, h->value, h->vlen), p += h->vlen;
    }
    *p++ = '\0';
    if (hdr_is(h, "Accept", 6)) accept = 0;
  }
  *rec = p;
  if (cookie) {
    memcpy(p, COOKIE_LINE, sizeof COOKIE_LINE - 1), p += sizeof COOKIE_LINE - 1;
    memcpy(p, cookie, cookie_len), p += cookie_len;
    *p++ = '\r', *p++ = '\n';
  }
  if (accept) memcpy(p, ACCEPT_LINE, sizeof ACCEPT_LINE - 1), p += sizeof ACCEPT_LINE - 1;
  for (int i = 0; i < hs->n; i++) {
    const hdr *h = &hs->h[i];
    if (!h->value) continue;
    memcpy(p, h->name, h->nlen), p += h->nlen;
    *p++ = ':', *p++ = ' ';
    memcpy(p, h->value, h->vlen), p += h->vlen;
    *p++ = '\r', *p++ = '\n';
  }
  *p = '\0';
  return k ? nodes : NULL;
}

/* Gives the transfer its own list and record of hs, in one block it frees
** on release (transfer.c); the record starts with the Cookie line, if any
** (libcurl writes it from CURLOPT_COOKIE). */
static void emit_headers(req *r, const hdrs *hs, const char *cookie, size_t cookie_len) {
  lurl_transfer *t = r->t;
  size_t rec_len;
  void *block = malloc(head_block_size(hs, cookie, cookie_len, &rec_len));
  if (!block) luaL_error(r->L, "not enough memory");
  free(t->hblock);
  t->hblock = block;
  t->slist = head_block_fill(hs, block, cookie, cookie_len, &t->reqhead);
  t->reqhead_len = rec_len;
}

static void base64(luaL_Buffer *b, const unsigned char *s, size_t n) {
  static const char tab[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)s[i] << 16;
    if (i + 1 < n) v |= (unsigned)s[i + 1] << 8;
    if (i + 2 < n) v |= s[i + 2];
    luaL_addchar(b, tab[(v >> 18) & 63]);
    luaL_addchar(b, tab[(v >> 12) & 63]);
    luaL_addchar(b, i + 1 < n ? tab[(v >> 6) & 63] : '=');
    luaL_addchar(b, i + 2 < n ? tab[v & 63] : '=');
  }
}

/* auth = http.netrc(file): libcurl reads the file (the auth table at a),
** which obeys the file policy (policy.c). */
static void netrc_auth(req *r, int a) {
  lua_State *L = r->L;
  SET_RARE(r, CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
  lua_getfield(L, a, "file");
  if (lua_isstring(L, -1)) {
    lurl_req_file_ok(r, "auth", lua_tostring(L, -1));
  } else { /* no file named: libcurl reads $HOME/.netrc */
    const char *home = getenv("HOME");
    lurl_req_file_ok(r, "auth", lua_pushfstring(L, "%s/.netrc", home ? home : ""));
    lua_pop(L, 1);
  }
  if (lua_isstring(L, -1)) SET_RARE(r, CURLOPT_NETRC_FILE, lua_tostring(L, -1));
  lua_pop(L, 1);
}

/*
** auth: {"user", "pass"} (basic), or an object from http.basic/digest/
** bearer/netrc/ntlm/negotiate ({scheme=..., ...}).  Basic and bearer
** become our own Authorization header, so a redirect can drop it like any
** other; digest, NTLM and Negotiate need libcurl's challenge/response.
** Auth functions and the flows lurl computes (lurl.auth) never get here:
** lurl.exchange runs them and passes {scheme = "flow"}: nothing to add
** here, and the URL's credentials dropped (url_for_auth).  Leaves the value for the
** Authorization header on the stack (or nothing) and returns 1 if pushed;
** returns -1 with an InvalidHeader error pushed for a digest user name
** that cannot go in a header.
*/
static int apply_auth(req *r) {
  lua_State *L = r->L;
  if (!HAS(r, O_AUTH)) return 0;
  int ty = lurl_req_opt(r, O_AUTH);
  if (ty == LUA_TNIL || (ty == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
    lua_pop(L, 1);
    return 0;
  }
  if (ty != LUA_TTABLE) lurl_req_field_error(r, "auth", "table", -1);
  int a = lua_gettop(L);
  lua_getfield(L, a, "scheme");
  const char *scheme = lua_tostring(L, -1);
  if (!scheme) scheme = "basic";
  if (strcmp(scheme, "flow") == 0) { /* lurl.auth ran a flow: its headers are in place */
    lua_settop(L, a - 1);
    return 0;
  }
  if (strcmp(scheme, "netrc") == 0) {
    netrc_auth(r, a);
    lua_settop(L, a - 1);
    return 0;
  }
  if (strcmp(scheme, "bearer") == 0) {
    lua_getfield(L, a, "token");
    if (!lua_isstring(L, -1)) lurl_req_field_error(r, "auth", "bearer token string", -1);
    lua_pushliteral(L, "Bearer "); /* concat, not "%s": a NUL is kept, then refused */
    lua_insert(L, -2);
    lua_concat(L, 2);
    lua_replace(L, a);
    lua_settop(L, a);
    return 1;
  }
  if (strcmp(scheme, "negotiate") == 0) { /* SPNEGO: the user's Kerberos ticket */
    SET_RARE(r, CURLOPT_HTTPAUTH, (long)CURLAUTH_NEGOTIATE);
    r->t->curl_auth = 1;
    SET_RARE(r, CURLOPT_USERPWD, ":"); /* libcurl authenticates only with a user set */
    lua_settop(L, a - 1);
    return 0;
  }
  lua_getfield(L, a, "user");
  if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_rawgeti(L, a, 1); }
  lua_getfield(L, a, "password");
  if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_rawgeti(L, a, 2); }
  if (!lua_isstring(L, -2) || !lua_isstring(L, -1))
    lurl_req_field_error(r, "auth", "{user, password} strings", a);
  int ntlm = strcmp(scheme, "ntlm") == 0;
  if (ntlm || strcmp(scheme, "digest") == 0) {
    /* libcurl writes the user name into the Authorization line and takes
    ** both as C strings: a NUL would cut them */
    size_t un, pn;
    const char *u = lua_tolstring(L, -2, &un), *p = lua_tolstring(L, -1, &pn);
    if (bad_value(u, un) || memchr(p, '\0', pn)) {
      lua_settop(L, a - 1);
      invalid_header(r, "Authorization", ntlm
                     ? "has an NTLM user name with CR, LF or NUL (or a password with NUL)"
                     : "has a digest user name with CR, LF or NUL (or a password with NUL)");
      return -1;
    }
    SET_RARE(r, CURLOPT_HTTPAUTH, ntlm ? (long)CURLAUTH_NTLM : (long)CURLAUTH_DIGEST);
    r->t->curl_auth = 1;
    /* a cookie the 401 sets goes back on the retry, as in a session: a
    ** handle on no jar gets a cookie store of its own for this transfer,
    ** freed with it (a tainted handle is reset, cookies and all) */
    if (!r->t->share || !lurl_share_has_jar(r->t->share)) SET_RARE(r, CURLOPT_COOKIEFILE, "");
    SET_RARE(r, CURLOPT_USERNAME, lua_tostring(L, -2));
    SET_RARE(r, CURLOPT_PASSWORD, lua_tostring(L, -1));
    lua_settop(L, a - 1);
    return 0;
  }
  if (strcmp(scheme, "basic") != 0)
    lurl_field_error(L, r->argn, r->fname, "auth", "unknown scheme '%s'", scheme);
  luaL_Buffer b;
  lua_pushvalue(L, -2); /* "user:password", NULs and all (base64 keeps them) */
  lua_pushliteral(L, ":");
  lua_pushvalue(L, -3);
  lua_concat(L, 3);
  size_t n;
  const char *up = lua_tolstring(L, -1, &n);
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "Basic ");
  base64(&b, (const unsigned char *)up, n);
  luaL_pushresult(&b);
  lua_replace(L, a);
  lua_settop(L, a);
  return 1;
}

/*
** Checks the cookies table at idx: names are HTTP tokens, values strings
** or finite numbers without CR, LF or NUL.  Collects the names, sorted, in
** keys (at most 128).  Returns how many, or -1 with an InvalidHeader error
** pushed: a cookie is a piece of the request head like a header.
*/
static int cookie_names(req *r, int idx, lurl_key *keys) {
  lua_State *L = r->L;
  int nk = lurl_sorted_keys(L, idx, keys, 128);
  if (nk == LURL_KEYS_NOT_STRING) lurl_req_field_error(r, "cookies", "string name", -1);
  if (nk == LURL_KEYS_TOO_MANY)
    lurl_field_error(L, r->argn, r->fname, "cookies", "more than 128 cookies");
  for (int i = 0; i < nk; i++) {
    if (lurl_req_bad_name(keys[i].s, keys[i].len)) { /* CR, LF, NUL, ';', '=', space... */
      invalid_header(r, "Cookie", "has a cookie name that is not a token");
      return -1;
    }
  }
  for (int i = 0; i < nk; i++) {
    lua_getfield(L, idx, keys[i].s);
    size_t vl;
    int ty = lua_type(L, -1);
    if (ty == LUA_TNUMBER) lurl_req_check_finite(r, -1, "cookies");
    else if (ty != LUA_TSTRING)
      lurl_field_error(L, r->argn, r->fname, "cookies", "bad cookie '%s'", keys[i].s);
    const char *v = lua_tolstring(L, -1, &vl);
    int bad = bad_value(v, vl);
    lua_pop(L, 1);
    if (bad) {
      lua_pushfstring(L, "has a value with CR, LF or NUL in cookie '%s'", keys[i].s);
      invalid_header(r, "Cookie", lua_tostring(L, -1));
      lua_remove(L, -2);
      return -1;
    }
  }
  return nk;
}

/*
** cookies (and any Cookie header) go to libcurl as CURLOPT_COOKIE, so that a
** session's jar cookies and these end up on ONE Cookie line (RFC 6265 5.4).
** The line's value is left on the stack, in *line (NULL when none) for the
** record.  Returns 0, or -1 with an InvalidHeader error pushed.
*/
static int add_cookies(req *r, hdrs *hs, const char **line, size_t *line_len) {
  lua_State *L = r->L;
  *line = NULL;
  hdr *existing = hdr_find(hs, "Cookie", 6);
  if (!HAS(r, O_COOKIES) && !(existing && existing->value)) return 0;
  int ty = lurl_req_opt(r, O_COOKIES);
  if (ty == LUA_TNIL && !(existing && existing->value)) {
    lua_pop(L, 1);
    return 0;
  }
  if (ty != LUA_TNIL && ty != LUA_TTABLE) lurl_req_field_error(r, "cookies", "table", -1);
  int idx = lua_gettop(L);
  lurl_key keys[128];
  int nk = ty == LUA_TTABLE ? cookie_names(r, idx, keys) : 0;
  if (nk < 0) return -1;
  luaL_Buffer cb;
  luaL_buffinit(L, &cb);
  for (int i = 0; existing && i < hs->n; i++) { /* every Cookie header (pairs repeat it) */
    const hdr *h = &hs->h[i];
    if (!h->value || !hdr_is(h, "Cookie", 6)) continue;
    if (luaL_bufflen(&cb)) luaL_addstring(&cb, "; ");
    luaL_addlstring(&cb, h->value, h->vlen);
  }
  for (int i = 0; i < nk; i++) {
    lua_getfield(L, idx, keys[i].s);
    size_t vl;
    const char *v = lua_tolstring(L, -1, &vl); /* checked by cookie_names */
    if (luaL_bufflen(&cb)) luaL_addstring(&cb, "; ");
    luaL_addlstring(&cb, keys[i].s, keys[i].len);
    luaL_addchar(&cb, '=');
    luaL_addlstring(&cb, v, vl);
    lua_pop(L, 1);
  }
  luaL_pushresult(&cb);
  lua_remove(L, idx);
  if (existing) hdr_drop_from(hs, 0, "Cookie", 6, -1); /* libcurl writes the line */
  size_t n;
  const char *str = lua_tolstring(L, -1, &n); /* stays on the stack until emitted */
  if (n) {
    SET_RARE(r, CURLOPT_COOKIE, str); /* libcurl copies it */
    *line = str, *line_len = n;
  }
  return 0;
}

/* Removes the entries for `name` (libcurl then writes what it would). */
static void hdr_drop(hdrs *hs, const char *name, size_t nlen) {
  hdr_drop_from(hs, 0, name, nlen, -1);
}

/* Every string that ends up in the request head (the User-Agent, a bearer
** token, a content type...) is checked as a user's header value is; the
** values check_field checked, and ours, are not read twice (hdr.ok). */
static int check_head(req *r, const hdrs *hs) {
  for (int i = 0; i < hs->n; i++) {
    const hdr *h = &hs->h[i];
    if (h->value && !h->ok && bad_value(h->value, h->vlen)) {
      lua_pushlstring(r->L, h->name, h->nlen); /* a token: checked or ours */
      invalid_header(r, lua_tostring(r->L, -1), "has a value with CR, LF or NUL");
      lua_remove(r->L, -2);
      return -1;
    }
  }
  return 0;
}

/* Ours and what the call adds before the session's headers: the
** User-Agent, Accept-Encoding, the body's type, the Authorization of
** `auth`.  Returns 0, or -1 with InvalidHeader pushed. */
static int merge_ours(req *r, hdrs *hs, int kind, int body_i, int is_upload, int flags) {
  lua_State *L = r->L;
  size_t ualen = 0;
  const char *ua = lurl_req_string_opt(r, O_USER_AGENT, &ualen);
  if (ua && bad_value(ua, ualen)) { /* refused even when headers drop the line */
    invalid_header(r, "User-Agent", "has a value with CR, LF or NUL");
    return -1;
  }
  hdr_set(r, hs, "User-Agent", 10, ua ? ua : default_ua, ua ? ualen : sizeof default_ua - 1, !ua)
      ->ours = OURS_UA;
  const char *ae = lurl_accept_encoding();
  hdr_set(r, hs, "Accept-Encoding", 15, ae, strlen(ae), 1)->ours = OURS_AE;
  if (!lua_isnil(L, body_i + 1)) {
    size_t n;
    const char *ct = lua_tolstring(L, body_i + 1, &n);
    hdr_set(r, hs, "Content-Type", 12, ct, n, 0);
  } else if (kind != BODY_MIME && (kind != BODY_NONE || is_upload)) {
    /* libcurl would label any body as a form; requests sends no type */
    hdr_set(r, hs, "Content-Type", 12, NULL, 0, 1);
  }
  int auth = (flags & HOP_STRIP_AUTH) ? 0 : apply_auth(r);
  if (auth < 0) return -1;
  if (auth) {
    size_t n;
    const char *v = lua_tolstring(L, -1, &n);
    hdr_set(r, hs, "Authorization", 13, v, n, 0);
  }
  return 0;
}

/* The headers table of the session (from_opts 0) or the call (1) merged
** over hs; the table stays on the stack.  Returns 0, or -1 with
** InvalidHeader pushed. */
static int merge_table(req *r, hdrs *hs, int from_opts) {
  if (lurl_req_opt_in(r, from_opts, O_HEADERS) == LUA_TTABLE) {
    return merge_headers(r, hs, -1, from_opts);
  }
  if (!lua_isnil(r->L, -1)) lurl_req_field_error(r, "headers", "table", -1);
  return 0;
}

/* What follows the call's headers: the redirect's purges, cookies, Expect,
** and the check of every value.  Returns 0, or -1 with InvalidHeader
** pushed; the Cookie line's value in *cookie (or NULL). */
static int merge_rest(req *r, hdrs *hs, int kind, int flags, const char **cookie,
                      size_t *cookie_len) {
  if (flags & HOP_DROP_BODY) { /* requests purges these with the body */
    if (hdr_find(hs, "Content-Type", 12)) hdr_set(r, hs, "Content-Type", 12, NULL, 0, 1);
  }
  if (flags & HOP_STRIP_AUTH) { /* another host: the user's credentials stay */
    if (hdr_find(hs, "Authorization", 13)) hdr_set(r, hs, "Authorization", 13, NULL, 0, 1);
    hdr_drop(hs, "Cookie", 6);               /* requests drops both too */
    hdr_drop(hs, "Proxy-Authorization", 19);
    SET_RARE(r, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
  }
  if (add_cookies(r, hs, cookie, cookie_len)) return -1;
  /* no "Expect: 100-continue" round trip: requests never waits for one */
  if (kind != BODY_NONE && !hdr_find(hs, "Expect", 6)) hdr_set(r, hs, "Expect", 6, NULL, 0, 1);
  return check_head(r, hs);
}

/* ------------------------------------------------ the session's headset -- */

/*
** Speed trick, the session's headset: ours and a session's default headers
** merged, their libcurl list and their record, made once and kept in the
** session's share (user value LURL_SHARE_UV_HEADSET), not merged, checked
** and copied again for every request.  The session's headers table is live
** (s.headers.X = "y" applies to the next request), so every request first
** walks it and compares each name and value, as pointers, with the
** snapshot the headset was made from.
** Invariant: the headset's user value holds every string of its snapshot,
** so none of them is freed and no other string can take its address; Lua
** strings never change: the same pointers in the same order mean the table
** holds the same names and values, and the merge made then is the merge a
** request would make now.  A table with a value that is not a string or
** false (a number becomes a new string each time) is never snapshot: such
** sessions take the general path.  A headset is a userdata holding
** everything in its own memory; a transfer sending its list pins it
** (LURL_TUV_HEADSET), so a headset replaced while requests run stays alive
** until they are done.
*/
typedef struct headset {
  int nsnap;                 /* pointers in snap: a name and a value (NULL
                                for false) per pair of the table */
  int nh;                    /* entries in h */
  int final;                 /* no Cookie header: the list as it is can be a
                                request's whole head */
  struct curl_slist *list;   /* the lines of h, in the block */
  const char *rec;           /* the record, in the block */
  size_t rec_len;
  const char *ua;            /* the User-Agent sent, or NULL */
  int dflt;                  /* just ours: the engine's list and the
                                default record serve (an empty s.headers) */
  /* then: const void *snap[nsnap]; hdr h[nh], the merge (pointers into
  ** snapshot strings and constants); the list and record block */
} headset;

#define SNAP_MAX (2 * MAX_HEADERS)

/* Walks the headers table at idx into snap (name, value pointers in
** iteration order).  Returns how many pointers, or -1 when the table
** cannot be snapshot (a name not a string, a value neither a string nor
** false, too many pairs). */
static int snapshot(lua_State *L, int idx, const void **snap) {
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int vt = lua_type(L, -1);
    if (lua_type(L, -2) != LUA_TSTRING || n == SNAP_MAX ||
        !(vt == LUA_TSTRING || (vt == LUA_TBOOLEAN && !lua_toboolean(L, -1)))) {
      lua_pop(L, 2);
      return -1;
    }
    snap[n++] = lua_tostring(L, -2); /* neither converts: both are strings */
    snap[n++] = vt == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1);
  }
  return n;
}

/* Is hs just ours, as the engine's list has them? */
static int is_default(const hdrs *hs) {
  return hs->n == 2 && hs->h[0].value == default_ua && hs->h[1].value == lurl_accept_encoding();
}

static const void **headset_snap(headset *set) { return (const void **)(set + 1); }
static hdr *headset_h(headset *set) { return (hdr *)(headset_snap(set) + set->nsnap); }

/* Makes the headset of the session headers table at idx (snapshot snap of
** n pointers) and keeps it in the share; returns it, or NULL with
** InvalidHeader pushed (*err = 1), or NULL when out of memory (*err = 0). */
static headset *headset_make(req *r, int idx, const void **snap, int n, int *err) {
  lua_State *L = r->L;
  hdrs hs;
  HDRS_INIT(hs);
  *err = 0;
  hdr_set(r, &hs, "User-Agent", 10, default_ua, sizeof default_ua - 1, 1)->ours = OURS_UA;
  const char *ae = lurl_accept_encoding();
  hdr_set(r, &hs, "Accept-Encoding", 15, ae, strlen(ae), 1)->ours = OURS_AE;
  if (merge_headers(r, &hs, idx, 0)) return *err = 1, NULL;
  size_t rec_len, block = head_block_size(&hs, NULL, 0, &rec_len);
  size_t hsize = (size_t)hs.n * sizeof hs.h[0];
  headset *set = (headset *)lua_newuserdatauv(L, sizeof *set + (size_t)n * sizeof *snap +
                                                     hsize + block, 1);
  set->nsnap = n;
  set->nh = hs.n;
  set->final = hdr_find(&hs, "Cookie", 6) == NULL;
  const hdr *ua = hdr_find(&hs, "User-Agent", 10);
  set->ua = ua ? ua->value : NULL;
  set->dflt = is_default(&hs);
  memcpy(headset_snap(set), snap, (size_t)n * sizeof *snap);
  memcpy(headset_h(set), hs.h, hsize);
  set->list = head_block_fill(&hs, headset_h(set) + hs.n, NULL, 0, &set->rec);
  set->rec_len = rec_len;
  lua_createtable(L, n, 0); /* the snapshot's strings, kept (the invariant) */
  int k = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pushvalue(L, -2);
    lua_rawseti(L, -4, ++k);
    lua_rawseti(L, -3, ++k); /* false is kept too: harmless */
  }
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, r->share_idx, LURL_SHARE_UV_HEADSET);
  return set;
}

/* The session's headset for the headers table at idx, pushed [-0, +1]
** (nil when the table cannot be snapshot); NULL then too.  *err: an
** InvalidHeader error was pushed instead. */
static headset *session_headset(req *r, int idx, int *err) {
  lua_State *L = r->L;
  const void *snap[SNAP_MAX];
  *err = 0;
  int n = snapshot(L, idx, snap);
  if (n < 0) {
    lua_pushnil(L);
    return NULL;
  }
  lua_getiuservalue(L, r->share_idx, LURL_SHARE_UV_HEADSET);
  headset *set = (headset *)lua_touserdata(L, -1);
  if (set && set->nsnap == n && memcmp(headset_snap(set), snap, (size_t)n * sizeof *snap) == 0)
    return set;
  lua_pop(L, 1);
  set = headset_make(r, idx, snap, n, err);
  if (!set && !*err) lua_pushnil(L);
  return set;
}

/* Does the request add nothing before the session's headers (no
** user_agent, auth or body type), on a session with headers?  Then ours
** merged with the session's are its headset's. */
static int uses_headset(req *r, int kind, int body_i, int is_upload) {
  return r->share_idx && (r->dhave & (1u << O_HEADERS)) && !HAS(r, O_USER_AGENT) &&
         !HAS(r, O_AUTH) && lua_isnil(r->L, body_i + 1) &&
         (kind == BODY_MIME || (kind == BODY_NONE && !is_upload));
}

/* Does it add nothing after them either?  Then the headset's list is the
** whole head. */
static int headset_is_head(req *r, const headset *set, int kind, int flags) {
  return set->final && kind == BODY_NONE && !(r->ohave & (1u << O_HEADERS)) &&
         !HAS(r, O_COOKIES) && !(flags & (HOP_DROP_BODY | HOP_STRIP_AUTH));
}

/* ------------------------------------------------------------ the head -- */

/* The user's, the session's and our headers for one hop, in hs; the values
** stay on the stack until emitted.  Returns 1 when the session's headset
** is the whole head (*whole, pinned by the transfer), else 0 with hs
** merged, or -1 with InvalidHeader pushed. */
static int merge_all(req *r, hdrs *hs, int kind, int body_i, int is_upload, int flags,
                     headset **whole, const char **cookie, size_t *cookie_len) {
  headset *set = NULL;
  if (uses_headset(r, kind, body_i, is_upload) &&
      lurl_req_opt_in(r, 0, O_HEADERS) == LUA_TTABLE) { /* else merge_table says why */
    int err;
    set = session_headset(r, lua_gettop(r->L), &err);
    if (err) return -1;
    if (set && headset_is_head(r, set, kind, flags)) {
      lua_setiuservalue(r->L, r->tidx, LURL_TUV_HEADSET); /* libcurl reads its list */
      *whole = set;
      return 1;
    }
  }
  if (set) {
    /* its pointers stay valid: the headset is on the stack */
    memcpy(hs->h, headset_h(set), (size_t)set->nh * sizeof hs->h[0]);
    hs->n = set->nh;
  } else {
    if (merge_ours(r, hs, kind, body_i, is_upload, flags)) return -1;
    if (merge_table(r, hs, 0)) return -1;
  }
  if (merge_table(r, hs, 1)) return -1;
  return merge_rest(r, hs, kind, flags, cookie, cookie_len);
}

/*
** headers: ours, then the session's, then the call's.  User-Agent and
** Accept-Encoding are header lines of ours (libcurl writes its options'
** headers twice over, through its printf); a caller's header replaces
** them, false removes them.  Accept is libcurl's default.  Returns 0, or
** -1 with an InvalidHeader error pushed (nothing was sent).
*/
int lurl_req_build_headers(req *r, int kind, int body_i, int is_upload, int flags) {
  lurl_transfer *t = r->t;
  hdrs hs;
  HDRS_INIT(hs);
  headset *whole = NULL;
  const char *cookie = NULL;
  size_t cookie_len = 0;
  int rc = merge_all(r, &hs, kind, body_i, is_upload, flags, &whole, &cookie, &cookie_len);
  if (rc < 0) return -1;
  const char *ua;
  if (whole ? whole->dflt : is_default(&hs) && !cookie) {
    /* the common case: the engine's list, nothing built */
    t->slist = lurl_engine_pool(t->eng)->headers;
    t->reqhead = lurl_default_reqhead(), t->reqhead_len = strlen(t->reqhead);
    ua = default_ua;
  } else if (whole) {
    t->slist = whole->list;
    t->reqhead = whole->rec, t->reqhead_len = whole->rec_len;
    ua = whole->ua;
  } else {
    emit_headers(r, &hs, cookie, cookie_len);
    const hdr *u = t->proxy_used ? hdr_find(&hs, "User-Agent", 10) : NULL; /* read below */
    ua = u ? u->value : NULL;
  }
  LURL_SET_KEPT(t->hd, headers, CURLOPT_HTTPHEADER, t->slist);
  /* a CONNECT to the proxy carries the User-Agent too */
  if (t->proxy_used && ua) SET_RARE(r, CURLOPT_USERAGENT, ua); /* copied */
  return 0;
}
