/*
** request_url.c -- a request's URL: plain URLs taken as they are, others
** checked, requoted and normalised by libcurl's parser (and the state's
** limits, limit.c), params merged into the query; and the form encoding
** of params and data tables.
*/
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <idn2.h>
#include <lauxlib.h>

#include "engine.h"
#include "errors.h"
#include "limit.h"
#include "luac.h"
#include "redact.h"
#include "request_int.h"

/* Is c sent as it is in a form-encoded key or value (requests' safe set)? */
static inline int unreserved(unsigned char c) {
  return (unsigned)((c | 32) - 'a') < 26u || (unsigned)(c - '0') < 10u || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

/* Form-encodes s[0..n) into d (3 * n bytes at most); returns the bytes
** written.  The same bytes as lurl_buf_add_pct(b, s, n, 1). */
static size_t form_enc(char *d, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  char *p = d;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (unreserved(c)) {
      *p++ = (char)c;
    } else if (c == ' ') {
      *p++ = '+';
    } else {
      p[0] = '%', p[1] = hex[c >> 4], p[2] = hex[c & 15];
      p += 3;
    }
  }
  return (size_t)(p - d);
}

/*
** The text of the scalar value at idx, of type ty (a string, number or
** boolean), in *n; *raw when it needs no encoding (digits, "true":
** written as they are).  An integer (or an integral float: cjson decodes every number as
** a float, 30.0 is sent as 30) is written into num, no Lua string made; a
** float's string lives in its stack slot.  Raises naming the field for
** anything else.
*/
static const char *scalar_text(req *r, int ty, int idx, const char *field, char *num,
                               size_t *n, int *raw) {
  lua_State *L = r->L;
  *raw = 1;
  if (ty == LUA_TSTRING) {
    *raw = 0;
    return lua_tolstring(L, idx, n);
  }
  if (ty == LUA_TNUMBER) {
    long long i;
    if (lua_isinteger(L, idx)) {
      i = (long long)lua_tointeger(L, idx);
    } else {
      lurl_req_check_finite(r, idx, field);
      lua_Number v = lua_tonumber(L, idx);
      /* the range test comes first: converting a float out of range is UB */
      if (!(v > -9223372036854775808.0 && v < 9223372036854775808.0 &&
            v == (lua_Number)(long long)v)) {
        *raw = 0;
        return lua_tolstring(L, idx, n); /* a copy on the stack, read right away */
      }
      i = (long long)v;
    }
    *n = lurl_req_fmt_int(num, i);
    return num;
  }
  if (ty == LUA_TBOOLEAN) {
    int t = lua_toboolean(L, idx);
    *n = t ? 4 : 5;
    return t ? "true" : "false";
  }
  lurl_req_field_error(r, field, "string, number or boolean value", idx);
  return NULL;
}

/*
** Raises unless the table value at vidx (of key k in `field`) is a list of
** scalars, which repeats the key: anything else in it would be dropped or
** flattened, never what the script meant.  The error names the field
** inside, as "params.a.b" or "params.a[2]".
*/
static void check_list(req *r, int vidx, const char *k, lua_Integer n, const char *field) {
  lua_State *L = r->L;
  lua_pushnil(L);
  while (lua_next(L, vidx)) {
    int ok = lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1 && lua_tointeger(L, -2) <= n;
    int ty = lua_type(L, -1);
    if (ok && ty != LUA_TTABLE) {
      lua_pop(L, 1);
      continue;
    }
    const char *in = lua_isinteger(L, -2)
                         ? lua_pushfstring(L, "%s.%s[%I]", field, k, lua_tointeger(L, -2))
                     : lua_type(L, -2) == LUA_TSTRING
                         ? lua_pushfstring(L, "%s.%s.%s", field, k, lua_tostring(L, -2))
                         : lua_pushfstring(L, "%s.%s", field, k);
    lurl_field_error(L, r->argn, r->fname, in,
                     "a value is a string, number, boolean or a list of them; a nested "
                     "table is not encoded");
  }
}

/* Keys and values up to this many bytes are encoded on the C stack;
** longer ones straight into the buffer. */
#define PAIR_SHORT 256

/* What the pairs are encoded through: a C stack buffer, flushed into b
** when the next pair would not fit and at the end (qw_flush), so a small
** query costs one append.  The pairs begin at `start` of b's bytes and
** tmp's together. */
typedef struct qwriter {
  lurl_buf *b;
  size_t start, n;
  char tmp[2048];
} qwriter;
_Static_assert(sizeof ((qwriter *)0)->tmp >= 2 + 6 * PAIR_SHORT, "a short pair fits");

static void qw_flush(req *r, qwriter *w) {
  if (w->n && lurl_buf_add(w->b, w->tmp, w->n) != LURL_BUF_OK)
    luaL_error(r->L, "not enough memory");
  w->n = 0;
}

/* Appends "k=v", with a '&' before it unless it is the first pair; a list
** value repeats the key. */
static void add_pair(req *r, qwriter *w, int kidx, int vidx, const char *field) {
  lua_State *L = r->L;
  size_t kn, vn;
  const char *k = lua_tolstring(L, kidx, &kn);
  int ty = lua_type(L, vidx);
  if (ty == LUA_TTABLE) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, vidx);
    check_list(r, vidx, k, n, field);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, vidx, i);
      add_pair(r, w, kidx, lua_gettop(L), field);
      lua_pop(L, 1);
    }
    return;
  }
  char num[LURL_INT_CHARS];
  int raw;
  const char *v = scalar_text(r, ty, vidx, field, num, &vn, &raw);
  int first = w->b->len + w->n == w->start;
  if (kn <= PAIR_SHORT && vn <= PAIR_SHORT) {
    if (w->n + 2 + 3 * (kn + vn) > sizeof w->tmp) qw_flush(r, w);
    char *d = w->tmp + w->n, *p = d;
    if (!first) *p++ = '&';
    p += form_enc(p, k, kn);
    *p++ = '=';
    if (raw) memcpy(p, v, vn), p += vn;
    else p += form_enc(p, v, vn);
    w->n += (size_t)(p - d);
    return;
  }
  qw_flush(r, w);
  lurl_buf *b = w->b;
  int rc = 0;
  if (!first) rc |= lurl_buf_add(b, "&", 1);
  rc |= lurl_buf_add_pct(b, k, kn, 1);
  rc |= lurl_buf_add(b, "=", 1);
  rc |= lurl_buf_add_pct(b, v, vn, 1);
  if (rc) luaL_error(L, "not enough memory");
}

/*
** A table whose contents come from its __pairs (a proxy, a read-only view)
** is read through it into a plain table, pushed [-0, +1], and 1 returned;
** else nothing is pushed and 0 returned.  A plain table costs one
** metatable test.  Runs the script's Lua code: called before any pointer
** into the table's strings is taken.
*/
int lurl_req_pairs_copy(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) return 0;
  if (lua_getfield(L, -1, "__pairs") == LUA_TNIL) {
    lua_pop(L, 2);
    return 0;
  }
  idx = lua_absindex(L, idx);
  lua_remove(L, -2);
  lua_newtable(L);
  lua_insert(L, -2); /* copy, __pairs */
  lua_pushvalue(L, idx);
  lua_call(L, 1, 3); /* copy, iter, state, control */
  for (;;) {
    lua_pushvalue(L, -3);
    lua_pushvalue(L, -3);
    lua_pushvalue(L, -3);
    lua_call(L, 2, 2); /* copy, iter, state, control, k, v */
    if (lua_isnil(L, -2)) {
      lua_pop(L, 5);
      return 1;
    }
    lua_pushvalue(L, -2);
    lua_insert(L, -2);      /* ..., control, k, k, v */
    lua_rawset(L, -7);      /* copy[k] = v */
    lua_replace(L, -2);     /* control = k */
  }
}

/* A key of a map being encoded: its bytes, and the stack slot of its
** value (the key itself in the slot below). */
typedef struct map_key {
  const char *s;
  size_t len;
  int at;
} map_key;

#define MAP_MAX 256 /* keys of one map, at most */

static int cmp_map_key(const void *a, const void *b) {
  return strcmp(((const map_key *)a)->s, ((const map_key *)b)->s);
}

/* Sorts keys by strcmp, as lurl_sorted_keys does (luac.c): a few by
** insertion, more by qsort. */
static void sort_keys(map_key *k, int n) {
  if (n > 12) {
    qsort(k, (size_t)n, sizeof k[0], cmp_map_key);
    return;
  }
  for (int i = 1; i < n; i++) {
    map_key x = k[i];
    int j = i;
    for (; j > 0 && strcmp(k[j - 1].s, x.s) > 0; j--) k[j] = k[j - 1];
    k[j] = x;
  }
}

/*
** The map at idx encoded in its keys' sorted order (URLs are
** deterministic).  One traversal leaves every key and value on the stack
** (a string key, kept there, stays valid; no key is looked up again), the
** keys are sorted, the pairs emitted; the stack is restored.  The errors,
** and their order, are lurl_sorted_keys's: a key that is no string, then
** more than MAP_MAX keys, and only then the values, in the keys' order.
*/
static void encode_map(req *r, qwriter *w, int idx, const char *field) {
  lua_State *L = r->L;
  map_key keys[MAP_MAX];
  int base = lua_gettop(L), n = 0;
  luaL_checkstack(L, 20, "too many keys");
  lua_pushnil(L);
  while (lua_next(L, idx)) { /* ..., k, v */
    if (lua_type(L, -2) != LUA_TSTRING) {
      lua_pop(L, 1);
      lurl_req_field_error(r, field, "string key", -1);
    }
    if (n == MAP_MAX) lurl_field_error(L, r->argn, r->fname, field, "too many keys, 256 at most");
    keys[n].s = lua_tolstring(L, -2, &keys[n].len); /* a string: no conversion */
    keys[n].at = lua_gettop(L);
    if (++n % 8 == 0) luaL_checkstack(L, 20, "too many keys"); /* 2 slots a key */
    lua_pushvalue(L, -2); /* the key again, for lua_next; k and v stay */
  }
  luaL_checkstack(L, 8, "too many keys"); /* add_pair's own, as before the traversal */
  sort_keys(keys, n);
  for (int i = 0; i < n; i++) add_pair(r, w, keys[i].at - 1, keys[i].at, field);
  lua_settop(L, base);
}

/* lurl_req_encode_table through w (its creator flushes it). */
static void encode_table(req *r, qwriter *w, int idx, const char *field) {
  lua_State *L = r->L;
  idx = lua_absindex(L, idx);
  if (lurl_req_pairs_copy(L, idx)) { /* the copy is encoded, then dropped */
    encode_table(r, w, -1, field);
    lua_pop(L, 1);
    return;
  }
  if (lua_rawlen(L, idx) > 0) { /* array of pairs */
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
      if (lua_rawgeti(L, idx, i) != LUA_TTABLE) lurl_req_field_error(r, field, "{key, value} pair", -1);
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      if (lua_type(L, -2) != LUA_TSTRING && lua_type(L, -2) != LUA_TNUMBER)
        lurl_req_field_error(r, field, "string key", -2);
      lua_pushvalue(L, -2);
      lua_tostring(L, -1); /* a number key becomes a string, on a copy */
      add_pair(r, w, lua_gettop(L), lua_gettop(L) - 1, field);
      lua_pop(L, 4);
    }
    return;
  }
  encode_map(r, w, idx, field);
}

/*
** Encodes the table at idx as a query / form string onto b: either a map
** (keys sorted, so URLs are deterministic) or an array of {k, v} pairs (kept
** in order).
*/
void lurl_req_encode_table(req *r, lurl_buf *b, int idx, const char *field) {
  qwriter w;
  w.b = b, w.start = b->len, w.n = 0;
  encode_table(r, &w, idx, field);
  qw_flush(r, &w);
}

/* Pushes an InvalidURL error [-0, +1]. */
static void invalid_url(lua_State *L, const char *method, const char *url,
                        const char *why) {
  lurl_push_error(L, "InvalidURL", why, method, url, -1);
}

/*
** A plain absolute URL: lower-case http or https, an authority that is a
** host name or IPv4 address with an optional port of 1 to 5 digits (no
** user, no IPv6 literal), then printable ASCII with no space, fragment or
** dot segment, nothing to requote (lurl_url_requote).  Such a URL needs no
** parsing here (libcurl parses it when it sends), which is most of the
** cost of a small request; anything else takes libcurl's parser and its
** checks.  Returns the length of its scheme and authority, or 0.
*/
static size_t plain_url(const char *url) {
  size_t p;
  if (strncmp(url, "http://", 7) == 0) p = 7;
  else if (strncmp(url, "https://", 8) == 0) p = 8;
  else return 0;
  size_t i = p, colon = 0;
  for (; url[i] && url[i] != '/' && url[i] != '?'; i++) {
    unsigned char c = (unsigned char)url[i];
    int digit = c >= '0' && c <= '9';
    if (c == ':' && !colon) colon = i;
    else if (colon ? !digit : !(digit || ((c | 32) >= 'a' && (c | 32) <= 'z') || c == '.' ||
                                c == '-'))
      return 0;
  }
  size_t auth_end = i;
  if (auth_end == p || colon == p || url[p] == '.' ||
      (colon && (auth_end - colon < 2 || auth_end - colon > 6)))
    return 0; /* no host, a leading dot, an empty or long port: parse_url decides */
  if (strstr(url + auth_end, "/.")) return 0;
  for (; url[i]; i++)
    if (url[i] == '#' || lurl_url_quotes(url, i)) return 0;
  return auth_end;
}

/* Leaves the error on top in the slot at base + 1, with nothing above. */
static int url_fail(lua_State *L, int base, lurl_box *bx) {
  lurl_box_free(bx);
  lua_closeslot(L, base + 2);
  lua_replace(L, base + 1);
  lua_settop(L, base + 1);
  return -1;
}

/* Does s hold a byte of the set? */
static int has_byte(const char *s, int (*in)(unsigned char)) {
  for (; *s; s++)
    if (in((unsigned char)*s)) return 1;
  return 0;
}
static int non_ascii(unsigned char c) { return c >= 0x80; }
static int is_space(unsigned char c) { return c == ' '; }

/*
** The authority of a parsed URL made what requests sends: a host that
** begins with a dot or a star is refused ("URL has an invalid label", as
** requests says), a non-ASCII host becomes its IDNA 2008 (UTS #46)
** punycode form, a raw space in the user or password becomes %20 (libcurl
** decodes it back for Basic auth).  Returns NULL, or why the URL is
** refused.  libcurl's own IDN conversion (CURLU_PUNYCODE) reads the host
** in the process's locale, which is "C" unless the host program set one:
** libidn2 is asked for UTF-8 input instead.
*/
static const char NOMEM[] = "not enough memory";

static const char *fix_authority(lurl_box *bx) {
  char **tmp = &bx->s[2];
  if (curl_url_get(bx->u, CURLUPART_HOST, tmp, 0) != CURLUE_OK || !*tmp) return NULL;
  if ((*tmp)[0] == '.' || (*tmp)[0] == '*') return "URL has an invalid label";
  if (has_byte(*tmp, non_ascii)) {
    char *puny = NULL;
    int rc = idn2_lookup_u8((const uint8_t *)*tmp, (uint8_t **)&puny,
                            IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK) return "URL has an invalid label (not an international domain name)";
    CURLUcode uc = curl_url_set(bx->u, CURLUPART_HOST, puny, 0);
    idn2_free(puny);
    if (uc != CURLUE_OK) return "URL has an invalid label";
  }
  static const CURLUPart parts[] = {CURLUPART_USER, CURLUPART_PASSWORD};
  for (int i = 0; i < 2; i++) {
    curl_free(*tmp);
    *tmp = NULL;
    if (curl_url_get(bx->u, parts[i], tmp, 0) != CURLUE_OK || !*tmp || !has_byte(*tmp, is_space))
      continue;
    lurl_buf_free(&bx->buf);
    for (const char *c = *tmp; *c; c++)
      if (lurl_buf_add(&bx->buf, *c == ' ' ? "%20" : c, *c == ' ' ? 3 : 1) != LURL_BUF_OK)
        return NOMEM;
    if (curl_url_set(bx->u, parts[i], bx->buf.data, 0) != CURLUE_OK)
      return "bad user or password in URL";
    lurl_buf_free(&bx->buf);
  }
  return NULL;
}

/*
** Validates a URL that is not plain (http or https, with a host), requotes
** it and normalises it with libcurl's parser; pushes the result [-0, +1], or
** returns -1 with an error pushed instead.  What libcurl allocates lives in
** a box, so no error or out-of-memory leaks it.
*/
static int parse_url(req *r, const char *method, const char *url) {
  lua_State *L = r->L;
  int base = lua_gettop(L);
  lua_pushnil(L); /* base + 1: the result; the box above it is to-be-closed */
  lurl_box *bx = lurl_box_push(L);
  size_t n = strlen(url), from = 0;
  while (n && (unsigned char)url[n - 1] <= ' ') n--; /* C0 controls and spaces around */
  while (from < n && (unsigned char)url[from] <= ' ') from++; /* the URL: WHATWG's rule */
  if (from || url[n]) url = lua_pushlstring(L, url + from, n - from); /* kept, as below */
  if (lurl_url_lacks_host(url)) {
    invalid_url(L, method, url, "no host in URL");
    return url_fail(L, base, bx);
  }
  if (lurl_url_needs_requote(url)) { /* "a b" -> "a%20b", as requests sends it */
    if (lurl_url_requote(&bx->buf, url) != LURL_BUF_OK) return luaL_error(L, "not enough memory");
    lua_pushlstring(L, bx->buf.data, bx->buf.len);
    lurl_buf_free(&bx->buf);
    url = lua_tostring(L, -1); /* stays below the result until it is pushed */
  }
  if (!(bx->u = curl_url())) return luaL_error(L, "not enough memory");
  CURLUcode uc = curl_url_set(bx->u, CURLUPART_URL, url,
                              CURLU_NON_SUPPORT_SCHEME | CURLU_ALLOW_SPACE);
  if (uc != CURLUE_OK) {
    if (!strstr(url, "://")) {
      lua_pushfstring(L, "no scheme in URL: did you mean http://%s ?", lurl_redact_url(L, url));
      invalid_url(L, method, url, lua_tostring(L, -1));
    } else {
      invalid_url(L, method, url, curl_url_strerror(uc));
    }
    return url_fail(L, base, bx);
  }
  curl_url_get(bx->u, CURLUPART_SCHEME, &bx->s[0], 0);
  const char *scheme = bx->s[0];
  if (!scheme || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
    lua_pushfstring(L, "unsupported scheme '%s': only http and https are spoken",
                    scheme ? scheme : "");
    invalid_url(L, method, url, lua_tostring(L, -1));
    return url_fail(L, base, bx);
  }
  const char *why = fix_authority(bx);
  if (why == NOMEM) return luaL_error(L, "not enough memory");
  if (why) {
    invalid_url(L, method, url, why);
    return url_fail(L, base, bx);
  }
  if (lurl_limits_check_url(L, bx->u, method, url, r->opts, r->defs) != 0) /* limit.c */
    return url_fail(L, base, bx);
  /* a fragment stays in the URL (res.url, res.request.url, as requests
  ** keeps it): libcurl never sends it, the request target is path and
  ** query alone */
  uc = curl_url_get(bx->u, CURLUPART_URL, &bx->s[1], 0);
  if (uc != CURLUE_OK) {
    invalid_url(L, method, url, curl_url_strerror(uc));
    return url_fail(L, base, bx);
  }
  lua_pushstring(L, bx->s[1]);
  lurl_box_free(bx);
  lua_closeslot(L, base + 2);
  lua_replace(L, base + 1); /* the final URL alone, as callers expect */
  lua_settop(L, base + 1);
  return 0;
}

/* Appends the params option to the URL on top [-1, +1].  They are appended
** as we encoded them: libcurl's query editing would re-case some escapes.
** The new URL is made in the engine's scratch buffer (engine.c), the
** query encoded in place after the URL's own: one string made, and a bad
** value further on raises and leaves nothing to free. */
static void add_params(req *r, int flags) {
  if ((flags & HOP_NO_PARAMS) || !HAS(r, O_PARAMS)) return;
  lua_State *L = r->L;
  int url_i = lua_gettop(L);
  int ty = lurl_req_opt(r, O_PARAMS);
  if (ty == LUA_TNIL) {
    lua_settop(L, url_i);
    return;
  }
  if (ty != LUA_TTABLE && ty != LUA_TSTRING) lurl_req_field_error(r, "params", "table", -1);
  /* __pairs runs Lua code, which could start a request of its own and use
  ** the scratch buffer: it runs first */
  if (ty == LUA_TTABLE && lurl_req_pairs_copy(L, -1)) lua_replace(L, -2);
  size_t ulen;
  const char *cur = lua_tolstring(L, url_i, &ulen);
  /* the query goes before a fragment ("#a?b": that '?' is the fragment's) */
  const char *hash = memchr(cur, '#', ulen);
  size_t before = hash ? (size_t)(hash - cur) : ulen;
  const char *qm = memchr(cur, '?', before);
  const char *sep = !qm ? "?" : qm + 1 < cur + before ? "&" : "";
  qwriter w;
  w.b = lurl_engine_scratch(r->e);
  if (lurl_buf_add(w.b, cur, before) != LURL_BUF_OK) luaL_error(L, "not enough memory");
  int rc = 0;
  w.n = *sep ? 1 : 0;
  w.tmp[0] = *sep;
  w.start = w.b->len + w.n;
  if (ty == LUA_TTABLE) {
    encode_table(r, &w, url_i + 1, "params");
  } else {
    size_t qn;
    const char *q = lua_tolstring(L, -1, &qn);
    qw_flush(r, &w);
    rc |= lurl_buf_add(w.b, q, qn);
  }
  qw_flush(r, &w);
  lurl_buf *b = w.b;
  if (b->len > w.start) { /* the URL, its separator, the query and the fragment */
    if (before < ulen) rc |= lurl_buf_add(b, cur + before, ulen - before);
    if (rc) luaL_error(L, "not enough memory");
    lua_pushlstring(L, b->data, b->len);
    lua_replace(L, url_i);
  }
  lua_settop(L, url_i);
}

/* Validates the URL (the string at stack index url_idx), merges params
** into its query, and pushes the final URL [-0, +1].  Returns 0, or -1
** with an error object pushed instead. */
int lurl_req_build_url(req *r, const char *method, int url_idx, int flags) {
  const char *url = lua_tostring(r->L, url_idx);
  lua_State *L = r->L;
  lurl_url_memo *m = r->memo ? (lurl_url_memo *)lua_touserdata(L, r->memo) : NULL;
  size_t auth_end;
  if (m && m->url == url) {
    auth_end = m->auth_end;
  } else {
    auth_end = plain_url(url);
    if (m) { /* remembered: the user value keeps the string, see lurl_url_memo */
      lua_pushvalue(L, url_idx);
      lua_setiuservalue(L, r->memo, 1);
      m->url = url, m->auth_end = auth_end;
    }
  }
  if (flags & HOP_CHECK) {
    lua_pushvalue(L, url_idx); /* a dry run: only the options matter */
  } else if (auth_end && !lurl_limits_urls(L)) {
    if (url[auth_end] == '?') { /* "http://h?q" -> "http://h/?q", as libcurl writes it */
      lua_pushlstring(L, url, auth_end);
      lua_pushliteral(L, "/");
      lua_pushstring(L, url + auth_end);
      lua_concat(L, 3);
    } else if (url[auth_end] == '\0') {
      lua_pushfstring(L, "%s/", url);
    } else {
      lua_pushvalue(L, url_idx); /* the caller's string as it is: no copy */
    }
  } else if (parse_url(r, method, url) != 0) {
    return -1;
  }
  add_params(r, flags);
  return 0;
}

/* Pushes the scheme and host of an absolute URL (for proxy decisions). */
void lurl_req_scheme_host(lua_State *L, const char *url) {
  const char *p = strstr(url, "://");
  lua_pushlstring(L, url, p ? (size_t)(p - url) : 0);
  const char *h = p ? p + 3 : url;
  size_t n = strcspn(h, "/?#");
  const char *at = NULL;
  for (size_t i = 0; i < n; i++) if (h[i] == '@') at = h + i;
  if (at) { n -= (size_t)(at + 1 - h); h = at + 1; }
  if (*h == '[') {
    const char *e = memchr(h, ']', n);
    lua_pushlstring(L, h + 1, e ? (size_t)(e - h - 1) : n - 1);
  } else {
    size_t hn = strcspn(h, ":/?#");
    lua_pushlstring(L, h, hn < n ? hn : n);
  }
}

/* core.form(t, fname, argn, field) -> t form-encoded as `params` and
** `data` are on the wire (the same bytes): for lurl.auth, which shows
** auth functions the URL and the body that will be sent.  Raises as
** core.start would, naming the user's call and the field. */
int lurl_req_core_form(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  req r;
  memset(&r, 0, sizeof r);
  r.L = L;
  r.fname = luaL_checkstring(L, 2);
  r.argn = (int)luaL_checkinteger(L, 3);
  const char *field = luaL_checkstring(L, 4);
  lurl_box *bx = lurl_box_push(L); /* a bad value further on raises */
  lurl_req_encode_table(&r, &bx->buf, 1, field);
  lua_pushlstring(L, bx->buf.data ? bx->buf.data : "", bx->buf.len);
  return 1; /* the box is closed by Lua when the call returns */
}
