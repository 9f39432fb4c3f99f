/*
** lurl.h -- public interface of liblurl, a scriptable HTTP runtime.
**
** liblurl embeds Lua 5.4 and exposes an `http` module implemented in C over
** libcurl.  This header is the only one a host includes.
**
** Conventions used below (as in lua.h):
**   [-o, +p]  the function pops o values from the Lua stack and pushes p.
**   "blocks"  the call may wait on the network; otherwise it returns at once.
** Every function taking a lua_State must be called from the thread that owns
** that state; liblurl keeps no global mutable state besides libcurl's own
** global initialisation (done once, on first use) and the interrupt flag
** below, which exists only so a signal handler can reach it.
*/
#ifndef LURL_H
#define LURL_H

#include <lua.h>

#define LURL_VERSION_MAJOR 0
#define LURL_VERSION_MINOR 1
#define LURL_VERSION_PATCH 0
#define LURL_VERSION "0.1.0"
#define LURL_VERSION_NUM \
  ((LURL_VERSION_MAJOR * 10000) + (LURL_VERSION_MINOR * 100) + LURL_VERSION_PATCH)

#if defined(_WIN32)
#define LURL_API __declspec(dllexport)
#elif defined(__GNUC__)
#define LURL_API __attribute__((visibility("default")))
#else
#define LURL_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
** luaopen_http [-0, +1]: opens the `http` module in L and pushes its table.
** Also registers the module's Lua parts (http.response, ...) in
** package.preload, so `require` finds them without any path change.
** Does not block.  Usable with luaL_requiref(L, "http", luaopen_http, 0).
*/
LURL_API int luaopen_http(lua_State *L);

/*
** lurl_openlibs [-0, +0]: puts `http` (and `json`, which loads lua-cjson)
** into package.preload of L, so scripts can `require` them.  Does not block.
*/
LURL_API void lurl_openlibs(lua_State *L);

/*
** lurl_signal_interrupt: async-signal-safe.  Asks every running lurl loop to
** stop: the request waiting in it fails with an "interrupted" error raised
** in Lua.  Meant to be called from a SIGINT handler.
*/
LURL_API void lurl_signal_interrupt(void);

/*
** lurl_clear_interrupt: forgets a pending interrupt request (the binary calls
** it before running each chunk in interactive mode).
*/
LURL_API void lurl_clear_interrupt(void);

/*
** lurl_interrupted: nonzero while an interrupt request is pending.
*/
LURL_API int lurl_interrupted(void);

#ifdef __cplusplus
}
#endif

#endif /* LURL_H */
