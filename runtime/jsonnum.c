/*
** jsonnum.c -- core.json_integers: the numbers of a decoded JSON value that
** are integral become Lua integers.
**
** lua-cjson 2.1.0 (Debian's) decodes every JSON number as a float, so an id
** would print as 42.0 and build URLs like "/items/42.0".  res:json() passes
** cjson's result through this walk.  It is C because the same walk in Lua
** (pairs, math.type, math.tointeger per value) cost about as much as
** cjson's whole decode of a small body; here it is a few instructions a
** value.
*/
#include <lauxlib.h>

#include "jsonnum.h"

/* cjson's own default nesting limit (decode_max_depth).  A script may raise
** cjson's; values nested deeper than this stay floats rather than costing
** C stack without bound. */
#define JSON_MAX_DEPTH 1000

/* The integer equal to float n, if there is one (in range, the cast
** truncates; the value is integral when it converts back unchanged). */
static int integral(lua_Number n, lua_Integer *out) {
  return lua_numbertointeger(n, out) && (lua_Number)*out == n;
}

/* Rewrites the table on top of the stack in place (fields are replaced,
** never added, so lua_next's traversal stays valid). */
static void walk(lua_State *L, int depth) {
  luaL_checkstack(L, 4, "JSON value too deep");
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    int t = lua_type(L, -1);
    lua_Integer i;
    if (t == LUA_TNUMBER) {
      if (!lua_isinteger(L, -1) && integral(lua_tonumber(L, -1), &i)) {
        lua_pushvalue(L, -2);
        lua_pushinteger(L, i);
        lua_rawset(L, -5);
      }
    } else if (t == LUA_TTABLE && depth < JSON_MAX_DEPTH) {
      walk(L, depth + 1);
    }
    lua_pop(L, 1);
  }
}

/* core.json_integers(v) -> v, with every integral float an integer (a
** table is changed in place). */
static int core_json_integers(lua_State *L) {
  lua_Integer i;
  lua_settop(L, 1);
  if (lua_type(L, 1) == LUA_TTABLE)
    walk(L, 1);
  else if (lua_type(L, 1) == LUA_TNUMBER && !lua_isinteger(L, 1) &&
           integral(lua_tonumber(L, 1), &i))
    lua_pushinteger(L, i);
  return 1;
}

/* core.json_integers. */
void lurl_jsonnum_open(lua_State *L) {
  lua_pushcfunction(L, core_json_integers);
  lua_setfield(L, -2, "json_integers");
}
