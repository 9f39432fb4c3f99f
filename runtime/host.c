/*
** host.c -- the embedding layer: states that lurl creates, runs and frees
** for a C host (declared in include/lurl.h).
**
** Three concerns live here:
**  - running a script: every script runs as a task of http.task (the
**    scheduler in lua/http/task.lua), so its requests yield to the loop.
**    lurl_run drives that loop with poll(); a host with its own event loop
**    drives it instead with lurl_pollfds / lurl_timeout / lurl_step.
**  - limits: a state made by lurl_newstate uses lurl_limits_alloc, whose user data
**    is the C struct `host` below.  Nothing in Lua can reach it, so the
**    limits it holds (memory cap, instruction and time budget, allowed
**    schemes and hosts) cannot be lifted by the script; request_url.c asks
**    lurl_limits_check_url (limit.c) before any URL is used.
**  - reporting: failures are formatted as the lurl binary prints them and
**    kept in C memory (run->msg) for lurl_errmsg.
**
** Every entry point that runs Lua does it under lua_pcall, so a memory
** error or a spent budget becomes a status, never a longjmp into the host.
*/
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "lurl.h"
#include "engine.h"
#include "limit.h"
#include "policy.h"

#define HOOK_EVERY 1000   /* instructions between two budget checks */
#define SOCKET_WAKE_MS 100 /* longest lurl_timeout while sockets are open:
                           ** lurl's read timeouts are checked in the step */
#define IDLE_WAKE_MS 1000 /* longest wait with work pending but no timer */
#define RUN_MT "lurl.run"

/* What the host asked for, and what the state has used of it.  The
** allocator's user data: created before the state, freed after it. */
typedef struct host {
  lurl_state_limits lim;         /* first: the allocator's user data (limit.c) */
  unsigned long long icount, max_instructions;
  long long deadline_ms;         /* monotonic; 0: no time budget */
  double max_seconds;
  int limited, all_libs;
  int warn_on, warn_cont;        /* lua_WarnFunction state (lauxlib's) */
  const char *exhausted;         /* why the budget is spent, or NULL */
  char why[96];                  /* storage for `exhausted` */
} host;

/* The current or last script of a state: a full userdata in the registry
** (key: &run_key).  User values: 1 the scheduler's functions, 2 the task,
** 3 the packed results. */
typedef struct run {
  int active;   /* the script's task has not ended */
  int status;   /* final status of the last script */
  char *msg;    /* malloc'd message of the last failure, or NULL */
} run;

static const char run_key = 0;

/* The host struct of a state made by lurl_newstate, else NULL. */
static host *host_of(lua_State *L) {
  return (host *)lurl_limits_of(L); /* its first member */
}

static int host_panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "PANIC: unprotected error in call to Lua API (%s)\n",
          msg ? msg : "error object is not a string");
  fflush(stderr);
  return 0; /* Lua aborts */
}

/* Warnings as lauxlib handles them: off until "@on", pieces joined. */
static void host_warn(void *ud, const char *msg, int tocont) {
  host *h = (host *)ud;
  if (!h->warn_cont && *msg == '@') {
    if (strcmp(msg, "@on") == 0) h->warn_on = 1;
    else if (strcmp(msg, "@off") == 0) h->warn_on = 0;
    return;
  }
  if (h->warn_on) {
    if (!h->warn_cont) fputs("Lua warning: ", stderr);
    fputs(msg, stderr);
    if (!tocont) fputs("\n", stderr);
    fflush(stderr);
  }
  h->warn_cont = tocont;
}

/* ----------------------------------------------------------- budgets -- */

/* Has the time or instruction budget run out?  Records why, once. */
static int budget_spent(host *h) {
  if (h->exhausted) return 1;
  if (h->max_instructions && h->icount >= h->max_instructions) {
    snprintf(h->why, sizeof h->why, "instruction budget exhausted (%llu instructions)",
             h->max_instructions);
    h->exhausted = h->why;
  } else if (h->deadline_ms && lurl_now_ms() >= h->deadline_ms) {
    snprintf(h->why, sizeof h->why, "time budget exhausted (%g s)", h->max_seconds);
    h->exhausted = h->why;
  }
  return h->exhausted != NULL;
}

/*
** Count hook of limited states, inherited by every coroutine the state
** creates (lua_newthread copies the hook).  Once the budget is spent it
** fires at every instruction of the thread, so a script that catches the
** error with pcall fails again at its next instruction: the error climbs to
** the top whatever the script does.
*/
static void budget_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  host *h = host_of(L);
  if (h == NULL) return;
  if (!h->exhausted) {
    h->icount += (unsigned long long)lua_gethookcount(L);
    if (!budget_spent(h)) return;
  }
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
  luaL_error(L, "%s", h->exhausted);
}

/* ---------------------------------------------------- the run record -- */

static run *get_run(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &run_key);
  run *r = (run *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  return r;
}

static int run_gc(lua_State *L) {
  run *r = (run *)luaL_checkudata(L, 1, RUN_MT);
  free(r->msg);
  r->msg = NULL;
  return 0;
}

/* Ends the run with `status` and a copy of msg (NULL: none). */
static void run_end(run *r, int status, const char *msg) {
  r->active = 0;
  r->status = status;
  free(r->msg);
  r->msg = msg ? strdup(msg) : NULL;
}

/*
** p_ensure [-0, +0]: creates the run record on first use, with `http`
** loaded and the scheduler's functions captured.  lurl_newstate does it
** before any script runs, so a script that later replaces fields of the
** http.task module cannot redirect the host's calls.
*/
static int p_ensure(lua_State *L) {
  if (get_run(L)) return 0;
  luaL_requiref(L, "http", luaopen_http, 0);
  lua_pop(L, 1);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, "lurl.task") != LUA_TTABLE)
    return luaL_error(L, "module 'lurl.task' is not loaded");
  run *r = (run *)lua_newuserdatauv(L, sizeof *r, 3);
  memset(r, 0, sizeof *r);
  if (luaL_newmetatable(L, RUN_MT)) {
    lua_pushcfunction(L, run_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_createtable(L, 0, 4);
  static const char *const fns[] = {"spawn", "host_turn", "host_wait_hint", "pending", NULL};
  for (int i = 0; fns[i]; i++) {
    if (lua_getfield(L, -3, fns[i]) != LUA_TFUNCTION)
      return luaL_error(L, "lurl.task.%s is missing", fns[i]);
    lua_setfield(L, -2, fns[i]);
  }
  lua_setiuservalue(L, -2, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &run_key);
  lua_pop(L, 2);
  return 0;
}

/* Runs p_ensure protected; returns its status (the message popped). */
static int ensure(lua_State *L) {
  if (get_run(L)) return LUA_OK;
  lua_pushcfunction(L, p_ensure);
  int st = lua_pcall(L, 0, 0, 0);
  if (st != LUA_OK) lua_pop(L, 1);
  return st;
}

/* Pushes the scheduler function `name` captured by p_ensure [-0, +1]. */
static void push_sched(lua_State *L, const char *name) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &run_key);
  lua_getiuservalue(L, -1, 1);
  lua_getfield(L, -1, name);
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/*
** push_errstring [-0, +1]: the error object at idx as the binary prints it:
** strings and numbers as they are, others through __tostring (lurl's error
** objects read "Kind: message (METHOD url)"), else a note of their type.
*/
static void push_errstring(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  int t = lua_type(L, idx);
  if (t == LUA_TSTRING || t == LUA_TNUMBER) {
    lua_pushvalue(L, idx);
    lua_tostring(L, -1);
    return;
  }
  if (luaL_callmeta(L, idx, "__tostring")) {
    if (lua_type(L, -1) == LUA_TSTRING) return;
    lua_pop(L, 1);
  }
  lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, idx));
}

/* msghandler [-1, +1]: the error as a string, then a traceback. */
static int msghandler(lua_State *L) {
  push_errstring(L, 1);
  luaL_traceback(L, L, lua_tostring(L, -1), 1);
  return 1;
}

/* A failed task's message [-0, +1]: its error as a string, then the
** traceback the scheduler took of the dead coroutine. */
static void push_task_failure(lua_State *L, int task) {
  lua_getfield(L, task, "error");
  push_errstring(L, -1);
  lua_remove(L, -2);
  lua_getfield(L, task, "traceback");
  if (lua_type(L, -1) == LUA_TSTRING) {
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);
  } else {
    lua_pop(L, 1);
  }
}

/*
** collect [-0, +0]: when the script's task has ended, ends the run with its
** status, keeping its results or its message.  Then, while it still runs,
** declares a deadlock when nothing is pending that could ever resume it.
*/
static void collect(lua_State *L, run *r) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &run_key);
  lua_getiuservalue(L, -1, 2);
  int task = lua_gettop(L);
  lua_getfield(L, task, "status");
  const char *st = lua_tostring(L, -1);
  if (st && strcmp(st, "done") == 0) {
    lua_getfield(L, task, "results");
    lua_setiuservalue(L, task - 1, 3);
    run_end(r, LUA_OK, NULL);
  } else if (st && strcmp(st, "failed") == 0) {
    host *h = host_of(L);
    lua_getfield(L, task, "error");
    int oom = h && (h->lim.oom || h->lim.mem.refused) && lua_type(L, -1) == LUA_TSTRING &&
              strcmp(lua_tostring(L, -1), "not enough memory") == 0;
    lua_pop(L, 1);
    push_task_failure(L, task);
    run_end(r, oom ? LUA_ERRMEM : LUA_ERRRUN, lua_tostring(L, -1));
    lua_pop(L, 1);
  } else if (st && strcmp(st, "cancelled") == 0) {
    run_end(r, LUA_ERRRUN, "cancelled by the host");
  } else {
    push_sched(L, "pending");
    lua_call(L, 0, 1);
    if (lua_tointeger(L, -1) == 0)
      run_end(r, LUA_ERRRUN, "deadlock: the script waits for something that no request, "
              "timer or task will ever bring");
    lua_pop(L, 1);
  }
  lua_settop(L, task - 2);
}

/* p_start [-(nargs+1), +0] (fn, args...): spawns the script's task. */
static int p_start(lua_State *L) {
  run *r = get_run(L);
  int n = lua_gettop(L);
  push_sched(L, "spawn");
  lua_insert(L, 1);
  lua_call(L, n, 1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &run_key);
  lua_insert(L, -2);
  lua_setiuservalue(L, -2, 2);
  lua_pop(L, 1);
  r->active = 1;
  collect(L, r);
  return 0;
}

/* p_step: one turn of the scheduler, then see whether the script ended. */
static int p_step(lua_State *L) {
  run *r = get_run(L);
  push_sched(L, "host_turn");
  lua_call(L, 0, 0);
  if (r->active) collect(L, r);
  return 0;
}

/*
** call [-nargs, +0]: calls the C function f with the nargs values on top
** under msghandler.  On failure, the run ends with that status and message
** (a memory error has no traceback: Lua skips the handler for it).
*/
static int call(lua_State *L, lua_CFunction f, int nargs) {
  run *r = get_run(L);
  int base = lua_gettop(L) - nargs + 1; /* where f's first argument is */
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  lua_pushcfunction(L, f);
  lua_insert(L, base + 1);
  int st = lua_pcall(L, nargs, 0, base);
  if (st != LUA_OK) {
    host *h = host_of(L);
    if (h && h->exhausted && st == LUA_ERRRUN) { /* say why, not where it hit */
      lua_pushstring(L, h->exhausted);
      lua_replace(L, -2);
    }
    if (r) run_end(r, st, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_remove(L, base);
  return st;
}

/* ------------------------------------------------------------ public -- */
/* Contracts (stack effects, blocking, ownership) are in include/lurl.h.
** Each entry point checks the budget before it lets Lua run, so a spent
** state fails at once and the same way whichever call the host makes. */

LURL_API int lurl_start(lua_State *L, int nargs) {
  int fn = lua_gettop(L) - nargs;
  int st = ensure(L);
  run *r = get_run(L);
  if (st != LUA_OK || r == NULL || r->active) {
    lua_settop(L, fn - 1);
    return st != LUA_OK ? st : LUA_ERRRUN;
  }
  host *h = host_of(L);
  run_end(r, LUA_OK, NULL);
  if (h) h->lim.oom = h->lim.mem.refused = 0;
  if (h && budget_spent(h)) {
    lua_settop(L, fn - 1);
    run_end(r, LUA_ERRRUN, h->exhausted);
    return LUA_ERRRUN;
  }
  call(L, p_start, nargs + 1);
  return lurl_script_status(L);
}

/* Records a load failure (its message is on top) and pops it [-1, +0]. */
static int load_failed(lua_State *L, int st) {
  run *r = get_run(L);
  if (r && !r->active) run_end(r, st, lua_tostring(L, -1));
  lua_pop(L, 1);
  return st;
}

/* Source text only in a limited state: a binary chunk can break the VM. */
static const char *load_mode(lua_State *L) {
  host *h = host_of(L);
  return h && h->limited && !h->all_libs ? "t" : NULL;
}

LURL_API int lurl_startstring(lua_State *L, const char *chunk, const char *chunkname) {
  int st = ensure(L);
  if (st != LUA_OK) return st;
  st = luaL_loadbufferx(L, chunk, strlen(chunk), chunkname ? chunkname : chunk,
                        load_mode(L));
  if (st != LUA_OK) return load_failed(L, st);
  return lurl_start(L, 0);
}

LURL_API int lurl_startfile(lua_State *L, const char *filename) {
  int st = ensure(L);
  if (st != LUA_OK) return st;
  st = luaL_loadfilex(L, filename, load_mode(L));
  if (st != LUA_OK) return load_failed(L, st);
  return lurl_start(L, 0);
}

LURL_API int lurl_script_status(lua_State *L) {
  run *r = get_run(L);
  if (r == NULL) return LUA_OK;
  return r->active ? LURL_RUNNING : r->status;
}

LURL_API const char *lurl_errmsg(lua_State *L) {
  run *r = get_run(L);
  return r && !r->active && r->status != LUA_OK ? (r->msg ? r->msg : "not enough memory")
                                                : NULL;
}

LURL_API int lurl_step(lua_State *L) {
  run *r = get_run(L);
  if (r == NULL || !r->active) return lurl_script_status(L);
  host *h = host_of(L);
  if (h && budget_spent(h)) {
    run_end(r, LUA_ERRRUN, h->exhausted);
    return LUA_ERRRUN;
  }
  call(L, p_step, 0);
  if (r->active && h && budget_spent(h)) run_end(r, LUA_ERRRUN, h->exhausted);
  return lurl_script_status(L);
}

LURL_API int lurl_pollfds(lua_State *L, struct pollfd *fds, int max) {
  run *r = get_run(L);
  host *h = host_of(L);
  if (r == NULL || !r->active || (h && h->exhausted)) return 0;
  return lurl_engine_pollfds(lurl_engine_get(L), fds, max);
}

/* p_hint [-0, +1]: the scheduler's wait hint in ms (-1: none). */
static int p_hint(lua_State *L) {
  push_sched(L, "host_wait_hint");
  lua_call(L, 0, 1);
  if (lua_isnil(L, -1)) lua_pushinteger(L, -1);
  else lua_pushinteger(L, (lua_Integer)(lua_tonumber(L, -1) * 1000.0 + 0.999));
  return 1;
}

/* min of two waits where -1 means "none" */
static long min_wait(long a, long b) {
  if (a < 0) return b;
  if (b < 0) return a;
  return a < b ? a : b;
}

LURL_API long lurl_timeout(lua_State *L) {
  run *r = get_run(L);
  if (r == NULL || !r->active) return -1;
  host *h = host_of(L);
  if (h && budget_spent(h)) return 0;
  lurl_engine *e = lurl_engine_get(L);
  long ms = lurl_engine_timeout(e);
  lua_pushcfunction(L, p_hint);
  if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
    lua_pop(L, 1);
    return 0; /* let lurl_step run into the same error and report it */
  }
  ms = min_wait(ms, (long)lua_tointeger(L, -1));
  lua_pop(L, 1);
  if (lurl_engine_pollfds(e, NULL, 0) > 0) ms = min_wait(ms, SOCKET_WAKE_MS);
  if (h && h->deadline_ms) {
    long long left = h->deadline_ms - lurl_now_ms();
    ms = min_wait(ms, left > 0 ? (long)left : 0);
  }
  return ms < 0 ? IDLE_WAKE_MS : ms;
}

LURL_API int lurl_run(lua_State *L) {
  struct pollfd small[16];
  struct pollfd *fds = small;
  int cap = 16, st;
  while ((st = lurl_script_status(L)) == LURL_RUNNING) {
    int n = lurl_pollfds(L, fds, cap);
    if (n > cap) {
      struct pollfd *bigger = (struct pollfd *)malloc(sizeof *bigger * (size_t)n);
      if (bigger) {
        if (fds != small) free(fds);
        fds = bigger;
        cap = n;
        n = lurl_pollfds(L, fds, cap);
      }
      if (n > cap) n = cap; /* no memory for more: wake often instead */
    }
    long ms = lurl_timeout(L);
    if (ms != 0) poll(fds, (nfds_t)n, (int)ms); /* EINTR: step, which sees ^C */
    lurl_step(L);
  }
  if (fds != small) free(fds);
  return lurl_script_status(L);
}

LURL_API int lurl_dostring(lua_State *L, const char *chunk, const char *chunkname) {
  int st = lurl_startstring(L, chunk, chunkname);
  return st == LURL_RUNNING ? lurl_run(L) : st;
}

LURL_API int lurl_dofile(lua_State *L, const char *filename) {
  int st = lurl_startfile(L, filename);
  return st == LURL_RUNNING ? lurl_run(L) : st;
}

LURL_API int lurl_pushresults(lua_State *L) {
  run *r = get_run(L);
  if (r == NULL || r->active || r->status != LUA_OK) return 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &run_key);
  if (lua_getiuservalue(L, -1, 3) != LUA_TTABLE) {
    lua_pop(L, 2);
    return 0;
  }
  lua_getfield(L, -1, "n");
  int n = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (n < 0 || !lua_checkstack(L, n + 1)) {
    lua_pop(L, 2);
    return 0;
  }
  for (int i = 1; i <= n; i++) lua_rawgeti(L, -1 - (i - 1), i);
  lua_remove(L, -n - 1);
  lua_remove(L, -n - 1);
  return n;
}

/* p_cancel: task:cancel() on the script's task. */
static int p_cancel(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &run_key);
  lua_getiuservalue(L, -1, 2);
  lua_getfield(L, -1, "cancel");
  lua_insert(L, -2);
  lua_call(L, 1, 0);
  return 0;
}

LURL_API void lurl_cancel(lua_State *L) {
  run *r = get_run(L);
  if (r == NULL || !r->active) return;
  host *h = host_of(L);
  if (!(h && h->exhausted)) call(L, p_cancel, 0);
  run_end(r, LUA_ERRRUN, "cancelled by the host");
}

/* --------------------------------------------------- creating states -- */

/* load() that only takes source text: upvalue 1 is the original. */
static int text_load(lua_State *L) {
  int n = lua_gettop(L);
  if (n < 3) lua_settop(L, n = 3);
  lua_pushliteral(L, "t");
  lua_replace(L, 3);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

/*
** xpcall of limited states.  Lua calls a message handler inside the raise,
** and for an error raised by the budget hook it does so with hooks off: a
** script's handler that loops would never be stopped.  So the script's
** handler is called through budget_msgh, which hands the error back as it
** is once the budget is spent, and otherwise runs the handler under the
** hook like any other code.  Yieldable, as the standard xpcall.
*/
static int budget_msgh(lua_State *L) {
  host *h = host_of(L);
  if (h && budget_spent(h)) return 1; /* no script code once spent */
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

static int xpcall_done(lua_State *L, int status, lua_KContext base) {
  if (status != LUA_OK && status != LUA_YIELD) {
    lua_pushboolean(L, 0);
    lua_pushvalue(L, -2);
    return 2;
  }
  return lua_gettop(L) - (int)base; /* true and the results */
}

static int budget_xpcall(lua_State *L) {
  int n = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushboolean(L, 1);
  lua_pushvalue(L, 1);
  lua_rotate(L, 3, 2); /* f, msgh, true, f, args... */
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, budget_msgh, 1);
  lua_replace(L, 2);
  int st = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, xpcall_done);
  return xpcall_done(L, st, 2);
}

static int no_sethook(lua_State *L) {
  return luaL_error(L, "debug.sethook is disabled: the host set limits on this state");
}

/* Sets t[name] = nil for every name in the list, on the table at idx. */
static void drop(lua_State *L, int idx, const char *const *names) {
  idx = lua_absindex(L, idx);
  for (int i = 0; names[i]; i++) {
    lua_pushnil(L);
    lua_setfield(L, idx, names[i]);
  }
}

/* Keeps in the table at idx only the listed fields. */
static void keep_only(lua_State *L, int idx, const char *const *names) {
  idx = lua_absindex(L, idx);
  lua_newtable(L);
  for (int i = 0; names[i]; i++) {
    lua_getfield(L, idx, names[i]);
    lua_setfield(L, -2, names[i]);
  }
  for (;;) { /* clear idx */
    lua_pushnil(L);
    if (!lua_next(L, idx)) break;
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_rawset(L, idx);
  }
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, idx);
  }
  lua_pop(L, 1);
}

/*
** The reduced library of a limited state (see lurl_limits in lurl.h).
** Runs after `http` is loaded, so lurl's own modules kept what they took
** at load time; what the script can reach is pruned in place, so no
** second copy of a table (package.loaded.os, ...) keeps the full version.
*/
static void prune_libs(lua_State *L) {
  /* lurl's lazily loaded parts, now: loaded later they would see the
  ** script's globals instead of the standard library */
  static const char *const lazy[] = {"lurl.stream", "lurl.cookies", "lurl.retry",
    "lurl.paginate", "lurl.trace", "lurl.har", NULL};
  for (int i = 0; lazy[i]; i++) {
    lua_getglobal(L, "require");
    lua_pushstring(L, lazy[i]);
    lua_call(L, 1, 0);
  }
  /* cjson is a C module: resolve it now, before the C searchers go */
  lua_getglobal(L, "package");
  int pkg = lua_gettop(L);
  lua_getfield(L, pkg, "searchers");
  lua_rawgeti(L, -1, 3);
  lua_pushliteral(L, "cjson");
  lua_call(L, 1, 1);
  if (lua_isfunction(L, -1)) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_insert(L, -2);
    lua_setfield(L, -2, "cjson");
  }
  lua_pop(L, 1);
  for (lua_Integer i = luaL_len(L, -1); i > 1; i--) {
    lua_pushnil(L);
    lua_rawseti(L, -2, i); /* preload searcher only */
  }
  lua_pop(L, 1);
  static const char *const pkg_drop[] = {"loadlib", "searchpath", NULL};
  drop(L, pkg, pkg_drop);
  lua_pop(L, 1);

  lua_pushglobaltable(L);
  static const char *const g_drop[] = {"io", "dofile", "loadfile", NULL};
  drop(L, -1, g_drop);
  lua_getfield(L, -1, "load");
  lua_pushcclosure(L, text_load, 1);
  lua_setfield(L, -2, "load");
  lua_pushcfunction(L, budget_xpcall);
  lua_setfield(L, -2, "xpcall");
  lua_getfield(L, -1, "os");
  static const char *const os_keep[] = {"clock", "date", "difftime", "time", NULL};
  if (lua_istable(L, -1)) keep_only(L, -1, os_keep);
  lua_pop(L, 1);
  lua_getfield(L, -1, "debug");
  static const char *const dbg_keep[] = {"traceback", NULL};
  if (lua_istable(L, -1)) {
    keep_only(L, -1, dbg_keep);
    lua_pushcfunction(L, no_sethook);
    lua_setfield(L, -2, "sethook");
  }
  lua_pop(L, 2);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  lua_setfield(L, -2, "io");
  lua_pop(L, 1);
  /* core.set_response_mt would let the script pick the metatable C gives
  ** every response (one with __gc): client.lua has set it already */
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, "http.core") == LUA_TTABLE) {
    lua_pushnil(L);
    lua_setfield(L, -2, "set_response_mt");
  }
  lua_pop(L, 2);
  lurl_policy_wrap_libs(L); /* no script function can become a finalizer */
}

/* p_open [-1, +0] (host): the libraries, `http`, the run record. */
static int p_open(lua_State *L) {
  host *h = (host *)lua_touserdata(L, 1);
  luaL_openlibs(L);
  lurl_openlibs(L);
  p_ensure(L);
  if (h->limited && !h->all_libs) prune_libs(L);
  return 0;
}

LURL_API lua_State *lurl_newstate(const lurl_limits *limits) {
  host *h = (host *)calloc(1, sizeof *h);
  if (h == NULL) return NULL;
  if (limits) {
    h->lim.mem.max = limits->max_memory;
    h->max_instructions = limits->max_instructions;
    h->max_seconds = limits->max_seconds > 0 ? limits->max_seconds : 0;
    h->all_libs = limits->all_libs;
    h->limited = limits->schemes || limits->hosts || limits->max_memory ||
                 limits->max_instructions || h->max_seconds > 0 || limits->read_dirs ||
                 limits->write_dirs || limits->max_transfers > 0;
    h->lim.pol.reduced = h->limited && !h->all_libs;
    h->lim.pol.files = h->limited && (!h->all_libs || limits->read_dirs || limits->write_dirs);
    h->lim.pol.addresses = h->limited;
    h->lim.pol.allow_loopback = limits->allow_loopback;
    h->lim.pol.allow_private = limits->allow_private;
    h->lim.pol.max_transfers = limits->max_transfers > 0 ? limits->max_transfers : 0;
    if (!lurl_limits_copy_list(&h->lim.schemes, limits->schemes) ||
        !lurl_limits_copy_list(&h->lim.hosts, limits->hosts) ||
        !lurl_policy_init(&h->lim.pol, limits->read_dirs, limits->write_dirs)) {
      lurl_policy_free(&h->lim.pol);
      lurl_limits_free(&h->lim);
      free(h);
      return NULL;
    }
  }
  lua_State *L = lua_newstate(lurl_limits_alloc, h);
  if (L == NULL) {
    lurl_policy_free(&h->lim.pol);
    lurl_limits_free(&h->lim);
    free(h);
    return NULL;
  }
  lua_atpanic(L, host_panic);
  lua_setwarnf(L, host_warn, h);
  lua_gc(L, LUA_GCSTOP); /* no collection while the libraries open */
  lua_pushcfunction(L, p_open);
  lua_pushlightuserdata(L, h);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    lurl_close(L);
    return NULL;
  }
  lua_gc(L, LUA_GCRESTART);
  lua_gc(L, LUA_GCGEN, 0, 0); /* the binary's choice: scripts see one GC */
  if (h->max_instructions || h->max_seconds > 0) {
    int every = HOOK_EVERY;
    if (h->max_instructions && h->max_instructions < (unsigned long long)every)
      every = (int)h->max_instructions;
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, every);
  }
  if (h->max_seconds > 0) h->deadline_ms = lurl_now_ms() + (long long)(h->max_seconds * 1000.0);
  return L;
}

/*
** Closing runs lurl's own finalizers (C ones: transfers, handles, shares)
** and nothing of the script's (policy.c keeps script functions out of
** __gc).  Whatever Lua code closing does run with hooks on (__close of a
** variable still open on the main thread) gets a fresh, small budget
** rather than none: a spent budget would fail lurl's own cleanup, no
** budget would let a script's __close hang the host.
*/
#define CLOSE_INSTRUCTIONS 10000000ULL
#define CLOSE_MS 2000

LURL_API void lurl_close(lua_State *L) {
  if (L == NULL) return;
  void *ud = NULL;
  int ours = lua_getallocf(L, &ud) == lurl_limits_alloc;
  host *h = ours ? (host *)ud : NULL;
  if (h && h->limited) {
    h->exhausted = NULL;
    h->max_instructions = h->icount + CLOSE_INSTRUCTIONS;
    h->deadline_ms = lurl_now_ms() + CLOSE_MS;
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
  } else {
    lua_sethook(L, NULL, 0, 0);
  }
  lua_close(L);
  if (h) {
    lurl_policy_free(&h->lim.pol);
    lurl_limits_free(&h->lim);
    free(h);
  }
}
