/*
** mime.c -- the multipart body of a request with files= (and data=):
** built from the two tables, files streamed from disk by libcurl when the
** transfer runs.
*/
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "luac.h"
#include "errors.h"
#include "mime.h"
#include "policy.h"
#include "transfer.h"

/*
** Builds a multipart body from the `files` table at index fi and the form
** fields of the `data` table at index di (0 when absent).  Files are
** streamed from disk by libcurl when the transfer runs.  Keys are sorted so
** the body is deterministic.  Raises on bad input (a missing file names the
** field and the path).
*/
/* The sorted keys of the table at idx, or a raise naming the field. */
static int sorted_keys(lua_State *L, int idx, lurl_key *keys, int max, const char *field,
                       const char *fname, int argn) {
  int n = lurl_sorted_keys(L, idx, keys, max);
  if (n == LURL_KEYS_NOT_STRING)
    lurl_field_error(L, argn, fname, field, "string keys expected");
  if (n == LURL_KEYS_TOO_MANY) lurl_field_error(L, argn, fname, field, "too many entries");
  return n;
}

static const char *optstr(lua_State *L, int t, const char *k) {
  lua_getfield(L, t, k);
  const char *s = lua_tostring(L, -1);
  lua_pop(L, 1); /* still anchored by the table */
  return s;
}

static int has_crlf(const char *s) {
  return s && (strchr(s, '\r') || strchr(s, '\n'));
}

void lurl_build_mime(lua_State *L, lurl_transfer *t, int fi, int di, const char *fname,
                     int argn) {
  curl_mime *m = curl_mime_init(t->easy);
  if (!m) luaL_error(L, "not enough memory");
  t->up.mime = m;
  lurl_key keys[256];
  if (di) {
    int n = sorted_keys(L, di, keys, 256, "data", fname, argn);
    for (int i = 0; i < n; i++) {
      lua_getfield(L, di, keys[i].s);
      int list = lua_istable(L, -1); /* a list value: one part per element, in order */
      lua_Integer len = list ? (lua_Integer)lua_rawlen(L, -1) : 1;
      for (lua_Integer j = 1; j <= len; j++) {
        if (list) lua_rawgeti(L, -1, j);
        size_t vl = 0;
        if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1) &&
            !isfinite(lua_tonumber(L, -1)))
          lurl_field_error(L, argn, fname, lua_pushfstring(L, "data.%s", keys[i].s),
                           "number is NaN or infinite"); /* never "nan" or "inf" on the wire */
        const char *v = lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER
                            ? lua_tolstring(L, -1, &vl)
                            : NULL;
        if (!v) lurl_field_error(L, argn, fname, lua_pushfstring(L, "data.%s", keys[i].s),
                                 list ? "list of strings expected" : "string expected");
        curl_mimepart *p = curl_mime_addpart(m);
        curl_mime_name(p, keys[i].s);
        curl_mime_data(p, v, vl);
        if (list) lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
  }
  int n = sorted_keys(L, fi, keys, 256, "files", fname, argn);
  for (int i = 0; i < n; i++) {
    lua_getfield(L, fi, keys[i].s);
    int v = lua_gettop(L);
    if (!lua_istable(L, v))
      lurl_field_error(L, argn, fname, lua_pushfstring(L, "files.%s", keys[i].s),
                       "http.file(path) or {content=...} expected");
    curl_mimepart *p = curl_mime_addpart(m);
    curl_mime_name(p, keys[i].s);
    const char *path = optstr(L, v, "path");
    if (path) {
      const char *why = lurl_policy_file(L, path, 0); /* a limited state's file policy */
      if (why) lurl_field_error(L, argn, fname, lua_pushfstring(L, "files.%s", keys[i].s),
                                "%s", why);
      FILE *f = fopen(path, "rb"); /* fail now, with a clear message, not mid-upload */
      if (!f) lurl_field_error(L, argn, fname, lua_pushfstring(L, "files.%s", keys[i].s),
                               "cannot open '%s'", path);
      fclose(f);
      if (curl_mime_filedata(p, path) != CURLE_OK)
        lurl_field_error(L, argn, fname, lua_pushfstring(L, "files.%s", keys[i].s),
                         "cannot read '%s'", path);
    } else {
      lua_getfield(L, v, "content");
      size_t cl;
      const char *c = lua_tolstring(L, -1, &cl);
      if (!c) lurl_field_error(L, argn, fname, lua_pushfstring(L, "files.%s.content", keys[i].s),
                               "string expected");
      curl_mime_data(p, c, cl);
      lua_pop(L, 1);
      if (!optstr(L, v, "filename")) curl_mime_filename(p, keys[i].s);
    }
    const char *fn = optstr(L, v, "filename");
    const char *ct = optstr(L, v, "content_type");
    if (has_crlf(ct)) /* libcurl escapes names and file names, not the type */
      lurl_field_error(L, argn, fname, lua_pushfstring(L, "files.%s", keys[i].s),
                       "CR or LF in content_type");
    if (fn) curl_mime_filename(p, fn);
    curl_mime_type(p, ct ? ct : "application/octet-stream");
    lua_pop(L, 1);
  }
  t->tainted = 1; /* the handle is reset before its next use */
  curl_easy_setopt(t->easy, CURLOPT_MIMEPOST, m);
}
