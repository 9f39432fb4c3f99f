/*
** jsonnum.c -- core.json_decode: res:json()'s decode, lua-cjson's result
** with the numbers that are integral as Lua integers.
**
** lua-cjson 2.1.0 (Debian's) decodes every JSON number as a float, so an id
** would print as 42.0 and build URLs like "/items/42.0".  Two ways here,
** one result: the direct decoder (below) reads the JSON most servers send
** straight into Lua values, integers included; whatever it does not take
** on (and every error) goes to cjson's decode, whose result the walk then
** rewrites.  Issue 16 asked for res:json() at most 1.3x cjson's own decode
** of a small body: cjson and the walk cost 1.2x (the walk is a lua_next per
** value), the direct decoder about 0.95x (no walk, and a string without
** escapes is made from the body's bytes, not copied through a buffer).
** The walk in Lua (pairs, math.type, math.tointeger per value) cost about
** as much as cjson's whole decode.
*/
#include <stddef.h>
#include <string.h>

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

/* The direct decoder: what lua-cjson reads, for the JSON most servers
** send, straight to Lua values with integral numbers as integers (no walk,
** no copy of a string without escapes).  It makes the same tables with the
** same calls in the same order as cjson (lua_newtable, then lua_rawset per
** member or lua_rawseti per element, key then value), so a table's layout
** and pairs order are cjson's.  Whatever it does not take on it leaves to
** cjson and the walk, which then decode the whole text: a string with a
** control byte, an escape other than \" \\ \/ \b \f \n \r \t or \uXXXX (a
** lone or reversed surrogate), a number outside JSON's grammar (cjson
** reads hex, inf and nan too), nesting deeper than cjson's decode_max_depth
** or JSON_MAX_DEPTH, bytes after the value (cjson stops at a NUL), any
** error.  So its result is cjson's with the walk's integers, and every
** error is cjson's own.  Numbers: up to 15 digits and no fraction or
** exponent, the integer (exact as a double too); else the double strtod
** makes of the token (lua_stringtonumber, with Lua's locale handling as
** cjson's fpconv), an integer when integral as in the walk.  */
typedef struct jtext {
  lua_State *L;
  const char *p, *e;
  int depth, maxdepth;
} jtext;

static int jvalue(jtext *J);

static void jws(jtext *J) {
  while (J->p < J->e && (*J->p == ' ' || *J->p == '\n' || *J->p == '\r' || *J->p == '\t'))
    J->p++;
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  int k;
  for (k = 0; k < 4; k++) {
    char c = p[k];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return 0;
  }
  *out = v;
  return 1;
}

/* A string with escapes, from s (after the quote): built in a buffer. */
static int jescaped(jtext *J, const char *s) {
  luaL_Buffer b;
  const char *p = s, *e = J->e;
  luaL_buffinit(J->L, &b);
  for (;;) {
    const char *q = p;
    char c;
    while (q < e && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
      q++;
    luaL_addlstring(&b, p, (size_t)(q - p));
    if (q >= e || (unsigned char)*q < 0x20)
      return 0;
    if (*q == '"') {
      J->p = q + 1;
      luaL_pushresult(&b);
      return 1;
    }
    if (q + 1 >= e)
      return 0;
    switch (c = q[1]) {
    case '"': case '\\': case '/': luaL_addchar(&b, c); break;
    case 'b': luaL_addchar(&b, '\b'); break;
    case 'f': luaL_addchar(&b, '\f'); break;
    case 'n': luaL_addchar(&b, '\n'); break;
    case 'r': luaL_addchar(&b, '\r'); break;
    case 't': luaL_addchar(&b, '\t'); break;
    case 'u': { /* a UTF-16 surrogate pair makes one code point, as in cjson */
      unsigned u, lo;
      if (e - q < 6 || !hex4(q + 2, &u))
        return 0;
      if ((u & 0xF800) == 0xD800) {
        if ((u & 0x400) || e - q < 12 || q[6] != '\\' || q[7] != 'u' || !hex4(q + 8, &lo) ||
            (lo & 0xFC00) != 0xDC00)
          return 0;
        u = (((u & 0x3FF) << 10) | (lo & 0x3FF)) + 0x10000;
        q += 6;
      }
      if (u < 0x80)
        luaL_addchar(&b, (char)u);
      else if (u < 0x800) {
        luaL_addchar(&b, (char)(0xC0 | (u >> 6)));
        luaL_addchar(&b, (char)(0x80 | (u & 0x3F)));
      } else if (u < 0x10000) {
        luaL_addchar(&b, (char)(0xE0 | (u >> 12)));
        luaL_addchar(&b, (char)(0x80 | ((u >> 6) & 0x3F)));
        luaL_addchar(&b, (char)(0x80 | (u & 0x3F)));
      } else {
        luaL_addchar(&b, (char)(0xF0 | (u >> 18)));
        luaL_addchar(&b, (char)(0x80 | ((u >> 12) & 0x3F)));
        luaL_addchar(&b, (char)(0x80 | ((u >> 6) & 0x3F)));
        luaL_addchar(&b, (char)(0x80 | (u & 0x3F)));
      }
      q += 4;
      break;
    }
    default:
      return 0;
    }
    p = q + 2;
  }
}

/* The string at J->p (its quote), pushed. */
static int jstring(jtext *J) {
  const char *s = J->p + 1, *q = s, *e = J->e;
  while (q < e && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
    q++;
  if (q < e && *q == '"') {
    lua_pushlstring(J->L, s, (size_t)(q - s));
    J->p = q + 1;
    return 1;
  }
  if (q < e && *q == '\\')
    return jescaped(J, s);
  return 0;
}

static int digit(char c) { return c >= '0' && c <= '9'; }

/* The number at J->p, pushed. */
static int jnumber(jtext *J) {
  const char *p = J->p, *e = J->e, *d0;
  int neg = 0, isint = 1;
  unsigned long long v = 0;
  char buf[64];
  lua_Number d;
  lua_Integer i;
  if (*p == '-')
    neg = 1, p++;
  d0 = p;
  if (p < e && *p == '0')
    p++;
  else
    while (p < e && digit(*p))
      v = v * 10 + (unsigned)(*p++ - '0');
  if (p == d0)
    return 0;
  if (p - d0 <= 15 && (p >= e || (*p != '.' && *p != 'e' && *p != 'E'))) {
    J->p = p;
    lua_pushinteger(J->L, neg ? -(lua_Integer)v : (lua_Integer)v);
    return 1;
  }
  if (p < e && *p == '.') {
    const char *f = ++p;
    while (p < e && digit(*p))
      p++;
    if (p == f)
      return 0;
    isint = 0;
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    const char *x;
    p++;
    if (p < e && (*p == '+' || *p == '-'))
      p++;
    x = p;
    while (p < e && digit(*p))
      p++;
    if (p == x)
      return 0;
    isint = 0;
  }
  (void)isint;
  if (p - J->p >= (ptrdiff_t)sizeof buf)
    return 0;
  memcpy(buf, J->p, (size_t)(p - J->p));
  buf[p - J->p] = '\0';
  if (!lua_stringtonumber(J->L, buf))
    return 0;
  d = lua_tonumber(J->L, -1); /* an integer token of 16+ digits: as strtod rounds it */
  lua_pop(J->L, 1);
  if (integral(d, &i))
    lua_pushinteger(J->L, i);
  else
    lua_pushnumber(J->L, d);
  J->p = p;
  return 1;
}

/* An object or an array at J->p, pushed. */
static int jcontainer(jtext *J) {
  lua_State *L = J->L;
  int obj = *J->p == '{';
  char close = obj ? '}' : ']';
  lua_Integer k = 1;
  if (++J->depth > JSON_MAX_DEPTH || !lua_checkstack(L, 4))
    return 0;
  if (J->depth > J->maxdepth)
    J->maxdepth = J->depth;
  lua_newtable(L);
  J->p++;
  jws(J);
  if (J->p < J->e && *J->p == close) {
    J->p++;
    J->depth--;
    return 1;
  }
  for (;;) {
    if (obj) {
      if (J->p >= J->e || *J->p != '"' || !jstring(J))
        return 0;
      jws(J);
      if (J->p >= J->e || *J->p != ':')
        return 0;
      J->p++;
      jws(J);
    }
    if (!jvalue(J))
      return 0;
    if (obj)
      lua_rawset(L, -3);
    else
      lua_rawseti(L, -2, k++);
    jws(J);
    if (J->p >= J->e)
      return 0;
    if (*J->p == close) {
      J->p++;
      J->depth--;
      return 1;
    }
    if (*J->p != ',')
      return 0;
    J->p++;
    jws(J);
  }
}

/* The value at J->p (no whitespace before it), pushed. */
static int jvalue(jtext *J) {
  const char *p = J->p;
  size_t n = (size_t)(J->e - p);
  if (n == 0)
    return 0;
  switch (*p) {
  case '"': return jstring(J);
  case '{': case '[': return jcontainer(J);
  case 't':
    if (n < 4 || memcmp(p, "true", 4))
      return 0;
    lua_pushboolean(J->L, 1);
    J->p += 4;
    return 1;
  case 'f':
    if (n < 5 || memcmp(p, "false", 5))
      return 0;
    lua_pushboolean(J->L, 0);
    J->p += 5;
    return 1;
  case 'n':
    if (n < 4 || memcmp(p, "null", 4))
      return 0;
    lua_pushlightuserdata(J->L, NULL); /* cjson.null */
    J->p += 4;
    return 1;
  default:
    if (*p == '-' || digit(*p))
      return jnumber(J);
    return 0;
  }
}

/* json_direct(text, decode_max_depth) -> v, or nil when it leaves the
** text to cjson.  Called protected (a memory error leaves it to cjson
** too). */
static int json_direct(lua_State *L) {
  size_t n;
  const char *s = lua_tolstring(L, 1, &n);
  jtext J;
  J.L = L;
  J.p = s;
  J.e = s + n;
  J.depth = J.maxdepth = 0;
  jws(&J);
  if (!jvalue(&J))
    return 0;
  jws(&J);
  if (J.p != J.e)
    return 0;
  if (J.maxdepth > 1) { /* cjson's limit, which a script may have lowered */
    lua_pushvalue(L, 2);
    lua_call(L, 0, 1);
    if (J.maxdepth > lua_tointeger(L, -1))
      return 0;
    lua_pop(L, 1);
  }
  return 1;
}

/* The first bytes of a body that is not plain UTF-8 without a BOM, as
** res:json() tells (a NUL among the first two bytes, or a BOM's lead
** byte): such a body is converted in Lua first. */
static int not_plain(const unsigned char *s, size_t n) {
  return (n > 0 && (s[0] == 0 || s[0] >= 0xEF)) || (n > 1 && s[1] == 0);
}

/* core.json_decode(mts, r, decode, max_depth [, text]) -> true, v |
** false, err, text | nil, true | nothing: res:json() but its errors.
** Returns nothing when r is not a response (mts[getmetatable(r)] is not
** true).  Decodes text, or else r's body when r holds it (rawget: a
** streamed response's body is read by the caller) and it is plain UTF-8
** without a BOM; otherwise returns nil, true (the caller converts the body
** and calls again with text).  decode and max_depth are lua-cjson's
** decode and decode_max_depth.  The direct decoder first; when it leaves
** the text to cjson, decode is called protected: false, its error and the
** text when it fails; else true and its result with every integral float
** an integer (a table is changed in place).  The metatable test is here,
** not in Lua, because getmetatable from Lua costs as much as the rest of
** this call. */
static int core_json_decode(lua_State *L) {
  size_t n;
  const char *s;
  lua_Integer i;
  lua_settop(L, 5);
  if (!lua_getmetatable(L, 2))
    return 0;
  if (lua_rawget(L, 1) != LUA_TBOOLEAN || !lua_toboolean(L, -1))
    return 0;
  if (lua_isnil(L, 5)) {
    lua_pushliteral(L, "body");
    if (lua_rawget(L, 2) != LUA_TSTRING)
      goto convert;
    s = lua_tolstring(L, -1, &n);
    if (not_plain((const unsigned char *)s, n))
      goto convert;
    lua_replace(L, 5);
  } else
    luaL_checktype(L, 5, LUA_TSTRING);
  lua_settop(L, 5);
  lua_pushcfunction(L, json_direct);
  lua_pushvalue(L, 5);
  lua_pushvalue(L, 4);
  if (lua_pcall(L, 2, 1, 0) == LUA_OK && !lua_isnil(L, -1)) {
    lua_pushboolean(L, 1);
    lua_insert(L, -2);
    return 2;
  }
  lua_settop(L, 5);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 5);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    lua_pushvalue(L, 5);
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
