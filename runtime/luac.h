/*
** luac.h -- small Lua-C helpers shared by lurl's C files (runtime/luac.c):
** boxes for C resources alive across calls that can raise, tagged
** userdata checks, sorted table keys, and the "bad argument" error of an
** option field.  A leaf: it uses nothing of lurl's but errors.c's raise.
*/
#ifndef LURL_LUAC_H
#define LURL_LUAC_H

#include <curl/curl.h>
#include <lua.h>
#include <lauxlib.h>

#include "text.h"

/* The full userdata at idx when it holds at least `size` bytes and starts
** with `tag` (the first field of lurl's tagged structs: transfer, share,
** timings), else NULL.  Cheaper than luaL_testudata's registry lookup. */
static inline void *lurl_totagged(lua_State *L, int idx, size_t size, const char *tag) {
  void *p = lua_touserdata(L, idx);
  return p && lua_rawlen(L, idx) >= size && *(const char *const *)p == tag ? p : NULL;
}

/* A C resource alive across calls that can raise: a full userdata whose
** __close and __gc free what it holds (as lauxlib boxes a luaL_Buffer), so
** an error or an out-of-memory never leaks it.  lurl_box_push pushes an
** empty one [-0, +1], marked to-be-closed (lua_toclose): an error frees its
** contents as it unwinds, so a script retrying a bad call under pcall does
** not pile them up until the collector runs.  Close it with lua_closeslot
** before popping it: Lua 5.4.4's lua_settop keeps a stack pointer across
** the close method, which may reallocate the stack (fixed in 5.4.5); a
** return or an error closes it safely.  lurl_box_free frees its contents
** now (idempotent). */
typedef struct lurl_box {
  lurl_buf buf;
  CURLU *u;
  char *s[3];                  /* strings to curl_free */
  struct curl_slist *list;
  void *iconv;                 /* an iconv_t to iconv_close, or NULL */
} lurl_box;
lurl_box *lurl_box_push(lua_State *L);
void lurl_box_free(lurl_box *b);

/* The string keys of the table at idx, sorted (so what lurl builds from a
** map is deterministic), into keys[0..max-1] with their lengths (a key may
** hold a NUL); they stay valid while the table holds them.  Returns how many; or LURL_KEYS_NOT_STRING with the
** offending key pushed (the caller words the error, naming its type), or
** LURL_KEYS_TOO_MANY with nothing pushed. */
#define LURL_KEYS_NOT_STRING (-1)
#define LURL_KEYS_TOO_MANY (-2)
typedef struct lurl_key {
  const char *s;
  size_t len;
} lurl_key;
int lurl_sorted_keys(lua_State *L, int idx, lurl_key *keys, int max);

/* Raises "bad argument #argn to 'fname' (field 'field': <fmt...>)" at the
** user's line (lurl_raise): how every option of a call is refused. */
int lurl_field_error(lua_State *L, int argn, const char *fname, const char *field,
                     const char *fmt, ...);

/* The name among names[0..n-1] nearest to k (klen bytes): at most two
** edits away (one for a name of three letters or fewer), ASCII case
** ignored, swapped neighbours one edit; NULL when none is that near.  Only
** ever called on an error path. */
const char *lurl_nearest(const char *k, size_t klen, const char *const *names, int n);
/* Pushes " (did you mean 'x'?)", or "" when no name is near; returns it. */
const char *lurl_push_did_you_mean(lua_State *L, const char *k, size_t klen,
                                   const char *const *names, int n);
/* core.nearest(name, t...): lurl_nearest over the names tables t hold. */
int lurl_core_nearest(lua_State *L);

#endif
