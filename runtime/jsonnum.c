/*
** jsonnum.c -- core.json_decode: res:json()'s decode, lua-cjson's decode
** with the numbers that are integral made Lua integers.
**
** lua-cjson 2.1.0 (Debian's) decodes every JSON number as a float, so an id
** would print as 42.0 and build URLs like "/items/42.0".  res:json() passes
** cjson's result through the walk below.  It is C because the same walk in
** Lua (pairs, math.type, math.tointeger per value) cost about as much as
** cjson's whole decode of a small body; here it is a few instructions a
** value.  The call of cjson's decode is made here too (protected), so
** res:json() is one call from Lua instead of a pcall, a wrapper and the
** walk (issue 16: res:json() at most 1.3x cjson's own decode).
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

static void walk(lua_State *L, int depth);

/* The value on top of the stack, a field of the table below it: an integral
** float is made an integer (*out set, 1 returned), a table is walked. */
static int fix(lua_State *L, int t, int depth, lua_Integer *out) {
  if (t == LUA_TNUMBER)
    return !lua_isinteger(L, -1) && integral(lua_tonumber(L, -1), out);
  if (t == LUA_TTABLE && depth < JSON_MAX_DEPTH)
    walk(L, depth + 1);
  return 0;
}

/* Rewrites the table on top of the stack in place (fields are replaced,
** never added, so lua_next's traversal stays valid).
** Invariant (lua-cjson's tables): a JSON array is a table holding exactly
** the keys 1..n (a JSON null is cjson.null, never a hole), a JSON object
** one holding only string keys.  So the first key lua_next gives tells
** which: an array is then read by index (cheaper than lua_next), an object
** by lua_next.  Each level holds at most two stack slots (a key and its
** table), and two more are pushed to set a field: the stack is grown
** every 16 levels. */
static void walk(lua_State *L, int depth) {
  lua_Integer i;
  if ((depth & 15) == 1)
    luaL_checkstack(L, 2 * 16 + 4, "JSON value too deep");
  lua_pushnil(L);
  if (!lua_next(L, -2))
    return;
  if (lua_type(L, -2) != LUA_TSTRING) {
    lua_Integer k, n = (lua_Integer)lua_rawlen(L, -3);
    lua_pop(L, 2);
    for (k = 1; k <= n; k++) {
      if (fix(L, lua_rawgeti(L, -1, k), depth, &i)) {
        lua_pushinteger(L, i);
        lua_rawseti(L, -3, k);
      }
      lua_pop(L, 1);
    }
    return;
  }
  do {
    if (fix(L, lua_type(L, -1), depth, &i)) {
      lua_pushvalue(L, -2);
      lua_pushinteger(L, i);
      lua_rawset(L, -5);
    }
    lua_pop(L, 1);
  } while (lua_next(L, -2));
}

/* The first bytes of a body that is not plain UTF-8 without a BOM, as
** res:json() tells (a NUL among the first two bytes, or a BOM's lead
** byte): such a body is converted in Lua first. */
static int not_plain(const unsigned char *s, size_t n) {
  return (n > 0 && (s[0] == 0 || s[0] >= 0xEF)) || (n > 1 && s[1] == 0);
}

/* core.json_decode(mts, r, decode [, text]) -> true, v | false, err, text
** | nil, true | nothing: res:json() but its errors.  Returns nothing when
** r is not a response (mts[getmetatable(r)] is not true).  Decodes text,
** or else r's body when r holds it (rawget: a streamed response's body is
** read by the caller) and it is plain UTF-8 without a BOM; otherwise
** returns nil, true (the caller converts the body and calls again with
** text).  Calls decode (cjson.decode) protected: false, its error and the
** text when it fails; else true and its result with every integral float
** an integer (a table is changed in place).  The metatable test is here,
** not in Lua, because getmetatable from Lua costs as much as the rest of
** this call. */
static int core_json_decode(lua_State *L) {
  size_t n;
  const char *s;
  lua_Integer i;
  lua_settop(L, 4);
  if (!lua_getmetatable(L, 2))
    return 0;
  if (lua_rawget(L, 1) != LUA_TBOOLEAN || !lua_toboolean(L, -1))
    return 0;
  if (lua_isnoneornil(L, 4)) {
    lua_pushliteral(L, "body");
    if (lua_rawget(L, 2) != LUA_TSTRING)
      goto convert;
    s = lua_tolstring(L, -1, &n);
    if (not_plain((const unsigned char *)s, n))
      goto convert;
    lua_replace(L, 4);
  } else
    luaL_checktype(L, 4, LUA_TSTRING);
  lua_settop(L, 4);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    lua_pushvalue(L, 4);
    return 3;
  }
  lua_pushboolean(L, 1);
  lua_insert(L, -2);
  if (lua_type(L, -1) == LUA_TTABLE)
    walk(L, 1);
  else if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1) &&
           integral(lua_tonumber(L, -1), &i)) {
    lua_pop(L, 1);
    lua_pushinteger(L, i);
  }
  return 2;
convert:
  lua_pushnil(L);
  lua_pushboolean(L, 1);
  return 2;
}

/* core.json_decode. */
void lurl_jsonnum_open(lua_State *L) {
  lua_pushcfunction(L, core_json_decode);
  lua_setfield(L, -2, "json_decode");
}
