/*
** test_host.c -- the embedding layer (runtime/host.c) through its public
** header only: running scripts and reporting their errors, limits a script
** cannot lift, and a host loop interleaving its own timer with transfers.
**
** Every request goes to spec/c/host_server.py, started here on a free
** port; the tests read back what it received (/requests) as well as what
** the script got.  Run under valgrind or LeakSanitizer, the whole program
** also proves that lurl_close frees everything.
*/
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>
#include "lurl.h"

#ifndef HOST_SERVER
#define HOST_SERVER "spec/c/host_server.py"
#endif

extern char **environ;

static int passed, failed;
static char base[64];        /* http://127.0.0.1:PORT */
static int port;
static int slow_mode;        /* under valgrind: looser timing bounds */

#define CHECK(cond, ...) check_((cond), #cond, __LINE__, __VA_ARGS__)
static void check_(int ok, const char *expr, int line, const char *fmt, ...) {
  if (ok) {
    passed++;
    return;
  }
  failed++;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "FAIL line %d: %s: ", line, expr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *nz(const char *s) { return s ? s : "(null)"; }
static int has(const char *s, const char *part) { return s && strstr(s, part) != NULL; }

/* ---------------------------------------------------------- server -- */

static pid_t server_pid;
static int server_stdin = -1;

/* Starts host_server.py; its stdin stays open until stop_server. */
static int start_server(void) {
  int in[2], out[2];
  if (pipe(in) || pipe(out)) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, in[1]);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  /* on every address: a test reaches it through the machine's other one */
  char *argv[] = {"/usr/bin/python3", HOST_SERVER, "0", "0.0.0.0", NULL};
  int rc = posix_spawn(&server_pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  if (rc != 0) return -1;
  server_stdin = in[1];
  char line[64] = {0};
  size_t n = 0;
  while (n < sizeof line - 1 && read(out[0], line + n, 1) == 1 && line[n] != '\n') n++;
  close(out[0]);
  if (sscanf(line, "PORT %d", &port) != 1) return -1;
  snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
  return 0;
}

static void stop_server(void) {
  if (server_stdin >= 0) close(server_stdin);
  kill(server_pid, SIGTERM);
  waitpid(server_pid, NULL, 0);
}

/* Sets the global BASE in L, the server's base URL. */
static void set_base(lua_State *L) {
  lua_pushstring(L, base);
  lua_setglobal(L, "BASE");
  lua_pushinteger(L, port);
  lua_setglobal(L, "PORT");
}

/*
** How many requests the server logged whose query contains `token`
** (asked through a fresh state without limits).  -1 on failure.
*/
static int server_count(const char *token) {
  lua_State *L = lurl_newstate(NULL);
  set_base(L);
  lua_pushstring(L, token);
  lua_setglobal(L, "TOKEN");
  int st = lurl_dostring(L,
    "local http = require 'http'\n"
    "local n = 0\n"
    "for _, e in ipairs(assert(http.get(BASE .. '/requests')):json()) do\n"
    "  if e.query:find(TOKEN, 1, true) then n = n + 1 end\n"
    "end\n"
    "return n", "=server_count");
  int n = -1;
  if (st == LUA_OK && lurl_pushresults(L) == 1) n = (int)lua_tointeger(L, -1);
  else fprintf(stderr, "server_count: %s\n", nz(lurl_errmsg(L)));
  lurl_close(L);
  return n;
}

/* Runs code in L; returns the status and leaves its first result (if
** any) as a string in *out (static buffer), else "". */
static char result[8192];
static int run(lua_State *L, const char *code) {
  result[0] = '\0';
  int st = lurl_dostring(L, code, "=t");
  int n = lurl_pushresults(L);
  if (n > 0) {
    const char *s = luaL_tolstring(L, -n, NULL);
    snprintf(result, sizeof result, "%s", s);
    lua_pop(L, n + 1);
  }
  return st;
}

/* ------------------------------------------------------------ tests -- */

static void test_run_and_results(void) {
  lua_State *L = lurl_newstate(NULL);
  CHECK(L != NULL, "newstate");
  set_base(L);
  int st = run(L, "local http = require 'http'\n"
                  "local r = assert(http.get(BASE .. '/ok?t=basic'))\n"
                  "return r.status .. ' ' .. r.body");
  CHECK(st == LUA_OK, "status %d: %s", st, nz(lurl_errmsg(L)));
  CHECK(strcmp(result, "200 ok") == 0, "result '%s'", result);
  CHECK(lurl_errmsg(L) == NULL, "no message after success");
  CHECK(server_count("t=basic") == 1, "server saw the request once");

  /* json is preloaded too */
  st = run(L, "return require('json').encode({a = 1})");
  CHECK(st == LUA_OK && strcmp(result, "{\"a\":1}") == 0, "json: %d %s", st, result);

  /* several results, and arguments through lurl_start */
  luaL_loadstring(L, "local a, b = ... return a + b, 'two', nil");
  lua_pushinteger(L, 40);
  lua_pushinteger(L, 2);
  st = lurl_start(L, 2);
  CHECK(st == LUA_OK, "start ran to the end: %d", st);
  CHECK(lurl_pushresults(L) == 3, "three results");
  CHECK(lua_tointeger(L, -3) == 42 && has(lua_tostring(L, -2), "two") && lua_isnil(L, -1),
        "results");
  lua_pop(L, 3);
  CHECK(lua_gettop(L) == 0, "stack balanced: %d", lua_gettop(L));
  lurl_close(L);
}

static void test_error_reporting(void) {
  lua_State *L = lurl_newstate(NULL);
  int st = run(L, "local function f() error('boom') end\nf()");
  const char *m = lurl_errmsg(L);
  CHECK(st == LUA_ERRRUN, "status %d", st);
  CHECK(m && strncmp(m, "t:1: boom", 9) == 0, "message '%s'", nz(m));
  CHECK(has(m, "stack traceback:") && has(m, "in local 'f'"), "traceback '%s'", nz(m));

  st = run(L, "error(setmetatable({}, {__tostring = function() return 'custom error' end}))");
  m = lurl_errmsg(L);
  CHECK(st == LUA_ERRRUN && m && strncmp(m, "custom error\n", 13) == 0, "tostring: '%s'", nz(m));

  st = run(L, "error({})");
  CHECK(has(lurl_errmsg(L), "(error object is a table value)"), "'%s'", nz(lurl_errmsg(L)));

  /* lurl's own error objects read like the binary prints them */
  st = run(L, "local http = require 'http'\n"
              "error(select(2, http.get('http://127.0.0.1:1/refused')))");
  m = lurl_errmsg(L);
  CHECK(st == LUA_ERRRUN && m && strncmp(m, "ConnectionError: ", 17) == 0, "'%s'", nz(m));
  CHECK(has(m, "(GET http://127.0.0.1:1/refused)"), "'%s'", nz(m));

  st = run(L, "return +");
  CHECK(st == LUA_ERRSYNTAX && has(lurl_errmsg(L), "t:1:"), "syntax %d '%s'", st,
        nz(lurl_errmsg(L)));
  st = lurl_dofile(L, "/nonexistent/script.lua");
  CHECK(st == LUA_ERRFILE && has(lurl_errmsg(L), "cannot open"), "file %d '%s'", st,
        nz(lurl_errmsg(L)));
  st = run(L, "return 1");
  CHECK(st == LUA_OK && lurl_errmsg(L) == NULL, "a good run clears the message");
  lurl_close(L);
}

static void test_memory_cap(void) {
  lurl_limits lim = {0};
  lim.max_memory = 8u << 20;
  lua_State *L = lurl_newstate(&lim);
  CHECK(L != NULL, "newstate with 8 MiB");
  int st = run(L, "local t = {} for i = 1, 1e8 do t[i] = ('x'):rep(64) .. i end");
  CHECK(st == LUA_ERRMEM, "status %d", st);
  CHECK(has(lurl_errmsg(L), "not enough memory"), "'%s'", nz(lurl_errmsg(L)));
  /* the garbage goes, the state works again */
  st = run(L, "collectgarbage() return #('x'):rep(1000)");
  CHECK(st == LUA_OK && strcmp(result, "1000") == 0, "after: %d %s", st, nz(lurl_errmsg(L)));
  /* caught by pcall, the failure is the script's to handle */
  st = run(L, "local ok, e = pcall(string.rep, 'x', 64 << 20) return tostring(ok) .. ' ' .. e");
  CHECK(st == LUA_OK && strcmp(result, "false not enough memory") == 0, "pcall: %s", result);
  /* an HTML tree's arena counts against the cap too, and is given back */
  st = run(L, "local ok, e = pcall(require('http').html, ('<p class=x>yy</p>'):rep(30000)) "
              "return tostring(ok) .. ' ' .. tostring(e)");
  CHECK(st == LUA_OK && has(result, "false") && has(result, "memory cap"), "html: %d %s", st, result);
  st = run(L, "collectgarbage() return require('http').html(('<p>ok</p>'):rep(100)):select_one('p'):text()");
  CHECK(st == LUA_OK && strcmp(result, "ok") == 0, "html after: %d %s", st, nz(lurl_errmsg(L)));
  /* collectgarbage cannot lift it either */
  st = run(L, "collectgarbage('stop') local t = {} for i = 1, 1e8 do t[i] = {} end");
  CHECK(st == LUA_ERRMEM, "gc stopped: %d", st);
  lurl_close(L);

  lim.max_memory = 16 << 10; /* too small to even open the libraries */
  CHECK(lurl_newstate(&lim) == NULL, "tiny cap: no state");
}

static void test_instruction_budget(void) {
  lurl_limits lim = {0};
  lim.max_instructions = 2000000;
  lua_State *L = lurl_newstate(&lim);
  int st = run(L, "local n = 0 while true do n = n + 1 end");
  CHECK(st == LUA_ERRRUN && has(lurl_errmsg(L), "instruction budget exhausted"), "%d '%s'",
        st, nz(lurl_errmsg(L)));
  /* spent is spent: the next run fails at once */
  st = run(L, "return 1");
  CHECK(st == LUA_ERRRUN && has(lurl_errmsg(L), "instruction budget exhausted"), "again %d", st);
  lurl_close(L);

  /* pcall cannot swallow it, nor can a coroutine escape it */
  L = lurl_newstate(&lim);
  st = run(L, "while true do pcall(function() while true do end end) end");
  CHECK(st == LUA_ERRRUN && has(lurl_errmsg(L), "budget"), "pcall loop %d", st);
  lurl_close(L);
  L = lurl_newstate(&lim);
  st = run(L, "coroutine.wrap(function() while true do end end)()");
  CHECK(st == LUA_ERRRUN && has(lurl_errmsg(L), "budget"), "coroutine %d", st);
  lurl_close(L);

  /* what could lift a limit is gone from a limited state */
  lim.max_instructions = 100000000;
  L = lurl_newstate(&lim);
  st = run(L, "debug.sethook()");
  CHECK(st == LUA_ERRRUN && has(lurl_errmsg(L), "debug.sethook is disabled"), "'%s'",
        nz(lurl_errmsg(L)));
  st = run(L, "package.loaded.debug = nil return tostring(pcall(require, 'debug'))");
  CHECK(st == LUA_OK && strcmp(result, "false") == 0, "require debug again: %s %s", result,
        nz(lurl_errmsg(L)));
  st = run(L, "return tostring(io) .. tostring(package.loadlib) .. tostring(os.execute) .. "
              "tostring(os.getenv) .. tostring(loadfile) .. tostring(debug.getregistry)");
  CHECK(st == LUA_OK && strcmp(result, "nilnilnilnilnilnil") == 0, "pruned: %s", result);
  st = run(L, "local f, e = load(string.dump(function() end)) return tostring(f) .. ' ' .. e");
  CHECK(st == LUA_OK && has(result, "nil") && has(result, "binary"), "bytecode: %s", result);
  st = run(L, "return #tostring(os.time()) > 0 and require('http') ~= nil");
  CHECK(st == LUA_OK && strcmp(result, "true") == 0, "still usable: %s %s", result,
        nz(lurl_errmsg(L)));
  lurl_close(L);

  /* all_libs: the host trusts the script */
  lim.all_libs = 1;
  L = lurl_newstate(&lim);
  st = run(L, "return io.write ~= nil and debug.sethook ~= nil");
  CHECK(st == LUA_OK && strcmp(result, "true") == 0, "all_libs: %s", result);
  lurl_close(L);
}

static void test_time_budget(void) {
  lurl_limits lim = {0};
  lim.max_seconds = 0.5;
  lim.allow_loopback = 1; /* the test server is on 127.0.0.1 */
  lua_State *L = lurl_newstate(&lim);
  set_base(L);
  double t0 = now_s();
  int st = run(L, "local http = require 'http'\n"
                  "return http.get(BASE .. '/slow?ms=3000&t=timebudget')");
  double took = now_s() - t0;
  CHECK(st == LUA_ERRRUN && has(lurl_errmsg(L), "time budget exhausted"), "%d '%s'", st,
        nz(lurl_errmsg(L)));
  CHECK(took >= 0.45 && took < (slow_mode ? 2.9 : 1.5), "stopped mid-request after %.2f s",
        took);
  CHECK(server_count("t=timebudget") == 1, "the request had reached the server");
  lurl_close(L);

  L = lurl_newstate(&lim);
  t0 = now_s();
  st = run(L, "while true do end");
  took = now_s() - t0;
  CHECK(st == LUA_ERRRUN && has(lurl_errmsg(L), "time budget"), "cpu: %d", st);
  CHECK(took < (slow_mode ? 5.0 : 1.5), "cpu loop stopped after %.2f s", took);
  lurl_close(L);
}

/* A state whose scripts may only reach the test server by 127.0.0.1. */
static void test_allowed_hosts(void) {
  char hosts[64];
  snprintf(hosts, sizeof hosts, "127.0.0.1:%d", port);
  lurl_limits lim = {0};
  lim.hosts = hosts;
  lim.allow_loopback = 1; /* the test server is on 127.0.0.1 */
  lua_State *L = lurl_newstate(&lim);
  set_base(L);
  int st = run(L, "local http = require 'http'\n"
                  "return assert(http.get(BASE .. '/ok?t=allowed')).status");
  CHECK(st == LUA_OK && strcmp(result, "200") == 0, "allowed: %d %s", st, nz(lurl_errmsg(L)));
  CHECK(server_count("t=allowed") == 1, "allowed request arrived");

  /* same server, other name: refused before any connection */
  st = run(L, "local http = require 'http'\n"
              "local r, err = http.get('http://localhost:' .. PORT .. '/ok?t=forbidden')\n"
              "return err.kind .. '|' .. tostring(err)");
  CHECK(st == LUA_OK && has(result, "InvalidURL|") &&
        has(result, "host 'localhost:") && has(result, "is not allowed in this state"),
        "forbidden: %s %s", result, nz(lurl_errmsg(L)));
  CHECK(server_count("t=forbidden") == 0, "nothing reached the server");

  /* a redirect elsewhere is refused at the hop */
  st = run(L, "local http = require 'http'\n"
              "local target = 'http://localhost:' .. PORT .. '/ok?t=redirtarget'\n"
              "local r, err = http.get(BASE .. '/redirect?t=redirstart&to=' .. "
              "target:gsub('[?=&:/]', function(c) return ('%%%02X'):format(c:byte()) end))\n"
              "return err.kind .. '|' .. err.message");
  CHECK(st == LUA_OK && has(result, "InvalidURL|") && has(result, "localhost"),
        "redirect: %s %s", result, nz(lurl_errmsg(L)));
  CHECK(server_count("t=redirstart") == 1, "the first hop arrived");
  CHECK(server_count("t=redirtarget") == 0, "the redirect target never did");

  /* another port of the same address */
  st = run(L, "local http = require 'http'\n"
              "local r, err = http.get('http://127.0.0.1:1/x') return err.message");
  CHECK(st == LUA_OK && has(result, "'127.0.0.1:1'"), "port: %s", result);

  /* options that would reach another address */
  st = run(L, "local http = require 'http'\n"
              "local r, err = http.get(BASE .. '/ok?t=viaproxy', {proxy = 'http://127.0.0.1:1'})\n"
              "local s = http.session{proxy = 'http://127.0.0.1:1'}\n"
              "local r2, err2 = s:get(BASE .. '/ok?t=viaproxy')\n"
              "return err.message .. '|' .. err2.message");
  CHECK(st == LUA_OK && has(result, "proxy is not allowed") && has(result, "|option 'proxy'"),
        "proxy: %s %s", result, nz(lurl_errmsg(L)));
  st = run(L, "local http = require 'http'\n"
              "local r, err = http.get(BASE .. '/ok?t=viaunix', {unix_socket = '/tmp/x.sock'})\n"
              "return err.message");
  CHECK(st == LUA_OK && has(result, "unix_socket"), "unix_socket: %s", result);
  CHECK(server_count("t=via") == 0, "nothing went out");
  lurl_close(L);

  /* schemes */
  lim.hosts = NULL;
  lim.schemes = "https";
  L = lurl_newstate(&lim);
  set_base(L);
  st = run(L, "local http = require 'http'\n"
              "local r, err = http.get(BASE .. '/ok?t=scheme') return err.message");
  CHECK(st == LUA_OK && has(result, "scheme 'http' is not allowed"), "scheme: %s", result);
  CHECK(server_count("t=scheme") == 0, "no http request went out");
  lurl_close(L);

  /* patterns: subdomains ("*.localhost" resolves to loopback in libcurl
  ** itself) and a port-less address; every name stays on this machine */
  lim.schemes = NULL;
  snprintf(hosts, sizeof hosts, "*.localhost, 127.0.0.1");
  lim.hosts = hosts;
  L = lurl_newstate(&lim);
  set_base(L);
  st = run(L, "local http = require 'http'\n"
              "local a = assert(http.get(BASE .. '/ok?t=pattern')).status\n"
              "local b = assert(http.get('http://sub.localhost:' .. PORT .. '/ok?t=subdomain')).status\n"
              "local _, e1 = http.get('http://localhost:' .. PORT .. '/ok?t=apex')\n"
              "local _, e2 = http.get('http://127.0.0.2:' .. PORT .. '/ok?t=otheraddr')\n"
              "return a .. b .. '|' .. e1.message .. '|' .. e2.message");
  CHECK(st == LUA_OK && has(result, "200200|host 'localhost:") &&
        has(result, "|host '127.0.0.2:"), "patterns: %s %s", result, nz(lurl_errmsg(L)));
  CHECK(server_count("t=pattern") == 1 && server_count("t=subdomain") == 1, "allowed arrived");
  CHECK(server_count("t=apex") == 0 && server_count("t=otheraddr") == 0, "refused did not");
  lurl_close(L);
}


/* ------------------------------------------- limits scripts cannot lift -- */

/* A limited state that may reach the test server (allow_loopback). */
static lua_State *limited_state(lurl_limits *lim) {
  lua_State *L = lurl_newstate(lim);
  if (L) set_base(L);
  return L;
}

/* URL-encodes u into a static buffer (for /redirect?to=). */
static const char *enc(const char *u) {
  static char out[512];
  size_t o = 0;
  for (; *u && o + 4 < sizeof out; u++) {
    if (strchr("?=&:/", *u)) o += (size_t)snprintf(out + o, 4, "%%%02X", (unsigned char)*u);
    else out[o++] = *u;
  }
  out[o] = '\0';
  return out;
}

/* Finalizers run with hooks off: no script function may become one.  And
** xpcall's message handler runs under the budget.  Without either, these
** loops would never end: main's alarm turns that into a failure. */
static void test_finalizers(void) {
  lurl_limits lim = {0};
  lim.max_instructions = 20000000;
  lim.allow_loopback = 1;
  lua_State *L = limited_state(&lim);
  int st = run(L, "local ok, e = pcall(setmetatable, {}, {__gc = function() while true do end end})\n"
                  "local ok2 = pcall(setmetatable, {}, {__gc = false})\n"
                  "return tostring(ok) .. ' ' .. tostring(ok2) .. ' ' .. e");
  CHECK(st == LUA_OK && has(result, "false false ") &&
        has(result, "a metatable with __gc is not allowed in this state"), "%d %s %s", st,
        result, nz(lurl_errmsg(L)));
  /* __gc added after setmetatable: Lua 5.4 does not mark the object */
  st = run(L, "local mt = {} local t = setmetatable({}, mt)\n"
              "mt.__gc = function() while true do end end\n"
              "t = nil collectgarbage() collectgarbage() return 'collected'");
  CHECK(st == LUA_OK && strcmp(result, "collected") == 0, "late __gc: %s", nz(lurl_errmsg(L)));
  st = run(L, "local ok, e = pcall(rawset, {}, '__gc', print) return tostring(ok) .. ' ' .. e");
  CHECK(st == LUA_OK && has(result, "false rawset: '__gc' cannot be set"), "rawset: %s", result);
  /* every metatable lurl's modules export refuses a new __gc */
  st = run(L, "local n, bad = 0, {}\n"
              "for name, m in pairs(package.loaded) do\n"
              "  if type(m) == 'table' and (name:find('^http') or name:find('^lurl%.') or name:find('json')) then\n"
              "    for k, v in pairs(m) do\n"
              "      local looks = false\n"
              "      if type(v) == 'table' then for f in pairs(v) do\n"
              "        if type(f) == 'string' and f:sub(1, 2) == '__' then looks = true end end end\n"
              "      if looks then\n"
              "        n = n + 1\n"
              "        if pcall(function() v.__gc = function() while true do end end end) then\n"
              "          bad[#bad + 1] = name .. '.' .. k end\n"
              "      end\n"
              "    end\n"
              "  end\n"
              "end\n"
              "return n .. ' [' .. table.concat(bad, ',') .. ']'");
  int n = 0;
  CHECK(st == LUA_OK && sscanf(result, "%d", &n) == 1 && n >= 4 && has(result, " []"),
        "exported metatables: %s %s", result, nz(lurl_errmsg(L)));
  /* the metatables of lurl's objects: guarded, or hidden when they have __gc */
  st = run(L, "local http = require 'http'\n"
              "local s = http.session{}\n"
              "local mt = getmetatable(s)\n"
              "local ok = pcall(function() mt.__gc = function() while true do end end end)\n"
              "local _, err = http.get('http://127.0.0.1:1/x')\n"
              "local ok2 = pcall(function() getmetatable(err).__gc = function() while true do end end end)\n"
              "local ok3 = pcall(setmetatable, mt, nil)\n"
              "s._har = {close = function() while true do end end}\n"
              "return ('%s %s %s %s %s %s'):format(ok, ok2, ok3, getmetatable(s._share),\n"
              "  debug.setmetatable, require('http.core').set_response_mt)");
  CHECK(st == LUA_OK && strcmp(result, "false false false false nil nil") == 0, "objects: %s %s",
        result, nz(lurl_errmsg(L)));
  st = run(L, "collectgarbage() collectgarbage() return require('json').encode(setmetatable({}, {}))");
  CHECK(st == LUA_OK && strcmp(result, "{}") == 0, "still working: %s %s", result,
        nz(lurl_errmsg(L)));
  /* xpcall: the handler is the script's, under the budget */
  st = run(L, "local ok, e = xpcall(error, function(m) return 'handled: ' .. tostring(m) end, 'x')\n"
              "return tostring(ok) .. ' ' .. e .. ' ' .. select('#', xpcall(function(...)\n"
              "  return ... end, print, 1, 2, 3))");
  CHECK(st == LUA_OK && strcmp(result, "false handled: x 4") == 0, "xpcall: %s", result);
  st = run(L, "local http = require 'http'\n"
              "local ok, s = xpcall(function() return assert(http.get(BASE .. '/ok?t=xpyield')).status end,\n"
              "  debug.traceback)\n"
              "return tostring(ok) .. ' ' .. s");
  CHECK(st == LUA_OK && strcmp(result, "true 200") == 0, "xpcall across a request: %s %s", result,
        nz(lurl_errmsg(L)));
  double t0 = now_s();
  st = run(L, "xpcall(error, function() while true do end end)");
  CHECK(st == LUA_ERRRUN && has(lurl_errmsg(L), "instruction budget exhausted"),
        "looping handler: %d %s", st, nz(lurl_errmsg(L)));
  CHECK(now_s() - t0 < 30, "stopped after %.1f s", now_s() - t0);
  t0 = now_s();
  lurl_close(L);
  CHECK(now_s() - t0 < 3, "lurl_close took %.1f s", now_s() - t0);

  /* a finalizer the script tried to set up at top level, then close */
  L = limited_state(&lim);
  st = run(L, "setmetatable({}, {__gc = function() while true do end end}) collectgarbage()");
  CHECK(st == LUA_ERRRUN && has(lurl_errmsg(L), "__gc is not allowed"), "top level: %s",
        nz(lurl_errmsg(L)));
  lurl_close(L);
}

/* lurl's own code in a state without io; LURL_TRACE; what such a state
** cannot do fails naming the limit. */
static void test_limited_lua(void) {
  setenv("LURL_TRACE", "1", 1); /* the host's environment, not the script's */
  lurl_limits lim = {0};
  lim.max_seconds = 60;
  lim.allow_loopback = 1;
  lua_State *L = limited_state(&lim);
  unsetenv("LURL_TRACE");
  char code[1024];
  snprintf(code, sizeof code,
           "local http = require 'http'\n"
           "local r = assert(http.post(BASE .. '/redirect?code=307&t=r307a&to=%s', {body = 'payload'}))\n"
           "local s = http.session{}\n"
           "return r.status .. ' ' .. r.body .. ' ' .. #r.history .. ' ' .. tostring(s._observers)",
           enc("/ok?t=r307b"));
  int st = run(L, code);
  CHECK(st == LUA_OK && strcmp(result, "200 ok 1 false") == 0, "307, LURL_TRACE: %s %s", result,
        nz(lurl_errmsg(L)));
  CHECK(server_count("t=r307b") == 1, "the body was sent again to the 307 target");
  st = run(L, "local ok, e = pcall(require('http').session, {trace = true}) return tostring(ok) .. ' ' .. e");
  CHECK(st == LUA_OK && has(result, "false ") && has(result, "'trace': true writes to stderr") &&
        has(result, "limits"), "trace = true: %s", result);
  st = run(L, "local n = 0\n"
              "local s = require('http').session{trace = function(ev) n = n + 1 end}\n"
              "assert(s:get(BASE .. '/ok?t=tracefn')) return n");
  CHECK(st == LUA_OK && atoi(result) >= 1, "trace = function: %s %s", result, nz(lurl_errmsg(L)));
  st = run(L, "local r = assert(require('http').get(BASE .. '/ok?t=nosave', {stream = true}))\n"
              "local ok, e = pcall(r.save, r, '/tmp/lurl-test-nosave') return e");
  CHECK(st == LUA_OK && has(result, "cannot save: writing '/tmp/lurl-test-nosave.part' is not "
        "allowed in this state (the host set limits and no lurl_limits.write_dirs)"), "save: %s %s",
        result, nz(lurl_errmsg(L)));
  CHECK(access("/tmp/lurl-test-nosave.part", F_OK) != 0, "nothing written");
  lurl_close(L);
}


/* The address a connection really goes to, whatever the name, redirect or
** proxy: loopback, private, link-local and unspecified refused by default. */
static void test_addresses(void) {
  lurl_limits lim = {0};
  lim.max_seconds = 60;
  lua_State *L = limited_state(&lim);
  int st = run(L,
    "local http = require 'http'\n"
    "local out = {}\n"
    "for _, u in ipairs{BASE .. '/ok?t=addr-ip', 'http://localhost:' .. PORT .. '/ok?t=addr-name',\n"
    "    'http://[::ffff:127.0.0.1]:' .. PORT .. '/ok?t=addr-mapped',\n"
    "    'http://0.0.0.0:' .. PORT .. '/ok?t=addr-zero', 'http://169.254.169.254/latest/',\n"
    "    'http://10.0.0.1:9/', 'http://192.168.1.1:9/', 'http://172.16.0.1:9/'} do\n"
    "  local r, e = http.get(u, {timeout = 5})\n"
    "  out[#out + 1] = r and ('reached ' .. u) or (e.kind .. ': ' .. e.message)\n"
    "end\n"
    "local _, e = http.get('http://example.invalid/ok?t=addr-proxy', {proxy = BASE, timeout = 5})\n"
    "out[#out + 1] = e.kind .. ': ' .. e.message\n"
    "_, e = http.get('http://docker/ok?t=addr-unix', {unix_socket = '/run/lurl-none.sock'})\n"
    "out[#out + 1] = e.kind .. ': ' .. e.message\n"
    "return table.concat(out, '\\n')");
  CHECK(st == LUA_OK, "ran: %s", nz(lurl_errmsg(L)));
  CHECK(!has(result, "reached"), "nothing reached:\n%s", result);
  static const char *const want[] = {
    "ConnectionError: connection to 127.0.0.1 refused: loopback addresses are not allowed in "
    "this state (lurl_limits.allow_loopback)",
    "refused: loopback", "connection to ::ffff:127.0.0.1 refused: loopback",
    "connection to 0.0.0.0 refused: unspecified",
    "connection to 169.254.169.254 refused: link-local addresses are not allowed in this state "
    "(lurl_limits.allow_private)", "connection to 10.0.0.1 refused: private",
    "connection to 192.168.1.1 refused: private", "connection to 172.16.0.1 refused: private",
    "ProxyError: connection to 127.0.0.1 refused: loopback",
    "ConnectionError: connection to a unix socket refused: loopback", NULL};
  for (int i = 0; want[i]; i++) CHECK(has(result, want[i]), "'%s' in:\n%s", want[i], result);
  CHECK(server_count("t=addr-") == 0, "nothing arrived at the server");
  lurl_close(L);

  /* a redirect from an allowed address to loopback: the machine's other
  ** address stands for the outside server (allow_private, as it may be a
  ** private one; loopback stays refused) */
  char other[INET_ADDRSTRLEN] = "";
  struct ifaddrs *ifs = NULL, *i;
  if (getifaddrs(&ifs) == 0) {
    for (i = ifs; i && !other[0]; i = i->ifa_next)
      if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
          ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr.s_addr != htonl(INADDR_LOOPBACK))
        inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, other,
                  sizeof other);
    freeifaddrs(ifs);
  }
  if (!other[0]) {
    printf("skip: no address besides loopback, redirect-to-loopback not tried\n");
    return;
  }
  lim.allow_private = 1;
  L = limited_state(&lim);
  char target[128], code[1024];
  snprintf(target, sizeof target, "http://127.0.0.1:%d/ok?t=addr-redir-target", port);
  snprintf(code, sizeof code,
           "local http = require 'http'\n"
           "local r, e = http.get('http://%s:' .. PORT .. '/redirect?t=addr-redir-start&to=%s')\n"
           "return r and 'reached' or (e.kind .. ': ' .. e.message)", other, enc(target));
  st = run(L, code);
  CHECK(st == LUA_OK && has(result, "ConnectionError: connection to 127.0.0.1 refused: loopback"),
        "redirect via %s: %s %s", other, result, nz(lurl_errmsg(L)));
  CHECK(server_count("t=addr-redir-start") == 1, "the first hop arrived");
  CHECK(server_count("t=addr-redir-target") == 0, "the loopback target did not");
  lurl_close(L);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

/* Every option that names a file obeys read_dirs / write_dirs. */
static void test_files(void) {
  char dir[] = "/tmp/lurl-host-XXXXXX", ok[64], up[96], secret[96], link[96], code[4096];
  if (!mkdtemp(dir)) return;
  snprintf(ok, sizeof ok, "%s/ok", dir);
  mkdir(ok, 0700);
  snprintf(up, sizeof up, "%s/up.txt", ok);
  snprintf(secret, sizeof secret, "%s/secret.txt", dir);
  snprintf(link, sizeof link, "%s/link", ok);
  write_file(up, "upload-marker-123");
  write_file(secret, "s3cret");
  CHECK(symlink("../secret.txt", link) == 0, "symlink");

  lurl_limits lim = {0};
  lim.max_seconds = 60;
  lim.allow_loopback = 1;
  lua_State *L = limited_state(&lim); /* no directories: no file at all */
  int st = run(L,
    "local http = require 'http'\n"
    "local core = require 'http.core'\n"
    "local out = {}\n"
    "local function try(f, ...)\n"
    "  local ok, e = pcall(f, ...) out[#out + 1] = ok and 'ALLOWED' or tostring(e) end\n"
    "try(http.get, BASE .. '/ok?t=file-verify', {verify = '/etc/shadow'})\n"
    "try(http.get, BASE .. '/ok?t=file-cert', {cert = '/etc/passwd'})\n"
    "try(http.get, BASE .. '/ok?t=file-key', {cert = {'/etc/passwd', '/etc/shadow'}})\n"
    "try(http.get, BASE .. '/ok?t=file-netrc', {auth = http.netrc('/etc/passwd')})\n"
    "try(http.get, BASE .. '/ok?t=file-netrc0', {auth = http.netrc()})\n"
    "try(http.post, BASE .. '/ok?t=file-up', {files = {f = http.file('/etc/passwd')}})\n"
    "try(function() return http.session{}.cookies:load('/etc/passwd') end)\n"
    "out[#out + 1] = tostring((core.filekind('/etc/passwd')))\n"
    "out[#out + 1] = tostring(select(2, core.open('/etc/passwd')))\n"
    "return table.concat(out, '\\n')");
  static const char *const refused[] = {
    "bad argument #2 to 'get' (field 'verify': reading '/etc/shadow' is not allowed in this "
    "state (the host set limits and no lurl_limits.read_dirs))",
    "(field 'cert': reading '/etc/passwd'",
    "(field 'auth': reading '/etc/passwd'", "/.netrc' is not allowed",
    "(field 'files.f': reading '/etc/passwd'",
    "cannot load cookie jar: reading '/etc/passwd'", "\nnil\nreading '/etc/passwd' is not allowed",
    NULL};
  CHECK(st == LUA_OK && !has(result, "ALLOWED"), "%s %s", result, nz(lurl_errmsg(L)));
  for (int i = 0; refused[i]; i++) CHECK(has(result, refused[i]), "'%s' in:\n%s", refused[i], result);
  CHECK(server_count("t=file-") == 0, "no request went out");
  lurl_close(L);

  lim.read_dirs = ok; /* one directory to read and write: ../ and symlinks stay in */
  lim.write_dirs = ok;
  L = limited_state(&lim);
  snprintf(code, sizeof code,
    "local http = require 'http'\n"
    "local core = require 'http.core'\n"
    "local D, out = '%s', {}\n"
    "local function try(f, ...)\n"
    "  local ok, e = pcall(f, ...) out[#out + 1] = ok and 'ALLOWED' or tostring(e) end\n"
    "try(http.get, BASE .. '/ok?t=pol-dotdot', {verify = D .. '/../secret.txt'})\n"
    "try(http.get, BASE .. '/ok?t=pol-link', {verify = D .. '/link'})\n"
    "try(http.get, BASE .. '/ok?t=pol-in', {verify = D .. '/up.txt'})\n"
    "try(http.get, BASE .. '/ok?t=pol-key', {cert = {D .. '/up.txt', '/etc/shadow'}})\n"
    "try(http.post, BASE .. '/ok?t=pol-up', {files = {f = http.file(D .. '/up.txt')}})\n"
    "local r = assert(http.get(BASE .. '/ok?t=pol-save', {stream = true}))\n"
    "out[#out + 1] = 'saved ' .. r:save(D .. '/saved.txt')\n"
    "r = assert(http.get(BASE .. '/ok?t=pol-save2', {stream = true}))\n"
    "try(r.save, r, D .. '/../outside.txt')\n"
    "local s = http.session{}\n"
    "assert(s:get(BASE .. '/ok?t=pol-jar'))\n"
    "try(s.cookies.save, s.cookies, D .. '/jar.txt')\n"
    "try(s.cookies.load, s.cookies, D .. '/jar.txt')\n"
    "try(s.cookies.save, s.cookies, D .. '/link')\n"
    "out[#out + 1] = tostring((core.filekind(D .. '/link')))\n"
    "local h = http.session{har = D .. '/rec.har'}\n"
    "assert(h:get(BASE .. '/ok?t=pol-har'))\n"
    "try(h.close, h)\n"
    "local h2 = http.session{har = D .. '/../rec.har'}\n"
    "try(h2.close, h2)\n"
    "return table.concat(out, '\\n')", ok);
  st = run(L, code);
  CHECK(st == LUA_OK, "ran: %s", nz(lurl_errmsg(L)));
  char expect[4096];
  snprintf(expect, sizeof expect,
           "t:5: bad argument #2 to 'get' (field 'verify': reading '%s/../secret.txt' is not allowed "
           "in this state (outside lurl_limits.read_dirs))\nt:5: bad argument #2 to 'get' (field "
           "'verify': reading '%s/link' is not allowed in this state"
           " (outside lurl_limits.read_dirs))\nALLOWED\nt:5: bad argument #2 to 'get' (field "
           "'cert': reading '/etc/shadow' is not allowed in this state (outside "
           "lurl_limits.read_dirs))\nALLOWED\nsaved 2\ncannot save: writing '%s/../outside.txt.part' is not "
           "allowed in this state (outside lurl_limits.write_dirs)\nALLOWED\nALLOWED\n"
           "cannot save cookie jar: writing '%s/link' is not allowed", ok, ok, ok, ok);
  CHECK(strncmp(result, expect, strlen(expect)) == 0, "got:\n%s\nwanted:\n%s", result, expect);
  CHECK(has(result, "\nnil\nALLOWED\n") && has(result, "cannot write HAR file: writing '") &&
        has(result, "/../rec.har.tmp' is not allowed in this state (outside "
        "lurl_limits.write_dirs)"), "filekind of a link out, HAR files: %s", result);
  char path[128];
  snprintf(path, sizeof path, "%s/rec.har", ok);
  CHECK(access(path, F_OK) == 0, "the HAR file inside is there");
  snprintf(path, sizeof path, "%s/outside.txt.part", dir);
  CHECK(access(path, F_OK) != 0, "nothing written outside");
  snprintf(path, sizeof path, "%s/saved.txt", ok);
  CHECK(access(path, F_OK) == 0, "the save inside is there");
  FILE *f = fopen(secret, "r");
  char got[16] = "";
  if (f) {
    CHECK(fgets(got, sizeof got, f) != NULL, "read");
    fclose(f);
  }
  CHECK(strcmp(got, "s3cret") == 0, "the file behind the link is untouched: '%s'", got);
  CHECK(server_count("t=pol-dotdot") == 0 && server_count("t=pol-link") == 0 &&
        server_count("t=pol-key") == 0, "refused: not sent");
  CHECK(server_count("t=pol-in") == 1 && server_count("t=pol-up") == 1, "allowed: sent");
  lurl_close(L);
  /* the upload carried the file */
  L = lurl_newstate(NULL);
  set_base(L);
  st = run(L, "for _, e in ipairs(require('http').get(BASE .. '/requests'):json()) do\n"
              "  if e.query == 't=pol-up' then return e.body end end");
  CHECK(has(result, "upload-marker-123"), "uploaded: %s", result);
  lurl_close(L);
  snprintf(code, sizeof code, "rm -rf '%s'", dir);
  CHECK(system(code) == 0, "cleanup");
}

/* The options naming an address (resolve, connect_to, doh_url) obey the
** address policy when they are read; those naming a file (tls.crl_file,
** pinned_pubkey) the file policy. */
static void test_net_options(void) {
  lurl_limits lim = {0};
  lim.max_seconds = 60;
  lua_State *L = limited_state(&lim); /* loopback refused, no directories */
  int st = run(L,
    "local http = require 'http'\n"
    "local out = {}\n"
    "local function try(o)\n"
    "  local ok, r, e = pcall(http.get, 'http://api.test:' .. PORT .. '/ok?t=net-refused', o)\n"
    "  out[#out + 1] = not ok and tostring(r) or r and 'REACHED' or (e.kind .. ': ' .. e.message)\n"
    "end\n"
    "try{resolve = {'api.test:' .. PORT .. ':127.0.0.1'}}\n"
    "try{connect_to = {'api.test:' .. PORT .. ':10.0.0.1:' .. PORT}}\n"
    "try{connect_to = {'api.test:' .. PORT .. ':[::1]:' .. PORT}}\n"
    "try{connect_to = {'api.test:' .. PORT .. ':localhost:' .. PORT}, timeout = 5}\n"
    "try{doh_url = 'https://dns.example/dns-query'}\n"
    "try{doh_url = 'https://127.0.0.1/dns-query'}\n"
    "try{tls = {crl_file = '/etc/passwd'}}\n"
    "try{pinned_pubkey = '/etc/passwd'}\n"
    "return table.concat(out, '\\n')");
  CHECK(st == LUA_OK && !has(result, "REACHED"), "%s %s", result, nz(lurl_errmsg(L)));
  static const char *const want[] = {
    "(field 'resolve': address 127.0.0.1 refused: loopback addresses are not allowed in this "
    "state (lurl_limits.allow_loopback))",
    "(field 'connect_to': address 10.0.0.1 refused: private addresses are not allowed",
    "(field 'connect_to': address ::1 refused: loopback",
    "ConnectionError: connection to ", /* localhost: 127.0.0.1 or ::1 */
    "refused: loopback addresses are not allowed in this state (lurl_limits.allow_loopback)\nt:",
    "(field 'doh_url': in a state with limits the DNS-over-HTTPS server must be named by its "
    "address)",
    "(field 'doh_url': address 127.0.0.1 refused: loopback",
    "(field 'tls.crl_file': reading '/etc/passwd' is not allowed in this state",
    "(field 'pinned_pubkey': reading '/etc/passwd' is not allowed in this state", NULL};
  for (int i = 0; want[i]; i++) CHECK(has(result, want[i]), "'%s' in:\n%s", want[i], result);
  CHECK(server_count("t=net-refused") == 0, "nothing arrived at the server");
  lurl_close(L);

  lim.allow_loopback = 1; /* allowed: the invented name reaches the server */
  L = limited_state(&lim);
  st = run(L,
    "local http = require 'http'\n"
    "local r = assert(http.get('http://api.test:' .. PORT .. '/ok?t=net-allowed',\n"
    "  {resolve = {'api.test:' .. PORT .. ':127.0.0.1'}}))\n"
    "return r.status");
  CHECK(st == LUA_OK && strcmp(result, "200") == 0, "resolve allowed: %s %s", result,
        nz(lurl_errmsg(L)));
  CHECK(server_count("t=net-allowed") == 1, "arrived");
  lurl_close(L);
}

/* lurl's C buffers count against max_memory; max_transfers caps how many
** run at once, and a request beyond it waits. */
static void test_memory_and_transfers(void) {
  lurl_limits lim = {0};
  lim.max_memory = 16u << 20;
  lim.max_seconds = 60;
  lim.allow_loopback = 1;
  lua_State *L = limited_state(&lim);
  /* four 10 MiB bodies at once: each fits the cap, together they do not */
  int st = run(L, "local http = require 'http'\n"
                  "local tasks = {}\n"
                  "for i = 1, 4 do tasks[i] = http.spawn(function()\n"
                  "  local ok, r = pcall(http.get, BASE .. '/big?t=mem&n=10485760')\n"
                  "  if ok and r then return #r.body end\n"
                  "  return tostring(r)\n"
                  "end) end\n"
                  "return table.concat(http.join(tasks), ',')");
  CHECK(st == LUA_OK && has(result, "not enough memory"), "4 x 10 MiB in 16 MiB: %d %s %s", st,
        result, nz(lurl_errmsg(L)));
  st = run(L, "collectgarbage() return assert(require('http').get(BASE .. '/big?t=mem1&n=4000000')).body:len()");
  CHECK(st == LUA_OK && strcmp(result, "4000000") == 0, "one that fits: %s %s", result,
        nz(lurl_errmsg(L)));
  lurl_close(L);

  lim.max_memory = 0;
  lim.max_transfers = 2;
  L = limited_state(&lim);
  double t0 = now_s();
  st = run(L, "local http = require 'http'\n"
              "local tasks = {}\n"
              "for i = 1, 5 do tasks[i] = http.spawn(function()\n"
              "  return assert(http.get(BASE .. '/slow?ms=300&t=cap' .. i)).status end) end\n"
              "return table.concat(http.join(tasks), ',')");
  double took = now_s() - t0;
  CHECK(st == LUA_OK && strcmp(result, "200,200,200,200,200") == 0, "capped: %s %s", result,
        nz(lurl_errmsg(L)));
  CHECK(took > 0.85, "five 300 ms requests two at a time took %.2f s", took);
  st = run(L, "local http = require 'http'\n"
              "local most, log = 0, http.get(BASE .. '/requests'):json()\n"
              "for _, a in ipairs(log) do if a.query:find('t=cap', 1, true) then\n"
              "  local n = 0\n"
              "  for _, b in ipairs(log) do if b.query:find('t=cap', 1, true) and b.t_start <= a.t_start\n"
              "    and b.t_end > a.t_start then n = n + 1 end end\n"
              "  most = math.max(most, n) end end\n"
              "return most");
  CHECK(st == LUA_OK && strcmp(result, "2") == 0, "at most 2 at the server at once: %s", result);
  /* streams hold their slot until read or closed: a request waits for them */
  st = run(L, "local http = require 'http'\n"
              "local function holder(close)\n"
              "  return http.spawn(function()\n"
              "    local r = assert(http.get(BASE .. '/big?t=capwait-s&n=2000000', {stream = true}))\n"
              "    http.sleep(0.3)\n"
              "    if close then r:close() return 0 end\n"
              "    local n = 0 for c in r:chunks() do n = n + #c end return n\n"
              "  end)\n"
              "end\n"
              "local a, b = holder(false), holder(true)\n"
              "http.sleep(0.1)\n"
              "local t0 = http.now()\n"
              "local c = assert(http.get(BASE .. '/ok?t=capwait'))\n"
              "local waited = http.now() - t0\n"
              "return ('%d %s %s'):format(c.status, waited > 0.1, table.concat(http.join({a, b}), ','))");
  CHECK(st == LUA_OK && strcmp(result, "200 true 2000000,0") == 0, "waited for streams: %s %s",
        result, nz(lurl_errmsg(L)));
  /* slots held by this task's own streams: a further request fails clearly */
  st = run(L, "local http = require 'http'\n"
              "local a = assert(http.get(BASE .. '/big?t=capstream&n=4194304', {stream = true}))\n"
              "local b = assert(http.get(BASE .. '/big?t=capstream&n=4194304', {stream = true}))\n"
              "local ok, e = pcall(http.get, BASE .. '/ok?t=capover')\n"
              "a:close() b:close()\n"
              "local c = assert(http.get(BASE .. '/ok?t=capafter'))\n"
              "return tostring(ok) .. ' ' .. tostring(e) .. ' ' .. c.status");
  CHECK(st == LUA_OK && has(result, "false ") && has(result, "too many transfers at once: this "
        "state allows 2 (lurl_limits.max_transfers), all held by streams this task has not "
        "finished") && has(result, " 200"), "streams: %s %s",
        result, nz(lurl_errmsg(L)));
  CHECK(server_count("t=capover") == 0 && server_count("t=capafter") == 1, "over the cap: not sent");
  lurl_close(L);
}

/*
** The host's own loop: poll() on lurl's sockets and timeout plus the host's
** 20 ms timer.  Three 500 ms requests run at once; the host must tick while
** all three are in flight at the server, and no lurl_step may block.
*/
static void test_host_loop(void) {
  lua_State *L = lurl_newstate(NULL);
  set_base(L);
  int st = lurl_startstring(L,
    "local http = require 'http'\n"
    "local tasks = {}\n"
    "for i = 1, 3 do\n"
    "  tasks[i] = http.spawn(function()\n"
    "    return assert(http.get(BASE .. '/slow?ms=500&t=loop' .. i)).status\n"
    "  end)\n"
    "end\n"
    "return table.concat(http.join(tasks), ',')", "=loop");
  CHECK(st == LURL_RUNNING, "started and waiting: %d", st);
  double ticks[512];
  int nticks = 0;
  double next_tick = now_s() + 0.02, worst_step = 0;
  int steps = 0, max_fds = 0;
  while (st == LURL_RUNNING && steps < 100000) {
    struct pollfd fds[16];
    int n = lurl_pollfds(L, fds, 16);
    if (n > max_fds) max_fds = n;
    long wait = lurl_timeout(L);
    long until_tick = (long)((next_tick - now_s()) * 1000);
    if (until_tick < 0) until_tick = 0;
    if (wait < 0 || wait > until_tick) wait = until_tick;
    poll(fds, (nfds_t)(n < 16 ? n : 16), (int)wait);
    if (now_s() >= next_tick && nticks < 512) {
      ticks[nticks++] = now_s();
      next_tick += 0.02;
    }
    double t0 = now_s();
    st = lurl_step(L);
    double dt = now_s() - t0;
    if (dt > worst_step) worst_step = dt;
    steps++;
  }
  CHECK(st == LUA_OK, "loop ended: %d %s", st, nz(lurl_errmsg(L)));
  CHECK(lurl_pushresults(L) == 1 && strcmp(lua_tostring(L, -1), "200,200,200") == 0,
        "results");
  lua_settop(L, 0);
  CHECK(max_fds == 3, "three sockets at once: %d", max_fds);
  CHECK(worst_step < (slow_mode ? 0.4 : 0.2), "lurl_step never blocks (worst %.3f s)",
        worst_step);
  CHECK(lurl_pollfds(L, NULL, 0) == 0 && lurl_timeout(L) == -1, "nothing to wait on after");

  /* the window in which the server was serving all three at once */
  set_base(L);
  st = run(L, "local http = require 'http'\n"
              "local lo, hi, n = -math.huge, math.huge, 0\n"
              "for _, e in ipairs(assert(http.get(BASE .. '/requests')):json()) do\n"
              "  if e.query:find('t=loop', 1, true) then\n"
              "    n = n + 1\n"
              "    lo, hi = math.max(lo, e.t_start), math.min(hi, e.t_end)\n"
              "  end\n"
              "end\n"
              "return ('%d %.6f %.6f'):format(n, lo, hi)");
  int n = 0;
  double lo = 0, hi = 0;
  CHECK(st == LUA_OK && sscanf(result, "%d %lf %lf", &n, &lo, &hi) == 3, "log: %s", result);
  CHECK(n == 3, "server saw 3 requests: %d", n);
  CHECK(hi - lo > 0.3, "they overlapped at the server: %.3f s", hi - lo);
  int inside = 0;
  for (int i = 0; i < nticks; i++)
    if (ticks[i] > lo && ticks[i] < hi) inside++;
  CHECK(inside >= 5, "host timer ticked %d times while all three were in flight", inside);
  lurl_close(L);
}

/* lurl_timeout follows the script's own timers. */
static void test_timeout_hint(void) {
  lua_State *L = lurl_newstate(NULL);
  int st = lurl_startstring(L, "require('http').sleep(0.3) return 'slept'", "=sleep");
  CHECK(st == LURL_RUNNING, "sleeping: %d", st);
  long ms = lurl_timeout(L);
  CHECK(ms > 200 && ms <= 300, "timeout %ld ms", ms);
  CHECK(lurl_pollfds(L, NULL, 0) == 0, "no socket while sleeping");
  double t0 = now_s();
  st = lurl_run(L);
  CHECK(st == LUA_OK && now_s() - t0 > 0.25, "ran: %d", st);
  lurl_close(L);
}

static void test_cancel_and_deadlock(void) {
  lua_State *L = lurl_newstate(NULL);
  set_base(L);
  int st = lurl_startstring(L, "return require('http').get(BASE .. '/slow?ms=3000&t=cancel')",
                            "=cancel");
  CHECK(st == LURL_RUNNING, "running: %d", st);
  for (int i = 0; i < 20 && server_count("t=cancel") < 1; i++) {
    poll(NULL, 0, 20);
    lurl_step(L);
  }
  CHECK(server_count("t=cancel") == 1, "the request arrived");
  lurl_cancel(L);
  CHECK(lurl_script_status(L) == LUA_ERRRUN && has(lurl_errmsg(L), "cancelled by the host"),
        "cancelled: '%s'", nz(lurl_errmsg(L)));
  CHECK(lurl_pollfds(L, NULL, 0) == 0, "its socket is gone");
  /* a second script in the same state */
  st = run(L, "local T = require 'lurl.task'\nT.acquire(T.semaphore(0))");
  CHECK(st == LUA_ERRRUN && has(lurl_errmsg(L), "deadlock"), "deadlock: %d '%s'", st,
        nz(lurl_errmsg(L)));
  st = run(L, "return 'fine'");
  CHECK(st == LUA_OK && strcmp(result, "fine") == 0, "state still usable");
  lurl_close(L);
}

/* The host layer on a state the host made itself. */
static void test_foreign_state(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  set_base(L);
  int st = run(L, "return assert(require('http').get(BASE .. '/ok?t=foreign')).body");
  CHECK(st == LUA_OK && strcmp(result, "ok") == 0, "foreign: %d %s", st, nz(lurl_errmsg(L)));
  CHECK(server_count("t=foreign") == 1, "arrived");
  lurl_close(L);
  lurl_close(NULL);
}

int main(void) {
  slow_mode = getenv("LURL_TEST_SLOW") != NULL;
  signal(SIGPIPE, SIG_IGN);
  /* never hang: a finalizer or handler the budget misses fails the test */
  alarm(slow_mode ? 560 : 280);
  if (start_server() != 0) {
    fprintf(stderr, "cannot start %s\n", HOST_SERVER);
    return 1;
  }
  test_run_and_results();
  test_error_reporting();
  test_memory_cap();
  test_instruction_budget();
  test_time_budget();
  test_allowed_hosts();
  test_finalizers();
  test_limited_lua();
  test_addresses();
  test_files();
  test_net_options();
  test_memory_and_transfers();
  test_host_loop();
  test_timeout_hint();
  test_cancel_and_deadlock();
  test_foreign_state();
  stop_server();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
