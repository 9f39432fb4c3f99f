/*
** fuzz_request.c -- libFuzzer target: the request builder (core.start,
** request.c) on options made from arbitrary bytes, with no network.
**
** The input is a list of records separated by 0x1e; a record is a key, a
** ':' and a value of any bytes (CR, LF and NUL included):
**   U  the URL (default http://127.0.0.1:9/)    M  the method (default GET)
**   H  a header "name=value" (a value that reads as a number is passed as
**      a Lua number, as scripts do; "\x01t", "\x01f", "\x01{", "\x01x":
**      true, false, a table, a function)         F  a header set to false
**   P  a param "k=v" (repeated keys make a list; values as for H)
**   Q  params as a string    D  a form field "k=v" (values as for H)    S  data as a string    J  json: a string value
**   B  body (a string)       C  a cookie "k=v"      A  basic auth "user:pass"
**   K  bearer token          G  digest auth "user:pass"
**   N  user_agent            T  timeout (a number) V  http_version
**   X  max_body (a number)   R  flags (a number: core.start's hop flags)
**   *  later records go to the session defaults instead of the call's options
** core.start builds the easy handle and adds it to the engine's multi
** handle, which does not connect: only curl_multi_perform would, and it
** is never called.  The transfer is then released.
**
** Besides the sanitizers, one property is checked (issue 15, item 8): when
** core.start accepts a request, no header line it hands libcurl and no
** line of its record of the request head holds a bare CR or LF, and no
** value it puts into the head through other options (cookies, user_agent,
** bearer token, method, digest user) held one.
** Built by -DLURL_FUZZ=ON (see docs/testing.md).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lurl.h"
#include "lurl_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* libFuzzer calls it */

static lua_State *L;
static unsigned long runs;

static void setup(void) {
  L = luaL_newstate();
  luaL_openlibs(L);
  lurl_openlibs(L);
  if (luaL_dostring(L, "return require('http.core').start") != LUA_OK) abort();
  lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.start");
  /* a collector that runs almost all the time: a value C code leaves
  ** unanchored is likely freed before it is read (ASan then reports it) */
  lua_gc(L, LUA_GCINC, 1, 1000, 4);
}

static int setup_fn(lua_State *l) { (void)l; return 0; }

/* t[k] = v, where a repeated key turns the value into a list */
static void add_kv(int t, const char *s, size_t n, int numbers) {
  const char *eq = memchr(s, '=', n);
  size_t kn = eq ? (size_t)(eq - s) : n;
  const char *v = eq ? eq + 1 : "";
  size_t vn = eq ? n - kn - 1 : 0;
  lua_pushlstring(L, s, kn);
  char num[32];
  char *end = NULL;
  if (numbers && vn > 0 && vn < sizeof num) {
    memcpy(num, v, vn);
    num[vn] = '\0';
    double d = strtod(num, &end);
    if (*end == '\0' && d > -1e15 && d < 1e15 && d == (double)(long long)d)
      lua_pushinteger(L, (lua_Integer)d);
    else if (*end == '\0')
      lua_pushnumber(L, d);
    else
      end = NULL; /* pushed as a string below */
  }
  if (end && *end == '\0') {
    /* pushed as a number above */
  } else if (numbers && vn >= 2 && v[0] == '\x01') { /* a value of another type */
    if (v[1] == 't' || v[1] == 'f') lua_pushboolean(L, v[1] == 't');
    else if (v[1] == '{') lua_newtable(L);
    else lua_pushcfunction(L, setup_fn);
  } else {
    lua_pushlstring(L, v, vn);
  }
  lua_pushvalue(L, -2);
  if (lua_rawget(L, t) != LUA_TNIL) { /* a second value: a list */
    if (lua_type(L, -1) != LUA_TTABLE) {
      lua_createtable(L, 2, 0);
      lua_insert(L, -2);
      lua_rawseti(L, -2, 1);
    }
    lua_insert(L, -2);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  } else {
    lua_pop(L, 1);
  }
  lua_rawset(L, t);
}

/* opts.name (a table), created on first use; its index is pushed */
static int sub(int opts, const char *name) {
  if (lua_getfield(L, opts, name) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, opts, name);
  }
  return lua_gettop(L);
}

static void user_pass(int opts, const char *scheme, const char *s, size_t n) {
  const char *c = memchr(s, ':', n);
  size_t un = c ? (size_t)(c - s) : n;
  lua_createtable(L, 0, 3);
  lua_pushstring(L, scheme);
  lua_setfield(L, -2, "scheme");
  lua_pushlstring(L, s, un);
  lua_setfield(L, -2, "user");
  lua_pushlstring(L, c ? c + 1 : "", c ? n - un - 1 : 0);
  lua_setfield(L, -2, "password");
  lua_setfield(L, opts, "auth");
}

static int has_crlf(const char *s, size_t n) {
  return memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL;
}

/* Set by check_values: an option that goes into the request head as it
** is (user_agent, cookies, a bearer token, a digest user) held CR or LF in
** the values core.start actually used (the call's, else the session's). */
static char crlf_key;

/* Looks at the effective options of the call just made (opts, defaults at
** stack indices) with its redirect flags, before the call consumed its
** copies. */
static void check_values(int opts, int defs, int flags) {
  static const char *const fields[] = {"user_agent", "auth", "cookies"};
  for (int f = 0; f < 3; f++) {
    if (f == 1 && (flags & 2)) continue; /* HOP_STRIP_AUTH: auth is not used */
    if (lua_getfield(L, opts, fields[f]) == LUA_TNIL) {
      lua_pop(L, 1);
      lua_getfield(L, defs, fields[f]);
    }
    int v = lua_gettop(L);
    size_t n;
    const char *s;
    if (f == 0 && (s = lua_tolstring(L, v, &n)) && has_crlf(s, n)) crlf_key = 'N';
    if (f == 1 && lua_istable(L, v)) {
      lua_getfield(L, v, "token");
      if ((s = lua_tolstring(L, -1, &n)) && has_crlf(s, n)) crlf_key = 'K';
      lua_getfield(L, v, "scheme");
      lua_getfield(L, v, "user");
      if (lua_isstring(L, -2) && strcmp(lua_tostring(L, -2), "digest") == 0 &&
          (s = lua_tolstring(L, -1, &n)) && has_crlf(s, n))
        crlf_key = 'G';
    }
    if (f == 2 && lua_istable(L, v)) {
      lua_pushnil(L);
      while (lua_next(L, v)) {
        if (lua_type(L, -2) == LUA_TSTRING && (s = lua_tolstring(L, -2, &n)) && has_crlf(s, n))
          crlf_key = 'C';
        if (lua_type(L, -1) == LUA_TSTRING && (s = lua_tolstring(L, -1, &n)) && has_crlf(s, n))
          crlf_key = 'C';
        lua_pop(L, 1);
      }
    }
    lua_settop(L, v - 1);
  }
}

static void record(int opts, char key, const char *v, size_t n, int *url, int *method) {
  int top = lua_gettop(L);
  switch (key) {
  case 'U': lua_pushlstring(L, v, n); lua_replace(L, *url); break;
  case 'M': lua_pushlstring(L, v, n); lua_replace(L, *method); break;
  case 'H': add_kv(sub(opts, "headers"), v, n, 1); break;
  case 'F':
    sub(opts, "headers");
    lua_pushlstring(L, v, n);
    lua_pushboolean(L, 0);
    lua_rawset(L, -3);
    break;
  case 'P': add_kv(sub(opts, "params"), v, n, 1); break;
  case 'D': add_kv(sub(opts, "data"), v, n, 1); break;
  case 'C': add_kv(sub(opts, "cookies"), v, n, 0); break;
  case 'Q': lua_pushlstring(L, v, n); lua_setfield(L, opts, "params"); break;
  case 'S': lua_pushlstring(L, v, n); lua_setfield(L, opts, "data"); break;
  case 'J': lua_pushlstring(L, v, n); lua_setfield(L, opts, "json"); break;
  case 'B': lua_pushlstring(L, v, n); lua_setfield(L, opts, "body"); break;
  case 'N': lua_pushlstring(L, v, n); lua_setfield(L, opts, "user_agent"); break;
  case 'V': lua_pushlstring(L, v, n); lua_setfield(L, opts, "http_version"); break;
  case 'A': user_pass(opts, "basic", v, n); break;
  case 'G': user_pass(opts, "digest", v, n); break;
  case 'K':
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "bearer");
    lua_setfield(L, -2, "scheme");
    lua_pushlstring(L, v, n);
    lua_setfield(L, -2, "token");
    lua_setfield(L, opts, "auth");
    break;
  case 'T': case 'X': {
    char num[32];
    size_t k = n < sizeof num - 1 ? n : sizeof num - 1;
    memcpy(num, v, k);
    num[k] = '\0';
    if (key == 'T') lua_pushnumber(L, strtod(num, NULL));
    else lua_pushinteger(L, strtoll(num, NULL, 10));
    lua_setfield(L, opts, key == 'T' ? "timeout" : "max_body");
    break;
  }
  default: break;
  }
  lua_settop(L, top);
}

/* Whether s (n bytes) starts with the header name `name` and a colon,
** in any case. */
static int starts_field(const char *s, size_t n, const char *name) {
  size_t k = strlen(name);
  if (n <= k || s[k] != ':') return 0;
  for (size_t i = 0; i < k; i++)
    if ((s[i] | 32) != (name[i] | 32)) return 0;
  return 1;
}

/* The names libcurl 7.88 may look up or filter in its custom headers: a
** joined line (below) never has one (request_head.c's libcurl_reads, kept
** here on its own so that the harness checks the rule, not the code). */
static int libcurl_name(const char *s, size_t k) {
  static const char *const names[] = {
      "TE", "Host", "Date", "Range", "Accept", "Cookie", "Expect", "Origin", "Referer",
      "Upgrade", "Connection", "User-Agent", "Content-Type", "Mime-Version",
      "Authorization", "Last-Modified", "Content-Length", "HTTP2-Settings",
      "Proxy-Connection", "Transfer-Encoding", "If-Modified-Since", "Proxy-Authorization",
      "If-Unmodified-Since", NULL};
  char line[64];
  if (k + 1 >= sizeof line) return 0;
  memcpy(line, s, k);
  line[k] = ':';
  for (int i = 0; names[i]; i++)
    if (starts_field(line, k + 1, names[i])) return 1;
  return k >= 4 && (s[0] | 32) == 's' && (s[1] | 32) == 'e' && (s[2] | 32) == 'c' && s[3] == '-';
}

/* One line of a joined node: "Name: value", a name, a colon, a space and
** a value that starts with a byte that is not white space (libcurl
** skips blanks after the colon, the joined CRLF among them). */
static int joinable_line(const char *s, size_t n, int first) {
  const char *colon = memchr(s, ':', n);
  if (!colon || colon == s) return 0;
  size_t k = (size_t)(colon - s);
  if (n < k + 3 || colon[1] != ' ' || (unsigned char)colon[2] <= ' ') return 0;
  /* a line after the first: never a name libcurl reads (but our
  ** Accept-Encoding, which it reads only with an option lurl never sets) */
  return first || starts_field(s, n, "Accept-Encoding") || !libcurl_name(s, k);
}

/* A list node may hold CRLFs only as lurl's joined lines (request_head.c,
** joins_next): "User-Agent: x\r\nAccept-Encoding: y\r\nX-A: 1", each part
** a line of its own with no other CR or LF, each with a value. */
static int bad_node(const char *d) {
  size_t n = strlen(d);
  if (!has_crlf(d, n)) return 0;
  int first = 1;
  for (;;) {
    const char *crlf = strstr(d, "\r\n");
    size_t a = crlf ? (size_t)(crlf - d) : strlen(d);
    if (has_crlf(d, a) || !joinable_line(d, a, first)) return 1;
    if (!crlf) return 0;
    d = crlf + 2, first = 0;
  }
}

/* item 8: nothing accepted puts a line break into the request head */
static void check_head(lurl_transfer *t, const char *method, size_t mn) {
  for (struct curl_slist *e = t->slist; e; e = e->next)
    if (bad_node(e->data)) {
      fprintf(stderr, "fuzz_request: header line with CR/LF handed to libcurl: %s\n", e->data);
      abort();
    }
  const char *p = t->reqhead ? t->reqhead : "";
  size_t n = t->reqhead_len;
  for (size_t i = 0; i < n; i++) {
    int end = p[i] == '\r' && i + 1 < n && p[i + 1] == '\n';
    if (end) { i++; continue; }
    if (p[i] == '\r' || p[i] == '\n') {
      fprintf(stderr, "fuzz_request: request head record with a bare CR/LF: %.*s\n", (int)n, p);
      abort();
    }
  }
  if (has_crlf(method, mn)) {
    fprintf(stderr, "fuzz_request: method with CR/LF accepted\n");
    abort();
  }
  if (crlf_key) { /* what lurl hands libcurl as options is not in slist */
    fprintf(stderr, "fuzz_request: a value with CR/LF accepted (record %c)\n", crlf_key);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) setup();
  lua_settop(L, 0);
  lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.start"); /* 1 */
  lua_pushliteral(L, "request");                    /* 2: fname */
  lua_pushinteger(L, 2);                            /* 3: argn */
  lua_pushliteral(L, "GET");                        /* 4: method */
  lua_pushliteral(L, "http://127.0.0.1:9/");        /* 5: url (discard port) */
  lua_newtable(L);                                  /* 6: opts */
  lua_newtable(L);                                  /* 7: defaults */
  lua_pushinteger(L, 0);                            /* 8: flags */
  lua_pushinteger(L, 0);                            /* 9: total_ms */
  int url = 5, method = 4, target = 6;
  crlf_key = 0;
  const char *s = (const char *)data;
  for (size_t i = 0; i < size;) {
    const char *rs = memchr(s + i, 0x1e, size - i);
    size_t len = rs ? (size_t)(rs - (s + i)) : size - i;
    if (len >= 2 && s[i + 1] == ':') {
      if (s[i] == 'R') {
        int flags = 0;
        for (size_t k = i + 2; k < i + len && s[k] >= '0' && s[k] <= '9'; k++)
          flags = (flags * 10 + (s[k] - '0')) & 0xffff;
        lua_pushinteger(L, flags & 15);
        lua_replace(L, 8);
      } else {
        record(target, s[i], s + i + 2, len - 2, &url, &method);
      }
    } else if (len >= 1 && s[i] == '*') {
      target = 7;
    }
    i += len + 1;
  }
  size_t mn;
  const char *m = lua_tolstring(L, method, &mn);
  check_values(6, 7, (int)lua_tointeger(L, 8));
  lua_pushvalue(L, method); /* keep the method past the call */
  lua_insert(L, 1);
  if (lua_pcall(L, 8, 2, 0) == LUA_OK) {
    lurl_transfer *t = (lurl_transfer *)lurl_totagged(L, -2, sizeof *t, lurl_transfer_tag);
    if (t) {
      check_head(t, m, mn);
      lurl_transfer_release(t); /* off the multi handle: nothing is sent */
    }
  }
  lua_settop(L, 0);
  if (++runs % 64 == 0) lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
