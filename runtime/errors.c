/*
** errors.c -- lurl's error objects.
**
** A transport failure reaches Lua as `nil, err`, where err is a table with
** the metatable "http.error": kind, message, method, url, curl_code,
** retryable (and response, for HTTPError, filled in by Lua).  Every error
** object is built by lurl_push_error, which stores its URL with the
** secret parts hidden by the rules of redact.c.
*/
#include <stdarg.h>
#include <string.h>

#include "lurl_int.h"

/* The family tree of requests' exceptions: each kind with its parents. */
static const struct {
  const char *kind;
  const char *parents[3];
} families[] = {
  {"RequestException", {NULL, NULL, NULL}},
  {"ConnectionError", {"RequestException", NULL, NULL}},
  {"ProxyError", {"ConnectionError", NULL, NULL}},
  {"SSLError", {"ConnectionError", NULL, NULL}},
  {"Timeout", {"RequestException", NULL, NULL}},
  {"ConnectTimeout", {"ConnectionError", "Timeout", NULL}},
  {"ReadTimeout", {"Timeout", NULL, NULL}},
  {"HTTPError", {"RequestException", NULL, NULL}},
  {"TooManyRedirects", {"RequestException", NULL, NULL}},
  {"InvalidURL", {"RequestException", NULL, NULL}},
  {"InvalidHeader", {"RequestException", NULL, NULL}},
  {"JSONDecodeError", {"RequestException", NULL, NULL}},
  {"ContentDecodingError", {"RequestException", NULL, NULL}},
  {"ChunkedEncodingError", {"RequestException", NULL, NULL}},
  {"BodyTooLarge", {"RequestException", NULL, NULL}},
};
#define NFAMILIES (sizeof(families) / sizeof(families[0]))

static int family_index(const char *kind) {
  for (size_t i = 0; i < NFAMILIES; i++)
    if (strcmp(families[i].kind, kind) == 0) return (int)i;
  return -1;
}

/* Is `kind` equal to `ancestor` or below it in the tree? */
static int kind_is(const char *kind, const char *ancestor) {
  if (strcmp(kind, ancestor) == 0) return 1;
  int i = family_index(kind);
  if (i < 0) return 0;
  for (int p = 0; p < 3 && families[i].parents[p]; p++)
    if (kind_is(families[i].parents[p], ancestor)) return 1;
  return 0;
}

/*
** Pushes a new error object [-0, +1].  `method`, `url` may be NULL;
** curl_code < 0 means "not from libcurl".  Never raises except on memory.
*/
void lurl_push_error(lua_State *L, const char *kind, const char *msg,
                     const char *method, const char *url, int curl_code) {
  lua_createtable(L, 0, 8);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  if (msg)
    lurl_scrub_message(L, msg, url);
  else
    lua_pushstring(L, kind);
  lua_setfield(L, -2, "message");
  if (method) {
    lua_pushstring(L, method);
    lua_setfield(L, -2, "method");
  }
  if (url) {
    lurl_redact_url(L, url);
    lua_setfield(L, -2, "url");
  }
  if (curl_code >= 0) {
    lua_pushinteger(L, curl_code);
    lua_setfield(L, -2, "curl_code");
  }
  /* A request that failed on the way may well succeed when tried again;
  ** a bad certificate or a bad URL will not. */
  int retryable = (kind_is(kind, "ConnectionError") && !kind_is(kind, "SSLError")) ||
                  kind_is(kind, "Timeout") || kind_is(kind, "ChunkedEncodingError");
  lua_pushboolean(L, retryable);
  lua_setfield(L, -2, "retryable");
  luaL_setmetatable(L, LURL_ERROR_MT);
}

/* core.error(kind, message [, method, url]) -> err: for errors found in Lua. */
int lurl_core_error(lua_State *L) {
  const char *kind = luaL_checkstring(L, 1);
  const char *msg = luaL_checkstring(L, 2);
  const char *method = luaL_optstring(L, 3, NULL);
  const char *url = luaL_optstring(L, 4, NULL);
  if (family_index(kind) < 0)
    return luaL_argerror(L, 1, lua_pushfstring(L, "unknown error kind '%s'", kind));
  lurl_push_error(L, kind, msg, method, url, -1);
  return 1;
}

/* err:is(kind): true when err is of that kind or one below it. */
static int err_is(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *want = luaL_checkstring(L, 2);
  lua_getfield(L, 1, "kind");
  const char *kind = lua_tostring(L, -1);
  lua_pushboolean(L, kind && kind_is(kind, want));
  return 1;
}

/* tostring(err): "Kind: message (METHOD url)". */
static int err_tostring(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "kind");
  lua_getfield(L, 1, "message");
  lua_getfield(L, 1, "method");
  lua_getfield(L, 1, "url");
  const char *kind = luaL_optstring(L, 2, "RequestException");
  const char *msg = luaL_optstring(L, 3, "");
  if (lua_isstring(L, 4) && lua_isstring(L, 5))
    lua_pushfstring(L, "%s: %s (%s %s)", kind, msg, lua_tostring(L, 4),
                    lua_tostring(L, 5));
  else
    lua_pushfstring(L, "%s: %s", kind, msg);
  return 1;
}

/* Creates the "http.error" metatable and pushes the `errors` table that
** maps each kind name to itself [-0, +1]. */
void lurl_error_open(lua_State *L) {
  luaL_newmetatable(L, LURL_ERROR_MT);
  lua_pushcfunction(L, err_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, err_is);
  lua_setfield(L, -2, "is");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_createtable(L, 0, (int)NFAMILIES);
  for (size_t i = 0; i < NFAMILIES; i++) {
    lua_pushstring(L, families[i].kind);
    lua_setfield(L, -2, families[i].kind);
  }
}

/*
** Raises a programming error ("bad argument ...") located at the first
** stack frame outside lurl's own code, so the message points at the
** user's line rather than at lua/http/client.lua.
*/
int lurl_raise(lua_State *L, const char *fmt, ...) {
  lua_Debug ar;
  ar.currentline = -1; /* no caller at all (called straight from C): no position */
  int level = 1;
  luaL_Buffer b;
  while (lua_getstack(L, level, &ar)) {
    lua_getinfo(L, "Sl", &ar);
    if (ar.currentline > 0 && strncmp(ar.source, "@lua/http/", 10) != 0 &&
        strncmp(ar.source, "@lua/lurl/", 10) != 0)
      break;
    level++;
  }
  luaL_buffinit(L, &b);
  if (ar.currentline > 0) {
    lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
    luaL_addvalue(&b);
  }
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  luaL_addvalue(&b);
  luaL_pushresult(&b);
  return lua_error(L);
}
