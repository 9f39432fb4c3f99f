/*
** mime.h -- the multipart body of files= (runtime/mime.c).
*/
#ifndef LURL_MIME_H
#define LURL_MIME_H

#include <lua.h>

typedef struct lurl_transfer lurl_transfer;

/* Builds t's multipart body from the `files` table at files_idx and the
** form fields of the `data` table at data_idx (0 when absent); raises
** "bad argument #argn to 'fname'" on bad input. */
void lurl_build_mime(lua_State *L, lurl_transfer *t, int files_idx, int data_idx,
                     const char *fname, int argn);

#endif
