/*
** lurl_int.h -- internals shared between lurl's C files (prefix lurl_).
** Nothing here is installed; the public interface is include/lurl.h.
*/
#ifndef LURL_INT_H
#define LURL_INT_H

#include <stdio.h>
#include <curl/curl.h>
#include <lua.h>
#include <lauxlib.h>

#include "decode.h"
#include "errors.h"
#include "handle.h"
#include "limit.h"
#include "luac.h"
#include "policy.h"
#include "redact.h"
#include "text.h"

/* Metatable names: they appear in type errors, so they read like Lua names. */
#define LURL_ENGINE_MT "http.engine"
#define LURL_TRANSFER_MT "http.transfer"


/* Errors lurl detects itself, beside libcurl's CURLcode. */
enum lurl_fault {
  LURL_FAULT_NONE = 0,
  LURL_FAULT_READ_TIMEOUT,   /* silence between bytes longer than `read` */
  LURL_FAULT_BODY_TOO_LARGE, /* decoded body over max_body */
  LURL_FAULT_NOMEM,          /* a buffer could not grow */
  LURL_FAULT_INTERRUPTED,    /* lurl_signal_interrupt() was called */
  LURL_FAULT_CANCELLED,      /* the transfer was cancelled from Lua */
  LURL_FAULT_WRITE,          /* res:save could not write its file */
  LURL_FAULT_DECODE,         /* the body is not what Content-Encoding says */
  LURL_FAULT_LENGTHS,        /* two different Content-Length values */
  LURL_FAULT_BAD_LENGTH,     /* a Content-Length that is no length */
  LURL_FAULT_HEAD_SIZE,      /* header block over LURL_MAX_HEAD_BYTES */
  LURL_FAULT_HEAD_LINES      /* more than LURL_MAX_HEAD_LINES header lines */
};

enum lurl_tstate { LURL_T_IDLE, LURL_T_RUNNING, LURL_T_DONE };

typedef struct lurl_engine lurl_engine;
typedef struct lurl_transfer lurl_transfer;
typedef struct lurl_share lurl_share;

/* One HTTP exchange (one hop of a redirect chain).  A full userdata, so Lua
** owns it; the easy handle is borrowed from the engine's pool while the
** transfer runs and given back by lurl_transfer_release. */
struct lurl_transfer {
  const char *tag;             /* lurl_transfer_tag: marks a transfer */
  lurl_engine *eng;            /* NULL once the engine is gone */
  lurl_transfer *prev, *next;  /* engine's list of live transfers */
  CURL *easy;                  /* NULL when released */
  lurl_handle *hd;             /* easy's companion; NULL when released */
  int state;                   /* enum lurl_tstate */
  int fault;                   /* enum lurl_fault */
  int connected;               /* a connection was established */
  int watched;                 /* a task waits on it: report it from step */
  int watch_ref;               /* that task, in the watch table (engine.c) */
  CURLcode code;               /* libcurl's result once DONE */
  long long started_ms;        /* monotonic, when added to the multi */
  long long last_ms;           /* last time a byte moved, for `read` */
  int moved;                   /* bytes came in since check_deadlines (engine.c)
                                  last looked: it moves last_ms then */
  long read_ms;                /* 0 = no read timeout */
  long connect_ms, total_ms;   /* as configured, for messages */
  lurl_buf body;               /* response body, capped by max_body */
  lurl_buf head;               /* raw header block of the latest response */
  lurl_buf reqhead;            /* request header lines we set, "N: v\r\n" */
  struct curl_slist *slist;    /* request headers handed to libcurl */
  const char *proxy_used;      /* non-NULL when a proxy is configured */
  lurl_share *share;           /* the session's caches, or NULL */
  int tainted;                 /* options beyond the per-request set: the
                                  handle is reset before its next use */
  const char *reqhead_fixed;   /* the request header record, when it is
                                  the default one (reqhead stays empty) */
  /* streaming (stream.c) */
  int stream;                  /* body pulled by Lua chunk by chunk */
  int headers_done;            /* the final response's headers are in */
  int paused;                  /* receive side paused: a chunk is waiting */
  int chunk_ref;               /* queue of chunks made in the write callback
                                  (stream.c), or 0 */
  int chunk_first, chunk_last; /* taken and made so far, in that queue */
  size_t queued;               /* bytes in that queue */
  int wake;                    /* something Lua waits for happened */
  int curl_auth, auth_tried;   /* libcurl answers a digest challenge */
  size_t chunk_cap;            /* pause once this much is buffered */
  size_t received, max_body;   /* streamed bytes so far, and the cap */
  int max_body_set;            /* max_body given (a number or false) */
  FILE *sink;                  /* res:save's file: bytes go straight there
                                  (stream.c); Lua owns the file */
  size_t sunk;                 /* bytes written to it */
  int sink_errno;              /* why writing to it failed */
  FILE *upfile;                /* upload from an io.open file (Lua owns it) */
  lurl_buf up;                 /* upload chunks handed over by Lua */
  size_t up_off;
  int up_need, up_eof;         /* waiting for Lua's next chunk; no more */
  curl_mime *mime;             /* multipart body (files=) */
  int progress_due;            /* on_progress should be called */
  long long progress_ms;
  curl_off_t dl_now, dl_total, ul_now, ul_total;
  char errbuf[CURL_ERROR_SIZE]; /* libcurl's message, copied when it ends,
                                  or what a fault of stream.c's was about */
  /* what arrives (stream.c): content decoding and framing checks */
  struct lurl_decoder *dec;    /* made at the first encoded body byte */
  unsigned char codings[LURL_MAX_CODINGS]; /* Content-Encoding, in order */
  int ncodings;                /* 0: the body is passed on as it is */
  int has_clen;                /* a Content-Length was seen: clen */
  long long clen;
  size_t head_total;           /* header bytes and lines of this transfer */
  int head_lines;
  char refused[256];           /* why a limited state's address policy refused
                                  a connection (policy.c), or "" */
};

/* engine.c */
lurl_engine *lurl_engine_get(lua_State *L);
void lurl_push_engine(lua_State *L);
int lurl_engine_add(lua_State *L, lurl_engine *e, lurl_transfer *t);
int lurl_engine_running(lurl_engine *e, int upto);
void lurl_engine_wait(lua_State *L, lurl_engine *e, lurl_transfer *t);
int lurl_engine_step(lua_State *L, lurl_engine *e, long timeout_ms);
lurl_pool *lurl_engine_pool(lurl_engine *e);
void lurl_transfer_release(lurl_transfer *t);
lua_State *lurl_engine_lua(lurl_engine *e);
void lurl_engine_gc_owe(lurl_engine *e, size_t bytes);
const lurl_env *lurl_engine_env(lurl_engine *e);
lurl_transfer *lurl_checktransfer(lua_State *L, int idx);
extern const char lurl_transfer_tag[];
long long lurl_now_ms(void);
void lurl_engine_open(lua_State *L);
struct pollfd;
int lurl_engine_pollfds(lurl_engine *e, struct pollfd *out, int max);
long lurl_engine_timeout(lurl_engine *e);

/* share.c: a session's connection, DNS, TLS session and cookie caches */
lurl_share *lurl_checkshare(lua_State *L, int idx);
void lurl_share_attach(lurl_share *s, CURL *h);
void lurl_share_detach(lurl_share *s, CURL *h);
int lurl_share_keep(lurl_share *s, CURL *h);
CURL *lurl_share_take(lurl_share *s);
void lurl_share_open(lua_State *L);

/* request.c: builds an easy handle from options; see the file. */
int lurl_core_start(lua_State *L);
void lurl_request_open(lua_State *L);

/* stream.c */
size_t lurl_on_body(char *p, size_t size, size_t n, void *ud);
size_t lurl_on_header(char *p, size_t size, size_t n, void *ud);
size_t lurl_on_read(char *buf, size_t size, size_t n, void *ud);
int lurl_on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                     curl_off_t ulnow);
void lurl_drop_chunk(lua_State *L, lurl_transfer *t);
void lurl_stream_open(lua_State *L);
void lurl_build_mime(lua_State *L, lurl_transfer *t, int files_idx, int data_idx,
                     const char *fname, int argn);

/* response.c */
void lurl_push_transfer_error(lua_State *L, lurl_transfer *t, int unused);
void lurl_response_open(lua_State *L);
void lurl_reason_phrase(int code, const char **s);

#endif /* LURL_INT_H */
