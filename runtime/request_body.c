/*
** request_body.c -- a request's body: json, data (a form), files (a
** multipart body, mime.c), body (a string, an open file or a function read
** through the read callback).
*/
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "errors.h"
#include "luac.h"
#include "mime.h"
#include "request_int.h"

/*
** Reads json / data / files / body.  Pushes the body string (or nil) and its
** default Content-Type (or nil), and returns what kind of body it is.  A
** body from a file or a function is read through lurl_on_read (a function's
** chunks are handed over by Lua, see core.feed); files become a multipart
** body streamed from disk by libcurl.
*/
int lurl_req_body(req *r) {
  lua_State *L = r->L;
  if (!HAS(r, O_FILES) && !HAS(r, O_JSON) && !HAS(r, O_DATA) && !HAS(r, O_BODY))
    return lua_pushnil(L), lua_pushnil(L), BODY_NONE;
  int ty = lurl_req_opt(r, O_FILES);
  if (ty == LUA_TTABLE) {
    int fi = lua_gettop(L);
    int dty = lurl_req_opt(r, O_DATA);
    if (dty != LUA_TNIL && dty != LUA_TTABLE) lurl_req_field_error(r, "data", "table (with files)", -1);
    if (dty == LUA_TTABLE && lurl_req_pairs_copy(L, -1)) lua_replace(L, -2); /* __pairs */
    lurl_build_mime(L, r->t, fi, dty == LUA_TTABLE ? fi + 1 : 0, r->fname, r->argn);
    lua_pushvalue(L, fi);
    lua_setiuservalue(L, r->tidx, LURL_TUV_BODY); /* keep in-memory parts' strings alive */
    lua_settop(L, fi - 1);
    lua_pushnil(L);
    lua_pushnil(L);
    return BODY_MIME;
  }
  if (ty != LUA_TNIL) lurl_req_field_error(r, "files", "table", -1);
  lua_pop(L, 1);
  ty = lurl_req_opt(r, O_JSON);
  if (ty != LUA_TNIL) {
    lua_rawgeti(L, r->config, LURL_CONFIG_JSON_ENCODE);
    lua_insert(L, -2);
    /* what cjson cannot encode comes back as "field 'json.x': why" */
    int st = lua_pcall(L, 1, 1, 0);
    if (st != LUA_OK) {
      if (st != LUA_ERRRUN || lua_type(L, -1) != LUA_TSTRING) lua_error(L); /* memory: as it is */
      const char *msg = lua_tostring(L, -1);
      if (strncmp(msg, "field '", 7) != 0) lurl_raise(L, "%s", msg); /* lua-cjson missing */
      lurl_raise(L, "bad argument #%d to '%s' (%s)", r->argn, r->fname, msg);
    }
    lua_pushliteral(L, "application/json");
    return BODY_STRING;
  }
  lua_pop(L, 1);
  ty = lurl_req_opt(r, O_DATA);
  if (ty == LUA_TTABLE) {
    lurl_box *bx = lurl_box_push(L); /* a bad value further on raises */
    lurl_req_encode_table(r, &bx->buf, -2, "data");
    lua_pushlstring(L, bx->buf.data ? bx->buf.data : "", bx->buf.len);
    lua_closeslot(L, -2);
    lua_replace(L, -3);
    lua_pop(L, 1);
    lua_pushliteral(L, "application/x-www-form-urlencoded");
    return BODY_STRING;
  }
  if (ty == LUA_TSTRING) { lua_pushnil(L); return BODY_STRING; }
  if (ty != LUA_TNIL) lurl_req_field_error(r, "data", "table or string", -1);
  lua_pop(L, 1);
  ty = lurl_req_opt(r, O_BODY);
  if (ty == LUA_TSTRING) { lua_pushnil(L); return BODY_STRING; }
  if (ty == LUA_TNIL) { lua_pushnil(L); return BODY_NONE; }
  curl_off_t size = -1;
  if (ty == LUA_TUSERDATA) {
    luaL_Stream *fs = (luaL_Stream *)luaL_testudata(L, -1, LUA_FILEHANDLE);
    if (!fs || !fs->closef) lurl_req_field_error(r, "body", "string, open file or function", -1);
    r->t->up.file = fs->f;
    long pos = ftell(fs->f);
    if (pos >= 0 && fseek(fs->f, 0, SEEK_END) == 0) { /* what is left to read */
      long end = ftell(fs->f);
      fseek(fs->f, pos, SEEK_SET);
      if (end >= pos) size = end - pos;
    }
  } else if (ty != LUA_TFUNCTION) {
    lurl_req_field_error(r, "body", "string, open file or function", -1);
  }
  lua_setiuservalue(L, r->tidx, LURL_TUV_BODY); /* pin the file (Lua owns and closes it) */
  SET_RARE(r, CURLOPT_POST, 1L);
  SET_RARE(r, CURLOPT_READFUNCTION, lurl_on_read);
  SET_RARE(r, CURLOPT_READDATA, (void *)r->t);
  SET_RARE(r, CURLOPT_POSTFIELDSIZE_LARGE, size); /* -1: chunked */
  lua_pushnil(L);
  lua_pushnil(L);
  return BODY_READER;
}
