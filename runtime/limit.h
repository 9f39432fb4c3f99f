/*
** limit.h -- lurl's fixed limits, and what a host limited a state to
** (runtime/limit.c): memory cap, schemes and hosts, the policy record.
*/
#ifndef LURL_LIMIT_H
#define LURL_LIMIT_H

#include <stddef.h>
#include <curl/curl.h>
#include <lua.h>

#include "policy.h"
#include "text.h"

/* Limits on what a server sends before the body, per transfer (interim
** 1xx blocks, a digest challenge and trailers included); libcurl itself
** refuses one line over 100 KiB. */
#define LURL_MAX_HEAD_BYTES (256 * 1024)
#define LURL_MAX_HEAD_LINES 1000
/* The default max_body of a body that is not streamed (decoded size). */
#define LURL_DEFAULT_MAX_BODY ((size_t)512 * 1024 * 1024)

/* A limited state's record: the allocator's user data, made before the
** state and freed after it (host.c embeds it first in its own struct). */
typedef struct lurl_state_limits {
  lurl_acct mem;      /* bytes held by Lua and by lurl's C buffers (bodies,
                         header blocks), and the cap (max 0: none) */
  int oom;            /* an allocation was refused this run */
  char *schemes, *hosts; /* lower-cased copies; NULL: no list */
  lurl_policy pol;    /* files, addresses, transfers (policy.c) */
} lurl_state_limits;

/* The allocator of limited states (ud: the record). */
void *lurl_limits_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
/* The record of L's state, or NULL for a state lurl did not make. */
lurl_state_limits *lurl_limits_of(lua_State *L);
/* Copies a list lower-cased (NULL for NULL); 0 when out of memory. */
int lurl_limits_copy_list(char **dst, const char *src);
void lurl_limits_free(lurl_state_limits *h);

/* The schemes and hosts a URL may name: 0, or -1 with an InvalidURL error
** pushed [-0, +(0|1)].  opts/defs: the request's and the session's option
** tables (stack indices, 0 when absent; plain tables). */
int lurl_limits_check_url(lua_State *L, CURLU *u, const char *method, const char *url,
                          int opts, int defs);
int lurl_limits_urls(lua_State *L);          /* schemes or hosts restricted */
size_t lurl_limits_memory_cap(lua_State *L); /* 0: no cap */
lurl_acct *lurl_limits_acct(lua_State *L);   /* what C buffers count against, or NULL */

#endif
