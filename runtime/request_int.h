/*
** request_int.h -- what the files that build a request share
** (request.c: core.start and the transfer's options; request_opts.c:
** reading options; request_url.c: the URL and form encoding;
** request_head.c: headers, auth and cookies; request_body.c: the body).
** Not used outside them.
*/
#ifndef LURL_REQUEST_INT_H
#define LURL_REQUEST_INT_H

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

/* Every option a request accepts; anything else is a typo and refused. */
enum {
  O_PARAMS, O_HEADERS, O_DATA, O_JSON, O_FILES, O_BODY, O_AUTH, O_TIMEOUT,
  O_ALLOW_REDIRECTS, O_MAX_REDIRECTS, O_VERIFY, O_CERT, O_PROXY, O_PROXIES,
  O_COOKIES, O_STREAM, O_MAX_BODY, O_RETRY, O_HTTP_VERSION, O_UNIX_SOCKET,
  O_ON_PROGRESS, O_PROGRESS, O_USER_AGENT, O_REDACT, O_COUNT
};
extern const char *const lurl_req_opt_names[O_COUNT];

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
  unsigned ohave, dhave; /* the options each holds (bit 1 << O_x) */
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

/* request_opts.c */
int lurl_req_field_error(req *r, const char *field, const char *expected, int idx);
void lurl_req_file_ok(req *r, const char *field, const char *path);
unsigned lurl_req_scan(req *r, int idx, int check);
void lurl_req_plain(req *r, int slot, unsigned *have);
void lurl_req_check_finite(req *r, int idx, const char *field);
const char *lurl_req_string_opt(req *r, int id, size_t *len);

/* Pushes option `id` of the call's options (from_opts) or the session's
** defaults, or nil, and returns its type [-0, +1]. */
static inline int lurl_req_opt_in(req *r, int from_opts, int id) {
  unsigned have = from_opts ? r->ohave : r->dhave;
  int idx = from_opts ? r->opts : r->defs;
  if (idx && (have & (1u << id))) return lua_getfield(r->L, idx, lurl_req_opt_names[id]);
  lua_pushnil(r->L);
  return LUA_TNIL;
}

/* Pushes option `id` (call's, else session default's, else nil) and
** returns its type [-0, +1]. */
static inline int lurl_req_opt(req *r, int id) {
  if (r->opts && (r->ohave & (1u << id))) {
    int ty = lua_getfield(r->L, r->opts, lurl_req_opt_names[id]);
    if (ty != LUA_TNIL) return ty;
    lua_pop(r->L, 1);
  }
  return lurl_req_opt_in(r, 0, id);
}

/* request_url.c */
int lurl_req_build_url(req *r, const char *method, int url_idx, int flags);
void lurl_req_encode_table(req *r, lurl_buf *b, int idx, const char *field);
int lurl_req_pairs_copy(lua_State *L, int idx);
void lurl_req_scheme_host(lua_State *L, const char *url);
int lurl_req_core_form(lua_State *L);

/* request_head.c */
int lurl_req_bad_name(const char *s, size_t n);
int lurl_req_build_headers(req *r, int kind, int body_i, int is_upload, int flags);

/* request_body.c */
int lurl_req_body(req *r);

#endif
