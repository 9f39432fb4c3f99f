/*
** test_oom.c -- every Lua allocation point of a representative script, with
** a fault injected there (issue 15, "Proof").
**
** The script (SCRIPT below) makes the requests a typical job makes against
** spec/c/oom_server.py: a GET with headers (numbers among them) and params,
** POSTs of JSON and form data, a redirect, a session keeping cookies, a
** streamed response read in chunks, a multipart upload, text converted
** from another charset, a task, an HTTP error and a refused connection.  One run without faults counts its
** allocations (T); then, for each N in 1..T (every `stride`-th), a fresh
** state runs it again with the allocator wrapped so that:
**
**   oom  the Nth allocation and every later one fail (memory runs out at
**        N): the run must end with a clean "not enough memory" error, or
**        succeed;
**   gc   only the Nth fails: Lua then runs an emergency full collection and
**        retries, which succeeds.  That is a full collection forced at
**        point N, so a value C code left unanchored is freed before it is
**        read: the run must succeed with the same results (ASan reports the
**        use after free, if any).
**
** Each run (a child process) must not crash or hang (30 s alarm), and
** lurl_close must free everything: under ASan, LeakSanitizer checks the
** child at its exit, so a leak is attributed to its N.  Each distinct
** sanitizer finding is printed in full once, then counted.
**
** Usage: test_oom [--mode oom|gc|both] [--stride K] [--from N] [--to N]
**                 [--verbose]
** Exit status 0 when every run behaved; the last line sums it up.
*/
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>
#include "lurl.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#else
#define HAVE_LSAN 0
#endif

#ifndef OOM_SERVER
#define OOM_SERVER "spec/c/oom_server.py"
#endif

extern char **environ;

static const char SCRIPT[] =
  "local http = require 'http'\n"
  "local B = BASE\n"
  "-- a GET with headers (numbers converted by lurl) and params\n"
  "local r = assert(http.get(B .. '/echo', {\n"
  "  params = { q = 'a b', n = 3, list = { 'x', 'y' } },\n"
  "  headers = { ['X-Num'] = 4242, ['X-Float'] = 2.25, ['X-Str'] = 'v', ['X-N2'] = 77 } }))\n"
  "local e = r:json()\n"
  "-- compared as numbers: a string constant '4242' here would keep lurl's\n"
  "-- converted copy alive (strings are interned) and hide a use after free\n"
  "assert(tonumber(e.headers['x-num']) == 4242 and tonumber(e.headers['x-float']) == 2.25\n"
  "  and tonumber(e.headers['x-n2']) == 77, 'headers sent: ' .. tostring(e.headers['x-num']))\n"
  "assert(e.query == 'list=x&list=y&n=3&q=a+b', 'query sent: ' .. e.query)\n"
  "-- POST json, POST form data\n"
  "r = assert(http.post(B .. '/echo', { json = { a = 1, list = { 'x', true } } }))\n"
  "assert(r:json().body:find('\"a\":1', 1, true), 'json body')\n"
  "r = assert(http.post(B .. '/echo', { data = { k = 'v w', z = 2 } }))\n"
  "assert(r:json().body == 'k=v+w&z=2', 'form body: ' .. r:json().body)\n"
  "-- a redirect\n"
  "r = assert(http.get(B .. '/redirect?to=/echo'))\n"
  "assert(r.status == 200 and #r.history == 1 and r.history[1].status == 302, 'redirect')\n"
  "-- a session keeping cookies; res.cookies, res.links, header_values\n"
  "local s = http.session()\n"
  "r = assert(s:get(B .. '/setcookie'))\n"
  "assert(r.cookies.sid == 's3cr3t' and r.links.next.url == 'http://127.0.0.1/p2', 'cookies, links')\n"
  "assert(#r:header_values('set-cookie') == 2, 'header_values')\n"
  "r = assert(s:get(B .. '/echo'))\n"
  "assert(r:json().headers.cookie:find('sid=s3cr3t', 1, true), 'jar cookie sent')\n"
  "-- a streamed response read in pieces; a multipart upload\n"
  "local st = assert(http.stream(B .. '/echo', { params = { pad = ('x'):rep(200) } }))\n"
  "local got = 0\n"
  "for c in st:chunks(64) do got = got + #c end\n"
  "assert(got > 200, 'streamed bytes: ' .. got)\n"
  "r = assert(http.post(B .. '/echo', { files = { f = { content = 'abc', filename = 'a.txt' } },\n"
  "                                     data = { k = 'v' } }))\n"
  "assert(r:json().body:find('filename=\"a.txt\"', 1, true), 'multipart')\n"
  "-- text in another charset (iconv: its descriptor must not leak when the text,\n"
  "-- over luaL_Buffer's first 1 KiB, cannot grow)\n"
  "local latin = require('http.core').to_utf8(('\\233'):rep(400), 'latin-1')\n"
  "assert(latin == ('\\195\\169'):rep(400), 'to_utf8')\n"
  "-- a task\n"
  "local t = http.spawn(function() return assert(http.get(B .. '/echo')).status end)\n"
  "assert(http.join({ t })[1] == 200, 'task')\n"
  "-- an HTTP error, a refused connection\n"
  "r = assert(http.get(B .. '/status?code=503'))\n"
  "local ok, err = pcall(r.raise_for_status, r)\n"
  "if ok or not tostring(err):find('503', 1, true) then error(err) end\n"
  "local res, cerr = http.get('http://127.0.0.1:' .. DEAD .. '/x')\n"
  "if res or cerr.kind ~= 'ConnectionError' then error(cerr or 'a dead port answered') end\n"
  "return 'done'\n";

/* ---------------------------------------------------------- server -- */

static pid_t server_pid;
static int server_stdin = -1;
static char base[64];
static int dead_fd = -1, dead_port;

static int start_server(void) {
  int in[2], out[2];
  if (pipe(in) || pipe(out)) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, in[1]);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  char *argv[] = {"/usr/bin/python3", OOM_SERVER, NULL};
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
  int port;
  if (sscanf(line, "PORT %d", &port) != 1) return -1;
  snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
  /* a bound socket that never listens: connecting to it is refused, and
  ** no other process can take the port meanwhile */
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof sa;
  dead_fd = socket(AF_INET, SOCK_STREAM, 0);
  if (dead_fd < 0 || bind(dead_fd, (struct sockaddr *)&sa, sl) != 0 ||
      getsockname(dead_fd, (struct sockaddr *)&sa, &sl) != 0)
    return -1;
  dead_port = ntohs(sa.sin_port);
  return 0;
}

static void stop_server(void) {
  if (server_stdin >= 0) close(server_stdin);
  kill(server_pid, SIGTERM);
  waitpid(server_pid, NULL, 0);
  if (dead_fd >= 0) close(dead_fd);
}

/* ------------------------------------------------------- allocator -- */

enum { MODE_NONE, MODE_OOM, MODE_GC };

typedef struct faulty {
  lua_Alloc f;           /* the state's own allocator */
  void *ud;
  unsigned long count;   /* allocation points passed (growing requests) */
  unsigned long fail_at; /* 0: none */
  int mode;
  int failing;           /* MODE_OOM: everything fails from fail_at on */
  int injected;          /* the fault was injected in this run */
} faulty;

/* An allocation point is a request that grows (or creates) a block;
** frees and shrinks always succeed, as with any real allocator. */
static void *faulty_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  faulty *a = (faulty *)ud;
  if (nsize > (ptr ? osize : 0)) {
    a->count++;
    if (a->failing || (a->fail_at && a->count == a->fail_at)) {
      a->injected = 1;
      if (a->mode == MODE_OOM) a->failing = 1;
      return NULL;
    }
  }
  return a->f(a->ud, ptr, osize, nsize);
}

/* --------------------------------------------------------------- run -- */

typedef struct outcome {
  int status;            /* lurl_dostring's; -1: did not end with 'done' */
  char msg[512];
  unsigned long count;
  int injected;
  int exited;            /* the child's exit status (-signal when killed) */
} outcome;

static void on_alarm(int sig) {
  (void)sig;
  static const char m[] = "test_oom: a run hung (30 s)\n";
  if (write(2, m, sizeof m - 1) < 0) _exit(3);
  _exit(3);
}

/* The script in a fresh state with the fault at point n. */
static void run_script(int mode, unsigned long n, outcome *o) {
  lua_State *L = lurl_newstate(NULL);
  if (!L) {
    fprintf(stderr, "test_oom: lurl_newstate failed\n");
    exit(2);
  }
  lua_pushstring(L, base);
  lua_setglobal(L, "BASE");
  lua_pushinteger(L, dead_port);
  lua_setglobal(L, "DEAD");
  faulty a = {0};
  a.f = lua_getallocf(L, &a.ud);
  a.fail_at = n;
  a.mode = mode;
  lua_setallocf(L, faulty_alloc, &a);
  o->status = lurl_dostring(L, SCRIPT, "=oom_script");
  a.failing = 0, a.fail_at = 0;
  const char *m = lurl_errmsg(L);
  snprintf(o->msg, sizeof o->msg, "%s", m ? m : "");
  if (o->status == LUA_OK && lurl_pushresults(L) == 1 &&
      strcmp(lua_tostring(L, -1) ? lua_tostring(L, -1) : "", "done") != 0) {
    o->status = -1;
    snprintf(o->msg, sizeof o->msg, "returned something else than 'done'");
  }
  o->count = a.count;
  o->injected = a.injected;
  lua_setallocf(L, a.f, a.ud); /* lurl_close recognises its own allocator */
  lurl_close(L);
}

/*
** Each run is a child process: a crash or a sanitizer report is tied to
** its N, the sweep goes on, and LeakSanitizer (at the child's exit) reports
** only what that run leaked.  The child's stderr goes to *report (a
** temporary file, read back by the caller).
*/
static void run_once(int mode, unsigned long n, outcome *o, FILE **report) {
  memset(o, 0, sizeof *o);
  int fds[2];
  FILE *err = tmpfile();
  if (!err || pipe(fds) != 0) {
    fprintf(stderr, "test_oom: pipe/tmpfile failed\n");
    exit(2);
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    dup2(fileno(err), 2);
    signal(SIGALRM, on_alarm);
    alarm(30);
    run_script(mode, n, o);
    alarm(0);
    if (write(fds[1], o, sizeof *o) != (ssize_t)sizeof *o) _exit(4);
    close(fds[1]);
    exit(0); /* not _exit: LeakSanitizer checks at exit */
  }
  close(fds[1]);
  outcome got;
  ssize_t r = read(fds[0], &got, sizeof got);
  close(fds[0]);
  int ws = 0;
  waitpid(pid, &ws, 0);
  if (r == (ssize_t)sizeof got) *o = got;
  else o->status = -2, snprintf(o->msg, sizeof o->msg, "the run died before it ended");
  o->exited = WIFEXITED(ws) ? WEXITSTATUS(ws) : -WTERMSIG(ws);
  rewind(err);
  *report = err;
}

/* A failure caused by the fault says so: Lua's "not enough memory" (in
** any wrapping: an error object's message, a traceback). */
static int memory_error(const char *msg) {
  return strstr(msg, "not enough memory") != NULL || strstr(msg, "ut of memory") != NULL;
}

static const char *first_line(const char *s, char *buf, size_t n) {
  size_t k = strcspn(s, "\n");
  if (k >= n) k = n - 1;
  memcpy(buf, s, k);
  buf[k] = '\0';
  return buf;
}

/* Distinct sanitizer findings (the kind line plus the first frame in lurl's
** own code, else the first frame past the allocator): each is printed in
** full once, then counted. */
#define MAX_SIGS 64
static char sigs[MAX_SIGS][256];
static unsigned long sig_hits[MAX_SIGS], sig_first[MAX_SIGS];
static const char *sig_mode[MAX_SIGS];
static int nsigs;

static int add_sig(const char *sig, const char *mode, unsigned long n) {
  for (int i = 0; i < nsigs; i++)
    if (strcmp(sigs[i], sig) == 0) return sig_hits[i]++, 0;
  if (nsigs == MAX_SIGS) return 0;
  snprintf(sigs[nsigs], sizeof sigs[0], "%.250s", sig);
  sig_hits[nsigs] = 1, sig_first[nsigs] = n, sig_mode[nsigs] = mode;
  nsigs++;
  return 1;
}

static void trim(char *s) {
  size_t k = strlen(s);
  while (k && (s[k - 1] == '\n' || s[k - 1] == ' ')) s[--k] = '\0';
}

/* Reads a child's stderr; returns how many findings were new (their
** report is printed). */
static int scan_report(FILE *f, const char *mode, unsigned long n) {
  char line[1024], kind[256] = "", sig[512];
  int want_frame = 0, fresh = 0, any = 0;
  while (fgets(line, sizeof line, f)) {
    trim(line);
    const char *k = strstr(line, "ERROR: ");
    if (k || strstr(line, "leak of ") || strstr(line, "runtime error:")) {
      snprintf(kind, sizeof kind, "%.200s", k ? k + 7 : line);
      char *paren = strstr(kind, " on address");
      if (paren) *paren = '\0';
      if (strstr(kind, "leak of ")) { /* "Direct leak of 256 byte(s) in 1 ..." */
        char *of = strstr(kind, " of ");
        *of = '\0';
      }
      want_frame = 1;
      continue;
    }
    if (!want_frame || !strstr(line, "    #")) continue;
    const char *in = strstr(line, " in ");
    int ours = strstr(line, "/runtime/") != NULL;
    int alloc = strstr(line, "interceptor") || strstr(line, "#0 ");
    if (ours || (!alloc && !strstr(line, "liblua"))) {
      snprintf(sig, sizeof sig, "%.200s at %.200s", kind, in ? in + 4 : line);
      want_frame = 0;
      any = 1;
      fresh += add_sig(sig, mode, n);
    }
  }
  if (fresh) {
    rewind(f);
    while (fgets(line, sizeof line, f)) fputs(line, stderr);
  }
  return any;
}

typedef struct tally {
  unsigned long runs, ok, nomem, bad, san, gc_nomem;
} tally;

static void sweep(int mode, unsigned long from, unsigned long to, unsigned long stride,
                  int verbose, tally *t) {
  const char *name = mode == MODE_OOM ? "oom" : "gc";
  for (unsigned long n = from; n <= to; n += stride) {
    outcome o;
    FILE *report;
    run_once(mode, n, &o, &report);
    if (o.exited == 0 && !o.injected) { /* the script ended before point n */
      fclose(report);
      break;
    }
    t->runs++;
    char line[200];
    int bad = 0;
    if (o.status == LUA_OK) t->ok++;
    else if (memory_error(o.msg)) {
      /* gc mode: Lua could not collect there (an allocation made while it
      ** collects): one failed allocation is then a memory error */
      if (mode == MODE_GC) t->gc_nomem++;
      else t->nomem++;
    } else bad = 1;
    if (bad) {
      t->bad++;
      fprintf(stderr, "FAIL %s N=%lu: status %d: %s\n", name, n, o.status,
              first_line(o.msg, line, sizeof line));
      if (verbose) fprintf(stderr, "%s\n", o.msg);
    } else if (verbose) {
      fprintf(stderr, "%s N=%lu: %s\n", name, n,
              o.status == LUA_OK ? "ok" : first_line(o.msg, line, sizeof line));
    }
    if (o.exited != 0) {
      t->san++;
      if (!scan_report(report, name, n))
        fprintf(stderr, "FAIL %s N=%lu: the run exited with status %d\n", name, n, o.exited);
    }
    fclose(report);
  }
}

/* Keeps lua-cjson loaded for good, so that a leak report made at a child's
** exit (after lua_close unloaded it) can still name its frames. */
static void pin_cjson(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  if (luaL_dostring(L, "return package.searchpath('cjson', package.cpath)") == LUA_OK &&
      lua_isstring(L, -1))
    dlopen(lua_tostring(L, -1), RTLD_NOW | RTLD_NODELETE);
  lua_close(L);
}

int main(int argc, char **argv) {
  int verbose = 0;
  int want_oom = 1, want_gc = 1;
  unsigned long stride = 1, from = 1, to = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--verbose") == 0) { verbose = 1; continue; }
    if (!v) goto usage;
    i++;
    if (strcmp(a, "--mode") == 0) {
      want_oom = strcmp(v, "oom") == 0 || strcmp(v, "both") == 0;
      want_gc = strcmp(v, "gc") == 0 || strcmp(v, "both") == 0;
      if (!want_oom && !want_gc) goto usage;
    } else if (strcmp(a, "--stride") == 0) stride = strtoul(v, NULL, 10);
    else if (strcmp(a, "--from") == 0) from = strtoul(v, NULL, 10);
    else if (strcmp(a, "--to") == 0) to = strtoul(v, NULL, 10);
    else goto usage;
  }
  if (stride == 0 || from == 0) goto usage;
  pin_cjson();
  if (start_server() != 0) {
    fprintf(stderr, "test_oom: cannot start %s\n", OOM_SERVER);
    return 2;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  outcome o;
  FILE *report;
  run_once(MODE_NONE, 0, &o, &report);
  int clean = o.status == LUA_OK && o.exited == 0;
  if (!clean) scan_report(report, "none", 0);
  fclose(report);
  if (!clean) {
    fprintf(stderr, "test_oom: the script fails without faults: %s\n", o.msg);
    stop_server();
    return 1;
  }
  unsigned long total = o.count;
  if (!to || to > total) to = total;
  printf("test_oom: %lu allocation points; N = %lu..%lu step %lu%s\n", total, from, to,
         stride, HAVE_LSAN ? "; LeakSanitizer after each run" : "");
  fflush(stdout);
  tally oom = {0}, gc = {0};
  if (want_oom) sweep(MODE_OOM, from, to, stride, verbose, &oom);
  if (want_gc) sweep(MODE_GC, from, to, stride, verbose, &gc);
  stop_server();
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  if (want_oom)
    printf("oom: %lu runs: %lu completed, %lu clean memory errors, %lu bad, "
           "%lu with a sanitizer report\n", oom.runs, oom.ok, oom.nomem, oom.bad, oom.san);
  if (want_gc)
    printf("gc: %lu runs: %lu completed, %lu memory errors (no collection possible), "
           "%lu bad, %lu with a sanitizer report\n", gc.runs, gc.ok, gc.gc_nomem, gc.bad, gc.san);
  for (int i = 0; i < nsigs; i++)
    printf("finding: %s (%s mode, first at N=%lu, %lu runs)\n", sigs[i], sig_mode[i],
           sig_first[i], sig_hits[i]);
  unsigned long bad = oom.bad + oom.san + gc.bad + gc.san;
  printf("test_oom: %lu runs in %.1f s, %lu failures\n", oom.runs + gc.runs, secs, bad);
  return bad ? 1 : 0;
usage:
  fprintf(stderr, "usage: test_oom [--mode oom|gc|both] [--stride K] [--from N] [--to N] "
                  "[--verbose]\n");
  return 2;
}
