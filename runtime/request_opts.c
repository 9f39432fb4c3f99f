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
    lua_pop(L, 1);
    int id = -1;
    if (lua_type(L, -1) == LUA_TSTRING) {
      size_t n;
      const char *k = lua_tolstring(L, -1, &n);
      id = opt_id(k, n);
    }
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
