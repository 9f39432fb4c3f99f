/*
** response.c -- what a finished transfer becomes in Lua.
**
** core.result(transfer) -> res | nil, err
** The response table holds what nearly every caller reads (status, reason,
** url, body, http_version, elapsed, timings) and keeps the raw header block
** so that headers, header_list, links, cookies and text are built only when
** a script asks for them (lua/http/response.lua does that lazily through
** core.parse_headers, core.links and core.to_utf8).
*/
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#include "certs.h"
#include "handle.h"
#include "luac.h"
#include "response.h"

static const struct { int code; const char *reason; } reasons[] = {
  {100, "Continue"}, {101, "Switching Protocols"}, {200, "OK"}, {201, "Created"},
  {202, "Accepted"}, {203, "Non-Authoritative Information"}, {204, "No Content"},
  {205, "Reset Content"}, {206, "Partial Content"}, {300, "Multiple Choices"},
  {301, "Moved Permanently"}, {302, "Found"}, {303, "See Other"}, {304, "Not Modified"},
  {307, "Temporary Redirect"}, {308, "Permanent Redirect"}, {400, "Bad Request"},
  {401, "Unauthorized"}, {402, "Payment Required"}, {403, "Forbidden"},
  {404, "Not Found"}, {405, "Method Not Allowed"}, {406, "Not Acceptable"},
  {407, "Proxy Authentication Required"}, {408, "Request Timeout"}, {409, "Conflict"},
  {410, "Gone"}, {411, "Length Required"}, {412, "Precondition Failed"},
  {413, "Content Too Large"}, {414, "URI Too Long"}, {415, "Unsupported Media Type"},
  {416, "Range Not Satisfiable"}, {417, "Expectation Failed"}, {418, "I'm a teapot"},
  {421, "Misdirected Request"}, {422, "Unprocessable Content"}, {425, "Too Early"},
  {426, "Upgrade Required"}, {428, "Precondition Required"}, {429, "Too Many Requests"},
  {431, "Request Header Fields Too Large"}, {451, "Unavailable For Legal Reasons"},
  {500, "Internal Server Error"}, {501, "Not Implemented"}, {502, "Bad Gateway"},
  {503, "Service Unavailable"}, {504, "Gateway Timeout"},
  {505, "HTTP Version Not Supported"}, {511, "Network Authentication Required"},
};

/* The standard reason phrase (HTTP/2 responses carry none). */
static void reason_phrase(int code, const char **s) {
  *s = "";
  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
    if (reasons[i].code == code) *s = reasons[i].reason;
}

static double secs(CURL *h, CURLINFO what) {
  curl_off_t us = 0;
  curl_easy_getinfo(h, what, &us);
  return (double)us / 1e6;
}

static void setnum(lua_State *L, const char *k, double v) {
  lua_pushnumber(L, v < 0 ? 0 : v);
  lua_setfield(L, -2, k);
}

/* The timing phases of a finished hop, kept as plain numbers until a
** script reads res.timings (core.timings builds the table then), then the
** raw header block, the request's method and the record of the request
** header lines lurl set (one object for all four: res._head, res.method
** and res._reqhead are made from it when read, see lua/http/response.lua;
** a response table of four fields is half the size of one with five, and
** most scripts never read what was sent). */
typedef struct timings {
  const char *tag;  /* timings_tag: marks a timings userdata */
  double dns, connect, tls, ttfb, total;
  curl_off_t req_size;  /* CURLINFO_REQUEST_SIZE, for res.bytes */
  lurl_bytes bytes;     /* the rest of res.bytes */
  size_t head_len;  /* the header block follows the struct */
  size_t method_len; /* then the method */
  size_t reqhead_len; /* then the request head record, unless it is the
                         default one (lurl_default_reqhead): reqhead_default */
  int reqhead_default;
  struct lurl_chain *chain; /* https: the peer chain (certs.c), dropped by
                         __gc, which only such a userdata has; else NULL */
} timings;

static const char timings_tag[] = "http.timings";
#define TIMINGS_CHAIN_MT "http.timings_chain"

static int timings_gc(lua_State *L) {
  timings *tm = (timings *)lua_touserdata(L, 1);
  lurl_chain_unref(tm->chain);
  tm->chain = NULL;
  return 0;
}

/* Pushes a userdata holding the hop's timing phases, the header block,
** the method and the request head record [-0, +1]; returns the total. */
double lurl_push_timings(lua_State *L, CURL *h, const lurl_buf *head, const char *method,
                         size_t method_len, const char *reqhead, size_t reqhead_len,
                         struct lurl_chain *chain, const lurl_bytes *bytes) {
  double dns = secs(h, CURLINFO_NAMELOOKUP_TIME_T);
  double con = secs(h, CURLINFO_CONNECT_TIME_T);
  double tls = secs(h, CURLINFO_APPCONNECT_TIME_T);
  double pre = secs(h, CURLINFO_PRETRANSFER_TIME_T);
  double st = secs(h, CURLINFO_STARTTRANSFER_TIME_T);
  int dflt = reqhead == lurl_default_reqhead();
  if (dflt) reqhead_len = 0;
  timings *tm = (timings *)lua_newuserdatauv(L, sizeof *tm + head->len + method_len +
                                                    reqhead_len, 0);
  tm->tag = timings_tag;
  tm->head_len = head->len;
  tm->method_len = method_len;
  tm->reqhead_len = reqhead_len;
  tm->reqhead_default = dflt;
  tm->chain = chain;
  if (chain) luaL_setmetatable(L, TIMINGS_CHAIN_MT); /* its __gc drops the chain */
  char *p = (char *)(tm + 1);
  if (head->len) memcpy(p, head->data, head->len);
  memcpy(p + head->len, method, method_len);
  if (reqhead_len) memcpy(p + head->len + method_len, reqhead, reqhead_len);
  tm->dns = dns;
  tm->connect = con > 0 ? con - dns : 0;
  tm->tls = tls > 0 ? tls - con : 0;
  tm->ttfb = st > 0 ? st - pre : 0;
  tm->total = secs(h, CURLINFO_TOTAL_TIME_T);
  long req = 0; /* the one counter lurl cannot keep itself: libcurl writes the head */
  curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &req);
  tm->req_size = req;
  tm->bytes = *bytes;
  return tm->total;
}

static timings *check_timings(lua_State *L, int idx) {
  timings *tm = (timings *)lurl_totagged(L, idx, sizeof *tm, timings_tag);
  luaL_argcheck(L, tm != NULL, idx, "timings expected");
  return tm;
}

/* core.hop_info(tm, what): "version" -> "1.1" (HTTP version of the hop),
** "total" -> seconds, "head" -> the raw header block, "method" -> the
** request's method, "reqhead" -> the request header lines lurl set.
** res.http_version, res.elapsed, res._head, res.method and res._reqhead,
** read lazily. */
static int core_hop_info(lua_State *L) {
  timings *tm = check_timings(L, 1);
  const char *what = luaL_checkstring(L, 2);
  if (strcmp(what, "total") == 0) {
    lua_pushnumber(L, tm->total);
  } else if (strcmp(what, "head") == 0) {
    lua_pushlstring(L, (const char *)(tm + 1), tm->head_len);
  } else if (strcmp(what, "method") == 0) {
    lua_pushlstring(L, (const char *)(tm + 1) + tm->head_len, tm->method_len);
  } else if (strcmp(what, "reqhead") == 0) {
    if (tm->reqhead_default) lua_pushstring(L, lurl_default_reqhead());
    else lua_pushlstring(L, (const char *)(tm + 1) + tm->head_len + tm->method_len,
                         tm->reqhead_len);
  } else { /* the version is read from the head's status line when asked
            ** (what libcurl's CURLINFO_HTTP_VERSION says: the head holds
            ** the final response's block only, see lurl_on_header) */
    const char *head = (const char *)(tm + 1);
    const char *v = "1.1";
    if (tm->head_len > 6 && memcmp(head, "HTTP/", 5) == 0) {
      if (head[5] == '2') v = "2";
      else if (head[5] == '3') v = "3";
      else if (tm->head_len > 8 && memcmp(head + 5, "1.0", 3) == 0) v = "1.0";
    }
    lua_pushstring(L, v);
  }
  return 1;
}

/* core.reason(head, status) -> the reason phrase of the head's status line,
** else the standard one for status, else "".  res.reason, read lazily. */
static int core_reason(lua_State *L) {
  size_t n;
  const char *head = luaL_checklstring(L, 1, &n);
  int code = (int)luaL_checkinteger(L, 2);
  lurl_status st;
  size_t eol = n ? strcspn(head, "\r\n") : 0;
  if (eol && lurl_parse_status(head, eol, &st) == 0 && st.reason_len) {
    lua_pushlstring(L, st.reason, st.reason_len);
  } else {
    const char *r;
    reason_phrase(code, &r);
    lua_pushstring(L, r);
  }
  return 1;
}

/*
** core.bytes(ud [, body_len]) -> {sent=, received=, headers=}: res.bytes,
** read lazily.  sent is the request's head and body, received the
** response's head and body (as on the wire: before content decoding),
** headers the response head.  body_len is the length of a string body
** (res._reqbody): libcurl 7.88 sends one under 64 KiB in one write with the
** head and counts it in CURLINFO_REQUEST_SIZE; a longer one it sends after.
*/
static int core_bytes(lua_State *L) {
  timings *tm = check_timings(L, 1);
  lua_Integer body = luaL_optinteger(L, 2, 0);
  curl_off_t sent = tm->req_size;
  if (tm->bytes.up >= 0) sent += tm->bytes.up; /* a body libcurl read */
  else if (body >= 65536) sent += body;
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)sent);
  lua_setfield(L, -2, "sent");
  lua_pushinteger(L, (lua_Integer)(tm->bytes.head_in + tm->bytes.down));
  lua_setfield(L, -2, "received");
  lua_pushinteger(L, (lua_Integer)tm->bytes.head_in);
  lua_setfield(L, -2, "headers");
  return 1;
}

void lurl_timings_set_bytes(lua_State *L, int idx, curl_off_t head_in, curl_off_t down) {
  timings *tm = check_timings(L, idx);
  tm->bytes.head_in = head_in;
  tm->bytes.down = down;
}

/* core.certificate(ud) -> the peer chain (certs.c) of an https hop, or
** nil: res.certificate, read lazily. */
static int core_certificate(lua_State *L) {
  timings *tm = check_timings(L, 1);
  if (tm->chain) lurl_chain_push(L, tm->chain);
  else lua_pushnil(L);
  return 1;
}

/* core.timings(ud) -> {dns=, connect=, tls=, ttfb=, total=, redirect=0} */
static int core_timings(lua_State *L) {
  timings *tm = check_timings(L, 1);
  lua_createtable(L, 0, 6);
  setnum(L, "dns", tm->dns);
  setnum(L, "connect", tm->connect);
  setnum(L, "tls", tm->tls);
  setnum(L, "ttfb", tm->ttfb);
  setnum(L, "total", tm->total);
  setnum(L, "redirect", 0);
  return 1;
}

/*
** core.parse_headers(raw) -> headers, header_list
** headers maps lower-case names to values, repeated fields joined with ", "
** except Set-Cookie, which keeps its first value (all are in header_list).
*/
static int core_parse_headers(lua_State *L) {
  size_t n;
  const char *raw = luaL_checklstring(L, 1, &n);
  lua_settop(L, 1);
  lua_createtable(L, 0, 8); /* 2: headers */
  lua_createtable(L, 8, 0); /* 3: header_list */
  size_t pos = 0;
  lurl_field f;
  int i = 0;
  char lower[256];
  while (lurl_next_field(raw, n, &pos, &f)) {
    lua_createtable(L, 2, 0);
    lua_pushlstring(L, f.name, f.name_len);
    lua_rawseti(L, -2, 1);
    lua_pushlstring(L, f.value, f.value_len);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, 3, ++i);
    size_t ln = f.name_len < sizeof lower ? f.name_len : sizeof lower - 1;
    for (size_t k = 0; k < ln; k++) {
      char c = f.name[k];
      lower[k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    lua_pushlstring(L, lower, ln);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, 2) == LUA_TNIL) {
      lua_pop(L, 1);
      lua_pushlstring(L, f.value, f.value_len);
    } else if (ln == 10 && memcmp(lower, "set-cookie", 10) == 0) {
      lua_pop(L, 2);
      continue;
    } else {
      lua_pushliteral(L, ", ");
      lua_pushlstring(L, f.value, f.value_len);
      lua_concat(L, 3);
    }
    lua_rawset(L, 2);
  }
  return 2;
}

/* Pushes s[0..n) in ASCII lower case. */
static void push_lower(lua_State *L, const char *s, size_t n) {
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, n);
  for (size_t k = 0; k < n; k++)
    p[k] = (s[k] >= 'A' && s[k] <= 'Z') ? (char)(s[k] + 32) : s[k];
  luaL_pushresultsize(&b, n);
}

/* Pushes the table of one link: each parameter under its lower-case name
** (the first of a name wins; one without a value is ""), then url and rel
** (lower case, as written: "next last" for several types). */
static void push_link(lua_State *L, const lurl_link *l) {
  lua_newtable(L);
  size_t pos = 0;
  lurl_link_param p;
  while (lurl_next_link_param(l->params, l->params_len, &pos, &p) == 1) {
    push_lower(L, p.name, p.name_len);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) != LUA_TNIL) { lua_pop(L, 2); continue; }
    lua_pop(L, 1);
    lua_pushlstring(L, p.value ? p.value : "", p.value_len);
    lua_rawset(L, -3);
  }
  lua_pushlstring(L, l->url, l->url_len);
  lua_setfield(L, -2, "url");
  if (l->rel) {
    push_lower(L, l->rel, l->rel_len);
    lua_setfield(L, -2, "rel");
  }
}

/* Files the link table on top of the stack under key `at` of the table
** below it unless that key is taken (the first link of each key wins). */
static void file_link(lua_State *L, const char *at, size_t n, int lower) {
  if (lower) push_lower(L, at, n); else lua_pushlstring(L, at, n);
  lua_pushvalue(L, -1);
  if (lua_rawget(L, -4) != LUA_TNIL) { lua_pop(L, 2); return; }
  lua_pop(L, 1);
  lua_pushvalue(L, -2);
  lua_rawset(L, -4);
}

/* core.links(value) -> {key = {url=, rel=, <params>}, ...}: a link is
** filed under each of its rel types, or under its URL when it has none (as
** requests does); the first link of each key wins.  Linear in the value:
** one table per link, shared by its rel types. */
static int core_links(lua_State *L) {
  size_t n;
  const char *v = luaL_optlstring(L, 1, "", &n);
  lua_newtable(L);
  size_t pos = 0;
  lurl_link l;
  while (lurl_next_link(v, n, &pos, &l)) {
    push_link(L, &l);
    int filed = 0;
    size_t i = 0;
    while (l.rel && i < l.rel_len) {
      while (i < l.rel_len && l.rel[i] == ' ') i++;
      size_t s = i;
      while (i < l.rel_len && l.rel[i] != ' ') i++;
      if (i == s) break;
      file_link(L, l.rel + s, i - s, 1);
      filed = 1;
    }
    if (!filed) file_link(L, l.url, l.url_len, 0);
    lua_pop(L, 1);
  }
  return 1;
}

/* Length of the well-formed UTF-8 sequence at s[0..n), or 0 if it is not
** one; *bad gets the length of its maximal ill-formed prefix (at least 1),
** which decoders with errors="replace" turn into a single U+FFFD. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad) {
  unsigned char c = s[0];
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F; /* no surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    *bad = 1;
    return 0;
  }
  size_t k = 1;
  for (; k < len && k < n; k++) {
    unsigned char b = s[k];
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
  }
  if (k == len) return len;
  *bad = k;
  return 0;
}

/* Pushes s as valid UTF-8: s itself (at stack index idx) when it is
** already, else a copy with each ill-formed piece replaced by U+FFFD.
** The check is one pass; ASCII bytes cost one comparison each. */
static void push_utf8_replaced(lua_State *L, int idx, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0, bad = 0;
  while (i < n) {
    if (u[i] < 0x80) { i++; continue; }
    size_t len = utf8_seq(u + i, n - i, &bad);
    if (!len) break;
    i += len;
  }
  if (i >= n) {
    lua_pushvalue(L, idx);
    return;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t from = 0;
  while (i < n) {
    size_t len = u[i] < 0x80 ? 1 : utf8_seq(u + i, n - i, &bad);
    if (len) { i += len; continue; }
    luaL_addlstring(&b, s + from, i - from);
    luaL_addstring(&b, "\xEF\xBF\xBD");
    i += bad;
    from = i;
  }
  luaL_addlstring(&b, s + from, n - from);
  luaL_pushresult(&b);
}

/* core.to_utf8(bytes, charset) -> text | nil, why.  iconv does the work;
** utf-8 is checked, its ill-formed bytes becoming U+FFFD as with requests'
** errors="replace"; us-ascii passes through untouched. */
static int core_to_utf8(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  const char *cs = luaL_checkstring(L, 2);
  if (strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0) {
    push_utf8_replaced(L, 1, s, n);
    return 1;
  }
  if (strcasecmp(cs, "us-ascii") == 0 || strcasecmp(cs, "ascii") == 0) {
    lua_settop(L, 1);
    return 1;
  }
  /* the descriptor lives in a box: a buffer that cannot grow raises, and
  ** the box's __close then closes it */
  lurl_box *bx = lurl_box_push(L);
  iconv_t cd = iconv_open("UTF-8", cs);
  if (cd == (iconv_t)-1) {
    /* WHATWG labels iconv does not know, e.g. "latin-1" */
    static const char *const alias[][2] = {
      {"latin-1", "ISO-8859-1"}, {"latin_1", "ISO-8859-1"}, {"l1", "ISO-8859-1"},
      {"x-sjis", "SHIFT_JIS"}, {"x-user-defined", "ISO-8859-1"}};
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
      if (strcasecmp(cs, alias[i][0]) == 0) cd = iconv_open("UTF-8", alias[i][1]);
  }
  if (cd == (iconv_t)-1) {
    lua_pushnil(L);
    lua_pushfstring(L, "unknown charset '%s'", cs);
    return 2;
  }
  bx->iconv = (void *)cd;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  char *in = (char *)s;
  size_t inleft = n;
  while (inleft > 0) {
    char *out = luaL_prepbuffsize(&b, 4 * inleft + 16);
    char *o = out;
    size_t outleft = 4 * inleft + 16;
    size_t rc = iconv(cd, &in, &inleft, &o, &outleft);
    luaL_addsize(&b, (size_t)(o - out));
    if (rc == (size_t)-1 && errno != E2BIG) {
      /* an invalid byte: put U+FFFD, as decoders with errors="replace" do */
      luaL_addstring(&b, "\xEF\xBF\xBD");
      in++;
      inleft--;
    }
  }
  luaL_pushresult(&b);
  return 1; /* the return closes the box, and with it the descriptor */
}

/* A response's __index (lua/lurl/response.lua), a C closure over the
** methods table (upvalue 1) and the table of lazy field makers (upvalue 2):
** res[k] is methods[k] when there is one, else lazy[k](res) stored in res
** (made once), else nil.  Speed trick (callgrind, 100,000 lookups): a
** method lookup costs ~0.35 k instructions here, ~0.42 k through a Lua
** function, a missing key ~0.47 k against ~0.64 k, a lazy field's first
** read ~0.4 k less.  A table __index (~0.13 k) cannot be had: Lua hands
** the next __index in a chain the table it came from, not the response,
** and the makers need the response.  A maker may yield (res.body of a
** stream read in a task waits on the loop): the call has a continuation. */
static int index_made(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  lua_pushvalue(L, 2); /* r, k, nil, v -> r, k, nil, v, k, v */
  lua_pushvalue(L, -2);
  lua_rawset(L, 1);
  return 1;
}

static int response_index(lua_State *L) {
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(2)) == LUA_TNIL) return 1; /* not a field: nil */
  lua_pushvalue(L, 1);
  lua_callk(L, 1, 1, 0, index_made);
  return index_made(L, LUA_OK, 0);
}

/* core.response_index(methods, lazy) -> the __index of a response
** metatable (response_index above). */
static int core_response_index(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_pushcclosure(L, response_index, 2);
  return 1;
}

/* The lazy readers of a response. */
void lurl_response_open(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"timings", core_timings}, {"bytes", core_bytes}, {"certificate", core_certificate},
    {"hop_info", core_hop_info}, {"reason", core_reason},
    {"parse_headers", core_parse_headers}, {"links", core_links}, {"to_utf8", core_to_utf8},
    {"response_index", core_response_index},
    {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  if (luaL_newmetatable(L, TIMINGS_CHAIN_MT)) { /* an https hop's timings */
    lua_pushcfunction(L, timings_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
}
