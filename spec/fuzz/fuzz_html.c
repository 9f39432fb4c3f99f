/*
** fuzz_html.c -- libFuzzer target: HTML documents and CSS selectors on
** arbitrary bytes.
**
** The input's first line is a selector, the rest a page.  The page goes
** through lurl.html's charset decoding (BOM, <meta> sniffing, iconv) and
** runtime/html.c (the depth pre-pass, gumbo in its arena); the selector
** through runtime/html_select.c, whose only way to fail is an error that
** says "bad selector"; each match is read every way an element can be
** (tag, attrs, parent, children, text, inner and outer HTML, url), the
** document serialized, and its first form read.
** Built by -DLURL_FUZZ=ON (see docs/testing.md).
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "fuzz_lua.h"
#include "lurl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* libFuzzer calls it */

static lua_State *L;
static int check_ref; /* the Lua half, compiled once */
static unsigned long runs;

static const char CHECK[] =
  "local http = require 'http'\n"
  "local html = require 'lurl.html'\n"
  "return function(sel, page)\n"
  "  local doc = http.html(html.decode(page), 'http://127.0.0.1:1/a/b?c')\n"
  "  local ok, it = pcall(doc.select, doc, sel)\n"
  "  if ok then\n"
  "    local n = 0\n"
  "    for e in it do\n"
  "      n = n + 1\n"
  "      if n > 64 then break end\n"
  "      assert(type(e.tag) == 'string' and type(e.attrs) == 'table' and e.parent)\n"
  "      e:children(); e:text(); e:text(true); e:inner_html(); e:outer_html()\n"
  "      e:url('href'); e:attr('class')\n"
  "      assert(e == e.parent:children()[1] or true)\n"
  "    end\n"
  "  else\n"
  "    assert(tostring(it):find('bad selector', 1, true), tostring(it))\n"
  "  end\n"
  "  assert(type(doc:outer_html()) == 'string')\n"
  "  doc:select_one('html'):text()\n"
  "  doc:form()\n"
  "end\n";

static void setup(void) {
  check_ref = fuzz_lua_open(&L, "fuzz_html", CHECK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) setup();
  const char *s = (const char *)data;
  const char *nl = memchr(s, '\n', size);
  size_t sn = nl ? (size_t)(nl - s) : size;
  lua_rawgeti(L, LUA_REGISTRYINDEX, check_ref);
  lua_pushlstring(L, s, sn);
  lua_pushlstring(L, nl ? nl + 1 : s + size, nl ? size - sn - 1 : 0);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    /* a parser raised where it must answer: a bug */
    fprintf(stderr, "fuzz_html: %s\n", luaL_tolstring(L, -1, NULL));
    abort();
  }
  if (++runs % 64 == 0) lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
