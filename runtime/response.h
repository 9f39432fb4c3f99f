/*
** response.h -- what a finished hop leaves for Lua (runtime/response.c):
** the timings userdata and the lazy readers of a response.
*/
#ifndef LURL_RESPONSE_H
#define LURL_RESPONSE_H

#include <curl/curl.h>
#include <lua.h>

#include "text.h"

/* Pushes a userdata holding the hop's timing phases, its header block,
** the request's method and the record of the request header lines lurl
** set (reqhead; lurl_default_reqhead() is kept as a flag) [-0, +1];
** returns the total time.  chain: the peer chain of an https hop (the
** userdata takes that reference; certs.h), or NULL. */
/* What res.bytes is made of besides libcurl's request size: counted by
** lurl as the bytes came (transfer.c), or asked of libcurl for a body
** libcurl read itself (up; -1 for a string body or none). */
typedef struct lurl_bytes {
  curl_off_t head_in, down, up;
} lurl_bytes;

double lurl_push_timings(lua_State *L, CURL *h, const lurl_buf *head, const char *method,
                         size_t method_len, const char *reqhead, size_t reqhead_len,
                         struct lurl_chain *chain, const lurl_bytes *bytes);
/* A streamed hop's counts once its body is in (res.bytes; transfer.c's
** core.stream_bytes): the timings userdata at idx takes head_in and down. */
void lurl_timings_set_bytes(lua_State *L, int idx, curl_off_t head_in, curl_off_t down);
/* core.timings, hop_info, reason, parse_headers, links, to_utf8, and
** core.response_index (the __index of response metatables). */
void lurl_response_open(lua_State *L);

#endif
