/*
** redact.c -- which parts of a URL are secret, and scrubbing them out.
**
** The one place that knows the secret parts of a URL (SPEC, Errors):
**   - the user part: "https://TOKEN@host/" hides the whole user part,
**     "https://user:pw@host/" the password only (a user part with an empty
**     password, "TOKEN:@host", is a token too, and hidden whole);
**   - the values of the query parameters named in SECRET_PARAMS (any letter
**     case, percent-encoded names decoded first), and of the extra names a
**     session's or request's `redact` option adds; the same names in the
**     fragment too ("#access_token=..." is how OAuth's implicit flow hands a
**     token back in a Location).
** Error objects (errors.c) store URLs through lurl_redact_url; Lua reaches
** the same rules as core.redact, core.url_secrets and core.scrub, which
** lua/lurl/redact.lua builds the header and body rules on.  Everything here
** is one pass over its input: a hostile URL or body costs linear time.
*/
#define _GNU_SOURCE /* memmem: glibc's is linear (two-way) in the text */
#include <limits.h>
#include <string.h>

#include <lauxlib.h>

#include "redact.h"

#define MASK "***"

/* The closed list of query parameters whose values are secret (SPEC). */
static const char *const secret_params[] = {
  "access_token", "token", "api_key", "apikey", "client_secret", "password", "sig",
  "signature", "x-amz-signature", "x-amz-credential", "x-amz-security-token", NULL};

enum { SPAN_INFO, SPAN_PASSWORD, SPAN_USER, SPAN_PARAM };

/* One secret part of a URL: bytes [from, to) of kind SPAN_*. */
typedef void (*span_fn)(void *ud, size_t from, size_t to, int kind);

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes a parameter name into out (lower case); returns its
** length, or (size_t)-1 when it is longer than any name worth comparing. */
static size_t decode_name(const char *s, size_t n, char *out, size_t cap) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    } else if (c == '+') {
      c = ' ';
    }
    if (k >= cap) return (size_t)-1;
    out[k++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
  }
  return k;
}

static int ieq(const char *lower, size_t n, const char *s, size_t sn) {
  if (n != sn) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (((c >= 'A' && c <= 'Z') ? (char)(c + 32) : c) != lower[i]) return 0;
  }
  return 1;
}

/* Is the (encoded) parameter name secret: on the list, or one of the
** strings in the table at `names` (0: none)? */
static int secret_name(lua_State *L, const char *s, size_t n, int names) {
  char low[128];
  size_t k = decode_name(s, n, low, sizeof low);
  if (k == (size_t)-1 || k == 0) return 0;
  for (int i = 0; secret_params[i]; i++)
    if (ieq(low, k, secret_params[i], strlen(secret_params[i]))) return 1;
  if (!names) return 0;
  lua_Integer len = (lua_Integer)lua_rawlen(L, names);
  for (lua_Integer i = 1; i <= len; i++) {
    size_t sn;
    int found = 0;
    if (lua_rawgeti(L, names, i) == LUA_TSTRING) {
      const char *x = lua_tolstring(L, -1, &sn);
      found = ieq(low, k, x, sn);
    }
    lua_pop(L, 1);
    if (found) return 1;
  }
  return 0;
}

/* Reports the values of secret parameters in url[from, to): '&'-separated
** name=value pairs. */
static void param_spans(lua_State *L, const char *url, size_t from, size_t to, int names,
                        span_fn fn, void *ud) {
  size_t i = from;
  while (i < to) {
    const char *amp = memchr(url + i, '&', to - i);
    size_t end = amp ? (size_t)(amp - url) : to;
    const char *eq = memchr(url + i, '=', end - i);
    if (eq && (size_t)(eq - url) + 1 < end && secret_name(L, url + i, (size_t)(eq - url) - i, names))
      fn(ud, (size_t)(eq - url) + 1, end, SPAN_PARAM);
    i = end + 1;
  }
}

/* Where the authority starts: after "scheme://" or "//"; a URL without
** either (a mistyped "user:pw@host/x") is read as starting with one when
** an '@' comes before the first '/', '?' or '#'.  (size_t)-1: none. */
static size_t authority_start(const char *url, size_t n) {
  size_t i = 0;
  if (n > 0 && ((url[0] | 32) >= 'a' && (url[0] | 32) <= 'z')) {
    while (i < n && (((url[i] | 32) >= 'a' && (url[i] | 32) <= 'z') ||
                     (url[i] >= '0' && url[i] <= '9') || url[i] == '+' || url[i] == '-' ||
                     url[i] == '.'))
      i++;
    if (i + 2 < n && url[i] == ':' && url[i + 1] == '/' && url[i + 2] == '/') return i + 3;
  }
  if (n >= 2 && url[0] == '/' && url[1] == '/') return 2;
  size_t e = strcspn(url, "/?#");
  if (e > n) e = n;
  return memchr(url, '@', e) ? 0 : (size_t)-1;
}

/* Walks url[0, n) and reports each secret part, in order. */
static void url_spans(lua_State *L, const char *url, size_t n, int names, span_fn fn, void *ud) {
  size_t a = authority_start(url, n);
  size_t rest = 0; /* where the path starts */
  if (a != (size_t)-1) {
    size_t e = a;
    while (e < n && url[e] != '/' && url[e] != '?' && url[e] != '#') e++;
    size_t at = (size_t)-1;
    for (size_t i = a; i < e; i++)
      if (url[i] == '@') at = i; /* the last '@' ends the user part */
    if (at != (size_t)-1) {
      const char *colon = memchr(url + a, ':', at - a);
      if (colon && (size_t)(colon - url) + 1 < at) {
        fn(ud, a, at, SPAN_INFO); /* the whole user part, for Lua */
        fn(ud, (size_t)(colon - url) + 1, at, SPAN_PASSWORD);
      }
      else if (at > a)
        fn(ud, a, at, SPAN_USER);
    }
    rest = e;
  }
  const char *q = memchr(url + rest, '?', n - rest);
  const char *h = memchr(url + rest, '#', n - rest);
  if (q && (!h || q < h)) {
    size_t qs = (size_t)(q - url) + 1;
    param_spans(L, url, qs, h ? (size_t)(h - url) : n, names, fn, ud);
  }
  if (h) param_spans(L, url, (size_t)(h - url) + 1, n, names, fn, ud);
}

typedef struct {
  luaL_Buffer *b;
  const char *url;
  size_t done; /* bytes of url already copied */
} redactor;

static void mask_span(void *ud, size_t from, size_t to, int kind) {
  redactor *r = ud;
  if (kind == SPAN_INFO) return;
  luaL_addlstring(r->b, r->url + r->done, from - r->done);
  luaL_addstring(r->b, MASK);
  r->done = to;
}

/*
** Pushes url[0, n) with its secret parts replaced by "***" and returns it
** [-0, +1].  names: stack index of a table of extra parameter names, or 0.
** "http://u:pw@h/p?token=x&a=1" becomes "http://u:***@h/p?token=***&a=1".
*/
static const char *redact_url_n(lua_State *L, const char *url, size_t n, int names) {
  if (names) names = lua_absindex(L, names);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  redactor r = {&b, url, 0};
  url_spans(L, url, n, names, mask_span, &r);
  luaL_addlstring(&b, url + r.done, n - r.done);
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

const char *lurl_redact_url(lua_State *L, const char *url) {
  return redact_url_n(L, url, strlen(url), 0);
}

/* The extra names argument at index i: a table, or 0 for nil/none. */
static int opt_names(lua_State *L, int i) {
  if (lua_isnoneornil(L, i)) return 0;
  luaL_checktype(L, i, LUA_TTABLE);
  return i;
}

/* core.redact(url [, names]) -> url with its secret parts as "***". */
static int core_redact(lua_State *L) {
  size_t n;
  const char *url = luaL_checklstring(L, 1, &n);
  redact_url_n(L, url, n, opt_names(L, 2));
  return 1;
}

typedef struct {
  lua_State *L;
  const char *url;
  int out; /* index of the result table */
} collector;

static void collect_span(void *ud, size_t from, size_t to, int kind) {
  collector *c = ud;
  lua_State *L = c->L;
  static const char *const field[] = {"userinfo", "password", "user"};
  lua_pushlstring(L, c->url + from, to - from);
  if (kind == SPAN_PARAM)
    lua_rawseti(L, c->out, (lua_Integer)lua_rawlen(L, c->out) + 1);
  else
    lua_setfield(L, c->out, field[kind]);
}

/*
** core.url_secrets(url [, names]) -> {value, ..., user =, password =}:
** the raw (still percent-encoded) secret parameter values in order, and
** the user part's secret (`password` with the whole `userinfo`, or `user`
** when the whole user part is the secret), so Lua can add the decoded and Basic-encoded forms a
** server may echo.
*/
static int core_url_secrets(lua_State *L) {
  size_t n;
  const char *url = luaL_checklstring(L, 1, &n);
  int names = opt_names(L, 2);
  lua_newtable(L);
  collector c = {L, url, lua_gettop(L)};
  url_spans(L, url, n, names, collect_span, &c);
  return 1;
}

/*
** Replaces the text at index t with a copy in which every occurrence of
** each string of the array at index list is "***", in the array's order
** (callers put longer secrets first).  memmem keeps each pass linear in
** the text; this serves the few secrets of one URL (core.scrub, for any
** number of them, is below).  Strings shorter than `min` bytes are skipped.
*/
static void scrub_at(lua_State *L, int t, int list, size_t min) {
  lua_Integer k = (lua_Integer)lua_rawlen(L, list);
  for (lua_Integer i = 1; i <= k; i++) {
    size_t m, n;
    if (lua_rawgeti(L, list, i) != LUA_TSTRING) {
      lua_pop(L, 1);
      continue;
    }
    const char *s = lua_tolstring(L, -1, &m);
    const char *text = lua_tolstring(L, t, &n);
    const char *hit = m && m >= min ? memmem(text, n, s, m) : NULL;
    if (hit) {
      const char *p = text, *end = text + n;
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      while (hit) {
        luaL_addlstring(&b, p, (size_t)(hit - p));
        luaL_addstring(&b, MASK);
        p = hit + m;
        hit = memmem(p, (size_t)(end - p), s, m);
      }
      luaL_addlstring(&b, p, (size_t)(end - p));
      luaL_pushresult(&b);
      lua_replace(L, t);
    }
    lua_pop(L, 1);
  }
}

/*
** core.scrub in one pass whatever the number of secrets: an Aho-Corasick
** automaton over all of them (a HAR of a long session gathers a secret per
** rotating cookie, and scrubbing every body once per secret would grow with
** the square of the session's length).  Nodes keep their children in a
** list (no 256-entry tables: a secret may be a 90 KB cookie value), so each
** step scans at most 256 siblings.  All memory is in userdata: an error
** (out of memory) leaks nothing.
*/
typedef struct {
  int child, sibling, fail;
  int out; /* length of the longest secret that ends at this node */
  unsigned char c;
} acnode;

static int ac_child(const acnode *t, int n, unsigned char c) {
  for (int k = t[n].child; k; k = t[k].sibling)
    if (t[k].c == c) return k;
  return 0;
}

/* Builds the automaton of the strings of the array at `list` (those of
** `min` bytes or more) in a userdata it pushes [-0, +1]; NULL if none. */
static acnode *ac_build(lua_State *L, int list, size_t min) {
  lua_Integer k = (lua_Integer)lua_rawlen(L, list);
  size_t total = 1;
  for (lua_Integer i = 1; i <= k; i++) {
    size_t m = 0;
    if (lua_rawgeti(L, list, i) == LUA_TSTRING) lua_tolstring(L, -1, &m);
    lua_pop(L, 1);
    if (m >= min && m > 0) total += m;
  }
  if (total > (size_t)INT_MAX / 2) luaL_error(L, "too many secrets to scrub");
  acnode *t = lua_newuserdatauv(L, total * sizeof *t, 0);
  memset(t, 0, total * sizeof *t);
  int nn = 1;
  for (lua_Integer i = 1; i <= k; i++) {
    size_t m = 0;
    const char *s = lua_rawgeti(L, list, i) == LUA_TSTRING ? lua_tolstring(L, -1, &m) : NULL;
    if (s && m >= min && m > 0) {
      int cur = 0;
      for (size_t j = 0; j < m; j++) {
        int nx = ac_child(t, cur, (unsigned char)s[j]);
        if (!nx) {
          nx = nn++;
          t[nx].c = (unsigned char)s[j];
          t[nx].sibling = t[cur].child;
          t[cur].child = nx;
        }
        cur = nx;
      }
      if ((int)m > t[cur].out) t[cur].out = (int)m;
    }
    lua_pop(L, 1);
  }
  if (nn == 1) return NULL;
  /* failure links, breadth first, with the longest secret ending at each
  ** node (its own, else the one its failure node ends) */
  int *q = lua_newuserdatauv(L, (size_t)nn * sizeof *q, 0);
  int head = 0, tail = 0;
  for (int c = t[0].child; c; c = t[c].sibling) q[tail++] = c;
  while (head < tail) {
    int u = q[head++];
    for (int v = t[u].child; v; v = t[v].sibling) {
      int f = t[u].fail, x;
      while (!(x = ac_child(t, f, t[v].c)) && f) f = t[f].fail;
      t[v].fail = u == 0 ? 0 : x;
      if (t[t[v].fail].out > t[v].out) t[v].out = t[t[v].fail].out;
      q[tail++] = v;
    }
  }
  lua_pop(L, 1);
  return t;
}

/* string.sub's rule for a range [i, j] of a string of n bytes: 0-based
** [*from, *to), empty when i > j. */
static void sub_range(lua_Integer i, lua_Integer j, size_t n, size_t *from, size_t *to) {
  lua_Integer len = (lua_Integer)n;
  if (i < 0) i = i < -len ? 1 : len + i + 1;
  if (i < 1) i = 1;
  if (j < 0) j = j < -len ? 0 : len + j + 1;
  if (j > len) j = len;
  *from = (size_t)(i - 1);
  *to = i <= j ? (size_t)j : *from;
}

/* The coverage of text[0, n): reach[i] > 0 when byte i is inside a
** secret; NULL when no secret occurs.  A match of length m ending at j
** covers j-m+1..j; sweeping right to left carries the coverage. */
static int *ac_cover(lua_State *L, const acnode *t, const char *text, size_t n) {
  int *reach = lua_newuserdatauv(L, n * sizeof *reach, 0);
  int st = 0, any = 0;
  for (size_t i = 0; i < n; i++) {
    int x;
    while (!(x = ac_child(t, st, (unsigned char)text[i])) && st) st = t[st].fail;
    st = x;
    reach[i] = t[st].out;
    any |= reach[i];
  }
  if (!any) return NULL;
  int carry = 0;
  for (size_t i = n; i-- > 0;) {
    carry = carry - 1 > reach[i] ? carry - 1 : reach[i];
    reach[i] = carry;
  }
  return reach;
}

/*
** core.scrub(text, secrets [, i [, j]]) -> text with every occurrence of
** each string of the array `secrets` replaced by "***" (overlapping or
** adjacent occurrences become one "***").  With i, j: only that range of
** the result (as string.sub counts), where a secret that crosses the
** range's edge is masked too: an excerpt never shows part of a secret.
*/
static int core_scrub(lua_State *L) {
  size_t n, from, to;
  const char *text = luaL_checklstring(L, 1, &n);
  luaL_checktype(L, 2, LUA_TTABLE);
  sub_range(luaL_optinteger(L, 3, 1), luaL_optinteger(L, 4, -1), n, &from, &to);
  lua_settop(L, 2);
  const acnode *t = n ? ac_build(L, 2, 1) : NULL;
  const int *reach = t ? ac_cover(L, t, text, n) : NULL;
  if (!reach) {
    lua_pushlstring(L, text + from, to - from);
    return 1;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = from; i < to;) {
    if (reach[i] > 0) {
      luaL_addstring(&b, MASK);
      while (i < to && reach[i] > 0) i++;
    } else {
      size_t j = i;
      while (j < to && reach[j] <= 0) j++;
      luaL_addlstring(&b, text + i, j - i);
      i = j;
    }
  }
  luaL_pushresult(&b);
  return 1;
}

static void list_span(void *ud, size_t from, size_t to, int kind) {
  collector *c = ud;
  if (kind == SPAN_INFO) return;
  lua_pushlstring(c->L, c->url + from, to - from);
  lua_rawseti(c->L, c->out, (lua_Integer)lua_rawlen(c->L, c->out) + 1);
}

static int scheme_char(char c) {
  return ((c | 32) >= 'a' && (c | 32) <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '-' || c == '.';
}

/* Redacts, in place, every URL the string at index t quotes: from a
** scheme and "://" up to a space, a quote or an angle bracket.  libcurl
** quotes the proxy URL it could not use ("Unsupported proxy syntax in
** 'http://user:pw@...'"). */
static void redact_quoted_urls(lua_State *L, int t) {
  size_t n;
  const char *m = lua_tolstring(L, t, &n);
  const char *p = memmem(m, n, "://", 3);
  if (!p) return;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t done = 0;
  while (p) {
    size_t s = (size_t)(p - m), e = s + 3;
    while (s > done && scheme_char(m[s - 1])) s--;
    while (e < n && !memchr(" \t\r\n'\"<>", m[e], 8)) e++;
    luaL_addlstring(&b, m + done, s - done);
    redactor r = {&b, m + s, 0};
    url_spans(L, m + s, e - s, 0, mask_span, &r);
    luaL_addlstring(&b, m + s + r.done, e - s - r.done);
    done = e;
    p = e < n ? memmem(m + e, n - e, "://", 3) : NULL;
  }
  luaL_addlstring(&b, m + done, n - done);
  luaL_pushresult(&b);
  lua_replace(L, t);
}

/*
** Pushes an error message made safe to show [-0, +1]: the secret parts of
** url (raw, as they appear in the URL; url may be NULL) replaced by "***",
** since a message that quotes its URL must not undo the redaction of
** err.url, and every URL it quotes redacted.  Parts of url shorter than 3
** bytes are left: a password "x" would otherwise turn every x into "***".
*/
const char *lurl_scrub_message(lua_State *L, const char *msg, const char *url) {
  lua_pushstring(L, msg);
  int t = lua_gettop(L);
  if (url) {
    lua_newtable(L);
    collector c = {L, url, t + 1};
    url_spans(L, url, strlen(url), 0, list_span, &c);
    scrub_at(L, t, t + 1, 3);
    lua_pop(L, 1);
  }
  redact_quoted_urls(L, t);
  return lua_tostring(L, -1);
}

/* core.secret_params() -> the closed list of secret query parameter
** names, lower case (for documentation and specs). */
static int core_secret_params(lua_State *L) {
  lua_newtable(L);
  for (int i = 0; secret_params[i]; i++) {
    lua_pushstring(L, secret_params[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

void lurl_redact_open(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"redact", core_redact}, {"url_secrets", core_url_secrets}, {"scrub", core_scrub},
    {"secret_params", core_secret_params}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
