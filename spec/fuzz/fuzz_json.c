/*
** fuzz_json.c -- libFuzzer target: core.json_decode (runtime/jsonnum.c)
** held to lua-cjson on arbitrary bytes, a differential target.
**
** The input is a response body.  core.json_decode decodes it the way
** res:json() does: its direct decoder first, cjson's decode and the walk
** for whatever the direct decoder leaves (a body that res:json() would
** convert from UTF-16/32 first is passed as text, unconverted).  The
** reference is cjson.decode of the same bytes with the integer rule applied
** in Lua (every float that math.tointeger takes becomes that integer).  Both
** must give the same result: the same values, the same number subtypes, the
** same sign of zero, the same keys in the same pairs order (cjson's tables
** are built with the same calls in the same order), or both the same error.
** Each input is decoded twice: with cjson's default decode_max_depth (1000)
** and with an instance whose limit is 3, where the direct decoder must
** leave anything nested deeper to cjson (which refuses it).  Any
** difference aborts.
** Built by -DLURL_FUZZ=ON (see docs/testing.md).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lualib.h>

#include "fuzz_lua.h"
#include "lurl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* libFuzzer calls it */

static lua_State *L;
static int check_ref; /* the Lua half, compiled once */
static unsigned long runs;

static const char CHECK[] =
  "local core = require 'http.core'\n"
  "local cjson = require 'cjson'\n"
  "local shallow = cjson.new()\n"
  "shallow.decode_max_depth(3)\n"
  "local MT = {}\n"
  "local MTS = { [MT] = true }\n"
  "local tointeger, mtype = math.tointeger, math.type\n"
  /* the integer rule, in place, as the reference */
  "local function ints(v)\n"
  "  if type(v) == 'table' then\n"
  "    for k, x in pairs(v) do\n"
  "      if type(x) == 'table' then ints(x)\n"
  "      elseif mtype(x) == 'float' and tointeger(x) then v[k] = tointeger(x) end\n"
  "    end\n"
  "  elseif mtype(v) == 'float' then\n"
  "    return tointeger(v) or v\n"
  "  end\n"
  "  return v\n"
  "end\n"
  "local function show(x)\n"
  "  if type(x) == 'number' then return mtype(x) .. ' ' .. string.format('%a', x) end\n"
  "  if type(x) == 'string' then return string.format('%q', x) end\n"
  "  return tostring(x)\n"
  "end\n"
  "local same\n"
  "local function differ(a, b, path)\n"
  "  error(path .. ': got ' .. show(a) .. ', cjson gives ' .. show(b), 0)\n"
  "end\n"
  "function same(a, b, path)\n"
  "  if type(a) ~= type(b) then differ(a, b, path) end\n"
  "  if type(a) == 'number' then\n"
  "    if mtype(a) ~= mtype(b) then differ(a, b, path) end\n"
  "    if a ~= a then\n"
  "      if b == b then differ(a, b, path) end\n"
  "    elseif a ~= b or (a == 0 and 1 / a ~= 1 / b) then\n"
  "      differ(a, b, path)\n"
  "    end\n"
  "  elseif type(a) == 'table' then\n"
  "    local ka, va = next(a)\n"
  "    local kb, vb = next(b)\n"
  "    while ka ~= nil or kb ~= nil do\n"
  "      if ka ~= kb or mtype(ka) ~= mtype(kb) then\n"
  "        differ(ka, kb, path .. ' (keys in pairs order)')\n"
  "      end\n"
  "      same(va, vb, path .. '[' .. show(ka) .. ']')\n"
  "      ka, va = next(a, ka)\n"
  "      kb, vb = next(b, kb)\n"
  "    end\n"
  "  elseif a ~= b then\n"
  "    differ(a, b, path)\n"
  "  end\n"
  "end\n"
  "return function(body)\n"
  "  local r = setmetatable({ body = body }, MT)\n"
  "  for _, cj in ipairs({ cjson, shallow }) do\n"
  "    local ok, v, text = core.json_decode(MTS, r, cj.decode, cj.decode_max_depth)\n"
  "    if ok == nil then\n"
  "      assert(v == true, 'json_decode said the response is none')\n"
  "      ok, v, text = core.json_decode(MTS, r, cj.decode, cj.decode_max_depth, body)\n"
  "    end\n"
  "    local rok, rv = pcall(cj.decode, body)\n"
  "    local where = 'decode_max_depth ' .. cj.decode_max_depth()\n"
  "    if ok ~= rok then\n"
  "      error(where .. ': json_decode ' .. (ok and 'decoded ' .. show(v) or 'failed: ' .. tostring(v))\n"
  "            .. ', cjson ' .. (rok and 'decoded ' .. show(rv) or 'failed: ' .. tostring(rv)), 0)\n"
  "    end\n"
  "    if ok then\n"
  "      same(v, ints(rv), where .. ': value')\n"
  "    else\n"
  "      assert(v == rv, where .. ': error ' .. tostring(v) .. ', cjson: ' .. tostring(rv))\n"
  "      assert(text == body, where .. ': the error is not returned with its text')\n"
  "    end\n"
  "  end\n"
  "end\n";

static void setup(void) {
  check_ref = fuzz_lua_open(&L, "fuzz_json", CHECK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) setup();
  lua_rawgeti(L, LUA_REGISTRYINDEX, check_ref);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    /* json_decode and cjson differ (or the check raised): a bug */
    fprintf(stderr, "fuzz_json: %s\n", luaL_tolstring(L, -1, NULL));
    abort();
  }
  if (++runs % 256 == 0) lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
