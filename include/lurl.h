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


/*
** ===================================================================
** The host layer (runtime/host.c): states made and run by lurl.
** ===================================================================
**
** A host that just wants "run this script with http available" does:
**
**   lua_State *L = lurl_newstate(NULL);
**   if (lurl_dofile(L, "job.lua") != LUA_OK) fprintf(stderr, "%s\n", lurl_errmsg(L));
**   lurl_close(L);
**
** A script always runs as a task (as if given to http.spawn): its requests
** yield to lurl's loop instead of blocking inside Lua, which is what lets a
** host with its own event loop drive them (lurl_start ... lurl_step below)
** and lets a time budget stop a script even while a request is in flight.
**
** Statuses are Lua's: LUA_OK, LUA_ERRSYNTAX (the chunk did not compile),
** LUA_ERRFILE, LUA_ERRMEM (the memory cap or the system ran out), LUA_ERRRUN
** (any other failure: an error the script raised, a spent budget, a
** cancellation), plus LURL_RUNNING while a started script has not ended.
*/

/* Returned by lurl_step and lurl_script_status while the script's task runs. */
#define LURL_RUNNING LUA_YIELD

/*
** Limits a host sets on a state it creates.  A script cannot lift them: they
** are kept in C (the allocator's user data), never in a Lua value.  Start
** from a zeroed struct (`lurl_limits lim = {0};`): zero means "no limit"
** for every field, and fields added in later versions go at the end.
**
**   schemes      comma- or space-separated list of URL schemes requests may
**                use ("https"); NULL: http and https.
**   hosts        comma- or space-separated host patterns requests may reach,
**                redirects included: "api.example.com" (any port),
**                "*.example.com" (its subdomains, not itself),
**                "127.0.0.1:8080", "[::1]:8080", "*" (any host).  NULL: any.
**                While a list is set the `proxy`, `proxies` and `unix_socket`
**                options are refused (they would reach another address).
**                A refused request fails before any connection with an
**                InvalidURL error naming the host, as `nil, err`.
**   max_memory   bytes the state may hold: every Lua allocation, plus the
**                buffers lurl itself fills in C for each transfer (response
**                bodies and header blocks being received).  An allocation
**                over the cap fails: Lua raises "not enough memory" (a body
**                that no longer fits fails its request the same way).  What
**                libcurl and OpenSSL allocate themselves (connection and
**                TLS buffers, up to about 100 KiB per connection, and the
**                decoded output libcurl holds for a paused stream) is not
**                counted: bound it with max_transfers.
**   max_instructions  Lua VM instructions the state may execute, counted in
**                steps of 1000 by a count hook.
**   max_seconds  wall-clock seconds from lurl_newstate, checked by the same
**                hook while Lua runs and by lurl_step/lurl_run between turns
**                (so a script blocked on a request is stopped too).
**   all_libs     0 (the default): a state with any limit set opens a reduced
**                library: no io, os only clock/date/difftime/time, no
**                dofile/loadfile, load only takes source text, require finds
**                preloaded modules only (http, json, what the host adds to
**                package.preload), debug only has traceback, and
**                debug.sethook raises.  Each of those could get around the
**                limits (a binary chunk, a C library, /proc/self/mem, a
**                hook replaced).  setmetatable refuses a metatable with a
**                __gc field (Lua runs finalizers with hooks off, where no
**                budget can stop them), rawset refuses the key "__gc",
**                getmetatable returns false for metatables that have one,
**                and xpcall runs the script's message handler under the
**                budget.  Nonzero: open every standard library anyway, for
**                scripts the host trusts.
**   read_dirs, write_dirs
**                ':'-separated directories whose files lurl may read, or
**                create and write, for the script: CA bundles (`verify`),
**                client certificates and keys (`cert`), netrc files
**                (`auth = http.netrc(path)`; without a path, ~/.netrc),
**                uploads from http.file(path), res:save targets, cookie
**                jar load and save, HAR files.  Paths are canonicalized
**                with realpath(3) first, so ".." and symlinks cannot lead
**                out; a listed directory that does not exist is ignored.
**                NULL (the default) in a limited state: no file at all
**                (with all_libs set and neither list given: any file, as
**                the script has io anyway).  A refused file raises an error
**                naming the limit.  The strings are copied.
**   allow_loopback, allow_private
**                0 (the default): in a limited state every connection's
**                actual address is checked after name resolution, for the
**                server and for a proxy alike, so no name ("localhost"),
**                redirect, proxy or `resolve` option reaches this machine
**                or its networks: loopback (127.0.0.0/8, ::1) and unix
**                sockets are refused unless allow_loopback is nonzero;
**                private (10/8, 172.16/12, 192.168/16, fc00::/7) and
**                link-local (169.254/16, fe80::/10, cloud metadata
**                services) unless allow_private is nonzero; unspecified
**                addresses (0.0.0.0/8, ::) always.  IPv4-mapped IPv6 forms
**                count as their IPv4 address.  A refused connection fails
**                as a ConnectionError (ProxyError for a proxy) whose
**                message names the address and the field.
**   max_transfers
**                transfers the state may run at once (0: no cap).  A
**                request beyond it waits for a free slot (http.spawn'd
**                tasks queue).  A streamed response holds its slot until it
**                is read to the end or closed; a task whose request finds
**                every slot held by its own unfinished streams fails with
**                "too many transfers at once" instead of waiting forever.
**
** A spent budget is final: every later run of the state fails at once with
** the same message; close the state.  Any limit set (including read_dirs,
** write_dirs or max_transfers; not allow_*) makes the state "limited".
**
** Signals: liblurl never changes a signal disposition.  A host that saves
** files should ignore SIGXFSZ (as the lurl binary does) so a file over
** `ulimit -f` is a write error res:save reports, not a process killed; and
** SIGPIPE, which libcurl avoids on its own sockets with MSG_NOSIGNAL.
*/
typedef struct lurl_limits {
  const char *schemes;
  const char *hosts;
  size_t max_memory;
  unsigned long long max_instructions;
  double max_seconds;
  int all_libs;
  const char *read_dirs;
  const char *write_dirs;
  int allow_loopback;
  int allow_private;
  int max_transfers;
} lurl_limits;

/*
** lurl_newstate: creates a Lua state with the standard libraries opened,
** `http` loaded and `json` preloaded, under `limits` (NULL: none; the
** struct and its strings are copied, the caller keeps ownership).  Returns
** NULL when memory runs out or the limits are too tight to even open the
** libraries.  Does not block.  Free the state with lurl_close.
*/
LURL_API lua_State *lurl_newstate(const lurl_limits *limits);

/*
** lurl_close: frees the state and everything it holds: transfers in flight
** are aborted, libcurl handles freed, then the limits.  Accepts NULL and any
** state, including one made by luaL_newstate.  Does not block.  In a
** limited state it runs no script code as a finalizer (see all_libs), and
** the Lua code closing still runs (a __close on the main thread) gets a
** fresh budget of 10 million instructions or 2 seconds, so it cannot hang.
*/
LURL_API void lurl_close(lua_State *L);

/*
** lurl_dostring [-0, +0]: runs `chunk` (named `chunkname` in messages, as
** in luaL_loadbuffer; NULL: the text itself) until it ends.  Blocks: waits
** on the network.  Returns a status; on failure lurl_errmsg(L) says why.
*/
LURL_API int lurl_dostring(lua_State *L, const char *chunk, const char *chunkname);

/*
** lurl_dofile [-0, +0]: the same for a file (NULL: standard input).  Blocks.
*/
LURL_API int lurl_dofile(lua_State *L, const char *filename);

/*
** lurl_errmsg: the message of the last run that failed, formatted like the
** lurl binary formats an uncaught error (the error object through
** tostring, then a stack traceback), without a program-name prefix.  NULL
** after a run that succeeded.  The string is owned by L and stays valid
** until the next lurl_start/lurl_do* call or lurl_close.
*/
LURL_API const char *lurl_errmsg(lua_State *L);

/*
** ---- Driving scripts from the host's own event loop ----
**
**   lurl_startstring(L, src, "=job");          // runs until its first wait
**   while (lurl_script_status(L) == LURL_RUNNING) {
**     int n = lurl_pollfds(L, fds, MAX);      // lurl's sockets ...
**     long ms = lurl_timeout(L);              // ... and how long to wait
**     ... add the host's own descriptors and timers, poll() ...
**     lurl_step(L);                           // never blocks
**   }
**
** One script at a time per state; tasks it spawns run alongside it and are
** abandoned when it ends (their transfers are freed by lurl_close).
*/

/*
** lurl_start [-(nargs+1), +0]: starts the function below the nargs
** arguments on top of the stack as the script's task (http.spawn
** semantics): it runs until its first request or sleep, then returns.
** Returns LURL_RUNNING, or the final status when the script already ended
** (or could not start: another script is running, a budget is spent).
** Does not block.
*/
LURL_API int lurl_start(lua_State *L, int nargs);

/*
** lurl_startstring / lurl_startfile [-0, +0]: load a chunk (source text only
** in a limited state) and lurl_start it with no arguments.  A chunk that does
** not compile gives LUA_ERRSYNTAX (or LUA_ERRFILE) and lurl_errmsg.
** Do not block (but see lurl_start: the script runs up to its first wait).
*/
LURL_API int lurl_startstring(lua_State *L, const char *chunk, const char *chunkname);
LURL_API int lurl_startfile(lua_State *L, const char *filename);

struct pollfd;

/*
** lurl_pollfds: writes up to `max` entries (fd, events) for the sockets
** lurl's transfers wait on and returns how many there are, which may be more
** than max (call again with a bigger array).  0 when no script runs.  The
** set changes after every lurl_step: ask again each turn.  Descriptors are
** below FD_SETSIZE (libcurl's curl_multi_fdset).  Does not block.
*/
LURL_API int lurl_pollfds(lua_State *L, struct pollfd *fds, int max);

/*
** lurl_timeout: milliseconds the host may wait before calling lurl_step
** even if no descriptor is ready: the nearest of libcurl's timers, the
** script's own timers (http.sleep), lurl's read timeouts (sampled at most
** every 100 ms while sockets are open) and the time budget.  0: step now.
** -1 only when no script is running.  Does not block; runs a little Lua.
*/
LURL_API long lurl_timeout(lua_State *L);

/*
** lurl_step: one turn that never blocks: lets libcurl read and write what is
** ready, then resumes the tasks whose transfers finished or whose timers
** fired.  Returns LURL_RUNNING, or the final status once the script's task
** has ended (from then on, the same status until the next start).  A script
** left waiting for nothing (a join on a task that cannot end) fails with a
** "deadlock" error instead of hanging the host.
*/
LURL_API int lurl_step(lua_State *L);

/*
** lurl_run: drives the started script to its end with poll(): the loop that
** lurl_dostring uses.  Blocks.  Returns the final status.
*/
LURL_API int lurl_run(lua_State *L);

/*
** lurl_script_status: LURL_RUNNING while the script runs, then its final status
** (LUA_OK when nothing was ever started).  Does not block.
*/
LURL_API int lurl_script_status(lua_State *L);

/*
** lurl_pushresults [-0, +n]: pushes the values the script's main function
** returned (after a run that ended with LUA_OK) and returns n; pushes
** nothing and returns 0 otherwise, or when the stack cannot grow.
*/
LURL_API int lurl_pushresults(lua_State *L);

/*
** lurl_cancel: stops the running script: its task is closed where it waits
** and its transfer released; the status becomes LUA_ERRRUN with the message
** "cancelled by the host".  No effect when no script runs.  Does not block.
*/
LURL_API void lurl_cancel(lua_State *L);

#ifdef __cplusplus
}
#endif

#endif /* LURL_H */
