/*
** crypto.h -- digests and encodings for auth functions (crypto.c).
*/
#ifndef LURL_CRYPTO_H
#define LURL_CRYPTO_H

#include <lua.h>

/* Adds core.sha256, core.hmac, core.base64 and core.hex to the table on
** top of the stack. */
void lurl_crypto_open(lua_State *L);

#endif
