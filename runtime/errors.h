/*
** errors.h -- lurl's error objects (runtime/errors.c): the only place that
** builds one, the family tree of kinds, the classifier that names the kind
** of a failed transfer, and the programming errors raised at the user's line.
*/
#ifndef LURL_ERRORS_H
#define LURL_ERRORS_H

#include <lua.h>

#define LURL_ERROR_MT "http.error"

typedef struct lurl_transfer lurl_transfer;

/* Pushes a new error object [-0, +1].  `method`, `url` may be NULL;
** curl_code < 0 means "not from libcurl".  Never raises except on memory. */
void lurl_push_error(lua_State *L, const char *kind, const char *msg,
                     const char *method, const char *url, int curl_code);

/* The kind of error a failed transfer is (its fault, else its CURLcode),
** with its message written to msg.  now_ms: lurl_now_ms() (a total
** deadline is told from a connect timeout by the time spent). */
const char *lurl_error_kind(const lurl_transfer *t, long long now_ms, char *msg, size_t msz);

/* Raises a programming error ("bad argument ...") located at the first
** stack frame outside lurl's own Lua code. */
int lurl_raise(lua_State *L, const char *fmt, ...);

/* The "http.error" metatable; core.errors, core.error_mt, core.error. */
void lurl_errors_open(lua_State *L);

#endif
