/*
** request.h -- core.start: a request's options made into a configured
** easy handle and started on the engine (runtime/request*.c).
*/
#ifndef LURL_REQUEST_H
#define LURL_REQUEST_H

#include <lua.h>

/* core.start (a closure over core.config, the transfer metatable and the
** engine), core.config. */
void lurl_request_open(lua_State *L);

#endif
