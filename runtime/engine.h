/*
** engine.h -- the libcurl multi loop of one Lua state (runtime/engine.c):
** the "http.engine" userdata, its deadlines, the task watch table and the
** sockets a host's own loop polls.
*/
#ifndef LURL_ENGINE_H
#define LURL_ENGINE_H

#include <curl/curl.h>
#include <lua.h>

#include "handle.h"
#include "text.h"

#define LURL_ENGINE_MT "http.engine"

typedef struct lurl_engine lurl_engine;
typedef struct lurl_transfer lurl_transfer;

long long lurl_now_ms(void); /* monotonic */

lurl_engine *lurl_engine_get(lua_State *L);
void lurl_push_engine(lua_State *L); /* made on first use [-0, +1] */
/* Starts t (its easy handle configured): 0, or a CURLMcode; raises when a
** limited state's transfer cap is met. */
int lurl_engine_add(lua_State *L, lurl_engine *e, lurl_transfer *t);
/* Takes t off the multi handle (if running) and the live list. */
void lurl_engine_remove(lurl_engine *e, lurl_transfer *t);
/* Waits in C for a started t to finish (or have news for Lua) when no
** task is alive: 0; -1 (nothing done) when tasks are, or t is not running
** on an engine. */
int lurl_engine_wait_alone(lua_State *L, lurl_transfer *t);
/* core.fetch inside a task: 1 when the running coroutine, a task that can
** yield, now waits on t (watched) with core.parked pushed for the caller
** to yield with a continuation; 0, nothing done, anywhere else or when t
** has news.  eidx: the engine userdata's index (see engine.c). */
int lurl_engine_park(lua_State *L, int eidx, lurl_transfer *t);
/* A transfer collected while a task's coroutine still waited on it (the
** coroutine closed by hand, not by task:cancel): off the watch table, so
** the count of waiting tasks and the slot forget it. */
void lurl_engine_forget(lua_State *L, lurl_transfer *t);
int lurl_engine_closed(const lurl_engine *e);
int lurl_engine_running(lurl_engine *e, int upto);
lurl_pool *lurl_engine_pool(lurl_engine *e);
/* The engine's scratch buffer, emptied: for one use that ends before the
** next call (see engine.c). */
lurl_buf *lurl_engine_scratch(lurl_engine *e);
const lurl_env *lurl_engine_env(lurl_engine *e);
/* The state inside curl_multi_perform now (the write callback makes
** streamed chunks in it), else NULL; and the bytes it allocated there
** with its collector stopped, charged once libcurl returns. */
lua_State *lurl_engine_lua(lurl_engine *e);
void lurl_engine_gc_owe(lurl_engine *e, size_t bytes);
struct pollfd;
int lurl_engine_pollfds(lurl_engine *e, struct pollfd *out, int max);
long lurl_engine_timeout(lurl_engine *e);
/* The engine metatable and core.wait, tasks_live, step, watch, cancel, now. */
void lurl_engine_open(lua_State *L);

#endif
