/*
** engine.c -- the libcurl multi loop of one Lua state.
**
** Every transfer of a Lua state runs on one multi handle, owned by the
** "http.engine" userdata kept in the registry.  A plain request call adds its
** easy handle and drives the loop until that transfer is done (other
** transfers progress meanwhile); the task scheduler (lua/http) drives the same
** loop one step at a time.  Connections, DNS and TLS sessions live in the
** multi handle's caches, so they are reused across calls.
**
** Teardown in any order: the engine keeps a list of live transfers and
** detaches them in its __gc; a transfer whose engine is gone only frees its
** own memory.  No script code runs from a libcurl callback (stream.c makes
** streamed chunks into Lua strings there, under lua_pcall; nothing else).
*/
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "lurl.h"
#include "engine.h"
#include "handle.h"
#include "policy.h"
#include "transfer.h"

#define IDLE_WAKE_MS 1000    /* longest sleep, so an interrupt is seen */

struct lurl_engine {
  CURLM *multi;
  lurl_transfer *live;       /* transfers that hold an easy handle */
  lurl_pool pool;             /* idle easy handles (handle.c) */
  lurl_buf scratch;           /* lurl_engine_scratch's buffer */
  int closed;
  lurl_env env;
  lua_State *perform_L;       /* the state driving curl_multi_perform, or NULL */
  size_t gc_owed;             /* bytes Lua allocated with its collector stopped */
  int *wfree;                 /* free slots of the watch table (watch()) */
  int nwfree, capwfree;
  int nslots;                 /* slots of the watch table handed out so far */
  lurl_transfer **wt;         /* the transfer watched in each slot, or NULL */
  int capwt;
  int nwatched;               /* tasks waiting on a transfer */
  int ntasks;                 /* tasks alive (lurl.task, core.tasks_live): while
                                 there are none, core.fetch waits in C */
};

/* Set from a signal handler; the only other global besides libcurl's. */
static volatile sig_atomic_t interrupt_flag = 0;

void lurl_signal_interrupt(void) { interrupt_flag = 1; }
void lurl_clear_interrupt(void) { interrupt_flag = 0; }
int lurl_interrupted(void) { return interrupt_flag != 0; }

/* Registry keys: the addresses of these variables. */
static const char engine_key = 0;
static const char watch_key = 0; /* the tasks' coroutines waiting on transfers, by slot */
/* What a parked task yields (core.parked): lurl.task's park() and
** core.await; anything else a task yields is its own. */
static const char parked_key = 0;
#define PARKED ((void *)&parked_key)

long long lurl_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Takes t off the multi handle (if running) and the list of live
** transfers.  The state stays: the caller says what t is now. */
void lurl_engine_remove(lurl_engine *e, lurl_transfer *t) {
  if (t->state == LURL_T_RUNNING && t->easy && e->multi)
    curl_multi_remove_handle(e->multi, t->easy);
  if (t->prev) t->prev->next = t->next;
  else if (e->live == t) e->live = t->next;
  if (t->next) t->next->prev = t->prev;
  t->prev = t->next = NULL;
}

int lurl_engine_closed(const lurl_engine *e) { return e->closed; }

/* The first of two environment variables that is set and not empty, copied. */
static char *env2(const char *a, const char *b) {
  const char *v = getenv(a);
  if (!v || !*v) v = b ? getenv(b) : NULL;
  return v && *v ? strdup(v) : NULL;
}

static void env_read(lurl_env *v) {
  v->ca = env2("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE");
  if (!v->ca) v->ca = env2("SSL_CERT_FILE", NULL);
  v->capath = env2("SSL_CERT_DIR", NULL);
  v->http_proxy = env2("http_proxy", NULL); /* never HTTP_PROXY: see httpoxy */
  v->https_proxy = env2("https_proxy", "HTTPS_PROXY");
  v->all_proxy = env2("all_proxy", "ALL_PROXY");
  v->no_proxy = env2("no_proxy", "NO_PROXY");
}

static void env_free(lurl_env *v) {
  free(v->ca);
  free(v->capath);
  free(v->http_proxy);
  free(v->https_proxy);
  free(v->all_proxy);
  free(v->no_proxy);
  memset(v, 0, sizeof *v);
}

const lurl_env *lurl_engine_env(lurl_engine *e) { return &e->env; }

/* The engine's pool of idle easy handles (handle.c). */
lurl_pool *lurl_engine_pool(lurl_engine *e) { return &e->pool; }

/* Speed trick, the engine's scratch buffer: what core.start encodes (a
** query) goes into one buffer the engine owns and frees, not into a box
** made and closed per request.  Invariant: one user at a time, which
** takes it emptied here and is done with it before anything that could
** take it again (core.start runs no Lua code while it encodes); an error
** halfway just leaves bytes the next user empties.  A buffer grown past
** 64 KiB by a huge query is given back before it is handed out again. */
lurl_buf *lurl_engine_scratch(lurl_engine *e) {
  if (e->scratch.cap > 65536) lurl_buf_free(&e->scratch);
  lurl_buf_reset(&e->scratch);
  return &e->scratch;
}

/* The Lua state whose call is inside curl_multi_perform now (write
** callbacks may make a streamed chunk's string in it), else NULL. */
lua_State *lurl_engine_lua(lurl_engine *e) { return e->perform_L; }

void lurl_engine_gc_owe(lurl_engine *e, size_t bytes) { e->gc_owed += bytes; }

/* curl_multi_perform with the caller's state known to the callbacks; then
** the collector debt of the chunks made in the write callback (transfer.c,
** deliver_direct) is paid: the collector was stopped while they were made,
** and LUA_GCRESTART forgets what was allocated meanwhile, so one step per
** KiB owed runs here.  Invariant: gc_owed is only paid here, outside
** libcurl, where finalizers may run. */
static CURLMcode perform(lua_State *L, lurl_engine *e, int *running) {
  e->perform_L = L;
  CURLMcode mc = curl_multi_perform(e->multi, running);
  e->perform_L = NULL;
  if (e->gc_owed) {
    int kb = (int)(e->gc_owed / 1024) + 1;
    e->gc_owed = 0;
    lua_gc(L, LUA_GCSTEP, kb);
  }
  return mc;
}

/* Marks t finished with `code` and takes it off the multi handle at once, so
** its connection goes back to the cache before Lua even looks at it. */
static void finish(lurl_engine *e, lurl_transfer *t, CURLcode code) {
  if (t->state != LURL_T_RUNNING) return;
  t->wake = 1;
  curl_multi_remove_handle(e->multi, t->easy);
  t->state = LURL_T_DONE;
  t->code = code;
  if (t->prog.on && code == CURLE_OK && !t->fault) lurl_transfer_progress_end(t);
}

/* Reads libcurl's completion messages; returns how many finished. */
static int drain(lurl_engine *e) {
  CURLMsg *m;
  int left, n = 0;
  while ((m = curl_multi_info_read(e->multi, &left)) != NULL) {
    if (m->msg != CURLMSG_DONE) continue;
    CURLcode rc = m->data.result; /* m is invalid once the handle is removed */
    lurl_handle *hd = lurl_handle_of(m->easy_handle);
    lurl_transfer *t = hd ? hd->t : NULL;
    if (t) {
      finish(e, t, rc);
      n++;
    }
  }
  return n;
}

/*
** Enforces `read` timeouts (silence between bytes, measured here rather than
** with libcurl's low-speed approximation) and returns how many milliseconds
** the loop may sleep before the nearest deadline (or `cap`).
*/
static long check_deadlines(lurl_engine *e, long cap) {
  long long now = lurl_now_ms();
  for (lurl_transfer *t = e->live; t; t = t->next) {
    if (t->moved) { /* bytes moved since the last look: the read clock starts over */
      t->moved = 0;
      t->last_ms = now;
    }
    /* a paused transfer waits for its reader, not for the server */
    if (t->state != LURL_T_RUNNING || t->read_ms <= 0 || t->st.paused) continue;
    if (!t->connected) {
      /* The read clock starts once the request is on its way; before that
      ** the connect timeout is in charge. */
      curl_off_t pre = 0;
      curl_easy_getinfo(t->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
      if (pre <= 0) continue;
      t->connected = 1;
      t->last_ms = now;
    }
    long long idle = now - t->last_ms;
    if (idle >= t->read_ms) {
      t->fault = LURL_FAULT_READ_TIMEOUT;
      finish(e, t, CURLE_OPERATION_TIMEDOUT);
      continue;
    }
    if (t->read_ms - idle < cap) cap = (long)(t->read_ms - idle);
  }
  return cap;
}

/*
** One turn of the loop: let libcurl work, collect finished transfers, and
** sleep at most `timeout_ms` (less when a deadline is nearer) until a socket
** is ready.  Raises "interrupted" after lurl_signal_interrupt().
*/
static void turn(lua_State *L, lurl_engine *e, long timeout_ms) {
  int running = 0;
  CURLMcode mc = perform(L, e, &running);
  if (mc != CURLM_OK)
    luaL_error(L, "libcurl multi error: %s", curl_multi_strerror(mc));
  /* Something finished: hand back to the caller before sleeping at all. */
  if (drain(e) > 0) timeout_ms = 0;
  for (lurl_transfer *t = e->live; t && timeout_ms > 0; t = t->next)
    if (t->wake && t->state == LURL_T_RUNNING) timeout_ms = 0;
  if (timeout_ms > 0) {
    long ct = -1;
    curl_multi_timeout(e->multi, &ct);
    if (ct >= 0 && ct < timeout_ms) timeout_ms = ct;
    timeout_ms = check_deadlines(e, timeout_ms);
    /* with no transfer this is a plain sleep (http.sleep outside tasks) */
    if (timeout_ms > 0) curl_multi_poll(e->multi, NULL, 0, (int)timeout_ms, NULL);
    if (running > 0) {
      perform(L, e, &running);
      drain(e);
    }
  }
  check_deadlines(e, 0);
  if (interrupt_flag) {
    /* Stop every transfer: the script is being interrupted. */
    for (lurl_transfer *t = e->live; t; t = t->next)
      if (t->state == LURL_T_RUNNING) {
        t->fault = LURL_FAULT_INTERRUPTED;
        finish(e, t, CURLE_ABORTED_BY_CALLBACK);
      }
    lua_pushliteral(L, "interrupted");
    lua_error(L);
  }
}

/*
** For hosts with their own event loop: fills out[] with the sockets libcurl
** waits on (at most max) and returns how many there are, which may exceed
** max.  Uses curl_multi_fdset, so descriptors must be below FD_SETSIZE.
*/
int lurl_engine_pollfds(lurl_engine *e, struct pollfd *out, int max) {
  fd_set r, w, x;
  int maxfd = -1, n = 0;
  FD_ZERO(&r);
  FD_ZERO(&w);
  FD_ZERO(&x);
  if (curl_multi_fdset(e->multi, &r, &w, &x, &maxfd) != CURLM_OK) return 0;
  for (int fd = 0; fd <= maxfd; fd++) {
    short ev = 0;
    if (FD_ISSET(fd, &r)) ev |= POLLIN;
    if (FD_ISSET(fd, &w)) ev |= POLLOUT;
    if (FD_ISSET(fd, &x)) ev |= POLLPRI;
    if (!ev) continue;
    if (n < max) {
      out[n].fd = fd;
      out[n].events = ev;
      out[n].revents = 0;
    }
    n++;
  }
  return n;
}

/* Milliseconds until libcurl wants to be called even without socket
** activity; -1 when it has no timeout pending. */
long lurl_engine_timeout(lurl_engine *e) {
  long ms = -1;
  curl_multi_timeout(e->multi, &ms);
  /* lurl's own read deadlines count too (check_deadlines is defined above) */
  long cap = ms < 0 ? 0x7fffffffL : ms;
  long d = check_deadlines(e, cap);
  return (ms < 0 && d == cap) ? -1 : d;
}

/* Drives the loop until t is done or has something for Lua (a streamed
** chunk, a request for upload data, a progress report).  May block; raises
** only on interrupt or a multi-handle failure. */
static void engine_wait(lua_State *L, lurl_engine *e, lurl_transfer *t) {
  while (t->state == LURL_T_RUNNING && !t->wake) turn(L, e, IDLE_WAKE_MS);
}

/* Starts t (its easy handle already configured).  Returns 0 or a CURLMcode. */
/* Transfers running in e, counted up to `upto` (a limited state's cap). */
int lurl_engine_running(lurl_engine *e, int upto) {
  int n = 0;
  for (lurl_transfer *x = e->live; x && n < upto; x = x->next) n += x->state == LURL_T_RUNNING;
  return n;
}

int lurl_engine_add(lua_State *L, lurl_engine *e, lurl_transfer *t) {
  /* a limited state's transfer cap: client.lua waits for a slot first, so
  ** this is only met by a request that did not */
  const lurl_policy *p = lurl_policy_of(L);
  if (p && p->max_transfers > 0 && lurl_engine_running(e, p->max_transfers) >= p->max_transfers)
    return luaL_error(L, "too many transfers at once: this state allows %d "
                      "(lurl_limits.max_transfers)", p->max_transfers);
  CURLMcode mc = curl_multi_add_handle(e->multi, t->easy);
  if (mc != CURLM_OK) return (int)mc;
  t->eng = e;
  t->state = LURL_T_RUNNING;
  t->started_ms = t->last_ms = lurl_now_ms();
  t->prev = NULL;
  t->next = e->live;
  if (e->live) e->live->prev = t;
  e->live = t;
  return 0;
}

/* __gc of the engine: detach every live transfer, then free the caches. */
static int engine_gc(lua_State *L) {
  lurl_engine *e = (lurl_engine *)luaL_checkudata(L, 1, LURL_ENGINE_MT);
  if (e->closed) return 0;
  e->closed = 1;
  while (e->live) lurl_transfer_orphan(e->live); /* it leaves the list */
  lurl_pool_close(&e->pool);
  lurl_buf_free(&e->scratch);
  free(e->wfree);
  e->wfree = NULL;
  e->nwfree = e->capwfree = 0;
  free(e->wt);
  e->wt = NULL;
  e->capwt = e->nwatched = 0;
  env_free(&e->env);
  curl_multi_cleanup(e->multi);
  e->multi = NULL;
  curl_global_cleanup(); /* balances the curl_global_init in engine_new */
  return 0;
}

static int engine_tostring(lua_State *L) {
  lurl_engine *e = (lurl_engine *)luaL_checkudata(L, 1, LURL_ENGINE_MT);
  int n = 0;
  for (lurl_transfer *t = e->live; t; t = t->next) n++;
  lua_pushfstring(L, "http.engine (%d live transfers%s)", n, e->closed ? ", closed" : "");
  return 1;
}

/* Creates the engine of this Lua state on first use. */
static lurl_engine *engine_new(lua_State *L) {
  /* its user values, set by core.scheduler: lurl.task's by_co and the
  ** watch table, for lurl_engine_park (ENGINE_UV_*) */
  lurl_engine *e = (lurl_engine *)lua_newuserdatauv(L, sizeof *e, 2);
  memset(e, 0, sizeof *e);
  e->closed = 1; /* until the multi handle exists, __gc has nothing to do */
  luaL_setmetatable(L, LURL_ENGINE_MT);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    luaL_error(L, "libcurl global initialisation failed");
  e->multi = curl_multi_init();
  if (!e->multi) {
    curl_global_cleanup();
    luaL_error(L, "libcurl: cannot create a multi handle");
  }
  if (lurl_pool_init(&e->pool, &e->env, lurl_on_body, lurl_on_header) != 0) {
    curl_multi_cleanup(e->multi);
    e->multi = NULL;
    curl_global_cleanup();
    luaL_error(L, "not enough memory");
  }
  env_read(&e->env);
  e->closed = 0;
  /* HTTP/2 requests to one host share one connection. */
  curl_multi_setopt(e->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  return e;
}

/* Pushes the engine of this Lua state, made on first use [-0, +1]. */
void lurl_push_engine(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &engine_key) != LUA_TNIL) return;
  lua_pop(L, 1);
  engine_new(L);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &engine_key);
}

lurl_engine *lurl_engine_get(lua_State *L) {
  lurl_push_engine(L);
  lurl_engine *e = (lurl_engine *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  return e;
}

/* Drives the loop until t is done or has news for Lua, when no task is
** alive (else the scheduler must run them: returns -1, nothing done). */
int lurl_engine_wait_alone(lua_State *L, lurl_transfer *t) {
  lurl_engine *e = t->eng;
  if (!e || e->ntasks) return -1;
  engine_wait(L, e, t);
  return 0;
}

/* core.tasks_live(n): lurl.task says how many tasks are alive. */
static int core_tasks_live(lua_State *L) {
  lurl_engine_get(L)->ntasks = (int)luaL_checkinteger(L, 1);
  return 0;
}

/* core.wait(transfer): drive the loop until it is done. */
static int core_wait(lua_State *L) {
  lurl_transfer *t = lurl_checktransfer(L, 1);
  if (t->state == LURL_T_RUNNING && t->eng) engine_wait(L, t->eng, t);
  return 0;
}

/*
** Speed trick, the parked task: the scheduler's per-request half is C
** (lurl.task keeps the rest: spawn, timers, the ready queue, join).  A task
** waiting on a transfer parks in core.await (lurl.task.wait itself) or in
** core.fetch (lurl_engine_park; core.fetch ends in a continuation when
** resumed): its coroutine goes into the watch table (a Lua table by slot,
** which keeps it alive), the transfer into the engine's slot array (wt),
** and the coroutine yields `core.parked` from C.  core.step resumes the
** coroutines whose transfers finished (or have news) with lua_resume; only
** one that did not park again (it ended, failed, or yielded something of
** its own) is handed to lurl.task's after_co.  A request in a task thus
** costs no Lua function of the scheduler at all.  Invariants: a coroutine
** yields `core.parked` only from core.await, core.fetch or lurl.task's
** park(), so whatever else it yields is its own; a transfer stays watched
** (and in wt) until its coroutine is resumed or cancelled
** (core.cancel_wait finds it there), and a slot is resumed only while wt
** still holds a watched transfer with news (a task resumed first may
** cancel it, or a nested step may have resumed it already).  The upvalues
** of core.await and core.step are made once by core.scheduler, which also
** gives the engine userdata by_co and the watch table for core.fetch: no
** registry lookup per call.
*/
#define UV_ENGINE lua_upvalueindex(1)
#define UV_WATCH lua_upvalueindex(2) /* slot -> the coroutine waiting */
#define UV_BYCO lua_upvalueindex(3)  /* coroutine -> task (lurl.task's by_co) */
#define UV_SLOW lua_upvalueindex(4)  /* lurl.task's wait outside a task */
#define UV_AFTER lua_upvalueindex(3) /* core.step's: lurl.task's after_co */
/* The engine userdata's user values, set by core.scheduler (for
** lurl_engine_park, which is no closure of the scheduler's). */
enum { ENGINE_UV_BYCO = 1, ENGINE_UV_WATCH };

/* Finished, or something for Lua to do (a streamed chunk, a request for
** upload data, a progress report). */
static int has_news(const lurl_transfer *t) {
  return t->state != LURL_T_RUNNING || t->wake;
}

/* Takes t off the watch table (at index widx): its slot is cleared and
** kept for the next watch.  e may be NULL (engine gone). */
static void unwatch(lua_State *L, lurl_engine *e, int widx, lurl_transfer *t) {
  t->watched = 0;
  lua_pushnil(L);
  lua_rawseti(L, widx, t->watch_ref);
  if (!e) return;
  e->nwatched--;
  if (t->watch_ref < e->capwt) e->wt[t->watch_ref] = NULL;
  if (e->nwfree == e->capwfree) {
    int cap = e->capwfree ? 2 * e->capwfree : 64;
    int *p = (int *)realloc(e->wfree, (size_t)cap * sizeof *p);
    if (!p) return; /* the slot is not reused: watch() takes a new one */
    e->wfree = p;
    e->capwfree = cap;
  }
  e->wfree[e->nwfree++] = t->watch_ref;
}

/* The running coroutine waits on t: it goes into the watch table (at
** index widx). */
static void watch(lua_State *L, lurl_engine *e, int widx, lurl_transfer *t) {
  int slot = e->nwfree > 0 ? e->wfree[e->nwfree - 1] : e->nslots + 1;
  if (slot >= e->capwt) {
    int cap = e->capwt ? 2 * e->capwt : 128;
    while (cap <= slot) cap *= 2;
    lurl_transfer **p = (lurl_transfer **)realloc(e->wt, (size_t)cap * sizeof *p);
    if (!p) luaL_error(L, "not enough memory"); /* nothing changed yet */
    memset(p + e->capwt, 0, (size_t)(cap - e->capwt) * sizeof *p);
    e->wt = p;
    e->capwt = cap;
  }
  lua_pushthread(L);
  lua_rawseti(L, widx, slot);
  if (e->nwfree > 0) e->nwfree--;
  else e->nslots++;
  e->wt[slot] = t;
  t->watch_ref = slot;
  t->watched = 1;
  e->nwatched++;
}

/*
** core.await(transfer): lurl.task.wait.  Returns at once when the transfer
** is done or has news; with no task alive, drives the loop in C until it
** has (core.wait); in a task that can yield, parks the task until
** core.step resumes it; anywhere else (the main chunk, a coroutine of the
** script's own, a C boundary) calls lurl.task's wait for that case, which
** drives the loop, resuming the tasks meanwhile.
** Upvalues: UV_ENGINE, UV_WATCH, UV_BYCO, UV_SLOW.
*/
static int core_await(lua_State *L) {
  lurl_transfer *t = lurl_checktransfer(L, 1);
  if (has_news(t) || !t->eng) return 0;
  lurl_engine *e = (lurl_engine *)lua_touserdata(L, UV_ENGINE);
  if (!e->ntasks) {
    engine_wait(L, e, t);
    return 0;
  }
  if (lua_isyieldable(L)) {
    lua_pushthread(L);
    int task = lua_rawget(L, UV_BYCO) != LUA_TNIL;
    lua_pop(L, 1);
    if (task) {
      if (t->watched) return luaL_error(L, "transfer is already watched");
      watch(L, e, UV_WATCH, t);
      lua_pushlightuserdata(L, PARKED);
      return lua_yield(L, 1); /* resumed with no values: returns none */
    }
  }
  lua_pushvalue(L, UV_SLOW);
  lua_pushvalue(L, 1);
  lua_call(L, 1, 0);
  return 0;
}

/* core.fetch's wait inside a task (request.c): when the running coroutine
** is a task that can yield and t (running, started on an engine with
** tasks alive) has no news yet, it goes into the watch table and
** core.parked is pushed: 1, and the caller yields that one value with a
** continuation, which core.step's resume runs once t has news.  Else 0,
** nothing done (the caller answers false, t as before).  eidx: the engine
** userdata. */
int lurl_engine_park(lua_State *L, int eidx, lurl_transfer *t) {
  lurl_engine *e = t->eng;
  if (!e || !e->ntasks || has_news(t) || t->watched || !lua_isyieldable(L)) return 0;
  if (lua_getiuservalue(L, eidx, ENGINE_UV_BYCO) != LUA_TTABLE) {
    lua_pop(L, 1); /* no scheduler yet */
    return 0;
  }
  lua_pushthread(L);
  int task = lua_rawget(L, -2) != LUA_TNIL;
  lua_pop(L, 2);
  if (!task) return 0; /* a coroutine of the script's own */
  lua_getiuservalue(L, eidx, ENGINE_UV_WATCH);
  watch(L, e, lua_gettop(L), t);
  lua_pop(L, 1);
  lua_pushlightuserdata(L, PARKED);
  return 1;
}

void lurl_engine_forget(lua_State *L, lurl_transfer *t) {
  if (!t->watched) return;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &watch_key);
  if (lua_istable(L, -1)) unwatch(L, t->eng, lua_gettop(L), t);
  else t->watched = 0; /* the state is closing: nothing is left to wait */
  lua_pop(L, 1);
}

/* Resumes the coroutine waiting in slot s, if its transfer still has news
** (a task resumed before it may have cancelled it, or it may have been
** resumed already by a nested step and now waits on another transfer). */
static void resume_slot(lua_State *L, lurl_engine *e, int s) {
  lurl_transfer *t = s < e->capwt ? e->wt[s] : NULL;
  if (!t || !t->watched || t->watch_ref != s || !has_news(t)) return;
  lua_rawgeti(L, UV_WATCH, s); /* the coroutine, kept on this stack */
  unwatch(L, e, UV_WATCH, t);
  lua_State *co = lua_tothread(L, -1);
  int nres = 0, st = -1; /* -1: not resumed (closed by hand) */
  if (lua_status(co) == LUA_YIELD) {
    st = lua_resume(co, L, 0, &nres);
    if (st == LUA_YIELD && nres == 1 && lua_touserdata(co, -1) == PARKED) {
      lua_pop(co, 1); /* parked again: the common case, no Lua code here */
      lua_pop(L, 1);
      return;
    }
  }
  /* after_co(co, ok, ...): it ended, failed or yielded on its own */
  int ok = st == LUA_OK || st == LUA_YIELD;
  if (!ok) nres = 1; /* the error object, or what coroutine.resume says */
  luaL_checkstack(L, nres + 3, "too many results");
  lua_pushvalue(L, UV_AFTER);
  lua_insert(L, -2);
  lua_pushboolean(L, ok);
  if (st == -1) lua_pushliteral(L, "cannot resume dead coroutine");
  else lua_xmove(co, L, nres);
  lua_call(L, nres + 2, 0);
}

/*
** core.step(timeout_s) -> waiting
** One turn of the loop, sleeping at most timeout_s, then the tasks
** waiting on transfers that finished (or have news) are resumed, newest
** transfer first.  Returns how many tasks still wait on a transfer.
** Upvalues: UV_ENGINE, UV_WATCH, UV_AFTER.
*/
static int core_step(lua_State *L) {
  double s = luaL_optnumber(L, 1, 0);
  lurl_engine *e = (lurl_engine *)lua_touserdata(L, UV_ENGINE);
  turn(L, e, (long)(s * 1000));
  enum { CHUNK = 64 };
  int slots[CHUNK];
  int k;
  do {
    /* the slots first, the resumes after: a resumed task changes the list
    ** of live transfers (it starts and releases them) */
    k = 0;
    for (lurl_transfer *t = e->live; t && k < CHUNK; t = t->next)
      if (t->watched && has_news(t)) slots[k++] = t->watch_ref;
    for (int i = 0; i < k; i++) resume_slot(L, e, slots[i]);
  } while (k == CHUNK);
  lua_pushinteger(L, e->nwatched);
  return 1;
}

/* core.waiting() -> how many tasks wait on a transfer. */
static int core_waiting(lua_State *L) {
  lua_pushinteger(L, lurl_engine_get(L)->nwatched);
  return 1;
}

/* core.scheduler(by_co, slow_wait, after_co) -> await, step: lurl.task's
** wait and step, with their upvalues. */
static int core_scheduler(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  lurl_push_engine(L);                                  /* 4 */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &watch_key);        /* 5 */
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 4, ENGINE_UV_BYCO);
  lua_pushvalue(L, 5);
  lua_setiuservalue(L, 4, ENGINE_UV_WATCH);
  lua_pushvalue(L, 4);
  lua_pushvalue(L, 5);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, core_await, 4);
  lua_pushvalue(L, 4);
  lua_pushvalue(L, 5);
  lua_pushvalue(L, 3);
  lua_pushcclosure(L, core_step, 3);
  return 2;
}

/* core.now() -> seconds on a monotonic clock. */
static int core_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + ts.tv_nsec / 1e9);
  return 1;
}

/* core.cancel(transfer) -> was_watched: stop it and release its handle. */
static int core_cancel(lua_State *L) {
  lurl_transfer *t = lurl_checktransfer(L, 1);
  int watched = t->watched;
  if (t->state == LURL_T_RUNNING) t->fault = LURL_FAULT_CANCELLED;
  if (t->watched) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &watch_key);
    unwatch(L, t->eng, lua_gettop(L), t);
    lua_pop(L, 1);
  }
  lurl_drop_chunk(L, t);
  lurl_transfer_release(t);
  lua_pushboolean(L, watched);
  return 1;
}

/* core.cancel_wait(co) -> was_waiting: task:cancel() of a task parked in
** core.await: the transfer its coroutine waits on is cancelled as by
** core.cancel (also when core.step found it done and has not resumed the
** task yet). */
static int core_cancel_wait(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTHREAD);
  lurl_engine *e = lurl_engine_get(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &watch_key);
  int widx = lua_gettop(L);
  for (lurl_transfer *t = e->live; t; t = t->next) {
    if (!t->watched) continue;
    lua_rawgeti(L, widx, t->watch_ref);
    int mine = lua_rawequal(L, -1, 1);
    lua_pop(L, 1);
    if (!mine) continue;
    if (t->state == LURL_T_RUNNING) t->fault = LURL_FAULT_CANCELLED;
    unwatch(L, e, widx, t);
    lurl_drop_chunk(L, t);
    lurl_transfer_release(t);
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  return 1;
}

/* Registers the metatables, creates the engine (failing here, not
** mid-request) and adds core functions to the table on top of the stack. */
void lurl_engine_open(lua_State *L) {
  if (luaL_newmetatable(L, LURL_ENGINE_MT)) {
    lua_pushcfunction(L, engine_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, engine_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {
    {"wait", core_wait}, {"tasks_live", core_tasks_live},
    {"cancel", core_cancel}, {"now", core_now}, {"cancel_wait", core_cancel_wait},
    {"waiting", core_waiting}, {"scheduler", core_scheduler},
    {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  lua_pushlightuserdata(L, PARKED);
  lua_setfield(L, -2, "parked");
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &watch_key) == LUA_TNIL) {
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &watch_key);
  }
  lua_pop(L, 1);
  lurl_engine_get(L); /* made now, not mid-request */
}
