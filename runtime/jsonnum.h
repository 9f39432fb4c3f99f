/*
** jsonnum.h -- core.json_decode, res:json()'s decode (runtime/jsonnum.c), a leaf.
*/
#ifndef LURL_JSONNUM_H
#define LURL_JSONNUM_H

#include <lua.h>

void lurl_jsonnum_open(lua_State *L);

#endif
