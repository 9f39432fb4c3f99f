/*
** certs.h -- the peer certificate chain of an https exchange
** (runtime/certs.c): taken from the TLS connection while a transfer runs,
** kept per easy handle for the connection it last used, read into Lua
** only when a script reads res.certificate.
*/
#ifndef LURL_CERTS_H
#define LURL_CERTS_H

#include <lua.h>

typedef struct lurl_chain lurl_chain;
typedef struct lurl_transfer lurl_transfer;
typedef struct lurl_handle lurl_handle;

/* Gives t a reference to the chain of the connection it runs on (once its
** final headers are in; https only).  Costs a pointer comparison when the
** handle's last connection is the same; copies the chain's references
** (no certificate is copied) on a new one. */
void lurl_chain_capture(lurl_transfer *t);
/* Drops the handle's kept chain (the handle is reset or freed). */
void lurl_chain_forget(lurl_handle *hd);
void lurl_chain_unref(lurl_chain *c);
/* Pushes the chain as an array of {subject=, issuer=, not_before=,
** not_after=, sha256=}, the first (the server's own) also in the hash
** part [-0, +1]. */
void lurl_chain_push(lua_State *L, const lurl_chain *c);

#endif
