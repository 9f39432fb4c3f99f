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

/* ------------------------------------------------------------ nearest -- */

#define NEAR_MAX 64 /* longer names get no suggestion */

static int fold(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

/* The optimal string alignment distance between a and b (an edit is an
** insertion, a deletion, a substitution or the swap of two neighbours),
** ASCII case ignored; both at most NEAR_MAX bytes. */
static int osa(const char *a, size_t n, const char *b, size_t m) {
  int d[NEAR_MAX + 1][NEAR_MAX + 1];
  for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= n; i++) {
    for (size_t j = 1; j <= m; j++) {
      int ca = fold((unsigned char)a[i - 1]), cb = fold((unsigned char)b[j - 1]);
      int v = d[i - 1][j - 1] + (ca != cb);
      if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && ca == fold((unsigned char)b[j - 2]) &&
          fold((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < v)
        v = d[i - 2][j - 2] + 1;
      d[i][j] = v;
    }
  }
  return d[n][m];
}

const char *lurl_nearest(const char *k, size_t klen, const char *const *names, int n) {
  if (klen == 0 || klen > NEAR_MAX) return NULL;
  int most = klen <= 3 ? 1 : 2; /* two edits to a two-letter name is any name */
  const char *best = NULL;
  int bestd = most + 1;
  for (int i = 0; i < n; i++) {
    size_t m = strlen(names[i]);
    if (m > NEAR_MAX || (m > klen ? m - klen : klen - m) > (size_t)most) continue;
    int d = osa(k, klen, names[i], m);
    if (d < bestd) bestd = d, best = names[i];
  }
  return best;
}

const char *lurl_push_did_you_mean(lua_State *L, const char *k, size_t klen,
                                   const char *const *names, int n) {
  const char *near = lurl_nearest(k, klen, names, n);
  return near ? lua_pushfstring(L, " (did you mean '%s'?)", near) : (lua_pushliteral(L, ""), "");
}

/* core.nearest(name, t...) -> the name nearest to `name` among the string
** keys of the tables t (and the strings of their lists), or nil: the
** suggestion of an "unknown option" error raised on the Lua side. */
int lurl_core_nearest(lua_State *L) {
  size_t klen;
  const char *k = lua_tolstring(L, 1, &klen);
  if (lua_type(L, 1) != LUA_TSTRING) return 0;
  int top = lua_gettop(L);
  const char *names[256];
  int n = 0;
  for (int t = 2; t <= top; t++) {
    luaL_checktype(L, t, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, t)) {
      if (n == 256) {
      } else if (lua_type(L, -2) == LUA_TSTRING) {
        names[n++] = lua_tostring(L, -2);
      } else if (lua_type(L, -1) == LUA_TSTRING) {
        names[n++] = lua_tostring(L, -1);
      }
      lua_pop(L, 1);
    }
  }
  const char *near = lurl_nearest(k, klen, names, n);
  if (!near) return 0;
  lua_pushstring(L, near); /* the names are anchored by their tables */
  return 1;
}
