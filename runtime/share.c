/*
** share.c -- what one session keeps apart from every other: a libcurl
** share handle holding its connection cache, DNS cache, TLS session cache
** and (for sessions with a jar) its cookies.
**
** "http.share" userdata.  Transfers that use a share pin it (user value 4
** of the transfer) and count in `refs`; close only frees the libcurl handle
** once no transfer is attached, so teardown works in any order.
** The cookie jar is libcurl's own cookie engine (domain, path, expiry,
** Secure, host-only, public-suffix checks); this file exposes it as lines in
** the Netscape cookies.txt format, which lua/http/cookies.lua turns into the
** jar's Lua API.
*/
#include <string.h>

#include <lauxlib.h>

#include "handle.h"
#include "luac.h"
#include "share.h"

#define LURL_SHARE_MT "http.share"

#define SHARE_IDLE 16 /* easy handles a session keeps between requests */

struct lurl_share {
  const char *tag; /* share_tag: marks a share (lurl_checkshare) */
  CURLSH *sh;
  CURL *idle[SHARE_IDLE]; /* attached and configured, not in use (in refs) */
  int nidle;
  CURL *jar;     /* easy handle attached to sh, used for cookie list calls */
  int refs;      /* transfers attached */
  int cookies;   /* the share keeps cookies */
  int closed;
  struct curl_slist *lines; /* the jar's lines while cookie_lines copies
                               them (see there), else NULL */
};

static void share_free(lurl_share *s) {
  while (s->nidle > 0) {
    lurl_easy_free(s->idle[--s->nidle]); /* detaches it from sh */
    s->refs--;
  }
  if (s->jar) {
    curl_easy_cleanup(s->jar);
    s->jar = NULL;
  }
  if (s->sh && s->refs == 0) {
    curl_share_cleanup(s->sh);
    s->sh = NULL;
  }
}

static const char share_tag[] = LURL_SHARE_MT;

/* A userdata of a share's size with its tag is a share (cheaper than the
** registry lookup of luaL_checkudata, which words the error otherwise). */
lurl_share *lurl_checkshare(lua_State *L, int idx) {
  lurl_share *s = (lurl_share *)lurl_totagged(L, idx, sizeof *s, share_tag);
  if (!s) s = (lurl_share *)luaL_checkudata(L, idx, LURL_SHARE_MT);
  if (s->closed) luaL_error(L, "attempt to use a closed session");
  return s;
}

/* Attaches easy handle h (of a transfer) to the share. */
void lurl_share_attach(lurl_share *s, CURL *h) {
  curl_easy_setopt(h, CURLOPT_SHARE, s->sh);
  if (s->cookies) curl_easy_setopt(h, CURLOPT_COOKIEFILE, ""); /* engine on, no file */
  s->refs++;
}

/* Detaches h (already off the multi handle); frees a closed share once the
** last transfer has left it. */
void lurl_share_detach(lurl_share *s, CURL *h) {
  curl_easy_setopt(h, CURLOPT_SHARE, NULL);
  s->refs--;
  if (s->closed) share_free(s);
}

/* Keeps h (off the multi handle, still attached, not tainted) for the
** session's next request: no re-attaching, and libcurl's cookie engine is
** not started again.  Returns 0 when the share cannot keep it. */
int lurl_share_keep(lurl_share *s, CURL *h) {
  if (s->closed || s->nidle == SHARE_IDLE) return 0;
  s->idle[s->nidle++] = h;
  return 1;
}

/* Does the share keep cookies (a session's jar)? */
int lurl_share_has_jar(const lurl_share *s) { return s->cookies; }

/* A handle the session used before, or NULL. */
CURL *lurl_share_take(lurl_share *s) {
  return s->nidle > 0 ? s->idle[--s->nidle] : NULL;
}

/* core.share(keep_cookies) -> share */
static int share_new(lua_State *L) {
  int cookies = lua_toboolean(L, 1);
  lurl_share *s = (lurl_share *)lua_newuserdatauv(L, sizeof *s, LURL_SHARE_UV_HEADSET);
  memset(s, 0, sizeof *s);
  s->tag = share_tag;
  s->closed = 1;
  luaL_setmetatable(L, LURL_SHARE_MT);
  s->sh = curl_share_init();
  if (!s->sh) return luaL_error(L, "libcurl: cannot create a share handle");
  curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  if (cookies) curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
  s->cookies = cookies;
  s->closed = 0;
  return 1;
}

/* share:close() and __gc: idempotent. */
static int share_close(lua_State *L) {
  lurl_share *s = (lurl_share *)luaL_checkudata(L, 1, LURL_SHARE_MT);
  if (!s->closed) {
    s->closed = 1;
    share_free(s);
  }
  return 0;
}

/* __gc: closed, and the list an error left in cookie_lines freed (only
** here: share:close() may run inside cookie_lines, from a finalizer). */
static int share_gc(lua_State *L) {
  share_close(L);
  lurl_share *s = (lurl_share *)lua_touserdata(L, 1);
  curl_slist_free_all(s->lines);
  s->lines = NULL;
  return 0;
}

static int share_tostring(lua_State *L) {
  lurl_share *s = (lurl_share *)luaL_checkudata(L, 1, LURL_SHARE_MT);
  lua_pushfstring(L, "http.share (%s)", s->closed ? "closed" : "open");
  return 1;
}

/* The easy handle used to read and change the jar. */
static CURL *jar_handle(lua_State *L, lurl_share *s) {
  if (!s->cookies) luaL_error(L, "this session keeps no cookies");
  if (!s->jar) {
    s->jar = curl_easy_init();
    if (!s->jar) luaL_error(L, "libcurl: cannot create an easy handle");
    curl_easy_setopt(s->jar, CURLOPT_SHARE, s->sh);
    curl_easy_setopt(s->jar, CURLOPT_COOKIEFILE, "");
  }
  return s->jar;
}

/* Appends the lines of list to the table on top. */
static void push_lines(lua_State *L, const struct curl_slist *list) {
  int i = 0;
  for (const struct curl_slist *p = list; p; p = p->next) {
    lua_pushstring(L, p->data);
    lua_rawseti(L, -2, ++i);
  }
}

/*
** core.cookie_lines(share) -> {line, ...} in Netscape format.
** Speed trick, the jar's lines in the share: libcurl's list must outlive
** an out-of-memory error while it is copied, and the share holds it
** (s->lines) instead of a box per call, freeing it after, or its __gc
** does.  Invariant: s->lines is non-NULL only inside this function or
** after an error left it, and only __gc frees a leftover one.  Nothing is
** allocated for that, so an empty jar (every mocked or function-transport
** request of a session with a jar asks) costs a table and a libcurl call.
** A call that finds s->lines taken (a finalizer running Lua code inside
** an outer call, or a list an error left, which __gc frees) boxes its
** own list.
*/
static int cookie_lines(lua_State *L) {
  lurl_share *s = lurl_checkshare(L, 1);
  CURL *jar = jar_handle(L, s);
  lua_newtable(L);
  if (s->lines) {
    lurl_box *b = lurl_box_push(L);
    curl_easy_getinfo(jar, CURLINFO_COOKIELIST, &b->list);
    lua_pushvalue(L, -2);
    push_lines(L, b->list);
    lurl_box_free(b);
    return 1;
  }
  curl_easy_getinfo(jar, CURLINFO_COOKIELIST, &s->lines);
  push_lines(L, s->lines);
  curl_slist_free_all(s->lines);
  s->lines = NULL;
  return 1;
}

/* core.cookie_add(share, line): a Netscape line, or "ALL" to clear, or
** "FLUSH"-style commands libcurl knows. */
static int cookie_add(lua_State *L) {
  lurl_share *s = lurl_checkshare(L, 1);
  const char *line = luaL_checkstring(L, 2);
  CURLcode rc = curl_easy_setopt(jar_handle(L, s), CURLOPT_COOKIELIST, line);
  if (rc != CURLE_OK) return luaL_error(L, "cookie jar: %s", curl_easy_strerror(rc));
  return 0;
}

void lurl_share_open(lua_State *L) {
  if (luaL_newmetatable(L, LURL_SHARE_MT)) {
    lua_pushcfunction(L, share_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, share_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, share_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {
    {"share", share_new}, {"share_close", share_close},
    {"cookie_lines", cookie_lines}, {"cookie_add", cookie_add}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
