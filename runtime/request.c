/*
** request.c -- turns a request (method, URL, options) into a configured
** libcurl easy handle on a new transfer and starts it on the engine.
**
** core.start(fname, argn, method, url, opts, defaults, flags, remaining_ms,
**            share) -> transfer | nil, err | true
** `opts` are the call's options, `defaults` the session's; an option is read
** from opts first, then from defaults (headers merge, case-insensitively).
** Wrong types raise "bad argument #argn to 'fname' (field 'x': ...)";
** problems with the request itself (a bad URL, a header with a line break)
** return nil, err without anything being sent.  Redirects, retries and
** sessions are policy and live in lua/http; these files are mechanism only:
** this one the steps of core.start and the transfer's own options
** (timeouts, TLS, proxy, streaming, version), request_opts.c reading
** options, request_url.c the URL, request_head.c the head, request_body.c
** the body.  With HOP_RESOLVE in flags it answers true, before anything
** else, when the call's options hold one the Lua side resolves
** (lurl.options), and before sending, when the call's headers name a
** Cookie field (lurl.exchange then decides whether the jar's cookies go):
** lurl.exchange then resolves them and calls again.
*/
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>

#include "engine.h"
#include "errors.h"
#include "handle.h"
#include "limit.h"
#include "luac.h"
#include "policy.h"
#include "request.h"
#include "request_int.h"
#include "share.h"
#include "transfer.h"

#define DEFAULT_CONNECT_MS 10000L
#define DEFAULT_READ_MS 30000L
#define MAX_TIMEOUT_MS 0x7fffffffL /* also "no connect timeout" for libcurl */

/* The upvalues of core.start: core.config (whose slots the Lua layer
** fills, see enum lurl_config_slot), the transfer metatable, the engine,
** the guard's, the URL memo, the kept-transfer slot (shared with
** core.result). */
#define UV_CONFIG lua_upvalueindex(1)
#define UV_TRANSFER_MT lua_upvalueindex(2)
#define UV_ENGINE lua_upvalueindex(3)
#define UV_GUARD_MT lua_upvalueindex(4) /* the guard's metatable (below) */
#define UV_GUARD lua_upvalueindex(5)    /* the kept guard (below) */
#define UV_URL_MEMO lua_upvalueindex(6) /* the URL memo (request_int.h) */
#define UV_KEPT lua_upvalueindex(7) /* the kept-transfer slot (transfer.c) */

/* The stack of core.start: its arguments, then what it makes. */
enum {
  ARG_FNAME = 1, ARG_ARGN, ARG_METHOD, ARG_URL, ARG_OPTS, ARG_DEFAULTS, ARG_FLAGS,
  ARG_REMAINING_MS, ARG_SHARE,
  SLOT_URL,      /* the final URL */
  SLOT_TRANSFER, /* the transfer */
  SLOT_GUARD     /* its guard, until it is started */
};

/*
** Until a transfer is started, an error gives its easy handle back at once,
** through the __close of a guard on the stack: Lua counts a transfer as a
** few hundred bytes, and bad calls retried under pcall in a large heap
** would each hold a handle (tens of KiB) until a collection.  The guard
** owns nothing (the transfer's own __gc stays the owner), so it needs no
** __gc: cheaper than a box for every request.
**
** Speed trick, the kept guard: core.start keeps one guard as an upvalue and
** reuses it, so a request allocates none.  Invariant: the kept guard is in
** use exactly while it points at a transfer (make_transfer sets it, the
** end of core_start or its __close clears it, and nothing between those
** can return to Lua without one of them); a core.start entered while it
** is in use (Lua code of an option's __index calling core.start) makes a
** fresh guard, as before.
*/
#define LURL_GUARD_MT "http.guard"

static int guard_close(lua_State *L) {
  lurl_transfer **g = (lurl_transfer **)lua_touserdata(L, 1);
  if (*g) lurl_transfer_release(*g);
  *g = NULL;
  return 0;
}

/* Pushes the guards' metatable [-0, +1]. */
static void push_guard_mt(lua_State *L) {
  if (luaL_newmetatable(L, LURL_GUARD_MT)) {
    lua_pushcfunction(L, guard_close);
    lua_setfield(L, -2, "__close");
  }
}

/* Pushes a new guard, pointing at nothing [-0, +1]. */
static lurl_transfer **new_guard(lua_State *L) {
  lurl_transfer **g = (lurl_transfer **)lua_newuserdatauv(L, sizeof *g, 0);
  *g = NULL;
  lua_pushvalue(L, UV_GUARD_MT); /* an upvalue: no registry lookup */
  lua_setmetatable(L, -2);
  return g;
}

/* Pushes a to-be-closed guard for t [-0, +1]; clear it once t started. */
static lurl_transfer **push_guard(lua_State *L, lurl_transfer *t) {
  lua_pushvalue(L, UV_GUARD);
  lurl_transfer **g = (lurl_transfer **)lua_touserdata(L, -1);
  if (*g) { /* in use by an outer core.start */
    lua_pop(L, 1);
    g = new_guard(L);
  }
  lua_toclose(L, -1);
  *g = t;
  return g;
}

/* ------------------------------------------------------------ timeouts -- */

static long seconds_ms(req *r, int idx, const char *field, long dflt) {
  lua_State *L = r->L;
  if (lua_isnil(L, idx)) return dflt;
  if (lua_type(L, idx) == LUA_TBOOLEAN && !lua_toboolean(L, idx)) return 0;
  if (lua_type(L, idx) != LUA_TNUMBER)
    lurl_req_field_error(r, field, "number of seconds or false", idx);
  double s = lua_tonumber(L, idx);
  if (isnan(s))
    lurl_field_error(L, r->argn, r->fname, field, "number of seconds expected, got NaN");
  if (!(s > 0)) lurl_field_error(L, r->argn, r->fname, field, "must be positive");
  /* math.huge, or more than libcurl's longest (2^31 - 1 ms, 24.8 days), is
  ** no limit, like false; converting it to an integer would be undefined */
  if (s >= MAX_TIMEOUT_MS / 1000.0) return 0;
  long ms = (long)(s * 1000 + 0.5);
  return ms > 0 ? ms : 1;
}

/*
** A table given where a record is expected (timeout, proxies) holds only
** the names in `known` (a NULL-ended list): a list such as {3, 4, 5}, or a
** misspelt name, would otherwise be read as "nothing set".  The table is
** at idx; the error names the field and what it held.
*/
static void check_record(req *r, int idx, const char *field, const char *const *known,
                         const char *expected) {
  lua_State *L = r->L;
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    int i = 0;
    while (k && known[i] && strcmp(known[i], k) != 0) i++;
    if (!k || !known[i]) {
      if (lua_isinteger(L, -1))
        lurl_field_error(L, r->argn, r->fname, field, "%s expected, got a list", expected);
      size_t n;
      const char *key = luaL_tolstring(L, -1, &n);
      int count = 0;
      while (known[count]) count++;
      lua_pushfstring(L, "%s expected, got key '%s'%s", expected, key,
                      lurl_push_did_you_mean(L, key, n, known, count));
      lurl_field_error(L, r->argn, r->fname, field, "%s", lua_tostring(L, -1));
    }
  }
}

static const char *const TIMEOUT_KEYS[] = {"connect", "read", "total", NULL};
static const char *const PROXIES_KEYS[] = {"http", "https", "all", NULL};

/* timeout: a number (connect and read), {connect=, read=, total=}, or false.
** The defaults (10 s to connect, 30 s of silence) exist so scripts never
** hang forever the way requests' callers do. */
static void apply_timeouts(req *r, long total_ms) {
  lua_State *L = r->L;
  lurl_transfer *t = r->t;
  long connect = DEFAULT_CONNECT_MS, read = DEFAULT_READ_MS, total = 0;
  int ty = HAS(r, O_TIMEOUT) ? lurl_req_opt(r, O_TIMEOUT) : LUA_TNONE;
  if (ty == LUA_TNUMBER || ty == LUA_TBOOLEAN) {
    connect = read = seconds_ms(r, -1, "timeout", DEFAULT_CONNECT_MS);
  } else if (ty == LUA_TTABLE) {
    check_record(r, -1, "timeout", TIMEOUT_KEYS, "{connect=, read=, total=}");
    lua_getfield(L, -1, "connect");
    connect = seconds_ms(r, -1, "timeout.connect", DEFAULT_CONNECT_MS);
    lua_getfield(L, -2, "read");
    read = seconds_ms(r, -1, "timeout.read", DEFAULT_READ_MS);
    lua_getfield(L, -3, "total");
    total = seconds_ms(r, -1, "timeout.total", 0);
    lua_pop(L, 3);
  } else if (ty != LUA_TNIL && ty != LUA_TNONE) {
    lurl_req_field_error(r, "timeout", "number, table or false", -1);
  }
  if (ty != LUA_TNONE) lua_pop(L, 1);
  if (total_ms > 0) total = total_ms; /* what is left of the whole exchange */
  t->connect_ms = connect;
  t->read_ms = read;
  t->total_ms = total;
  /* libcurl's 0 means "its default of 300 s"; a disabled connect timeout is
  ** made very long instead. */
  LURL_SET_KEPT(t->hd, connect_ms, CURLOPT_CONNECTTIMEOUT_MS, connect ? connect : MAX_TIMEOUT_MS);
  LURL_SET_KEPT(t->hd, total_ms, CURLOPT_TIMEOUT_MS, total);
}

/* ----------------------------------------------------------- TLS, proxy -- */

static void apply_tls(req *r) {
  lua_State *L = r->L;
  if (!HAS(r, O_VERIFY) && !HAS(r, O_CERT)) return;
  int ty = lurl_req_opt(r, O_VERIFY);
  if (ty == LUA_TNIL || (ty == LUA_TBOOLEAN && lua_toboolean(L, -1))) {
    /* No CA given by the call or the session: the environment may name one
    ** (requests' and curl's variables), else libcurl's system bundle; every
    ** handle carries that from the start (engine.c). */
  } else if (ty == LUA_TBOOLEAN) {
    SET_RARE(r, CURLOPT_SSL_VERIFYPEER, 0L);
    SET_RARE(r, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (ty == LUA_TSTRING) {
    struct stat st;
    const char *p = lua_tostring(L, -1);
    lurl_req_file_ok(r, "verify", p);
    if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
      SET_RARE(r, CURLOPT_CAPATH, p);
      SET_RARE(r, CURLOPT_CAINFO, NULL);
    } else {
      SET_RARE(r, CURLOPT_CAINFO, p);
      SET_RARE(r, CURLOPT_CAPATH, NULL);
    }
  } else if (ty != LUA_TNIL) {
    lurl_req_field_error(r, "verify", "boolean or CA path", -1);
  }
  lua_pop(L, 1);
  ty = lurl_req_opt(r, O_CERT);
  if (ty == LUA_TSTRING) {
    lurl_req_file_ok(r, "cert", lua_tostring(L, -1));
    SET_RARE(r, CURLOPT_SSLCERT, lua_tostring(L, -1));
  } else if (ty == LUA_TTABLE) {
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    if (!lua_isstring(L, -2) || !lua_isstring(L, -1))
      lurl_req_field_error(r, "cert", "{cert_path, key_path}", -3);
    lurl_req_file_ok(r, "cert", lua_tostring(L, -2));
    lurl_req_file_ok(r, "cert", lua_tostring(L, -1));
    SET_RARE(r, CURLOPT_SSLCERT, lua_tostring(L, -2));
    SET_RARE(r, CURLOPT_SSLKEY, lua_tostring(L, -1));
    lua_pop(L, 2);
  } else if (ty != LUA_TNIL) {
    lurl_req_field_error(r, "cert", "path or {cert_path, key_path}", -1);
  }
  lua_pop(L, 1);
}

/*
** A proxy URL that names no host ("http://:8080", "https://", a one-slash
** "http:/h") is refused before anything is sent, as requests refuses it
** (InvalidProxyURL, an InvalidURL); libcurl would fail it after the fact
** or, for "http:/h", connect to a proxy the script never named.  "" is
** no proxy (libcurl's meaning) and a URL without a scheme is libcurl's
** ("h:3128" is http://h:3128).
*/
static int proxy_lacks_host(const char *p) {
  const char *sep = strstr(p, "://");
  if (!sep) {
    const char *colon = strchr(p, ':');
    return p[0] == ':' || (colon && (colon[1] == '/' || colon[1] == '\0'));
  }
  const char *h = sep + 3;
  size_t n = strcspn(h, "/?#");
  for (size_t i = n; i > 0; i--)
    if (h[i - 1] == '@') { /* the host follows the user part */
      h += i;
      n -= i;
      break;
    }
  return n == 0 || h[0] == ':';
}

/* Pushes the InvalidURL error of a proxy URL without a host [-0, +1]: the
** URL is not in it (it may hold a password). */
static int proxy_invalid(req *r, const char *whence) {
  lua_State *L = r->L;
  lua_pushfstring(L, "the proxy URL %s has no host; nothing was sent", whence);
  lurl_push_error(L, "InvalidURL", lua_tostring(L, -1), r->method, r->url, -1);
  lua_remove(L, -2);
  return -1;
}

/*
** proxy / proxies: option > session default > environment (the engine's
** snapshot, with curl's rules: http_proxy, https_proxy, all_proxy).
** libcurl is always told the proxy, or "" for none, so it reads no
** environment per request; proxy_used lets a failure to reach the proxy be
** reported as ProxyError.  Which hosts bypass the proxy is libcurl's
** CURLOPT_NOPROXY, matched as curl matches no_proxy (names, domains, IP
** addresses, CIDR ranges, "*"): the no_proxy option (call's, else the
** session's), else the environment's no_proxy for an environment proxy.
** A proxy option ignores the environment's no_proxy, as it always did.
** Returns 0, or -1 with an InvalidURL error pushed for a proxy URL without
** a host.
*/
static int apply_proxy(req *r, const char *scheme) {
  lua_State *L = r->L;
  int https = strcasecmp(scheme, "https") == 0;
  const char *field = "of option 'proxy'";
  int ty = lurl_req_opt(r, O_PROXY);
  if (ty == LUA_TNIL) {
    field = "of option 'proxies'";
    lua_pop(L, 1);
    ty = lurl_req_opt(r, O_PROXIES);
    if (ty == LUA_TTABLE) {
      int p = lua_gettop(L);
      check_record(r, p, "proxies", PROXIES_KEYS, "{http=, https=, all=}");
      ty = lua_getfield(L, p, https ? "https" : "http");
      if (ty == LUA_TNIL) { lua_pop(L, 1); ty = lua_getfield(L, p, "all"); }
      lua_remove(L, p);
    } else if (ty != LUA_TNIL) {
      lurl_req_field_error(r, "proxies", "table", -1);
    }
  }
  if (ty == LUA_TSTRING) {
    if (proxy_lacks_host(lua_tostring(L, -1))) {
      lua_pop(L, 1);
      return proxy_invalid(r, field);
    }
    SET_RARE(r, CURLOPT_PROXY, lua_tostring(L, -1));
    const char *np = lurl_req_no_proxy(r); /* request_net.c */
    SET_RARE(r, CURLOPT_NOPROXY, np ? np : ""); /* copied */
    lua_pop(L, 1);
    r->t->proxy_used = np && *np ? "option?" : "option";
  } else if (ty == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
    /* no proxy: how every handle starts (engine.c) */
  } else if (ty == LUA_TNIL) { /* the environment, read when the engine started */
    const lurl_env *v = lurl_engine_env(r->t->eng);
    const char *p = https ? v->https_proxy : v->http_proxy;
    if (!p) p = v->all_proxy;
    if (p) {
      if (proxy_lacks_host(p)) {
        lua_pop(L, 1);
        return proxy_invalid(r, "from the environment");
      }
      SET_RARE(r, CURLOPT_PROXY, p); /* handles start with "" (engine.c) */
      const char *np = lurl_req_no_proxy(r);
      if (!np) np = v->no_proxy;
      if (np && *np) SET_RARE(r, CURLOPT_NOPROXY, np); /* copied */
      lua_pop(L, 1);
      r->t->proxy_used = np && *np ? "env?" : "env";
    }
  } else {
    lurl_req_field_error(r, "proxy", "URL string or false", -1);
  }
  lua_pop(L, 1);
  return 0;
}

/* ----------------------------------------------------- streaming, rest -- */

#define REST_OPTS (OPTBIT(O_STREAM) | OPTBIT(O_MAX_BODY) | OPTBIT(O_ON_PROGRESS) | \
                   OPTBIT(O_PROGRESS) | OPTBIT(O_ALLOW_REDIRECTS) | OPTBIT(O_MAX_REDIRECTS))

static void set_http_version(req *r) {
  lua_State *L = r->L;
  long pipewait = r->https; /* libcurl negotiates h2 over TLS: wait to share */
  int ty = HAS(r, O_HTTP_VERSION) ? lurl_req_opt(r, O_HTTP_VERSION) : LUA_TNONE;
  if (ty == LUA_TSTRING || ty == LUA_TNUMBER) {
    const char *v = lua_tostring(L, -1);
    long cv;
    if (strcmp(v, "1.1") == 0) cv = CURL_HTTP_VERSION_1_1;
    else if (strcmp(v, "1.0") == 0) cv = CURL_HTTP_VERSION_1_0;
    else if (strcmp(v, "2") == 0 || strcmp(v, "2.0") == 0) cv = CURL_HTTP_VERSION_2TLS;
    else if (strcmp(v, "2-prior-knowledge") == 0) cv = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    else
      return (void)lurl_raise(L,
          "bad argument #%d to '%s' (field 'http_version': \"1.1\", \"2\" or "
          "\"2-prior-knowledge\" expected, got \"%s\")", r->argn, r->fname, v);
    SET_RARE(r, CURLOPT_HTTP_VERSION, cv);
    /* wait for a connection that can multiplex rather than open another */
    pipewait = cv == CURL_HTTP_VERSION_2TLS || cv == CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
  } else if (ty != LUA_TNIL && ty != LUA_TNONE) {
    lurl_req_field_error(r, "http_version", "string", -1);
  }
  if (ty != LUA_TNONE) lua_pop(L, 1);
  LURL_SET_KEPT(r->t->hd, pipewait, CURLOPT_PIPEWAIT, pipewait); /* per request: never rare */
}

/* stream, max_body, on_progress, progress, and the types of
** allow_redirects and max_redirects (applied in Lua). */
static void apply_rest(req *r) {
  lua_State *L = r->L;
  lurl_transfer *t = r->t;
  int sty = lurl_req_opt(r, O_STREAM);
  if (sty == LUA_TBOOLEAN) {
    t->st.on = lua_toboolean(L, -1);
    t->st.chunk_cap = 65536;
    /* one 64 KiB read from the socket is one chunk for Lua: fewer trips
    ** between the loop and the reader than libcurl's 16 KiB default */
    if (t->st.on) SET_RARE(r, CURLOPT_BUFFERSIZE, 65536L);
  } else if (sty != LUA_TNIL) lurl_req_field_error(r, "stream", "boolean", -1);
  lua_pop(L, 1);
  int mty = lurl_req_opt(r, O_MAX_BODY);
  if (mty == LUA_TNUMBER) {
    int isint;
    lua_Integer mb = lua_tointegerx(L, -1, &isint); /* 0 for NaN, inf, 1.5: no UB */
    if (!isint) lurl_req_field_error(r, "max_body", "integer", -1);
    if (mb <= 0) lurl_field_error(L, r->argn, r->fname, "max_body", "must be positive");
    if (t->st.on) t->st.max_body = (size_t)mb;
    else t->body.limit = (size_t)mb;
    t->max_body_set = 1;
  } else if (mty == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
    t->max_body_set = 1; /* false: no limit */
  } else if (mty != LUA_TNIL) lurl_req_field_error(r, "max_body", "integer or false", -1);
  lua_pop(L, 1);
  int pty = lurl_req_opt(r, O_ON_PROGRESS);
  if (pty != LUA_TNIL && pty != LUA_TFUNCTION)
    lurl_req_field_error(r, "on_progress", "function", -1);
  int wants_progress = pty == LUA_TFUNCTION;
  pty = lurl_req_opt(r, O_PROGRESS);
  if (pty != LUA_TNIL && pty != LUA_TBOOLEAN) lurl_req_field_error(r, "progress", "boolean", -1);
  wants_progress |= lua_toboolean(L, -1) && isatty(2); /* the bar needs a terminal */
  lua_pop(L, 2);
  if (wants_progress) { /* Lua calls the function when the engine wakes it */
    t->prog.on = 1;
    for (int i = 0; i < 4; i++) t->prog.shown[i] = -1; /* the final report is always due */
    SET_RARE(r, CURLOPT_NOPROGRESS, 0L);
    SET_RARE(r, CURLOPT_XFERINFOFUNCTION, lurl_on_progress);
    SET_RARE(r, CURLOPT_XFERINFODATA, (void *)t);
  }
  if (lurl_req_opt(r, O_ALLOW_REDIRECTS) != LUA_TNIL && !lua_isboolean(L, -1))
    lurl_req_field_error(r, "allow_redirects", "boolean", -1);
  if (lurl_req_opt(r, O_MAX_REDIRECTS) != LUA_TNIL && !lua_isinteger(L, -1))
    lurl_req_field_error(r, "max_redirects", "integer", -1);
  lua_pop(L, 2);
}

/* ------------------------------------------------------------- start -- */

/* The call's arguments, checked, and what core.start works out from them. */
typedef struct start_args {
  const char *method, *rawurl;
  size_t method_len, rawlen;
  int flags;                 /* HOP_* */
  long remaining_ms;         /* what is left of the whole exchange, or 0 */
  lurl_share *share;         /* the session's caches, or NULL */
  const char *url;           /* the final URL (SLOT_URL) */
  size_t url_len;
} start_args;

/* Step 1: the arguments, and which options the two tables hold. */
static void read_args(lua_State *L, req *r, start_args *a) {
  memset(r, 0, sizeof *r);
  r->L = L;
  r->fname = luaL_checkstring(L, ARG_FNAME);
  r->argn = (int)luaL_checkinteger(L, ARG_ARGN);
  a->method = luaL_checklstring(L, ARG_METHOD, &a->method_len);
  /* the URL is the argument before the options in every request function:
  ** a bare call's (lurl.client) comes here unchecked */
  if (lua_type(L, ARG_URL) != LUA_TSTRING)
    lurl_raise(L, "bad argument #%d to '%s' (string expected, got %s)", r->argn - 1, r->fname,
               lua_isnoneornil(L, ARG_URL) ? "no value" : luaL_typename(L, ARG_URL));
  a->rawurl = lua_tolstring(L, ARG_URL, &a->rawlen);
  r->opts = lua_istable(L, ARG_OPTS) ? ARG_OPTS : 0;
  r->defs = lua_istable(L, ARG_DEFAULTS) ? ARG_DEFAULTS : 0;
  if (!r->opts && !lua_isnoneornil(L, ARG_OPTS))
    lurl_raise(L, "bad argument #%d to '%s' (table expected, got %s)", r->argn, r->fname,
               luaL_typename(L, ARG_OPTS));
  a->flags = lua_isinteger(L, ARG_FLAGS) ? (int)lua_tointeger(L, ARG_FLAGS)
                                         : (int)luaL_optinteger(L, ARG_FLAGS, 0);
  a->remaining_ms = lua_isinteger(L, ARG_REMAINING_MS)
                        ? (long)lua_tointeger(L, ARG_REMAINING_MS)
                        : (long)luaL_optinteger(L, ARG_REMAINING_MS, 0);
  a->share = lua_isnoneornil(L, ARG_SHARE) ? NULL : lurl_checkshare(L, ARG_SHARE);
  lua_settop(L, ARG_SHARE);
  r->config = UV_CONFIG;
  r->memo = UV_URL_MEMO;
  r->share_idx = a->share ? ARG_SHARE : 0;
  r->e = (lurl_engine *)lua_touserdata(L, UV_ENGINE);
  r->method = a->method;
  r->url = a->rawurl;
  r->ohave = r->opts ? lurl_req_scan(r, r->opts, 1) : 0;
  r->dhave = r->defs ? lurl_req_scan(r, r->defs, 0) : 0;
  if (r->ohave == LURL_ALL_OPTS) lurl_req_plain(r, r->opts, &r->ohave);
  if (r->dhave == LURL_ALL_OPTS) lurl_req_plain(r, r->defs, &r->dhave);
}

/* Step 2: the request line.  Pushes the final URL into SLOT_URL and
** returns 0, or pushes nil, err and returns 2 (nothing was sent). */
static int request_line(lua_State *L, req *r, start_args *a) {
  if (lurl_req_bad_name(a->method, a->method_len)) { /* it goes on the request line as it is */
    lua_pushnil(L);
    lurl_push_error(L, "InvalidHeader", "the method is not an HTTP token; nothing was sent",
                    NULL, a->rawurl, -1);
    return 2;
  }
  if (strlen(a->rawurl) != a->rawlen) { /* C would see a shorter, other URL */
    lua_pushnil(L);
    lurl_push_error(L, "InvalidURL", "NUL byte in URL", a->method, a->rawurl, -1);
    return 2;
  }
  if (lurl_req_build_url(r, a->method, ARG_URL, a->flags) != 0) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  a->url = lua_tolstring(L, SLOT_URL, &a->url_len);
  r->https = strncasecmp(a->url, "https:", 6) == 0;
  r->url = a->url;
  return 0;
}

/*
** An auth option beats credentials in the URL, in every form (requests
** reads the URL's only without one): libcurl is handed the URL without
** its user part when the call or the session gives an auth table (our
** Basic and Bearer headers would win anyway; netrc would look up the
** URL's user, and use the URL's password without a match).  res.url keeps
** it, as requests' does.  Pushes that URL and returns it, or returns NULL
** and pushes nothing.  Only a URL with '@' before its path pays more than
** the bit test of HAS.
*/
static const char *url_for_auth(req *r, const char *url, size_t *len) {
  if (!HAS(r, O_AUTH)) return NULL;
  const char *sep = strstr(url, "://");
  if (!sep) return NULL;
  const char *host = sep + 3, *at = NULL;
  for (const char *c = host; *c && *c != '/' && *c != '?' && *c != '#'; c++)
    if (*c == '@') at = c;
  if (!at) return NULL;
  int ty = lurl_req_opt(r, O_AUTH);
  lua_pop(r->L, 1); /* only its type matters */
  if (ty != LUA_TTABLE) return NULL;
  lua_pushlstring(r->L, url, (size_t)(host - url));
  lua_pushstring(r->L, at + 1);
  lua_concat(r->L, 2);
  return lua_tolstring(r->L, -1, len);
}

/* Step 3: the transfer in SLOT_TRANSFER, with an easy handle given its
** URL, and its guard in SLOT_GUARD. */
static lurl_transfer **make_transfer(lua_State *L, req *r, const start_args *a,
                                     lurl_engine *e, int kept) {
  lurl_transfer *t = lurl_transfer_new(L, e, UV_TRANSFER_MT, kept, a->share, ARG_SHARE);
  r->t = t;
  r->h = t->easy;
  r->tidx = SLOT_TRANSFER;
  t->https = r->https;
  lurl_transfer **guard = push_guard(L, t);
  lua_pushvalue(L, ARG_METHOD);
  lua_setiuservalue(L, SLOT_TRANSFER, LURL_TUV_METHOD);
  lua_pushvalue(L, SLOT_URL);
  lua_setiuservalue(L, SLOT_TRANSFER, LURL_TUV_URL);
  /* the per-request options; the handle carries the rest (handle.c) */
  size_t alen;
  const char *aurl = url_for_auth(r, a->url, &alen);
  if (aurl) {
    lurl_handle_url(t->hd, aurl, alen); /* it copies the string */
    lua_pop(L, 1);
  } else {
    lurl_handle_url(t->hd, a->url, a->url_len);
  }
  if (a->flags & HOP_FRESH) SET_RARE(r, CURLOPT_FRESH_CONNECT, 1L);
  if (a->flags & HOP_NO_JAR) SET_RARE(r, CURLOPT_COOKIEFILE, NULL); /* the share's jar stays */
  return guard;
}

/* Step 4: the method and the body.  Pushes the body string (or nil) and
** its default Content-Type (or nil), at *body_i and above; returns the
** kind of body (BODY_*) and whether the method uploads in *is_upload. */
static int method_body(lua_State *L, req *r, const start_args *a, int *body_i,
                       int *is_upload) {
  const char *method = a->method;
  size_t mlen = a->method_len; /* no strcmp per method name: lengths first */
#define METHOD_IS(lit) (mlen == sizeof lit - 1 && memcmp(method, lit, sizeof lit - 1) == 0)
  int is_get = METHOD_IS("GET");
  int is_head = !is_get && METHOD_IS("HEAD");
  int is_post = !is_get && METHOD_IS("POST");
  *is_upload = is_post || (!is_get && (METHOD_IS("PUT") || METHOD_IS("PATCH")));
#undef METHOD_IS
  int kind = BODY_NONE;
  if (a->flags & HOP_DROP_BODY) lua_pushnil(L), lua_pushnil(L);
  else kind = lurl_req_body(r);
  if (kind != BODY_NONE) r->t->pinned |= LURL_PIN_BODY; /* lurl_req_body pinned it */
  *body_i = lua_gettop(L) - 1;
  if (is_head) SET_RARE(r, CURLOPT_NOBODY, 1L);
  else if (!is_post && (!is_get || kind != BODY_NONE))
    SET_RARE(r, CURLOPT_CUSTOMREQUEST, method);
  r->t->up_counted = kind == BODY_READER || kind == BODY_MIME; /* res.bytes */
  if (kind == BODY_STRING && !lua_isnil(L, *body_i)) {
    size_t n;
    const char *b = lua_tolstring(L, *body_i, &n);
    lua_pushvalue(L, *body_i);
    lua_setiuservalue(L, r->tidx, LURL_TUV_BODY); /* libcurl does not copy: pin it */
    r->t->pinned |= LURL_PIN_STRING_BODY; /* core.result shows it (res._reqbody) */
    SET_RARE(r, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    SET_RARE(r, CURLOPT_POSTFIELDS, b);
  } else if (kind == BODY_NONE && *is_upload) {
    SET_RARE(r, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    SET_RARE(r, CURLOPT_POSTFIELDS, "");
  }
  return kind;
}

/* Step 5a: options whose tables may run Lua code (__index) come before the
** headers, which hold pointers into strings until they are copied. */
static int connection_options(lua_State *L, req *r, const start_args *a, lurl_engine *e) {
  apply_timeouts(r, a->remaining_ms);
  apply_tls(r);
  const lurl_env *env = lurl_engine_env(e);
  if (HAS(r, O_PROXY) || HAS(r, O_PROXIES) || env->http_proxy || env->https_proxy ||
      env->all_proxy) { /* else no proxy: how every handle starts (handle.c) */
    lurl_req_scheme_host(L, a->url);
    if (apply_proxy(r, lua_tostring(L, -2)) != 0) {
      lua_replace(L, -3); /* the error where the scheme was */
      lua_pop(L, 1);
      return -1;
    }
    lua_pop(L, 2);
  }
  if (HAS_ANY(r, NET_OPTS)) lurl_req_net_options(r); /* request_net.c */
  return 0;
}

/* Step 5b: the options after the head: version, unix socket, streaming,
** and the bounds of what the response may hold. */
static void transfer_options(lua_State *L, req *r) {
  lurl_transfer *t = r->t;
  set_http_version(r);
  size_t uslen = 0;
  const char *us = lurl_req_string_opt(r, O_UNIX_SOCKET, &uslen);
  if (us && strlen(us) != uslen)
    lurl_field_error(L, r->argn, r->fname, "unix_socket", "path with a NUL byte");
  if (us) SET_RARE(r, CURLOPT_UNIX_SOCKET_PATH, us);
  if (HAS_ANY(r, REST_OPTS)) apply_rest(r);
  /* a body that is not streamed is held whole: bounded unless max_body says */
  if (!t->max_body_set && !t->st.on) t->body.limit = LURL_DEFAULT_MAX_BODY;
  size_t cap = lurl_limits_memory_cap(L); /* a host's memory cap bounds bodies too */
  t->body.acct = t->head.acct = lurl_limits_acct(L); /* and counts them with Lua's */
  lurl_transfer_take_spares(t); /* after acct: a budgeted buffer takes none */
  lurl_policy_apply(L, t->hd); /* limited states: the address each connection reaches */
  if (cap) {
    if (t->st.on) {
      if (!t->st.max_body || t->st.max_body > cap) t->st.max_body = cap;
    } else if (!t->body.limit || t->body.limit > cap) {
      t->body.limit = cap;
    }
  }
}

static int core_start(lua_State *L) {
  req r;
  start_args a;
  read_args(L, &r, &a);
  if ((a.flags & HOP_RESOLVE) && lurl_req_lua_keys(&r)) { /* lurl.exchange resolves them */
    lua_pushboolean(L, 1);
    return 1;
  }
  int nres = request_line(L, &r, &a);
  if (nres) return nres;
  lurl_engine *e = (lurl_engine *)lua_touserdata(L, UV_ENGINE);
  lurl_transfer **guard = make_transfer(L, &r, &a, e, UV_KEPT);
  int body_i, is_upload;
  int kind = method_body(L, &r, &a, &body_i, &is_upload);
  if (connection_options(L, &r, &a, e) != 0 ||
      lurl_req_build_headers(&r, kind, body_i, is_upload, a.flags) != 0) {
    /* an InvalidURL (proxy) or InvalidHeader error is on top; nothing was sent */
    lurl_transfer_release(r.t);
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  if ((a.flags & HOP_RESOLVE) && r.call_cookie) { /* lurl.exchange decides the jar */
    lua_pushboolean(L, 1);
    return 1; /* the guard gives the handle back */
  }
  transfer_options(L, &r);
  if (a.flags & HOP_CHECK) { /* a dry run: every option was read, none sent */
    lua_pushboolean(L, 1);
    return 1; /* the guard gives the handle back */
  }
  if (lurl_engine_add(L, e, r.t) != 0) return luaL_error(L, "libcurl: cannot start transfer");
  *guard = NULL;
  lua_pushvalue(L, SLOT_TRANSFER);
  return 1;
}

/* core.fetch's last step: core.result's work on the transfer at tidx
** (on top), which is then parked for the next request. */
static int fetch_result(lua_State *L, int tidx) {
  int n = lurl_transfer_result(L, tidx, LURL_FETCH_RESULT_UV);
  lurl_transfer_park(L, tidx, UV_KEPT); /* read whole, never Lua's: the next request's */
  return n;
}

/* The transfer at tidx has news for Lua, which the caller's wait handles
** (none has on a hop read whole): false, t. */
static int fetch_later(lua_State *L, int tidx) {
  lua_settop(L, tidx);
  lua_pushboolean(L, 0);
  lua_insert(L, -2);
  return 2;
}

/* core.fetch resumed in its task (core.step) once its transfer, at the
** index ctx, has news. */
static int fetch_resumed(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  int tidx = (int)ctx;
  lurl_transfer *t = (lurl_transfer *)lua_touserdata(L, tidx);
  if (t->state == LURL_T_RUNNING) return fetch_later(L, tidx);
  lua_settop(L, tidx); /* the transfer on top, as core.result wants it */
  return fetch_result(L, tidx);
}

/*
** core.fetch(the arguments of core.start) -> res | nil, err | false, t | true
** One request read whole, start to response, in one C call: core.start,
** the wait, then core.result's work.  With no task alive the wait is
** core.wait's, in C; in a task that can yield, the task parks in the
** engine as core.await would park it and core.fetch ends in a
** continuation (fetch_resumed) when core.step resumes it; anywhere else
** while tasks are alive (the main chunk, a coroutine of the script's own,
** across a C boundary) it stops after the start and answers false, t:
** the caller waits through lurl.task.wait and calls core.result.  Not a
** second path: the same three steps, without two returns to Lua between
** them.  Its upvalues are core.start's, then core.result's
** (LURL_FETCH_RESULT_UV).
*/
static int core_fetch(lua_State *L) {
  int n = core_start(L);
  if (n != 1 || lua_type(L, -1) != LUA_TUSERDATA) return n; /* nil, err; a dry run */
  lurl_transfer *t = (lurl_transfer *)lua_touserdata(L, -1);
  int tidx = lua_gettop(L);
  if (lurl_engine_wait_alone(L, t) != 0) { /* tasks are alive */
    /* the guard (cleared by core_start) closed now, a no-op, not when
    ** this returns: a task closed while parked below (task:cancel) would
    ** close it then, when another core.start may be using the kept guard */
    assert(luaL_testudata(L, SLOT_GUARD, LURL_GUARD_MT) != NULL);
    lua_closeslot(L, SLOT_GUARD);
    if (lurl_engine_park(L, UV_ENGINE, t)) /* core.parked on top */
      return lua_yieldk(L, 1, (lua_KContext)tidx, fetch_resumed);
  }
  /* still running after the wait: it has news for Lua, or tasks are
  ** alive and this is no task that can park */
  if (t->state == LURL_T_RUNNING) return fetch_later(L, tidx);
  /* the guard below the transfer (cleared by core_start, or closed above)
  ** closes as a no-op when this returns */
  return fetch_result(L, tidx);
}

/* core.start (a closure over core.config, the transfer metatable, the
** engine, the guards' metatable, the kept guard, the URL memo and
** core.result's kept-transfer slot),
** core.fetch (the same, then core.result's upvalues) and core.config.
** core.result must exist (transfer.c opens first). */
void lurl_request_open(lua_State *L) {
  int core = lua_gettop(L);
  lua_newtable(L); /* core.config: its slots by number, see lurl_config_slot */
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "config");
  luaL_getmetatable(L, LURL_TRANSFER_MT);
  lurl_push_engine(L);
  push_guard_mt(L);
  lurl_transfer **kept = (lurl_transfer **)lua_newuserdatauv(L, sizeof *kept, 0);
  *kept = NULL; /* the kept guard, not in use */
  lua_pushvalue(L, -2);
  lua_setmetatable(L, -2);
  lurl_url_memo *memo = (lurl_url_memo *)lua_newuserdatauv(L, sizeof *memo, 1);
  memo->url = NULL, memo->auth_end = 0; /* remembers nothing yet */
  lua_getfield(L, core, "result"); /* the kept-transfer slot is core.result's */
  lua_getupvalue(L, -1, LURL_RESULT_KEPT_UV);
  lua_remove(L, -2);
  _Static_assert(LURL_FETCH_RESULT_UV == 7, "core.fetch: core.start's 7 upvalues first");
  for (int i = 0; i < LURL_FETCH_RESULT_UV; i++) lua_pushvalue(L, core + 1 + i);
  lua_getfield(L, core, "result");
  int result = lua_gettop(L);
  for (int i = 1; i <= LURL_RESULT_UPVALUES; i++) lua_getupvalue(L, result, i);
  lua_remove(L, result);
  lua_pushcclosure(L, core_fetch, LURL_FETCH_RESULT_UV + LURL_RESULT_UPVALUES);
  lua_getfield(L, core, "set_response_mt"); /* its second upvalue: core.fetch */
  lua_pushvalue(L, -2);
  lua_setupvalue(L, -2, 2);
  lua_pop(L, 1);
  lua_setfield(L, core, "fetch");
  lua_pushcclosure(L, core_start, 7);
  lua_setfield(L, -2, "start");
  lua_pushcfunction(L, lurl_req_core_form);
  lua_setfield(L, -2, "form");
  lua_pushcfunction(L, lurl_req_core_resolves);
  lua_setfield(L, -2, "resolves");
  lua_createtable(L, O_COUNT, 0); /* core.option_names: the request options, for messages */
  for (int i = 0; i < O_COUNT; i++) {
    lua_pushstring(L, lurl_req_opt_names[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "option_names");
  lua_pushcfunction(L, lurl_core_nearest);
  lua_setfield(L, -2, "nearest");
}
