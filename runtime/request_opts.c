/*
** request_opts.c -- reading a request's options: which of them the call's
** and the session's tables hold (one traversal each), plain copies of
** tables with metatables, and the errors that name the user's call.
*/
#include <math.h>
#include <string.h>

#include <lauxlib.h>

#include "errors.h"
#include "policy.h"
#include "luac.h"
#include "request_int.h"

/* The options' names, in the order of the O_x ids (request_int.h). */
#define OPT_LIST(X)                                                                      \
  X(params) X(headers) X(data) X(json) X(files) X(body) X(auth) X(timeout)               \
  X(allow_redirects) X(max_redirects) X(verify) X(cert) X(proxy) X(proxies) X(cookies)   \
  X(stream) X(max_body) X(retry) X(http_version) X(unix_socket) X(on_progress)           \
  X(progress) X(user_agent) X(redact) X(resolve) X(connect_to) X(ip_resolve) X(doh_url)  \
  X(pinned_pubkey) X(limit_rate) X(keepalive_expiry) X(no_proxy) X(tls) X(hooks)
#define OPT_NAME(n) #n,
#define OPT_LEN(n) sizeof #n - 1,

const char *const lurl_req_opt_names[O_COUNT] = {OPT_LIST(OPT_NAME)};
static const unsigned char opt_len[] = {OPT_LIST(OPT_LEN)}; /* strlen of each */
_Static_assert(sizeof opt_len == O_COUNT, "one name per option id");

/* Raises the "bad argument" error for a field, naming the user's call. */
int lurl_req_field_error(req *r, const char *field, const char *expected, int idx) {
  return lurl_field_error(r->L, r->argn, r->fname, field, "%s expected, got %s", expected,
                          luaL_typename(r->L, idx));
}

/* An option naming a file to read obeys a limited state's file policy. */
void lurl_req_file_ok(req *r, const char *field, const char *path) {
  const char *why = lurl_policy_file(r->L, path, 0); /* policy.c */
  if (why) lurl_field_error(r->L, r->argn, r->fname, field, "%s", why);
}

static int opt_id(const char *k, size_t n) {
  for (int i = 0; i < O_COUNT; i++)
    if (opt_len[i] == n && lurl_req_opt_names[i][0] == k[0] &&
        memcmp(lurl_req_opt_names[i], k, n) == 0)
      return i;
  return -1;
}

#define LUA_ANY                                                                        \
  (OPTBIT(O_ALLOW_REDIRECTS) | OPTBIT(O_MAX_REDIRECTS) | OPTBIT(O_RETRY) |             \
   OPTBIT(O_STREAM) | OPTBIT(O_ON_PROGRESS) | OPTBIT(O_PROGRESS) | OPTBIT(O_REDACT) |   \
   OPTBIT(O_PROXY) | OPTBIT(O_PROXIES) | OPTBIT(O_HOOKS) | OPTBIT(O_COOKIES))
#define LUA_TYPED (OPTBIT(O_TIMEOUT) | OPTBIT(O_BODY) | OPTBIT(O_AUTH))

/* Does the value at v of option id (in LUA_ANY or LUA_TYPED) make the
** call's resolution its own?  `session_has`: the session has a default. */
static int lua_key_matters(lua_State *L, int id, int v, int session_has) {
  if (OPTBIT(id) & LUA_ANY || session_has) return 1;
  int ty = lua_type(L, v);
  if (id == O_TIMEOUT) return ty == LUA_TTABLE;
  if (id == O_BODY) return ty == LUA_TFUNCTION;
  if (ty == LUA_TFUNCTION) return 1; /* O_AUTH: a flow */
  if (ty != LUA_TTABLE) return 0;
  lua_pushliteral(L, "sign");
  int has = lua_rawget(L, v) != LUA_TNIL;
  lua_pop(L, 1);
  return has;
}

/*
** Which options the table at idx holds, as a bit set: one traversal, so a
** request pays for the options it has, not for every option there is.  With
** `check`, a name that is no option raises.  A table with a metatable may
** answer for more keys than it holds: then every option is looked up.
*/
lurl_optset lurl_req_scan(req *r, int idx, int check) {
  lua_State *L = r->L;
  if (!check && lua_getmetatable(L, idx)) {
    lua_pop(L, 1);
    return LURL_ALL_OPTS;
  }
  lurl_optset have = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int id = -1;
    if (lua_type(L, -2) == LUA_TSTRING) {
      size_t n;
      const char *k = lua_tolstring(L, -2, &n);
      id = opt_id(k, n);
      /* the call's: does its value make the resolution the call's own? */
      if (id >= 0 && check && (OPTBIT(id) & (LUA_ANY | LUA_TYPED)) &&
          lua_key_matters(L, id, lua_gettop(L), 0))
        r->olua |= OPTBIT(id);
    }
    lua_pop(L, 1);
    if (id >= 0) have |= OPTBIT(id);
    else if (check && lua_type(L, -1) != LUA_TSTRING)
      lurl_raise(L, "bad argument #%d to '%s' (option names must be strings)", r->argn,
                 r->fname);
    else if (check) {
      size_t n;
      const char *k = lua_tolstring(L, -1, &n);
      lurl_raise(L, "bad argument #%d to '%s' (unknown option '%s'%s)", r->argn, r->fname, k,
                 lurl_push_did_you_mean(L, k, n, lurl_req_opt_names, O_COUNT));
    }
  }
  if (check && lua_getmetatable(L, idx)) {
    lua_pop(L, 1);
    return LURL_ALL_OPTS;
  }
  return have;
}

/*
** core.resolves(opts, defaults) -> boolean: does the call's table set an
** option the Lua side reads (lurl.options resolves it, lurl.exchange acts
** on it)?  Most calls set none, and then the session's own resolution
** serves them: this is the test lurl.options.call makes for every call
** with options, in one C pass over the table's keys (a Lua loop over them
** cost ~2 k instructions for one key).  The rule, per key:
**   LUA_ANY    any value matters (allow_redirects, retry, stream, hooks...)
**   timeout    only a table (a number is libcurl's business), body only a
**              function (an upload lurl drives), auth only a flow lurl runs
**              (a function, or a table with `sign`: http.oauth2,
**              http.aws_sigv4); any value of these when the session has a
**              default for the key, which the call's value then overrides
** Raw traversal, as lurl.options' `next` loop; a key that is no option is
** left to core.start, which names it.  Not a table: false (core.start
** says what was wrong).
*/
int lurl_req_core_resolves(lua_State *L) {
  if (lua_type(L, 1) != LUA_TTABLE) return lua_pushboolean(L, 0), 1;
  int defs = lua_type(L, 2) == LUA_TTABLE;
  lua_settop(L, 2);
  lua_pushnil(L);
  while (lua_next(L, 1)) { /* 3: key, 4: value */
    if (lua_type(L, 3) == LUA_TSTRING) {
      size_t n;
      const char *k = lua_tolstring(L, 3, &n);
      int id = opt_id(k, n);
      if (id >= 0 && (OPTBIT(id) & (LUA_ANY | LUA_TYPED)) &&
          lua_key_matters(L, id, 4, (OPTBIT(id) & LUA_TYPED) && defs &&
                                        (lua_pushvalue(L, 3), lua_gettable(L, 2)) != LUA_TNIL))
        return lua_pushboolean(L, 1), 1;
    }
    lua_settop(L, 3);
  }
  lua_pushboolean(L, 0);
  return 1;
}

/* core.resolves' question, asked by core.start of a call whose options
** came unresolved (HOP_RESOLVE), answered from the scans core.start makes
** anyway: the call's (r->olua, lurl_req_scan) and the session's (r->dhave,
** a typed key the session has a default for).  A call with options of
** libcurl's side alone pays nothing for it. */
int lurl_req_lua_keys(req *r) {
  return r->olua != 0 || (r->ohave & r->dhave & LUA_TYPED) != 0;
}

/*
** A table with a metatable may answer for options through __index, which
** runs Lua code, and that code could release strings the request holds
** pointers into.  Such a table is read once, here, into a plain table that
** takes its stack slot: building the request then runs no Lua code.
*/
void lurl_req_plain(req *r, int slot, lurl_optset *have) {
  lua_State *L = r->L;
  lurl_optset got = 0;
  lua_createtable(L, 0, 4);
  for (int i = 0; i < O_COUNT; i++) {
    if (lua_getfield(L, slot, lurl_req_opt_names[i]) == LUA_TNIL) {
      lua_pop(L, 1);
    } else {
      if (slot == r->opts && (OPTBIT(i) & (LUA_ANY | LUA_TYPED)) &&
          lua_key_matters(L, i, lua_gettop(L), 0))
        r->olua |= OPTBIT(i);
      lua_setfield(L, -2, lurl_req_opt_names[i]);
      got |= OPTBIT(i);
    }
  }
  lua_replace(L, slot);
  *have = got;
}

/* Raises for a NaN or an infinity where a number becomes text: "nan",
** "-nan" or "inf" is never what a script meant to send. */
void lurl_req_check_finite(req *r, int idx, const char *field) {
  if (lua_type(r->L, idx) == LUA_TNUMBER && !lua_isinteger(r->L, idx) &&
      !isfinite(lua_tonumber(r->L, idx)))
    lurl_field_error(r->L, r->argn, r->fname, field, "number is NaN or infinite");
}

/* A string option (user_agent, unix_socket) if given, and its length in
** *len (which may count NUL bytes: the caller checks them). */
const char *lurl_req_string_opt(req *r, int id, size_t *len) {
  if (!HAS(r, id)) return NULL;
  int ty = lurl_req_opt(r, id);
  const char *s = NULL;
  if (ty == LUA_TSTRING) s = lua_tolstring(r->L, -1, len);
  else if (ty != LUA_TNIL) lurl_req_field_error(r, lurl_req_opt_names[id], "string", -1);
  lua_pop(r->L, 1); /* still anchored by the options table */
  return s;
}
