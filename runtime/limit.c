/*
** limit.c -- what a host limited a state to (include/lurl.h, lurl_limits):
** its memory cap (the allocator below counts every byte), the schemes and
** hosts its URLs may name, and the file/address policy record (policy.c).
**
** The record lives in the allocator's user data, so nothing in Lua can
** reach or lift it, and every layer finds it from the lua_State alone
** (lurl_limits_of): the engine, the request builder and policy.c read it
** here, below host.c, which makes and frees it (lurl_newstate).
*/
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "limit.h"
#include "luac.h"


/*
** The allocator of limited states: realloc with a byte count.  Lua tells
** the old size of every block (osize is a type tag when ptr is NULL), so
** the count is exact.  Growing past the cap fails, and Lua turns the NULL
** into "not enough memory"; frees and shrinks always succeed.
*/
void *lurl_limits_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  lurl_state_limits *h = (lurl_state_limits *)ud;
  if (ptr == NULL) osize = 0;
  if (nsize == 0) {
    free(ptr);
    h->mem.used -= osize;
    return NULL;
  }
  if (h->mem.max && nsize > osize && h->mem.used + (nsize - osize) > h->mem.max) {
    h->oom = 1;
    return NULL;
  }
  void *p = realloc(ptr, nsize);
  if (p == NULL) return NULL;
  h->mem.used = h->mem.used - osize + nsize;
  return p;
}

/* The limits of a state made by lurl_newstate, else NULL. */
lurl_state_limits *lurl_limits_of(lua_State *L) {
  void *ud = NULL;
  return lua_getallocf(L, &ud) == lurl_limits_alloc ? (lurl_state_limits *)ud : NULL;
}

/* Frees the lists (the policy record is policy.c's: lurl_policy_free). */
void lurl_limits_free(lurl_state_limits *h) {
  free(h->schemes);
  free(h->hosts);
  h->schemes = h->hosts = NULL;
}


/* Copies a list lower-cased, or NULL for NULL.  Returns 0 on failure. */
int lurl_limits_copy_list(char **dst, const char *src) {
  *dst = NULL;
  if (src == NULL) return 1;
  size_t n = strlen(src);
  *dst = (char *)malloc(n + 1);
  if (*dst == NULL) return 0;
  for (size_t i = 0; i <= n; i++)
    (*dst)[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] + 32 : src[i]);
  return 1;
}

/* Is [s, s+n) one of the comma/space separated words of list? */
static int in_list(const char *list, const char *s, size_t n) {
  const char *p = list;
  while (*p) {
    p += strspn(p, ", \t");
    size_t w = strcspn(p, ", \t");
    if (w == n && strncasecmp(p, s, n) == 0) return 1;
    p += w;
  }
  return 0;
}

/*
** Does one host pattern (not NUL-terminated: [p, p+n)) match host:port?
** "name", "*.name" (strict subdomains), "*", each with an optional ":port";
** IPv6 addresses in brackets ("[::1]:8080"), or bare without a port.
*/
static int pattern_matches(const char *p, size_t n, const char *hostname, long port) {
  const char *name = p;
  size_t nlen = n;
  long want_port = -1;
  if (n > 0 && p[0] == '[') {
    const char *close = memchr(p, ']', n);
    if (close == NULL) return 0;
    name = p + 1;
    nlen = (size_t)(close - name);
    if (close + 1 < p + n) {
      if (close[1] != ':') return 0;
      want_port = strtol(close + 2, NULL, 10);
    }
  } else {
    const char *colon = memchr(p, ':', n);
    if (colon && !memchr(colon + 1, ':', (size_t)(p + n - colon - 1))) {
      nlen = (size_t)(colon - p);
      want_port = strtol(colon + 1, NULL, 10);
    }
  }
  if (want_port >= 0 && want_port != port) return 0;
  size_t hlen = strlen(hostname);
  if (nlen == 1 && name[0] == '*') return 1;
  if (nlen > 2 && name[0] == '*' && name[1] == '.') {
    size_t slen = nlen - 1; /* ".example.com" */
    return hlen > slen && strncasecmp(hostname + hlen - slen, name + 1, slen) == 0;
  }
  return hlen == nlen && strncasecmp(hostname, name, nlen) == 0;
}

static int host_allowed(const char *list, const char *hostname, long port) {
  const char *p = list;
  while (*p) {
    p += strspn(p, ", \t");
    size_t w = strcspn(p, ", \t");
    if (w && pattern_matches(p, w, hostname, port)) return 1;
    p += w;
  }
  return 0;
}

/* Is option `name` set (not nil, not false) in the call's or the
** session's option table?  (Stack indices, 0 when absent.) */
static int option_set(lua_State *L, int opts, int defs, const char *name) {
  int set = 0;
  for (int i = 0; i < 2 && !set; i++) {
    int idx = i == 0 ? opts : defs;
    if (idx == 0) continue;
    lua_pushstring(L, name);
    lua_rawget(L, idx); /* request.c made these plain tables: no __index runs */
    set = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  return set;
}

/* Pushes an InvalidURL error whose message is formatted here [-0, +1]. */
static int refuse(lua_State *L, const char *method, const char *url, const char *fmt,
                  const char *what) {
  lua_pushfstring(L, fmt, what);
  lurl_push_error(L, "InvalidURL", lua_tostring(L, -1), method, url, -1);
  lua_remove(L, -2);
  return -1;
}

/*
** Called by request_url.c's parse_url for every hop (redirects included),
** after the URL parsed and before anything connects.  Returns 0, or -1
** with an error object pushed when the state's limits refuse the URL.
** Hosts are compared as libcurl parsed them, which is what it will connect
** to; a host still percent-encoded is refused rather than guessed at.
*/
int lurl_limits_check_url(lua_State *L, CURLU *u, const char *method, const char *url,
                          int opts, int defs) {
  lurl_state_limits *h = lurl_limits_of(L);
  if (h == NULL || (h->schemes == NULL && h->hosts == NULL)) return 0;
  /* libcurl's strings (and the bare IPv6 copy) live in a box while the
  ** messages below are built: one that runs out of memory frees them */
  lurl_box *b = lurl_box_push(L);
  int box = lua_gettop(L), rc = 0;
  curl_url_get(u, CURLUPART_SCHEME, &b->s[0], 0);
  curl_url_get(u, CURLUPART_HOST, &b->s[1], 0);
  curl_url_get(u, CURLUPART_PORT, &b->s[2], CURLU_DEFAULT_PORT);
  const char *scheme = b->s[0], *hostname = b->s[1], *port = b->s[2];
  if (h->schemes && (!scheme || !in_list(h->schemes, scheme, strlen(scheme)))) {
    rc = refuse(L, method, url, "scheme '%s' is not allowed in this state",
                scheme ? scheme : "");
  } else if (h->hosts) {
    const char *name = hostname ? hostname : "";
    size_t n = strlen(name);
    if (name[0] == '[' && n >= 2) { /* [::1] -> ::1 */
      if (lurl_buf_add(&b->buf, name + 1, n - 2) || lurl_buf_add(&b->buf, "", 1))
        return luaL_error(L, "not enough memory");
      name = b->buf.data;
    }
    long portnum = port ? strtol(port, NULL, 10) : -1;
    if (strchr(name, '%') || !host_allowed(h->hosts, name, portnum)) {
      lua_pushfstring(L, "%s:%d", hostname ? hostname : "", (int)portnum);
      rc = refuse(L, method, url, "host '%s' is not allowed in this state", lua_tostring(L, -1));
      lua_remove(L, -2);
    }
    else if (option_set(L, opts, defs, "proxy") || option_set(L, opts, defs, "proxies"))
      rc = refuse(L, method, url, "%s: a proxy is not allowed in a state limited to "
                  "some hosts", "option 'proxy'");
    else if (option_set(L, opts, defs, "unix_socket"))
      rc = refuse(L, method, url, "%s is not allowed in a state limited to some hosts",
                  "option 'unix_socket'");
  }
  lua_closeslot(L, box); /* frees the strings; Lua 5.4.4 wants it before the slot goes */
  lua_remove(L, box);    /* leaves the error object, if any, in its place */
  return rc;
}

/* For request.c: does this state restrict schemes or hosts?  (When not,
** plain URLs skip the full parse.) */
int lurl_limits_urls(lua_State *L) {
  lurl_state_limits *h = lurl_limits_of(L);
  return h != NULL && (h->schemes != NULL || h->hosts != NULL);
}

/* For request.c: the memory cap of the state (0: none), so a response
** body held in C memory can be capped by it too. */
size_t lurl_limits_memory_cap(lua_State *L) {
  lurl_state_limits *h = lurl_limits_of(L);
  return h ? h->mem.max : 0;
}

/* For request.c: the budget a transfer's C buffers draw on, so bodies and
** header blocks count against the memory cap with the Lua heap. */
lurl_acct *lurl_limits_acct(lua_State *L) {
  lurl_state_limits *h = lurl_limits_of(L);
  return h && h->mem.max ? &h->mem : NULL;
}

lurl_policy *lurl_policy_of(lua_State *L) {
  lurl_state_limits *h = lurl_limits_of(L);
  return h ? &h->pol : NULL;
}

