/*
** host.c -- the smallest useful lurl host: runs a Lua script that may use
** `http`, under limits, and reports like the lurl binary does.
**
**   usage: embed_host SCRIPT BASE_URL [TAG]
**
** The script gets BASE_URL and TAG as `...`; the host allows requests to
** BASE_URL's host only, caps the script's memory at 64 MiB and its run
** time at 30 s, prints what the script returns, or its error.
**
** Built against the installed library, either way:
**   cc host.c $(pkg-config --cflags --libs lurl) -o embed_host
**   cmake -S . -B build && cmake --build build     (find_package(lurl))
*/
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lurl.h>

/* "http://127.0.0.1:8080/x" -> "127.0.0.1:8080": the one origin allowed. */
static void host_of_url(const char *url, char *out, size_t n) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  size_t len = strcspn(p, "/?#");
  if (len >= n) len = n - 1;
  memcpy(out, p, len);
  out[len] = '\0';
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s SCRIPT BASE_URL [TAG]\n", argv[0]);
    return 2;
  }
  char allowed[256];
  host_of_url(argv[2], allowed, sizeof allowed);

  lurl_limits limits = {0};
  limits.hosts = allowed;
  limits.max_memory = 64u << 20;
  limits.max_seconds = 30;
  /* a limited state refuses loopback and private addresses, whatever the
  ** name: this example's server is local, so allow loopback explicitly */
  limits.allow_loopback = 1;
  lua_State *L = lurl_newstate(&limits);
  if (L == NULL) {
    fprintf(stderr, "embed_host: cannot create a Lua state\n");
    return 1;
  }

  /* Load the script (source text only: the state is limited), pass it
  ** its arguments, and run it to the end. */
  int status = luaL_loadfilex(L, argv[1], "t");
  if (status == LUA_OK) {
    lua_pushstring(L, argv[2]);
    lua_pushstring(L, argc > 3 ? argv[3] : "embed");
    status = lurl_start(L, 2);
    if (status == LURL_RUNNING) status = lurl_run(L);
  } else {
    fprintf(stderr, "embed_host: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    lurl_close(L);
    return 1;
  }

  if (status == LUA_OK) {
    int n = lurl_pushresults(L); /* [-0, +n] */
    int first = lua_gettop(L) - n + 1;
    for (int i = 0; i < n; i++) {
      printf("%s\n", luaL_tolstring(L, first + i, NULL));
      lua_pop(L, 1);
    }
    lua_pop(L, n);
  } else {
    fprintf(stderr, "embed_host: %s\n", lurl_errmsg(L));
  }
  lurl_close(L);
  return status == LUA_OK ? 0 : 1;
}
