#define _POSIX_C_SOURCE 200809L
/*
** module.c -- luaopen_http: the entry point of the `http` module.
**
** The module is C for mechanism (the C files in runtime/, gathered in an internal table
** `http.core`) and Lua for policy (the files in lua/http/).  The Lua files are
** compiled into the library as source text and registered in
** package.preload, so `require "http"` works the same from the lurl binary,
** from stock lua5.4 loading http.so, and from any host, with no path set up.
*/
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lurl.h"
#include "engine.h"
#include "errors.h"
#include "handle.h"
#include "html.h"
#include "jsonnum.h"
#include "luac.h"
#include "policy.h"
#include "redact.h"
#include "request.h"
#include "response.h"
#include "share.h"
#include "text.h"
#include "transfer.h"

/* Generated at build time from lua/ (see cmake/embed.cmake). */
typedef struct lurl_lua_source {
  const char *name;   /* module name, e.g. "http.client" */
  const char *path;   /* file name for tracebacks, e.g. "lua/http/client.lua" */
  const unsigned char *src;
  size_t len;
} lurl_lua_source;
extern const lurl_lua_source lurl_lua_sources[];

/* package.preload loader for one embedded file (upvalue: its index). */
static int load_embedded(lua_State *L) {
  const lurl_lua_source *s = &lurl_lua_sources[lua_tointeger(L, lua_upvalueindex(1))];
  lua_pushfstring(L, "@%s", s->path);
  if (luaL_loadbuffer(L, (const char *)s->src, s->len, lua_tostring(L, -1)) != LUA_OK)
    return lua_error(L);
  lua_pushstring(L, s->name);
  lua_call(L, 1, 1);
  return 1;
}

/* preload loader for "http.core": opening `http` creates it, so a script
** may require "http.assert" (or any part) before "http". */
static int load_core(lua_State *L) {
  luaL_requiref(L, "http", luaopen_http, 0);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "http.core");
  return 1;
}

/* Registers every embedded Lua file in package.preload, unless a file of
** the same name is already preloaded (a host may override one). */
static void preload_lua(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, load_core);
  lua_setfield(L, -2, "http.core");
  for (int i = 0; lurl_lua_sources[i].name; i++) {
    if (lua_getfield(L, -1, lurl_lua_sources[i].name) == LUA_TNIL) {
      lua_pushinteger(L, i);
      lua_pushcclosure(L, load_embedded, 1);
      lua_setfield(L, -3, lurl_lua_sources[i].name);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* Requotes a redirect reference as requests' requote_uri does (see
** lurl_url_quotes), its authority aside, and returns it (pushed), or ref
** itself when nothing changes.  Before libcurl sees it: libcurl 7.88 escapes
** raw bytes in lower-case hex (%c5%a1), RFC 3986 and requests use upper
** case (%C5%A1).  The escapes a server wrote stay as they are. */
static const char *requote_ref(lua_State *L, const char *ref) {
  static const char hex[] = "0123456789ABCDEF";
  const char *p = strstr(ref, "://");
  if (p) p += 3;
  else if (ref[0] == '/' && ref[1] == '/') p = ref + 2;
  if (p) p += strcspn(p, "/?#"); /* after the authority */
  else p = ref;
  size_t i = 0;
  while (p[i] && !lurl_url_quotes(p, i)) i++;
  if (!p[i]) return ref; /* the usual case: nothing to quote */
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, ref, (size_t)(p - ref) + i);
  for (; p[i]; i++) {
    if (!lurl_url_quotes(p, i)) {
      luaL_addchar(&b, p[i]);
    } else {
      unsigned char c = (unsigned char)p[i];
      luaL_addchar(&b, '%');
      luaL_addchar(&b, hex[c >> 4]);
      luaL_addchar(&b, hex[c & 15]);
    }
  }
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

/* core.resolve(base, ref) -> absolute URL | nil, why (redirect targets). */
static int core_resolve(lua_State *L) {
  const char *base = luaL_checkstring(L, 1);
  const char *ref = requote_ref(L, luaL_checkstring(L, 2));
  lurl_box *b = lurl_box_push(L); /* libcurl's URL until it is copied */
  if (!(b->u = curl_url())) return luaL_error(L, "not enough memory");
  CURLUcode rc = curl_url_set(b->u, CURLUPART_URL, base, CURLU_NON_SUPPORT_SCHEME);
  if (rc == CURLUE_OK)
    rc = curl_url_set(b->u, CURLUPART_URL, ref, CURLU_NON_SUPPORT_SCHEME | CURLU_ALLOW_SPACE);
  if (rc == CURLUE_OK) rc = curl_url_get(b->u, CURLUPART_URL, &b->s[0], 0);
  if (rc != CURLUE_OK) {
    lua_pushnil(L);
    lua_pushstring(L, curl_url_strerror(rc));
    return 2;
  }
  lua_pushstring(L, b->s[0]);
  return 1;
}

/* core.origin(url) -> scheme, host, port (lower-case; port as a number).
** libcurl's strings live in a box until copied: pushing one may raise. */
static int core_origin(lua_State *L) {
  const char *url = luaL_checkstring(L, 1);
  lurl_box *b = lurl_box_push(L);
  if (!(b->u = curl_url())) return luaL_error(L, "not enough memory");
  if (curl_url_set(b->u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
    curl_url_get(b->u, CURLUPART_SCHEME, &b->s[0], 0);
    curl_url_get(b->u, CURLUPART_HOST, &b->s[1], 0);
    curl_url_get(b->u, CURLUPART_PORT, &b->s[2], CURLU_DEFAULT_PORT);
  }
  if (b->s[0]) luaL_gsub(L, b->s[0], "HTTP", "http"); /* schemes are lower-case */
  else lua_pushnil(L);
  if (b->s[1]) lua_pushstring(L, b->s[1]); else lua_pushnil(L);
  if (b->s[2]) lua_pushinteger(L, strtol(b->s[2], NULL, 10)); else lua_pushnil(L);
  lurl_box_free(b);
  return 3;
}

/* core.getdate(http_date) -> seconds since the epoch | nil (Retry-After). */
static int core_getdate(lua_State *L) {
  time_t t = curl_getdate(luaL_checkstring(L, 1), NULL);
  if (t == (time_t)-1) lua_pushnil(L);
  else lua_pushinteger(L, (lua_Integer)t);
  return 1;
}

/* core.wallclock() -> seconds since the epoch, with a fraction (HAR). */
static int core_wallclock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + ts.tv_nsec / 1e9);
  return 1;
}

/* core.version() -> table describing lurl and the libraries under it. */
static int core_version(lua_State *L) {
  curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  lua_createtable(L, 0, 8);
  lua_pushstring(L, LURL_VERSION);
  lua_setfield(L, -2, "lurl");
  lua_pushstring(L, LUA_RELEASE);
  lua_setfield(L, -2, "lua");
  lua_pushstring(L, v->version);
  lua_setfield(L, -2, "libcurl");
  lua_pushstring(L, v->ssl_version ? v->ssl_version : "none");
  lua_setfield(L, -2, "tls");
  lua_pushboolean(L, (v->features & CURL_VERSION_HTTP2) != 0);
  lua_setfield(L, -2, "http2");
  lua_pushboolean(L, (v->features & CURL_VERSION_BROTLI) != 0);
  lua_setfield(L, -2, "brotli");
  lua_pushboolean(L, (v->features & CURL_VERSION_ZSTD) != 0);
  lua_setfield(L, -2, "zstd");
  lua_pushstring(L, LURL_GUMBO_VERSION);
  lua_setfield(L, -2, "gumbo");
  return 1;
}

/* core.isatty(fd) -> boolean (progress bars only on a terminal). */
static int core_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* This file's core functions, and the default request's header record
** (res._reqhead when not set). */
static void module_open(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"resolve", core_resolve}, {"origin", core_origin}, {"getdate", core_getdate},
    {"wallclock", core_wallclock}, {"version", core_version}, {"isatty", core_isatty},
    {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  lua_pushstring(L, lurl_default_reqhead());
  lua_setfield(L, -2, "default_reqhead");
}

/* Every C file with core functions adds them to the core table on top of
** the stack, in this order: the engine and the transfer before the request
** (core.start keeps the engine and the transfer metatable as upvalues). */
static void (*const opens[])(lua_State *L) = {
  lurl_errors_open, lurl_redact_open, lurl_engine_open, lurl_share_open,
  lurl_transfer_open, lurl_policy_open, lurl_request_open, lurl_response_open,
  lurl_jsonnum_open, lurl_html_open, module_open, NULL};

LURL_API int luaopen_http(lua_State *L) {
  lua_createtable(L, 0, 48); /* the internal `http.core` table */
  for (int i = 0; opens[i]; i++) opens[i](L);

  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, "http.core");
  lua_pop(L, 2);
  preload_lua(L);

  /* The public module is written in Lua on top of the core. */
  lua_getglobal(L, "require");
  lua_pushliteral(L, "lurl.client");
  lua_call(L, 1, 1);
  return 1;
}

/* preload loader for `json`: lua-cjson, as Debian ships it. */
static int open_json(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "cjson");
  lua_call(L, 1, 1);
  return 1;
}

LURL_API void lurl_openlibs(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_http);
  lua_setfield(L, -2, "http");
  lua_pushcfunction(L, open_json);
  lua_setfield(L, -2, "json");
  lua_pop(L, 1);
  preload_lua(L); /* http.assert and the other parts, before http itself */
}
