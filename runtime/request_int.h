/*
** request_int.h -- what the files that build a request share
** (request.c: core.start and the transfer's options; request_opts.c:
** reading options; request_url.c: the URL and form encoding;
** request_head.c: headers, auth and cookies; request_body.c: the body).
** Not used outside them.
*/
#ifndef LURL_REQUEST_INT_H
#define LURL_REQUEST_INT_H

#include <stdint.h>

#include <curl/curl.h>
#include <lua.h>

#include "text.h"
#include "transfer.h"

/* flags from the Lua side for one hop of a redirect chain */
#define HOP_DROP_BODY 1   /* 303, or 301/302 after POST: becomes a GET */
#define HOP_STRIP_AUTH 2  /* host changed or https fell to http */
#define HOP_NO_PARAMS 4   /* params are already in the redirected URL */
#define HOP_FRESH 8       /* never on a reused connection: libcurl would
                             silently send it again if that one were dead */
#define HOP_CHECK 16      /* a dry run: the options are read and checked,
                             the URL taken as it is, nothing is sent
                             (a session's defaults, when it is made) */
#define HOP_NO_JAR 32     /* the session's jar neither sends nor stores: the
                             Lua side made the Cookie line (lurl.exchange) */
#define HOP_RESOLVE 64    /* the call's options were not resolved on the Lua
                             side: when one of them is the Lua side's
                             (lurl_req_lua_keys), or its headers name a
                             Cookie field (req.call_cookie: the Lua side
                             decides the jar then), answer true, send
                             nothing */

/* Every option a request accepts; anything else is a typo and refused. */
enum {
  O_PARAMS, O_HEADERS, O_DATA, O_JSON, O_FILES, O_BODY, O_AUTH, O_TIMEOUT,
  O_ALLOW_REDIRECTS, O_MAX_REDIRECTS, O_VERIFY, O_CERT, O_PROXY, O_PROXIES,
  O_COOKIES, O_STREAM, O_MAX_BODY, O_RETRY, O_HTTP_VERSION, O_UNIX_SOCKET,
  O_ON_PROGRESS, O_PROGRESS, O_USER_AGENT, O_REDACT,
  /* the network options of request_net.c */
  O_RESOLVE, O_CONNECT_TO, O_IP_RESOLVE, O_DOH_URL, O_PINNED_PUBKEY, O_LIMIT_RATE,
  O_KEEPALIVE_EXPIRY, O_NO_PROXY, O_TLS,
  O_HOOKS, /* read by lurl.exchange; known here so it is no typo */
  O_COUNT
};
extern const char *const lurl_req_opt_names[O_COUNT];

/* A set of options, bit 1 << O_x (lurl_req_scan). */
typedef uint64_t lurl_optset;
#define OPTBIT(id) ((lurl_optset)1 << (id))
#define LURL_ALL_OPTS (~(lurl_optset)0) /* a table with a metatable: look every one up */
_Static_assert(O_COUNT <= 64, "an option set holds 64 options");

/* The slots of core.config, by number: the Lua layer fills them
** (lua/http/client.lua: core.config[1] = the JSON encoder). */
enum lurl_config_slot {
  LURL_CONFIG_JSON_ENCODE = 1 /* encodes json= bodies (lua-cjson plus
                                 http.array support) */
};

/* What kind of body a request has (lurl_req_body). */
enum { BODY_NONE, BODY_STRING, BODY_READER, BODY_MIME };

/* Everything one call needs while it reads options.  Every stack slot a
** helper reads is named here, so none reads its caller's slots by number. */
typedef struct req {
  lua_State *L;
  const char *fname;
  int argn;
  int opts, defs;       /* stack indices (0 when absent) */
  lurl_optset ohave, dhave; /* the options each holds (OPTBIT(O_x)) */
  lurl_optset olua;         /* the call's options the Lua side reads, by their
                               values (lurl_req_lua_keys) */
  int config;           /* index of core.config (an upvalue of core.start) */
  int tidx;             /* stack index of the transfer */
  int share_idx;        /* stack index of the session's share, or 0 */
  struct lurl_engine *e; /* the engine of core.start */
  lurl_transfer *t;
  CURL *h;
  int https;            /* the URL is https */
  const char *method, *url; /* for error messages */
  int anchor;           /* stack index of a table keeping the strings lurl
                           made from numbers until they are copied, or 0 */
  int memo;             /* index of core.start's URL memo (lurl_url_memo), or 0 */
  int call_cookie;      /* the call's headers name a Cookie field (any case) */
} req;

/*
** Speed trick, the URL memo: the last URL string core.start found plain
** (request_url.c's plain_url: nothing for lurl to parse) and what it
** found, so a script asking for the same URL again pays a pointer compare
** instead of a walk over every byte.  Invariant: the memo's user value
** holds the string `url` points into, so while it is remembered no other
** string can live at that address; plain_url reads nothing but the string.
*/
typedef struct lurl_url_memo {
  const char *url; /* the remembered string (the user value keeps it), or NULL */
  size_t auth_end; /* plain_url(url) */
} lurl_url_memo;

/* Sets an option beyond the per-request set (URL, header list, timeouts,
** PIPEWAIT; the callbacks' data is the handle's own, see lurl_handle): the
** easy handle is reset before its next use (the handle cache's invariant,
** handle.c).  The common request (a GET with the session's defaults) sets
** none, so its handle stays configured between requests. */
#define SET_RARE(r, opt, val) ((r)->t->tainted = 1, curl_easy_setopt((r)->h, (opt), (val)))

/* Does the call or the session hold option `id`?  When neither does, the
** option's code is skipped: its value would be nil. */
#define HAS(r, id) ((((r)->ohave | (r)->dhave) >> (id)) & 1u)
#define HAS_ANY(r, set) ((((r)->ohave | (r)->dhave) & (set)) != 0)

/* request_opts.c */
int lurl_req_field_error(req *r, const char *field, const char *expected, int idx);
void lurl_req_file_ok(req *r, const char *field, const char *path);
lurl_optset lurl_req_scan(req *r, int idx, int check);
void lurl_req_plain(req *r, int slot, lurl_optset *have);
void lurl_req_check_finite(req *r, int idx, const char *field);
const char *lurl_req_string_opt(req *r, int id, size_t *len);

/* Pushes option `id` of the call's options (from_opts) or the session's
** defaults, or nil, and returns its type [-0, +1]. */
static inline int lurl_req_opt_in(req *r, int from_opts, int id) {
  lurl_optset have = from_opts ? r->ohave : r->dhave;
  int idx = from_opts ? r->opts : r->defs;
  if (idx && (have & OPTBIT(id))) return lua_getfield(r->L, idx, lurl_req_opt_names[id]);
  lua_pushnil(r->L);
  return LUA_TNIL;
}

/* Pushes option `id` (call's, else session default's, else nil) and
** returns its type [-0, +1]. */
static inline int lurl_req_opt(req *r, int id) {
  if (r->opts && (r->ohave & OPTBIT(id))) {
    int ty = lua_getfield(r->L, r->opts, lurl_req_opt_names[id]);
    if (ty != LUA_TNIL) return ty;
    lua_pop(r->L, 1);
  }
  return lurl_req_opt_in(r, 0, id);
}

/* lurl_fmt_int (text.c) inline and two digits at a time: the same bytes
** in fewer instructions, for the integers of params and header values. */
static inline size_t lurl_req_fmt_int(char *buf, long long v) {
  static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                              "25262728293031323334353637383940414243444546474849"
                              "50515253545556575859606162636465666768697071727374"
                              "75767778798081828384858687888990919293949596979899";
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  size_t len = 1;
  for (unsigned long long x = u; x >= 10; x /= 10) len++;
  if (v < 0) *buf++ = '-';
  buf[len] = '\0';
  char *p = buf + len;
  while (u >= 100) {
    unsigned d = (unsigned)(u % 100) * 2;
    u /= 100;
    *--p = pairs[d + 1];
    *--p = pairs[d];
  }
  if (u >= 10) {
    *--p = pairs[u * 2 + 1];
    *--p = pairs[u * 2];
  } else {
    *--p = (char)('0' + u);
  }
  return len + (v < 0);
}

/* request_url.c */
int lurl_req_build_url(req *r, const char *method, int url_idx, int flags);
void lurl_req_encode_table(req *r, lurl_buf *b, int idx, const char *field);
int lurl_req_pairs_copy(lua_State *L, int idx);
void lurl_req_scheme_host(lua_State *L, const char *url);
int lurl_req_core_form(lua_State *L);
int lurl_req_core_resolves(lua_State *L); /* request_opts.c */
int lurl_req_lua_keys(req *r);

/* request_head.c */
int lurl_req_bad_name(const char *s, size_t n);
int lurl_req_build_headers(req *r, int kind, int body_i, int is_upload, int flags);

/* request_body.c */
int lurl_req_body(req *r);

/* request_net.c: resolve, connect_to, ip_resolve, doh_url, pinned_pubkey,
** limit_rate, keepalive_expiry, tls and no_proxy.  NET_OPTS: a request
** holding none of them costs one test. */
#define NET_OPTS (OPTBIT(O_RESOLVE) | OPTBIT(O_CONNECT_TO) | OPTBIT(O_IP_RESOLVE) | \
                  OPTBIT(O_DOH_URL) | OPTBIT(O_PINNED_PUBKEY) | OPTBIT(O_LIMIT_RATE) | \
                  OPTBIT(O_KEEPALIVE_EXPIRY) | OPTBIT(O_TLS) | OPTBIT(O_NO_PROXY))
void lurl_req_net_options(req *r);
/* The no_proxy option (call's, else session's) as a string for
** CURLOPT_NOPROXY, pushed [-0, +1] (nil when neither has one). */
const char *lurl_req_no_proxy(req *r);

#endif
