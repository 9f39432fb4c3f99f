/*
** share.h -- a session's connection, DNS, TLS session and cookie caches
** (runtime/share.c), and the easy handles it keeps between requests.
*/
#ifndef LURL_SHARE_H
#define LURL_SHARE_H

#include <curl/curl.h>
#include <lua.h>

typedef struct lurl_share lurl_share;

/* The user value of a share where request_head.c keeps the session's
** merged default headers (its headset). */
#define LURL_SHARE_UV_HEADSET 1

lurl_share *lurl_checkshare(lua_State *L, int idx);
void lurl_share_attach(lurl_share *s, CURL *h);
void lurl_share_detach(lurl_share *s, CURL *h);
int lurl_share_keep(lurl_share *s, CURL *h);
CURL *lurl_share_take(lurl_share *s);
int lurl_share_has_jar(const lurl_share *s);
/* The share metatable; core.share, share_close, cookie_lines, cookie_add. */
void lurl_share_open(lua_State *L);

#endif
