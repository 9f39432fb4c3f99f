/*
** poll_host.c -- a host with its own poll() loop that runs a Lua script
** through lurl without ever blocking inside lurl.
**
** The script fetches a URL several times at once (http.spawn + http.join).
** Meanwhile the host keeps its own business going: a timer that ticks
** every 50 ms and reports how many of lurl's sockets are open at that
** moment, which shows the host running while requests are in flight.
**
** Build: cc poll_host.c $(pkg-config --cflags --libs lurl) -o poll_host
** Run:   ./poll_host http://127.0.0.1:8080/delay/1 3
*/
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lurl.h>

#define MAX_FDS 64
#define TICK_MS 50

static const char *const script =
  "local http = require 'http'\n"
  "local url, n = ...\n"
  "local sep = url:find('?', 1, true) and '&' or '?'\n"
  "local tasks = {}\n"
  "for i = 1, n do\n"
  "  tasks[i] = http.spawn(function()\n"
  "    local r = assert(http.get(url .. sep .. 'n=' .. i))\n"
  "    return r.status\n"
  "  end)\n"
  "end\n"
  "return table.concat(http.join(tasks), ',')\n";

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s URL [N]\n", argv[0]);
    return 2;
  }
  lua_State *L = lurl_newstate(NULL);
  if (L == NULL) {
    fprintf(stderr, "poll_host: cannot create a Lua state\n");
    return 1;
  }
  /* The script gets the URL and the count as `...`. */
  if (luaL_loadbuffer(L, script, strlen(script), "=poll_host") != LUA_OK) {
    fprintf(stderr, "poll_host: %s\n", lua_tostring(L, -1));
    lurl_close(L);
    return 1;
  }
  lua_pushstring(L, argv[1]);
  lua_pushinteger(L, argc > 2 ? atoi(argv[2]) : 3);
  int status = lurl_start(L, 2); /* runs until the first request waits */

  long long next_tick = now_ms() + TICK_MS;
  int ticks = 0;
  while (status == LURL_RUNNING) {
    struct pollfd fds[MAX_FDS];
    int n = lurl_pollfds(L, fds, MAX_FDS);
    if (n > MAX_FDS) n = MAX_FDS;
    /* Sleep until lurl needs us or our own timer is due, whichever first. */
    long wait = lurl_timeout(L);
    long long until_tick = next_tick - now_ms();
    if (until_tick < 0) until_tick = 0;
    if (wait < 0 || wait > until_tick) wait = (long)until_tick;
    poll(fds, (nfds_t)n, (int)wait);
    if (now_ms() >= next_tick) { /* the host's own work */
      ticks++;
      printf("tick %d: %d lurl sockets open\n", ticks, lurl_pollfds(L, NULL, 0));
      fflush(stdout);
      next_tick += TICK_MS;
    }
    status = lurl_step(L); /* never blocks */
  }

  if (status == LUA_OK && lurl_pushresults(L) == 1) {
    printf("statuses: %s\nticks: %d\n", lua_tostring(L, -1), ticks);
    lua_pop(L, 1);
  } else if (status != LUA_OK) {
    fprintf(stderr, "poll_host: %s\n", lurl_errmsg(L));
  }
  lurl_close(L);
  return status == LUA_OK ? 0 : 1;
}
