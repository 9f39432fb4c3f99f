/*
** redact.h -- the secret parts of URLs and messages (runtime/redact.c;
** SPEC, Errors).  A leaf: it knows Lua and text, nothing else of lurl's.
*/
#ifndef LURL_REDACT_H
#define LURL_REDACT_H

#include <stddef.h>
#include <lua.h>

/* Push the URL with its secrets hidden and return it [-0, +1]. */
const char *lurl_redact_url(lua_State *L, const char *url);
/* Pushes msg with any secret of url in it hidden [-0, +1]. */
const char *lurl_scrub_message(lua_State *L, const char *msg, const char *url);

/* core.redact, core.url_secrets, core.scrub, core.secret_params. */
void lurl_redact_open(lua_State *L);

#endif
