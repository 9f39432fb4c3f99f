/*
** spec/fuzz/fuzz_lua.h -- the setup the fuzz targets with a Lua half share
** (fuzz_response, fuzz_html, fuzz_json): a Lua state with the standard
** libraries and lurl's, and the target's check function compiled once and
** kept in the registry.  A check that does not compile is the harness's
** own bug: it aborts naming the target.
*/
#ifndef LURL_FUZZ_LUA_H
#define LURL_FUZZ_LUA_H

#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lurl.h"

/* Opens *L and returns the registry reference of the function `check`
** (a chunk returning it) evaluates to. */
static inline int fuzz_lua_open(lua_State **L, const char *target, const char *check) {
  *L = luaL_newstate();
  luaL_openlibs(*L);
  lurl_openlibs(*L);
  if (luaL_dostring(*L, check) != LUA_OK) {
    fprintf(stderr, "%s: %s\n", target, lua_tostring(*L, -1));
    abort();
  }
  return luaL_ref(*L, LUA_REGISTRYINDEX);
}

#endif
