/*
** luac.c -- small Lua-C helpers (see luac.h).
*/
#include <iconv.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "luac.h"

/* ---------------------------------------------------------------- box -- */

#define LURL_BOX_MT "http.box"

void lurl_box_free(lurl_box *b) {
  lurl_buf_free(&b->buf);
  curl_url_cleanup(b->u);
  b->u = NULL;
  for (int i = 0; i < 3; i++) curl_free(b->s[i]), b->s[i] = NULL;
  curl_slist_free_all(b->list);
  b->list = NULL;
  if (b->iconv) iconv_close((iconv_t)b->iconv);
  b->iconv = NULL;
}

static int box_close(lua_State *L) {
  lurl_box_free((lurl_box *)lua_touserdata(L, 1));
  return 0;
}

/* __close frees the contents when the box goes out of scope; __gc too,
** for a box in a coroutine that an error killed and nobody closed (Lua
** frees such a thread without closing its to-be-closed slots). */
lurl_box *lurl_box_push(lua_State *L) {
  lurl_box *b = (lurl_box *)lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  if (luaL_newmetatable(L, LURL_BOX_MT)) {
    lua_pushcfunction(L, box_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, box_close);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_toclose(L, -1); /* freed as soon as an error unwinds past it */
  return b;
}

/* ------------------------------------------------------- sorted keys -- */

static int cmp_key(const void *a, const void *b) {
  return strcmp(((const lurl_key *)a)->s, ((const lurl_key *)b)->s);
}

int lurl_sorted_keys(lua_State *L, int idx, lurl_key *keys, int max) {
  int n = 0;
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) return LURL_KEYS_NOT_STRING; /* the key stays */
    if (n == max) {
      lua_pop(L, 1);
      return LURL_KEYS_TOO_MANY;
    }
    keys[n].s = lua_tolstring(L, -1, &keys[n].len); /* anchored by the table, as a key */
    n++;
  }
  qsort(keys, (size_t)n, sizeof keys[0], cmp_key);
  return n;
}

/* ----------------------------------------------------- field errors -- */

int lurl_field_error(lua_State *L, int argn, const char *fname, const char *field,
                     const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const char *what = lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return lurl_raise(L, "bad argument #%d to '%s' (field '%s': %s)", argn, fname, field, what);
}
