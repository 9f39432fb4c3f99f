/*
** request.c -- turns a request (method, URL, options) into a configured
** libcurl easy handle and starts it on the engine.
**
** core.start(fname, argn, method, url, opts, defaults, flags, total_ms)
**   -> transfer | nil, err
** `opts` are the call's options, `defaults` the session's; an option is read
** from opts first, then from defaults (headers merge, case-insensitively).
** Wrong types raise "bad argument #argn to 'fname' (field 'x': ...)";
** problems with the request itself (a bad URL, a header with a line break)
** return nil, err without anything being sent.  Redirects, retries and
** sessions are policy and live in lua/http; this file is mechanism only.
*/
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>

#include "lurl.h"
#include "engine.h"
#include "errors.h"
#include "handle.h"
#include "limit.h"
#include "luac.h"
#include "mime.h"
#include "policy.h"
#include "redact.h"
#include "request.h"
#include "share.h"
#include "transfer.h"

/* flags from the Lua side for one hop of a redirect chain */
#define HOP_DROP_BODY 1   /* 303, or 301/302 after POST: becomes a GET */
#define HOP_STRIP_AUTH 2  /* host changed or https fell to http */
#define HOP_NO_PARAMS 4   /* params are already in the redirected URL */
#define HOP_FRESH 8       /* never on a reused connection: libcurl would
                             silently send it again if that one were dead */

#define DEFAULT_CONNECT_MS 10000L
#define DEFAULT_READ_MS 30000L
#define MAX_HEADERS 64
#define MAX_TIMEOUT_MS 0x7fffffffL /* also "no connect timeout" for libcurl */

/* The upvalues of core.start: core.config (whose slots the Lua layer
** fills, see enum lurl_config_slot), the transfer metatable, the engine. */
#define UV_CONFIG lua_upvalueindex(1)
#define UV_TRANSFER_MT lua_upvalueindex(2)
#define UV_ENGINE lua_upvalueindex(3)

/* The slots of core.config, by number (lua/http/client.lua sets them). */
enum lurl_config_slot {
  CONFIG_JSON_ENCODE = 1 /* the JSON encoder of json= bodies (lua-cjson plus
                            http.array support) */
};

/* Everything one call needs while it reads options. */
typedef struct req {
  lua_State *L;
  const char *fname;
  int argn;
  int opts, defs;       /* stack indices (0 when absent) */
  unsigned ohave, dhave; /* the options each holds (bit 1 << O_x) */
  lurl_transfer *t;
  CURL *h;
  int https;            /* the URL is https */
  const char *method, *url; /* for error messages */
  int anchor;           /* stack index of a table keeping the strings lurl
                           made from numbers until they are copied, or 0 */
} req;

/* Sets an option beyond the per-request set (URL, header list, timeouts,
** PIPEWAIT; the callbacks' data is the handle's own, see lurl_handle): the
** easy handle is reset before its next use.
** The common request (a GET with the session's defaults) sets none, so its
** handle stays configured between requests. */
static const char default_ua[] = LURL_DEFAULT_UA;

#define SET_RARE(r, opt, val) ((r)->t->tainted = 1, curl_easy_setopt((r)->h, (opt), (val)))

/* Raises the "bad argument" error for a field, naming the user's call. */
static int field_error(req *r, const char *field, const char *expected, int idx) {
  return lurl_raise(r->L, "bad argument #%d to '%s' (field '%s': %s expected, got %s)",
                    r->argn, r->fname, field, expected, luaL_typename(r->L, idx));
}

/* An option naming a file to read obeys a limited state's file policy. */
static void file_ok(req *r, const char *field, const char *path) {
  const char *why = lurl_policy_file(r->L, path, 0); /* policy.c */
  if (why) lurl_raise(r->L, "bad argument #%d to '%s' (field '%s': %s)", r->argn, r->fname, field, why);
}

/*
** Until a transfer is started, an error gives its easy handle back at once,
** through the __close of a guard on the stack: Lua counts a transfer as a
** few hundred bytes, and bad calls retried under pcall in a large heap
** would each hold a handle (tens of KiB) until a collection.  The guard
** owns nothing (the transfer's own __gc stays the owner), so it needs no
** __gc: cheaper than a box for every request.
*/
#define LURL_GUARD_MT "http.guard"

static int guard_close(lua_State *L) {
  lurl_transfer **g = (lurl_transfer **)lua_touserdata(L, 1);
  if (*g) lurl_transfer_release(*g);
  *g = NULL;
  return 0;
}

/* Pushes a to-be-closed guard for t [-0, +1]; clear it once t started. */
static lurl_transfer **push_guard(lua_State *L, lurl_transfer *t) {
  lurl_transfer **g = (lurl_transfer **)lua_newuserdatauv(L, sizeof *g, 0);
  *g = NULL;
  if (luaL_newmetatable(L, LURL_GUARD_MT)) {
    lua_pushcfunction(L, guard_close);
    lua_setfield(L, -2, "__close");
  }
  lua_setmetatable(L, -2);
  lua_toclose(L, -1);
  *g = t;
  return g;
}

/* Every option a request accepts; anything else is a typo and refused. */
enum {
  O_PARAMS, O_HEADERS, O_DATA, O_JSON, O_FILES, O_BODY, O_AUTH, O_TIMEOUT,
  O_ALLOW_REDIRECTS, O_MAX_REDIRECTS, O_VERIFY, O_CERT, O_PROXY, O_PROXIES,
  O_COOKIES, O_STREAM, O_MAX_BODY, O_RETRY, O_HTTP_VERSION, O_UNIX_SOCKET,
  O_ON_PROGRESS, O_PROGRESS, O_USER_AGENT, O_REDACT, O_COUNT
};
static const char *const known_opts[O_COUNT] = {
  "params", "headers", "data", "json", "files", "body", "auth", "timeout",
  "allow_redirects", "max_redirects", "verify", "cert", "proxy", "proxies",
  "cookies", "stream", "max_body", "retry", "http_version", "unix_socket",
  "on_progress", "progress", "user_agent", "redact"};

static int opt_id(const char *k, size_t n) {
  for (int i = 0; i < O_COUNT; i++)
    if (known_opts[i][0] == k[0] && strlen(known_opts[i]) == n && memcmp(known_opts[i], k, n) == 0)
      return i;
  return -1;
}

/*
** Which options the table at idx holds, as a bit set: one traversal, so a
** request pays for the options it has, not for every option there is.  With
** `check`, a name that is no option raises.  A table with a metatable may
** answer for more keys than it holds: then every option is looked up.
*/
static unsigned scan_opts(req *r, int idx, int check) {
  lua_State *L = r->L;
  if (!check && lua_getmetatable(L, idx)) {
    lua_pop(L, 1);
    return ~0u;
  }
  unsigned have = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int id = -1;
    if (lua_type(L, -1) == LUA_TSTRING) {
      size_t n;
      const char *k = lua_tolstring(L, -1, &n);
      id = opt_id(k, n);
    }
    if (id >= 0) have |= 1u << id;
    else if (check && lua_type(L, -1) != LUA_TSTRING)
      lurl_raise(L, "bad argument #%d to '%s' (option names must be strings)", r->argn,
                 r->fname);
    else if (check)
      lurl_raise(L, "bad argument #%d to '%s' (unknown option '%s')", r->argn, r->fname,
                 lua_tostring(L, -1));
  }
  if (check && lua_getmetatable(L, idx)) {
    lua_pop(L, 1);
    return ~0u;
  }
  return have;
}

/*
** A table with a metatable may answer for options through __index, which
** runs Lua code, and that code could release strings the request holds
** pointers into.  Such a table is read once, here, into a plain table that
** takes its stack slot: building the request then runs no Lua code.
*/
static void plain_options(req *r, int slot, unsigned *have) {
  lua_State *L = r->L;
  unsigned got = 0;
  lua_createtable(L, 0, 4);
  for (int i = 0; i < O_COUNT; i++) {
    if (lua_getfield(L, slot, known_opts[i]) == LUA_TNIL) {
      lua_pop(L, 1);
    } else {
      lua_setfield(L, -2, known_opts[i]);
      got |= 1u << i;
    }
  }
  lua_replace(L, slot);
  *have = got;
}

/* Pushes option `id` of the call's options (from_opts) or the session's
** defaults, or nil, and returns its type [-0, +1]. */
static int getopt_in(req *r, int from_opts, int id) {
  unsigned have = from_opts ? r->ohave : r->dhave;
  int idx = from_opts ? r->opts : r->defs;
  if (idx && (have & (1u << id))) return lua_getfield(r->L, idx, known_opts[id]);
  lua_pushnil(r->L);
  return LUA_TNIL;
}

/* Pushes option `id` (call's, else session default's, else nil) and
** returns its type [-0, +1]. */
static int getopt_(req *r, int id) {
  if (r->opts && (r->ohave & (1u << id))) {
    int ty = lua_getfield(r->L, r->opts, known_opts[id]);
    if (ty != LUA_TNIL) return ty;
    lua_pop(r->L, 1);
  }
  return getopt_in(r, 0, id);
}

/* Does the call or the session hold option `id`?  When neither does, the
** option's code is skipped: its value would be nil. */
#define HAS(r, id) ((((r)->ohave | (r)->dhave) >> (id)) & 1u)

static void check_keys(req *r) { r->ohave = scan_opts(r, r->opts, 1); }

/* core.check_options(fname, argn, opts): refuses unknown option names, as
** a request would (sessions check their defaults when created). */
static int core_check_options(lua_State *L) {
  req r;
  memset(&r, 0, sizeof r);
  r.L = L;
  r.fname = luaL_checkstring(L, 1);
  r.argn = (int)luaL_checkinteger(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  r.opts = 3;
  check_keys(&r);
  return 0;
}

/* ---------------------------------------------------------------- URL -- */

/* Raises for a NaN or an infinity where a number becomes text: "nan",
** "-nan" or "inf" is never what a script meant to send. */
static void check_finite(req *r, int idx, const char *field) {
  if (lua_type(r->L, idx) == LUA_TNUMBER && !lua_isinteger(r->L, idx) &&
      !isfinite(lua_tonumber(r->L, idx)))
    lurl_raise(r->L, "bad argument #%d to '%s' (field '%s': number is NaN or infinite)",
               r->argn, r->fname, field);
}

/* Appends `v` (a string, number or boolean) percent-encoded. */
static int add_scalar(req *r, lurl_buf *b, int idx, const char *field) {
  lua_State *L = r->L;
  size_t n;
  const char *s;
  int ty = lua_type(L, idx);
  if (ty == LUA_TBOOLEAN) {
    s = lua_toboolean(L, idx) ? "true" : "false";
    n = strlen(s);
  } else if (ty == LUA_TNUMBER && !lua_isinteger(L, idx)) {
    check_finite(r, idx, field);
    lua_Number v = lua_tonumber(L, idx);
    /* 30.0 (cjson decodes every number as a float) is sent as 30; the
    ** range test comes first: converting a float out of range is UB */
    if (v > -9223372036854775808.0 && v < 9223372036854775808.0 &&
        v == (lua_Number)(long long)v) {
      char num[32];
      snprintf(num, sizeof num, "%lld", (long long)v);
      return lurl_buf_add_pct(b, num, strlen(num), 1);
    }
    s = lua_tolstring(L, idx, &n); /* a copy on the stack, read right away */
  } else if (ty == LUA_TSTRING || ty == LUA_TNUMBER) {
    s = lua_tolstring(L, idx, &n);
  } else {
    return field_error(r, field, "string, number or boolean value", idx);
  }
  return lurl_buf_add_pct(b, s, n, 1);
}

/* Appends "k=v" with a separator; a list value repeats the key. */
static void add_pair(req *r, lurl_buf *b, int kidx, int vidx, const char *field) {
  lua_State *L = r->L;
  size_t kn;
  const char *k = lua_tolstring(L, kidx, &kn);
  if (lua_type(L, vidx) == LUA_TTABLE) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, vidx);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, vidx, i);
      add_pair(r, b, kidx, lua_gettop(L), field);
      lua_pop(L, 1);
    }
    return;
  }
  int rc = 0;
  if (b->len) rc |= lurl_buf_add(b, "&", 1);
  rc |= lurl_buf_add_pct(b, k, kn, 1);
  rc |= lurl_buf_add(b, "=", 1);
  rc |= add_scalar(r, b, vidx, field);
  if (rc) luaL_error(L, "not enough memory");
}

/*
** Encodes the table at idx as a query / form string onto b: either a map
** (keys sorted, so URLs are deterministic) or an array of {k, v} pairs (kept
** in order).
*/
static void encode_table(req *r, lurl_buf *b, int idx, const char *field) {
  lua_State *L = r->L;
  idx = lua_absindex(L, idx);
  if (lua_rawlen(L, idx) > 0) { /* array of pairs */
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
      if (lua_rawgeti(L, idx, i) != LUA_TTABLE) field_error(r, field, "{key, value} pair", -1);
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      if (lua_type(L, -2) != LUA_TSTRING && lua_type(L, -2) != LUA_TNUMBER)
        field_error(r, field, "string key", -2);
      lua_pushvalue(L, -2);
      lua_tostring(L, -1); /* a number key becomes a string, on a copy */
      add_pair(r, b, lua_gettop(L), lua_gettop(L) - 1, field);
      lua_pop(L, 4);
    }
    return;
  }
  /* map: collect keys, sort, then emit */
  lurl_key keys[256];
  int nk = lurl_sorted_keys(L, idx, keys, 256);
  if (nk == LURL_KEYS_NOT_STRING) field_error(r, field, "string key", -1);
  if (nk == LURL_KEYS_TOO_MANY)
    lurl_raise(L, "bad argument #%d to '%s' (field '%s': too many keys, 256 at most)",
               r->argn, r->fname, field);
  for (int i = 0; i < nk; i++) {
    lua_pushlstring(L, keys[i].s, keys[i].len);
    lua_pushvalue(L, -1);
    lua_gettable(L, idx);
    add_pair(r, b, lua_gettop(L) - 1, lua_gettop(L), field);
    lua_pop(L, 2);
  }
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
  if (auth_end == p || colon == p || (colon && (auth_end - colon < 2 || auth_end - colon > 6)))
    return 0; /* no host, or an empty or long port: libcurl's parser decides */
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
  if (lurl_limits_check_url(L, bx->u, method, url, r->opts, r->defs) != 0) /* limit.c */
    return url_fail(L, base, bx);
  curl_url_set(bx->u, CURLUPART_FRAGMENT, NULL, 0); /* never sent */
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
** The encoding buffer is boxed: a bad value further on raises. */
static void add_params(req *r, int flags) {
  if ((flags & HOP_NO_PARAMS) || !HAS(r, O_PARAMS)) return;
  lua_State *L = r->L;
  int url_i = lua_gettop(L);
  int ty = getopt_(r, O_PARAMS);
  const char *q = NULL;
  size_t qn = 0;
  lurl_box *bx = NULL;
  if (ty == LUA_TTABLE) {
    bx = lurl_box_push(L);
    encode_table(r, &bx->buf, url_i + 1, "params");
    q = bx->buf.data, qn = bx->buf.len;
  } else if (ty == LUA_TSTRING) {
    q = lua_tolstring(L, -1, &qn);
  } else if (ty != LUA_TNIL) {
    field_error(r, "params", "table", -1);
  }
  if (qn) {
    const char *cur = lua_tostring(L, url_i);
    const char *qm = strchr(cur, '?');
    lua_pushvalue(L, url_i);
    lua_pushstring(L, !qm ? "?" : qm[1] ? "&" : "");
    lua_pushlstring(L, q, qn);
    lua_concat(L, 3);
    lua_replace(L, url_i);
  }
  if (bx) lua_closeslot(L, url_i + 2);
  lua_settop(L, url_i);
}

/* Validates the URL, merges params into its query, and pushes the final
** URL [-0, +1].  Returns 0, or -1 with an error object pushed instead. */
static int build_url(req *r, const char *method, const char *url, int flags) {
  lua_State *L = r->L;
  size_t auth_end = plain_url(url);
  if (auth_end && !lurl_limits_urls(L)) {
    if (url[auth_end] == '?') { /* "http://h?q" -> "http://h/?q", as libcurl writes it */
      lua_pushlstring(L, url, auth_end);
      lua_pushliteral(L, "/");
      lua_pushstring(L, url + auth_end);
      lua_concat(L, 3);
    } else if (url[auth_end] == '\0') {
      lua_pushfstring(L, "%s/", url);
    } else {
      lua_pushstring(L, url);
    }
  } else if (parse_url(r, method, url) != 0) {
    return -1;
  }
  add_params(r, flags);
  return 0;
}

/* ------------------------------------------------------------ headers -- */

typedef struct hdr {
  const char *name, *value; /* value NULL = remove the header */
  size_t nlen, vlen;
} hdr;

typedef struct hdrs {
  hdr h[MAX_HEADERS];
  int n;
} hdrs;

static hdr *hdr_find(hdrs *hs, const char *name, size_t nlen) {
  for (int i = 0; i < hs->n; i++)
    if (lurl_ieq(hs->h[i].name, hs->h[i].nlen, name, nlen)) return &hs->h[i];
  return NULL;
}

static void hdr_set(req *r, hdrs *hs, const char *name, size_t nlen, const char *value,
                    size_t vlen) {
  hdr *h = hdr_find(hs, name, nlen);
  if (!h) {
    if (hs->n == MAX_HEADERS)
      lurl_raise(r->L, "bad argument #%d to '%s' (field 'headers': more than %d headers)",
                 r->argn, r->fname, MAX_HEADERS);
    h = &hs->h[hs->n++];
  }
  h->name = name;
  h->nlen = nlen;
  h->value = value;
  h->vlen = vlen;
}

/* A header name (a method, a cookie name) is an HTTP token; values may not
** hold CR, LF or NUL. */
static int bad_name(const char *s, size_t n) { return !lurl_is_token(s, n); }

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
** Merges the headers table at idx into hs.  Returns 0, or -1 with an
** InvalidHeader error pushed.  Never puts the value in a message: it may be
** a secret.
*/
static int merge_headers(req *r, hdrs *hs, int idx, const char *method, const char *url) {
  lua_State *L = r->L;
  idx = lua_absindex(L, idx);
  if (!r->anchor) { /* stays on the stack above the headers table */
    lua_newtable(L);
    r->anchor = lua_gettop(L);
  }
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING) field_error(r, "headers", "string header name", -2);
    size_t nlen, vlen = 0;
    const char *name = lua_tolstring(L, -2, &nlen);
    const char *value = NULL;
    int ty = lua_type(L, -1);
    if (ty == LUA_TSTRING) {
      value = lua_tolstring(L, -1, &vlen); /* the table keeps it */
    } else if (ty == LUA_TNUMBER) {
      /* the string made from a number lives in the stack slot popped
      ** below: it is kept in the anchor table until the request is built */
      check_finite(r, -1, "headers");
      value = lua_tolstring(L, -1, &vlen);
      lua_pushvalue(L, -1);
      lua_rawseti(L, r->anchor, (lua_Integer)lua_rawlen(L, r->anchor) + 1);
    } else if (ty != LUA_TBOOLEAN || lua_toboolean(L, -1)) {
      field_error(r, "headers", "string, number or false value", -1);
    }
    const char *why = bad_name(name, nlen)      ? "is not a valid header name"
                      : value && bad_value(value, vlen) ? "has a value with CR, LF or NUL"
                                                  : NULL;
    if (why) {
      lua_pop(L, 2);
      lua_pushfstring(L, "header '%s' %s; nothing was sent",
                      bad_value(name, nlen) ? "(name with CR, LF or NUL)" : name, why);
      lurl_push_error(L, "InvalidHeader", lua_tostring(L, -1), method, url, -1);
      lua_remove(L, -2);
      return -1;
    }
    hdr_set(r, hs, name, nlen, value, vlen);
    lua_pop(L, 1);
  }
  return 0;
}

/* Adds "Name: value" to libcurl's list and to the record of what was sent. */
static void emit_header(req *r, const hdr *h) {
  lua_State *L = r->L;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, h->name, h->nlen);
  if (!h->value) luaL_addchar(&b, ':');        /* "Name:" removes it */
  else if (h->vlen == 0) luaL_addchar(&b, ';'); /* "Name;" sends it empty */
  else {
    luaL_addstring(&b, ": ");
    luaL_addlstring(&b, h->value, h->vlen);
  }
  luaL_pushresult(&b);
  struct curl_slist *n = curl_slist_append(r->t->slist, lua_tostring(L, -1));
  lua_pop(L, 1);
  if (!n) luaL_error(L, "not enough memory");
  r->t->slist = n;
  if (h->value) {
    int rc = lurl_buf_add(&r->t->reqhead, h->name, h->nlen);
    rc |= lurl_buf_add(&r->t->reqhead, ": ", 2);
    rc |= lurl_buf_add(&r->t->reqhead, h->value, h->vlen);
    rc |= lurl_buf_add(&r->t->reqhead, "\r\n", 2);
    if (rc) luaL_error(L, "not enough memory");
  }
}

/* --------------------------------------------------------------- auth -- */

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

/*
** auth: {"user", "pass"} (basic), or an object from http.basic/digest/
** bearer/netrc ({scheme=..., ...}).  Basic and bearer become our own
** Authorization header, so a redirect can drop it like any other; digest
** needs libcurl's challenge/response.  Leaves the value for the
** Authorization header on the stack (or nothing) and returns 1 if pushed;
** returns -1 with an InvalidHeader error pushed for a digest user name
** that cannot go in a header.
*/
static int apply_auth(req *r) {
  lua_State *L = r->L;
  if (!HAS(r, O_AUTH)) return 0;
  int ty = getopt_(r, O_AUTH);
  if (ty == LUA_TNIL || (ty == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
    lua_pop(L, 1);
    return 0;
  }
  if (ty != LUA_TTABLE) field_error(r, "auth", "table", -1);
  int a = lua_gettop(L);
  lua_getfield(L, a, "scheme");
  const char *scheme = lua_tostring(L, -1);
  if (!scheme) scheme = "basic";
  if (strcmp(scheme, "netrc") == 0) {
    SET_RARE(r, CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
    lua_getfield(L, a, "file");
    /* the file policy (policy.c); no file named: libcurl reads ~/.netrc */
    if (lua_isstring(L, -1)) {
      file_ok(r, "auth", lua_tostring(L, -1));
    } else { /* no file named: libcurl reads $HOME/.netrc */
      const char *home = getenv("HOME");
      file_ok(r, "auth", lua_pushfstring(L, "%s/.netrc", home ? home : ""));
      lua_pop(L, 1);
    }
    if (lua_isstring(L, -1))
      SET_RARE(r, CURLOPT_NETRC_FILE, lua_tostring(L, -1));
    lua_settop(L, a - 1);
    return 0;
  }
  if (strcmp(scheme, "bearer") == 0) {
    lua_getfield(L, a, "token");
    if (!lua_isstring(L, -1)) field_error(r, "auth", "bearer token string", -1);
    lua_pushliteral(L, "Bearer "); /* concat, not "%s": a NUL is kept, then refused */
    lua_insert(L, -2);
    lua_concat(L, 2);
    lua_replace(L, a);
    lua_settop(L, a);
    return 1;
  }
  lua_getfield(L, a, "user");
  if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_rawgeti(L, a, 1); }
  lua_getfield(L, a, "password");
  if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_rawgeti(L, a, 2); }
  if (!lua_isstring(L, -2) || !lua_isstring(L, -1))
    field_error(r, "auth", "{user, password} strings", a);
  if (strcmp(scheme, "digest") == 0) {
    /* libcurl writes the user name into the Authorization line and takes
    ** both as C strings: a NUL would cut them */
    size_t un, pn;
    const char *u = lua_tolstring(L, -2, &un), *p = lua_tolstring(L, -1, &pn);
    if (bad_value(u, un) || memchr(p, '\0', pn)) {
      lua_settop(L, a - 1);
      invalid_header(r, "Authorization",
                     "has a digest user name with CR, LF or NUL (or a password with NUL)");
      return -1;
    }
    SET_RARE(r, CURLOPT_HTTPAUTH, (long)CURLAUTH_DIGEST);
    r->t->curl_auth = 1;
    SET_RARE(r, CURLOPT_USERNAME, lua_tostring(L, -2));
    SET_RARE(r, CURLOPT_PASSWORD, lua_tostring(L, -1));
    lua_settop(L, a - 1);
    return 0;
  }
  if (strcmp(scheme, "basic") != 0)
    lurl_raise(L, "bad argument #%d to '%s' (field 'auth': unknown scheme '%s')", r->argn,
               r->fname, scheme);
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

/* ------------------------------------------------------------ timeouts -- */

static long seconds_ms(req *r, int idx, const char *field, long dflt) {
  lua_State *L = r->L;
  if (lua_isnil(L, idx)) return dflt;
  if (lua_type(L, idx) == LUA_TBOOLEAN && !lua_toboolean(L, idx)) return 0;
  if (lua_type(L, idx) != LUA_TNUMBER) field_error(r, field, "number of seconds or false", idx);
  double s = lua_tonumber(L, idx);
  if (isnan(s))
    lurl_raise(L, "bad argument #%d to '%s' (field '%s': number of seconds expected, got NaN)",
               r->argn, r->fname, field);
  if (!(s > 0)) lurl_raise(L, "bad argument #%d to '%s' (field '%s': must be positive)",
                           r->argn, r->fname, field);
  /* math.huge, or more than libcurl's longest (2^31 - 1 ms, 24.8 days), is
  ** no limit, like false; converting it to an integer would be undefined */
  if (s >= MAX_TIMEOUT_MS / 1000.0) return 0;
  long ms = (long)(s * 1000 + 0.5);
  return ms > 0 ? ms : 1;
}

/* timeout: a number (connect and read), {connect=, read=, total=}, or false.
** The defaults (10 s to connect, 30 s of silence) exist so scripts never
** hang forever the way requests' callers do. */
static void apply_timeouts(req *r, long total_ms) {
  lua_State *L = r->L;
  lurl_transfer *t = r->t;
  long connect = DEFAULT_CONNECT_MS, read = DEFAULT_READ_MS, total = 0;
  int ty = HAS(r, O_TIMEOUT) ? getopt_(r, O_TIMEOUT) : LUA_TNONE;
  if (ty == LUA_TNUMBER || ty == LUA_TBOOLEAN) {
    connect = read = seconds_ms(r, -1, "timeout", DEFAULT_CONNECT_MS);
  } else if (ty == LUA_TTABLE) {
    lua_getfield(L, -1, "connect");
    connect = seconds_ms(r, -1, "timeout.connect", DEFAULT_CONNECT_MS);
    lua_getfield(L, -2, "read");
    read = seconds_ms(r, -1, "timeout.read", DEFAULT_READ_MS);
    lua_getfield(L, -3, "total");
    total = seconds_ms(r, -1, "timeout.total", 0);
    lua_pop(L, 3);
  } else if (ty != LUA_TNIL && ty != LUA_TNONE) {
    field_error(r, "timeout", "number, table or false", -1);
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
  int ty = getopt_(r, O_VERIFY);
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
    file_ok(r, "verify", p);
    if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
      SET_RARE(r, CURLOPT_CAPATH, p);
      SET_RARE(r, CURLOPT_CAINFO, NULL);
    } else {
      SET_RARE(r, CURLOPT_CAINFO, p);
      SET_RARE(r, CURLOPT_CAPATH, NULL);
    }
  } else if (ty != LUA_TNIL) {
    field_error(r, "verify", "boolean or CA path", -1);
  }
  lua_pop(L, 1);
  ty = getopt_(r, O_CERT);
  if (ty == LUA_TSTRING) {
    file_ok(r, "cert", lua_tostring(L, -1));
    SET_RARE(r, CURLOPT_SSLCERT, lua_tostring(L, -1));
  } else if (ty == LUA_TTABLE) {
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    if (!lua_isstring(L, -2) || !lua_isstring(L, -1))
      field_error(r, "cert", "{cert_path, key_path}", -3);
    file_ok(r, "cert", lua_tostring(L, -2));
    file_ok(r, "cert", lua_tostring(L, -1));
    SET_RARE(r, CURLOPT_SSLCERT, lua_tostring(L, -2));
    SET_RARE(r, CURLOPT_SSLKEY, lua_tostring(L, -1));
    lua_pop(L, 2);
  } else if (ty != LUA_TNIL) {
    field_error(r, "cert", "path or {cert_path, key_path}", -1);
  }
  lua_pop(L, 1);
}

/* Does no_proxy (a comma list) exempt host? Same rules as curl: "*" matches
** everything; an entry matches the host itself and its subdomains. */
static int no_proxy_match(const char *list, const char *host) {
  size_t hl = strlen(host);
  while (list && *list) {
    while (*list == ' ' || *list == ',') list++;
    size_t n = strcspn(list, ", ");
    const char *e = list;
    size_t en = n;
    if (en && e[0] == '.') { e++; en--; }
    if (en == 1 && e[0] == '*') return 1;
    if (en && hl >= en && strncasecmp(host + hl - en, e, en) == 0 &&
        (hl == en || host[hl - en - 1] == '.'))
      return 1;
    list += n;
  }
  return 0;
}


/*
** proxy / proxies: option > session default > environment (the engine's
** snapshot, with curl's rules: http_proxy, https_proxy, all_proxy, no_proxy).
** libcurl is always told the proxy, or "" for none, so it reads no
** environment per request; proxy_used lets a failure to reach the proxy be
** reported as ProxyError.
*/
static void apply_proxy(req *r, const char *scheme, const char *host) {
  lua_State *L = r->L;
  int https = strcasecmp(scheme, "https") == 0;
  int ty = getopt_(r, O_PROXY);
  if (ty == LUA_TNIL) {
    lua_pop(L, 1);
    ty = getopt_(r, O_PROXIES);
    if (ty == LUA_TTABLE) {
      int p = lua_gettop(L);
      ty = lua_getfield(L, p, https ? "https" : "http");
      if (ty == LUA_TNIL) { lua_pop(L, 1); ty = lua_getfield(L, p, "all"); }
      lua_remove(L, p);
    } else if (ty != LUA_TNIL) {
      field_error(r, "proxies", "table", -1);
    }
  }
  if (ty == LUA_TSTRING) {
    SET_RARE(r, CURLOPT_PROXY, lua_tostring(L, -1));
    SET_RARE(r, CURLOPT_NOPROXY, "");
    r->t->proxy_used = "option";
  } else if (ty == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
    /* no proxy: how every handle starts (engine.c) */
  } else if (ty == LUA_TNIL) { /* the environment, read when the engine started */
    const lurl_env *v = lurl_engine_env(r->t->eng);
    const char *p = https ? v->https_proxy : v->http_proxy;
    if (!p) p = v->all_proxy;
    if (p && !no_proxy_match(v->no_proxy, host)) {
      SET_RARE(r, CURLOPT_PROXY, p); /* handles start with "" (engine.c) */
      r->t->proxy_used = "env";
    }
  } else {
    field_error(r, "proxy", "URL string or false", -1);
  }
  lua_pop(L, 1);
}

/* ---------------------------------------------------------------- body -- */

enum { BODY_NONE, BODY_STRING, BODY_READER, BODY_MIME };

/*
** Reads json / data / files / body.  Pushes the body string (or nil) and its
** default Content-Type (or nil), and returns what kind of body it is.  A
** body from a file or a function is read through lurl_on_read (a function's
** chunks are handed over by Lua, see core.feed); files become a multipart
** body streamed from disk by libcurl.
*/
static int get_body(req *r) {
  lua_State *L = r->L;
  if (!HAS(r, O_FILES) && !HAS(r, O_JSON) && !HAS(r, O_DATA) && !HAS(r, O_BODY))
    return lua_pushnil(L), lua_pushnil(L), BODY_NONE;
  int ty = getopt_(r, O_FILES);
  if (ty == LUA_TTABLE) {
    int fi = lua_gettop(L);
    int dty = getopt_(r, O_DATA);
    if (dty != LUA_TNIL && dty != LUA_TTABLE) field_error(r, "data", "table (with files)", -1);
    lurl_build_mime(L, r->t, fi, dty == LUA_TTABLE ? fi + 1 : 0, r->fname, r->argn);
    lua_pushvalue(L, fi);
    lua_setiuservalue(L, 11, LURL_TUV_BODY); /* keep in-memory parts' strings alive */
    lua_settop(L, fi - 1);
    lua_pushnil(L);
    lua_pushnil(L);
    return BODY_MIME;
  }
  if (ty != LUA_TNIL) field_error(r, "files", "table", -1);
  lua_pop(L, 1);
  ty = getopt_(r, O_JSON);
  if (ty != LUA_TNIL) {
    lua_rawgeti(L, UV_CONFIG, CONFIG_JSON_ENCODE);
    lua_insert(L, -2);
    lua_call(L, 1, 1);
    lua_pushliteral(L, "application/json");
    return BODY_STRING;
  }
  lua_pop(L, 1);
  ty = getopt_(r, O_DATA);
  if (ty == LUA_TTABLE) {
    lurl_box *bx = lurl_box_push(L); /* a bad value further on raises */
    encode_table(r, &bx->buf, -2, "data");
    lua_pushlstring(L, bx->buf.data ? bx->buf.data : "", bx->buf.len);
    lua_closeslot(L, -2);
    lua_replace(L, -3);
    lua_pop(L, 1);
    lua_pushliteral(L, "application/x-www-form-urlencoded");
    return BODY_STRING;
  }
  if (ty == LUA_TSTRING) { lua_pushnil(L); return BODY_STRING; }
  if (ty != LUA_TNIL) field_error(r, "data", "table or string", -1);
  lua_pop(L, 1);
  ty = getopt_(r, O_BODY);
  if (ty == LUA_TSTRING) { lua_pushnil(L); return BODY_STRING; }
  if (ty == LUA_TNIL) { lua_pushnil(L); return BODY_NONE; }
  curl_off_t size = -1;
  if (ty == LUA_TUSERDATA) {
    luaL_Stream *fs = (luaL_Stream *)luaL_testudata(L, -1, LUA_FILEHANDLE);
    if (!fs || !fs->closef) field_error(r, "body", "string, open file or function", -1);
    r->t->up.file = fs->f;
    long pos = ftell(fs->f);
    if (pos >= 0 && fseek(fs->f, 0, SEEK_END) == 0) { /* what is left to read */
      long end = ftell(fs->f);
      fseek(fs->f, pos, SEEK_SET);
      if (end >= pos) size = end - pos;
    }
  } else if (ty != LUA_TFUNCTION) {
    field_error(r, "body", "string, open file or function", -1);
  }
  lua_setiuservalue(L, 11, LURL_TUV_BODY); /* pin the file (Lua owns and closes it) */
  SET_RARE(r, CURLOPT_POST, 1L);
  SET_RARE(r, CURLOPT_READFUNCTION, lurl_on_read);
  SET_RARE(r, CURLOPT_READDATA, (void *)r->t);
  SET_RARE(r, CURLOPT_POSTFIELDSIZE_LARGE, size); /* -1: chunked */
  lua_pushnil(L);
  lua_pushnil(L);
  return BODY_READER;
}

/* ------------------------------------------------------------- start -- */

#define REST_OPTS (1u << O_STREAM | 1u << O_MAX_BODY | 1u << O_ON_PROGRESS | \
                   1u << O_PROGRESS | 1u << O_ALLOW_REDIRECTS | 1u << O_MAX_REDIRECTS)

static void set_http_version(req *r) {
  lua_State *L = r->L;
  long pipewait = r->https; /* libcurl negotiates h2 over TLS: wait to share */
  int ty = HAS(r, O_HTTP_VERSION) ? getopt_(r, O_HTTP_VERSION) : LUA_TNONE;
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
    field_error(r, "http_version", "string", -1);
  }
  if (ty != LUA_TNONE) lua_pop(L, 1);
  LURL_SET_KEPT(r->t->hd, pipewait, CURLOPT_PIPEWAIT, pipewait); /* per request: never rare */
}

/* A string option (user_agent, unix_socket) if given, and its length in
** *len (which may count NUL bytes: the caller checks them). */
static const char *string_opt(req *r, int id, size_t *len) {
  if (!HAS(r, id)) return NULL;
  int ty = getopt_(r, id);
  const char *s = NULL;
  if (ty == LUA_TSTRING) s = lua_tolstring(r->L, -1, len);
  else if (ty != LUA_TNIL) field_error(r, known_opts[id], "string", -1);
  lua_pop(r->L, 1); /* still anchored by the options table */
  return s;
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
  if (nk == LURL_KEYS_NOT_STRING) field_error(r, "cookies", "string name", -1);
  if (nk == LURL_KEYS_TOO_MANY)
    lurl_raise(L, "bad argument #%d to '%s' (field 'cookies': more than 128 cookies)",
               r->argn, r->fname);
  for (int i = 0; i < nk; i++) {
    if (bad_name(keys[i].s, keys[i].len)) { /* CR, LF, NUL, ';', '=', space... */
      invalid_header(r, "Cookie", "has a cookie name that is not a token");
      return -1;
    }
  }
  for (int i = 0; i < nk; i++) {
    lua_getfield(L, idx, keys[i].s);
    size_t vl;
    int ty = lua_type(L, -1);
    if (ty == LUA_TNUMBER) check_finite(r, -1, "cookies");
    else if (ty != LUA_TSTRING)
      lurl_raise(L, "bad argument #%d to '%s' (field 'cookies': bad cookie '%s')", r->argn,
                 r->fname, keys[i].s);
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
** Returns 0, or -1 with an InvalidHeader error pushed.
*/
static int add_cookies(req *r, hdrs *hs) {
  lua_State *L = r->L;
  hdr *existing = hdr_find(hs, "Cookie", 6);
  if (!HAS(r, O_COOKIES) && !(existing && existing->value)) return 0;
  int ty = getopt_(r, O_COOKIES);
  if (ty == LUA_TNIL && !(existing && existing->value)) {
    lua_pop(L, 1);
    return 0;
  }
  if (ty != LUA_TNIL && ty != LUA_TTABLE) field_error(r, "cookies", "table", -1);
  int idx = lua_gettop(L);
  lurl_key keys[128];
  int nk = ty == LUA_TTABLE ? cookie_names(r, idx, keys) : 0;
  if (nk < 0) return -1;
  luaL_Buffer cb;
  luaL_buffinit(L, &cb);
  if (existing && existing->value) luaL_addlstring(&cb, existing->value, existing->vlen);
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
  if (existing) { /* drop the header entry: libcurl writes the line */
    int k = (int)(existing - hs->h);
    memmove(&hs->h[k], &hs->h[k + 1], (size_t)(hs->n - k - 1) * sizeof hs->h[0]);
    hs->n--;
  }
  size_t n;
  const char *str = lua_tolstring(L, -1, &n);
  if (n) {
    SET_RARE(r, CURLOPT_COOKIE, str); /* libcurl copies it */
    int rc = lurl_buf_adds(&r->t->reqhead, "Cookie: ");
    rc |= lurl_buf_add(&r->t->reqhead, str, n);
    rc |= lurl_buf_add(&r->t->reqhead, "\r\n", 2);
    if (rc) luaL_error(L, "not enough memory");
  }
  lua_pop(L, 1);
  return 0;
}

/* Pushes the scheme and host of an absolute URL (for proxy decisions). */
static void url_scheme_host(lua_State *L, const char *url) {
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

/* stream, max_body, on_progress, progress, and the types of
** allow_redirects and max_redirects (applied in Lua). */
static void apply_rest(req *r) {
  lua_State *L = r->L;
  lurl_transfer *t = r->t;
  int sty = getopt_(r, O_STREAM);
  if (sty == LUA_TBOOLEAN) {
    t->st.on = lua_toboolean(L, -1);
    t->st.chunk_cap = 65536;
    /* one 64 KiB read from the socket is one chunk for Lua: fewer trips
    ** between the loop and the reader than libcurl's 16 KiB default */
    if (t->st.on) SET_RARE(r, CURLOPT_BUFFERSIZE, 65536L);
  } else if (sty != LUA_TNIL) field_error(r, "stream", "boolean", -1);
  lua_pop(L, 1);
  int mty = getopt_(r, O_MAX_BODY);
  if (mty == LUA_TNUMBER) {
    int isint;
    lua_Integer mb = lua_tointegerx(L, -1, &isint); /* 0 for NaN, inf, 1.5: no UB */
    if (!isint) field_error(r, "max_body", "integer", -1);
    if (mb <= 0) lurl_raise(L, "bad argument #%d to '%s' (field 'max_body': must be positive)",
                            r->argn, r->fname);
    if (t->st.on) t->st.max_body = (size_t)mb;
    else t->body.limit = (size_t)mb;
    t->max_body_set = 1;
  } else if (mty == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
    t->max_body_set = 1; /* false: no limit */
  } else if (mty != LUA_TNIL) field_error(r, "max_body", "integer or false", -1);
  lua_pop(L, 1);
  int pty = getopt_(r, O_ON_PROGRESS);
  if (pty != LUA_TNIL && pty != LUA_TFUNCTION) field_error(r, "on_progress", "function", -1);
  int wants_progress = pty == LUA_TFUNCTION;
  pty = getopt_(r, O_PROGRESS);
  if (pty != LUA_TNIL && pty != LUA_TBOOLEAN) field_error(r, "progress", "boolean", -1);
  wants_progress |= lua_toboolean(L, -1) && isatty(2); /* the bar needs a terminal */
  lua_pop(L, 2);
  if (wants_progress) { /* Lua calls the function when the engine wakes it */
    SET_RARE(r, CURLOPT_NOPROGRESS, 0L);
    SET_RARE(r, CURLOPT_XFERINFOFUNCTION, lurl_on_progress);
    SET_RARE(r, CURLOPT_XFERINFODATA, (void *)t);
  }
  if (getopt_(r, O_ALLOW_REDIRECTS) != LUA_TNIL && !lua_isboolean(L, -1))
    field_error(r, "allow_redirects", "boolean", -1);
  if (getopt_(r, O_MAX_REDIRECTS) != LUA_TNIL && !lua_isinteger(L, -1))
    field_error(r, "max_redirects", "integer", -1);
  lua_pop(L, 2);
}

/* Removes the entry for `name` (libcurl then writes what it would). */
static void hdr_drop(hdrs *hs, const char *name, size_t nlen) {
  hdr *h = hdr_find(hs, name, nlen);
  if (!h) return;
  int k = (int)(h - hs->h);
  memmove(&hs->h[k], &hs->h[k + 1], (size_t)(hs->n - k - 1) * sizeof hs->h[0]);
  hs->n--;
}

/* Every string that ends up in the request head (the User-Agent, a bearer
** token, a content type...) is checked as a user's header value is. */
static int check_head(req *r, const hdrs *hs) {
  for (int i = 0; i < hs->n; i++) {
    const hdr *h = &hs->h[i];
    if (h->value && bad_value(h->value, h->vlen)) {
      lua_pushlstring(r->L, h->name, h->nlen); /* a token: checked or ours */
      invalid_header(r, lua_tostring(r->L, -1), "has a value with CR, LF or NUL");
      lua_remove(r->L, -2);
      return -1;
    }
  }
  return 0;
}

/* The user's, the session's and our headers for one hop; the values stay
** on the stack until emitted.  Returns 0, or -1 with InvalidHeader pushed. */
static int merge_all(req *r, hdrs *hs, int kind, int body_i, int is_upload, int flags) {
  lua_State *L = r->L;
  size_t ualen = 0;
  const char *ua = string_opt(r, O_USER_AGENT, &ualen);
  hdr_set(r, hs, "User-Agent", 10, ua ? ua : default_ua, ua ? ualen : sizeof default_ua - 1);
  const char *ae = lurl_accept_encoding();
  hdr_set(r, hs, "Accept-Encoding", 15, ae, strlen(ae));
  if (!lua_isnil(L, body_i + 1)) {
    size_t n;
    const char *ct = lua_tolstring(L, body_i + 1, &n);
    hdr_set(r, hs, "Content-Type", 12, ct, n);
  } else if (kind != BODY_MIME && (kind != BODY_NONE || is_upload)) {
    /* libcurl would label any body as a form; requests sends no type */
    hdr_set(r, hs, "Content-Type", 12, NULL, 0);
  }
  int auth = (flags & HOP_STRIP_AUTH) ? 0 : apply_auth(r);
  if (auth < 0) return -1;
  if (auth) {
    size_t n;
    const char *v = lua_tolstring(L, -1, &n);
    hdr_set(r, hs, "Authorization", 13, v, n);
  }
  for (int from_opts = 0; from_opts <= 1; from_opts++) {
    if (getopt_in(r, from_opts, O_HEADERS) == LUA_TTABLE) {
      if (merge_headers(r, hs, -1, r->method, r->url)) return -1;
    } else if (!lua_isnil(L, -1)) field_error(r, "headers", "table", -1);
  }
  if (flags & HOP_DROP_BODY) { /* requests purges these with the body */
    hdr *c = hdr_find(hs, "Content-Type", 12);
    if (c) c->value = NULL, c->vlen = 0;
  }
  if (flags & HOP_STRIP_AUTH) { /* another host: the user's credentials stay */
    hdr *a = hdr_find(hs, "Authorization", 13);
    if (a) a->value = NULL, a->vlen = 0;
    hdr_drop(hs, "Cookie", 6);               /* requests drops both too */
    hdr_drop(hs, "Proxy-Authorization", 19);
    SET_RARE(r, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
  }
  if (add_cookies(r, hs)) return -1;
  /* no "Expect: 100-continue" round trip: requests never waits for one */
  if (kind != BODY_NONE && !hdr_find(hs, "Expect", 6)) hdr_set(r, hs, "Expect", 6, NULL, 0);
  return check_head(r, hs);
}

/*
** headers: ours, then the session's, then the call's.  User-Agent and
** Accept-Encoding are header lines of ours (libcurl writes its options'
** headers twice over, through its printf); a caller's header replaces
** them, false removes them.  Accept is libcurl's default.  Returns 0, or
** -1 with an InvalidHeader error pushed (nothing was sent).
*/
static int build_headers(req *r, int kind, int body_i, int is_upload, int flags) {
  lua_State *L = r->L;
  lurl_transfer *t = r->t;
  hdrs hs;
  hs.n = 0;
  if (merge_all(r, &hs, kind, body_i, is_upload, flags)) return -1;
  if (hs.n == 2 && hs.h[0].value == default_ua && hs.h[1].value == lurl_accept_encoding() &&
      t->reqhead.len == 0) {
    /* the common case: the engine's list, nothing built */
    LURL_SET_KEPT(t->hd, headers, CURLOPT_HTTPHEADER, lurl_engine_pool(t->eng)->headers);
    t->reqhead_fixed = lurl_default_reqhead();
  } else {
    if (!hdr_find(&hs, "Accept", 6) && /* what libcurl sends, in its order */
        lurl_buf_adds(&t->reqhead, "Accept: */*\r\n") != LURL_BUF_OK)
      return luaL_error(L, "not enough memory");
    for (int i = 0; i < hs.n; i++) emit_header(r, &hs.h[i]);
    LURL_SET_KEPT(t->hd, headers, CURLOPT_HTTPHEADER, t->slist);
  }
  if (t->proxy_used) { /* a CONNECT to the proxy carries the User-Agent too */
    hdr *u = hdr_find(&hs, "User-Agent", 10);
    if (u && u->value) SET_RARE(r, CURLOPT_USERAGENT, u->value); /* copied */
  }
  return 0;
}

static int core_start(lua_State *L) {
  req r;
  r.L = L;
  r.fname = luaL_checkstring(L, 1);
  r.argn = (int)luaL_checkinteger(L, 2);
  const char *method = luaL_checkstring(L, 3);
  size_t rawlen;
  const char *rawurl = luaL_checklstring(L, 4, &rawlen);
  r.opts = lua_istable(L, 5) ? 5 : 0;
  r.defs = lua_istable(L, 6) ? 6 : 0;
  if (!r.opts && !lua_isnoneornil(L, 5))
    lurl_raise(L, "bad argument #%d to '%s' (table expected, got %s)", r.argn, r.fname,
               luaL_typename(L, 5));
  int flags = lua_isinteger(L, 7) ? (int)lua_tointeger(L, 7) : (int)luaL_optinteger(L, 7, 0);
  long total_ms = lua_isinteger(L, 8) ? (long)lua_tointeger(L, 8) : (long)luaL_optinteger(L, 8, 0);
  lurl_share *share = lua_isnoneornil(L, 9) ? NULL : lurl_checkshare(L, 9);
  lua_settop(L, 9);
  r.anchor = 0;
  r.method = method;
  r.url = rawurl;
  r.ohave = r.opts ? scan_opts(&r, r.opts, 1) : 0;
  r.dhave = r.defs ? scan_opts(&r, r.defs, 0) : 0;
  if (r.ohave == ~0u) plain_options(&r, r.opts, &r.ohave);
  if (r.dhave == ~0u) plain_options(&r, r.defs, &r.dhave);
  size_t mlen;
  lua_tolstring(L, 3, &mlen);
  if (bad_name(method, mlen)) { /* it goes on the request line as it is */
    lua_pushnil(L);
    lurl_push_error(L, "InvalidHeader", "the method is not an HTTP token; nothing was sent",
                    NULL, rawurl, -1);
    return 2;
  }
  if (strlen(rawurl) != rawlen) { /* C would see a shorter, other URL */
    lua_pushnil(L);
    lurl_push_error(L, "InvalidURL", "NUL byte in URL", method, rawurl, -1);
    return 2;
  }

  /* 9: final URL */
  if (build_url(&r, method, rawurl, flags) != 0) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  size_t url_len;
  const char *url = lua_tolstring(L, 10, &url_len); /* 10: the final URL */
  r.https = strncasecmp(url, "https:", 6) == 0;
  r.url = url;

  /* 11: the transfer, with an easy handle */
  lurl_engine *e = (lurl_engine *)lua_touserdata(L, UV_ENGINE);
  lurl_transfer *t = lurl_transfer_new(L, e, UV_TRANSFER_MT, share, 9);
  lurl_handle *hd = t->hd;
  r.t = t;
  r.h = t->easy;
  lurl_transfer **guard = push_guard(L, t); /* 12 */
  lua_pushvalue(L, 3);
  lua_setiuservalue(L, 11, LURL_TUV_METHOD);
  lua_pushvalue(L, 10);
  lua_setiuservalue(L, 11, LURL_TUV_URL);

  /* the per-request options; the handle carries the rest (engine.c) */
  lurl_handle_url(hd, url, url_len);
  if (flags & HOP_FRESH) SET_RARE(&r, CURLOPT_FRESH_CONNECT, 1L);

  /* method and body */
  int is_head = strcmp(method, "HEAD") == 0;
  int is_get = strcmp(method, "GET") == 0;
  int is_post = strcmp(method, "POST") == 0;
  int is_upload = is_post || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
  int kind = BODY_NONE;
  if (flags & HOP_DROP_BODY) lua_pushnil(L), lua_pushnil(L);
  else kind = get_body(&r);
  int body_i = lua_gettop(L) - 1; /* body string or nil, content type or nil */
  if (is_head) SET_RARE(&r, CURLOPT_NOBODY, 1L);
  else if (!is_post && (!is_get || kind != BODY_NONE))
    SET_RARE(&r, CURLOPT_CUSTOMREQUEST, method);
  if (kind == BODY_STRING && !lua_isnil(L, body_i)) {
    size_t n;
    const char *b = lua_tolstring(L, body_i, &n);
    lua_pushvalue(L, body_i);
    lua_setiuservalue(L, 11, LURL_TUV_BODY); /* libcurl does not copy: pin the string */
    SET_RARE(&r, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    SET_RARE(&r, CURLOPT_POSTFIELDS, b);
  } else if (kind == BODY_NONE && is_upload) {
    SET_RARE(&r, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    SET_RARE(&r, CURLOPT_POSTFIELDS, "");
  }

  /* options whose tables may run Lua code (__index) come before the
  ** headers, which hold pointers into strings until they are copied */
  apply_timeouts(&r, total_ms);
  apply_tls(&r);
  const lurl_env *env = lurl_engine_env(e);
  if (HAS(&r, O_PROXY) || HAS(&r, O_PROXIES) || env->http_proxy || env->https_proxy ||
      env->all_proxy) { /* else no proxy: how every handle starts (engine.c) */
    url_scheme_host(L, url);
    apply_proxy(&r, lua_tostring(L, -2), lua_tostring(L, -1));
    lua_pop(L, 2);
  }
  if (build_headers(&r, kind, body_i, is_upload, flags) != 0) goto invalid;
  set_http_version(&r);
  size_t uslen = 0;
  const char *us = string_opt(&r, O_UNIX_SOCKET, &uslen);
  if (us && strlen(us) != uslen)
    lurl_raise(L, "bad argument #%d to '%s' (field 'unix_socket': path with a NUL byte)", r.argn,
               r.fname);
  if (us) SET_RARE(&r, CURLOPT_UNIX_SOCKET_PATH, us);

  if ((r.ohave | r.dhave) & REST_OPTS) apply_rest(&r);
  /* a body that is not streamed is held whole: bounded unless max_body says */
  if (!t->max_body_set && !t->st.on) t->body.limit = LURL_DEFAULT_MAX_BODY;
  size_t cap = lurl_limits_memory_cap(L); /* a host's memory cap bounds bodies too */
  t->body.acct = t->head.acct = lurl_limits_acct(L); /* and counts them with Lua's */
  lurl_policy_apply(L, t->hd); /* limited states: the address each connection reaches */
  if (cap) {
    if (t->st.on) {
      if (!t->st.max_body || t->st.max_body > cap) t->st.max_body = cap;
    } else if (!t->body.limit || t->body.limit > cap) {
      t->body.limit = cap;
    }
  }
  if (lurl_engine_add(L, e, t) != 0) return luaL_error(L, "libcurl: cannot start transfer");
  *guard = NULL;
  lua_pushvalue(L, 11);
  return 1;

invalid: /* an InvalidHeader error is on top; nothing was sent */
  lurl_transfer_release(t);
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

/* core.start (a closure over core.config, the transfer metatable and the
** engine), core.config and core.check_options. */
void lurl_request_open(lua_State *L) {
  lua_newtable(L); /* core.config: its slots by number, see lurl_config_slot */
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "config");
  luaL_getmetatable(L, LURL_TRANSFER_MT);
  lurl_push_engine(L);
  lua_pushcclosure(L, core_start, 3);
  lua_setfield(L, -2, "start");
  lua_pushcfunction(L, core_check_options);
  lua_setfield(L, -2, "check_options");
}
