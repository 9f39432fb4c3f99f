/*
** fuzz_response.c -- libFuzzer target: everything lurl parses out of what a
** server sends, on arbitrary bytes.
**
** The input is a response as it comes off the wire: a header block, an
** empty line, a body.  It goes through
**   - the header callback (lurl_on_header, stream.c) line by line, and the
**     body through the write callback (lurl_on_body) into a capped buffer,
**     as libcurl would call them;
**   - core.parse_headers, core.links, core.to_utf8 and core.reason
**     (response.c);
**   - the Lua-side parsers of a response built from those bytes (lua/lurl/
**     response.lua): headers, header_list, header_values, links, encoding,
**     text, cookies, reason, res:json() and its error excerpt,
**     and raise_for_status.
** No network: the response table is made as core.result makes it.
** Built by -DLURL_FUZZ=ON (see docs/testing.md).
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "fuzz_lua.h"
#include "lurl.h"
#include "lurl_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* libFuzzer calls it */

static lua_State *L;
static int check_ref; /* the Lua half, compiled once */
static CURL *easy;    /* never performs: lurl_on_header asks it the status */
static unsigned long runs;

static const char CHECK[] =
  "local core = require 'http.core'\n"
  "local response = require 'lurl.response'\n"
  "require 'http'\n"
  "return function(head, body, status)\n"
  "  local h, list = core.parse_headers(head)\n"
  "  assert(type(h) == 'table' and type(list) == 'table')\n"
  "  for _, f in ipairs(list) do assert(type(f[1]) == 'string' and type(f[2]) == 'string') end\n"
  "  core.links(head)\n"
  "  core.reason(head, status)\n"
  "  local r = setmetatable({ status = status, url = 'http://127.0.0.1:1/p?q=1', method = 'GET',\n"
  "                          body = body, _head = head }, response.mt)\n"
  "  local _ = r.headers, r.header_list, r.links, r.encoding, r.text, r.cookies, r.reason,\n"
  "            r.ok, r.request\n"
  "  r:header_values('set-cookie')\n"
  "  r:header_values('link')\n"
  "  for k, v in pairs(r.cookies) do assert(type(k) == 'string' and type(v) == 'string') end\n"
  "  local ok, err = pcall(r.json, r)\n"
  "  if not ok then assert(type(err) == 'table' and err.kind == 'JSONDecodeError', tostring(err)) end\n"
  "  ok, err = pcall(r.raise_for_status, r)\n"
  "  if not ok then assert(err.kind == 'HTTPError', tostring(err)) end\n"
  "  local cs = head:match('charset=([%w%-_]+)')\n"
  "  if cs then core.to_utf8(body, cs) end\n"
  "end\n";

static void setup(void) {
  check_ref = fuzz_lua_open(&L, "fuzz_response", CHECK);
  easy = curl_easy_init();
}

/* The callbacks' view: header lines, then the body into a capped buffer. */
static void through_callbacks(const char *head, size_t hn, const char *body, size_t bn) {
  lurl_transfer t;
  memset(&t, 0, sizeof t);
  lurl_handle hd;
  memset(&hd, 0, sizeof hd);
  hd.easy = t.easy = easy;
  hd.t = &t;
  t.hd = &hd;
  t.body.limit = 4096;
  for (size_t i = 0; i < hn;) { /* libcurl hands over one line at a time */
    const char *nl = memchr(head + i, '\n', hn - i);
    size_t len = nl ? (size_t)(nl - (head + i)) + 1 : hn - i;
    char *line = malloc(len); /* its own block: ASan sees reads past it */
    memcpy(line, head + i, len);
    /* a refused line (framing, header limits, out of memory) must say why */
    if (lurl_on_header(line, 1, len, &hd) != len && t.fault == LURL_FAULT_NONE) abort();
    free(line);
    i += len;
  }
  if (bn) {
    char *b = malloc(bn);
    memcpy(b, body, bn);
    lurl_on_body(b, 1, bn, &hd);
    free(b);
  }
  lurl_buf_free(&t.head);
  lurl_buf_free(&t.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) setup();
  const char *s = (const char *)data;
  const char *sep = NULL;
  for (size_t i = 0; i + 3 < size && !sep; i++)
    if (memcmp(s + i, "\r\n\r\n", 4) == 0) sep = s + i;
  size_t hn = sep ? (size_t)(sep - s) + 4 : size;
  const char *body = s + hn;
  size_t bn = size - hn;
  through_callbacks(s, hn, body, bn);
  int status = 0; /* from the status line (the bytes are not a C string) */
  const char *sp = hn > 12 && memcmp(s, "HTTP/", 5) == 0 ? memchr(s, ' ', hn) : NULL;
  for (const char *d = sp ? sp + 1 : NULL; d && d < s + hn && d < sp + 4; d++)
    status = *d >= '0' && *d <= '9' ? status * 10 + (*d - '0') : 0;
  if (status < 100 || status > 999) status = 200;
  lua_rawgeti(L, LUA_REGISTRYINDEX, check_ref);
  lua_pushlstring(L, s, hn);
  lua_pushlstring(L, body, bn);
  lua_pushinteger(L, status);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    /* a parser raised where it must answer: a bug */
    fprintf(stderr, "fuzz_response: %s\n", luaL_tolstring(L, -1, NULL));
    abort();
  }
  if (++runs % 256 == 0) lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
