/*
** transfer.h -- one HTTP exchange, the "http.transfer" userdata
** (runtime/transfer.c): its struct, its user-value slots, its libcurl
** callbacks and its methods.  Made by core.start (request.c), run by the
** engine (engine.c: the one mutual pair of files, see docs/internals.md),
** turned into a response or an error by core.result.
*/
#ifndef LURL_TRANSFER_H
#define LURL_TRANSFER_H

#include <stdio.h>
#include <curl/curl.h>
#include <lua.h>

#include "decode.h"
#include "handle.h"
#include "text.h"

#define LURL_TRANSFER_MT "http.transfer"

typedef struct lurl_engine lurl_engine;
typedef struct lurl_share lurl_share;

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

/* The user values of a transfer userdata: what it pins for libcurl and
** what its response and errors name. */
enum lurl_transfer_uv {
  LURL_TUV_BODY = 1, /* the request body libcurl reads without a copy: a
                        string, the files table, an open file or function */
  LURL_TUV_METHOD,   /* the method, as the call gave it */
  LURL_TUV_URL,      /* the final URL (params merged) */
  LURL_TUV_SHARE,    /* the session's share: it outlives its transfers */
  LURL_TUV_HEADSET,  /* the session's headset whose header list libcurl
                        reads (request_head.c), or nil */
  LURL_TUV_COUNT = LURL_TUV_HEADSET
};

/* Which of those a transfer set besides the method and the URL (its
** `pinned` bits): core.result reads, and parking clears, only those. */
enum {
  LURL_PIN_BODY = 1,        /* LURL_TUV_BODY holds something */
  LURL_PIN_STRING_BODY = 2, /* ... a string body, what was sent */
  LURL_PIN_SHARE = 4        /* LURL_TUV_SHARE holds the share */
};

/* A streamed body: pulled by Lua chunk by chunk, or written to a file. */
typedef struct lurl_tstream {
  int on;                      /* stream = true */
  int paused;                  /* receive side paused: a chunk is waiting */
  int chunk_ref;               /* queue of chunks made in the write callback
                                  (transfer.c), or 0 */
  int chunk_first, chunk_last; /* taken and made so far, in that queue */
  size_t queued;               /* bytes in that queue */
  size_t chunk_cap;            /* pause once this much is buffered */
  size_t received, max_body;   /* streamed bytes so far, and the cap */
  FILE *sink;                  /* res:save's file: bytes go straight there;
                                  Lua owns the file */
  size_t sunk;                 /* bytes written to it */
  int sink_errno;              /* why writing to it failed */
} lurl_tstream;

/* An upload read by the read callback. */
typedef struct lurl_tupload {
  FILE *file;                  /* from an io.open file (Lua owns it) */
  lurl_buf buf;                /* chunks handed over by Lua (core.feed) */
  size_t off;
  int need, eof;               /* waiting for Lua's next chunk; no more */
  curl_off_t given;            /* bytes of those chunks handed to libcurl */
  curl_mime *mime;             /* multipart body (files=) */
} lurl_tupload;

/* What the progress callback saw, for on_progress. */
typedef struct lurl_tprogress {
  int on;                      /* the transfer reports progress (request.c) */
  int due;                     /* on_progress should be called */
  long long ms;
  curl_off_t dl_now, dl_total, ul_now, ul_total;
  curl_off_t shown[4];         /* the numbers core.io_state last reported due */
} lurl_tprogress;

/* What arrives: content decoding and framing checks of the header lines. */
typedef struct lurl_tincoming {
  struct lurl_decoder *dec;    /* made at the first encoded body byte */
  unsigned char codings[LURL_MAX_CODINGS]; /* Content-Encoding, in order */
  int ncodings;                /* 0: the body is passed on as it is */
  int has_clen;                /* a Content-Length was seen: clen */
  long long clen;
  size_t head_total;           /* header bytes and lines of this transfer */
  int head_lines;
  int undecodable;             /* a redirect's body that failed to decode:
                                  dropped (transfer.c, undecodable) */
  curl_off_t wire;             /* body bytes as they came (before decoding):
                                  res.bytes */
} lurl_tincoming;

/* One HTTP exchange (one hop of a redirect chain).  A full userdata, so Lua
** owns it; the easy handle is borrowed from the session or the engine's
** pool while the transfer runs and given back by lurl_transfer_release. */
typedef struct lurl_transfer {
  const char *tag;             /* lurl_transfer_tag: marks a transfer */
  lurl_engine *eng;            /* NULL once the engine is gone */
  struct lurl_transfer *prev, *next; /* engine's list of live transfers */
  CURL *easy;                  /* NULL when released */
  lurl_handle *hd;             /* easy's companion; NULL when released */
  int state;                   /* enum lurl_tstate */
  int fault;                   /* enum lurl_fault */
  int connected;               /* a connection was established */
  int watched;                 /* a task waits on it: report it from step */
  int watch_ref;               /* that task, in the watch table (engine.c) */
  int wake;                    /* something Lua waits for happened */
  CURLcode code;               /* libcurl's result once DONE */
  long long started_ms;        /* monotonic, when added to the multi */
  long long last_ms;           /* last time a byte moved, for `read` */
  int moved;                   /* bytes came in since check_deadlines (engine.c)
                                  last looked: it moves last_ms then */
  long read_ms;                /* 0 = no read timeout */
  long connect_ms, total_ms;   /* as configured, for messages */
  lurl_buf body;               /* response body, capped by max_body */
  lurl_buf head;               /* raw header block of the latest response */
  struct curl_slist *slist;    /* request headers handed to libcurl: in
                                  hblock, in a session's headset, or the
                                  engine's default list */
  const char *reqhead;         /* the record of the request header lines
                                  lurl set, "N: v\r\n" (what res.request
                                  shows; beside slist), or NULL */
  size_t reqhead_len;
  void *hblock;                /* this request's own list and record, one
                                  allocation (request_head.c), or NULL */
  const char *proxy_used;      /* non-NULL when a proxy is configured */
  struct lurl_chain *chain;    /* that chain (certs.c), until core.result
                                  moves it into the response, or NULL */
  lurl_share *share;           /* the session's caches, or NULL */
  int tainted;                 /* options beyond the per-request set: the
                                  handle is reset before its next use */
  int headers_done;            /* the final response's headers are in */
  long status;                 /* the status of the last header block in (what
                                  CURLINFO_RESPONSE_CODE then says), 0 before */
  int curl_auth, auth_tried;   /* libcurl answers a digest challenge */
  int max_body_set;            /* max_body given (a number or false) */
  unsigned char https;         /* the URL is https: its peer chain is kept */
  unsigned char up_counted;    /* a file, function or multipart body: res.bytes
                                  asks libcurl how much of it went out */
  unsigned char pinned;        /* LURL_PIN_*: the user values it set */
  lurl_tstream st;
  lurl_tupload up;
  lurl_tprogress prog;
  lurl_tincoming in;
  /* lurl's own fault messages and the address policy's refusals live in
  ** the handle (handle.h: msg, refused), not here: see lurl_transfer_msg */
} lurl_transfer;

extern const char lurl_transfer_tag[];
void lurl_transfer_take_spares(lurl_transfer *t);

/*
** Speed trick, messages in the handle: the text an error of a transfer
** names (lurl's own fault message, else libcurl's CURLOPT_ERRORBUFFER) and
** the address policy's refusal are kept in the transfer's easy-handle
** companion, which is pooled, instead of 512 bytes in every transfer
** userdata (each request's allocation, the collector's debt and the
** memset all shrink by half).  Invariant: they are written only while the
** handle is attached (libcurl callbacks, lurl_transfer_new clears them) and
** read only before lurl_transfer_release gives the handle back; a
** transfer without a handle (released, or orphaned by a closing state)
** reads "".
*/
static inline const char *lurl_transfer_msg(const lurl_transfer *t) {
  if (!t->hd) return "";
  return t->hd->msg[0] ? t->hd->msg : t->hd->errbuf;
}
static inline const char *lurl_transfer_refused(const lurl_transfer *t) {
  return t->hd ? t->hd->refused : "";
}
lurl_transfer *lurl_checktransfer(lua_State *L, int idx);

/* The kept-transfer slot (speed trick, the kept transfer: transfer.c): a
** userdata shared by core.start, core.fetch and core.result as an upvalue;
** its user value 1 holds the parked transfer t points at, if any. */
typedef struct lurl_kept {
  struct lurl_transfer *t;
} lurl_kept;

/* Pushes a new idle transfer of engine e [-0, +1] (mt: stack index of the
** transfer metatable; kept: the pseudo-index of the kept-transfer slot,
** whose parked transfer is taken instead of a new one, or 0), then gives
** it an easy handle: one its session kept (share at stack index
** share_idx, pinned in LURL_TUV_SHARE), else one of the engine's pool.
** Raises when no handle can be made. */
lurl_transfer *lurl_transfer_new(lua_State *L, lurl_engine *e, int mt, int kept,
                                 lurl_share *share, int share_idx);
/* The transfer at tidx, read whole, released and dropped by its caller,
** goes into the kept-transfer slot at pseudo-index kept for the next
** lurl_transfer_new; one still in use (streamed) is left alone. */
void lurl_transfer_park(lua_State *L, int tidx, int kept);
/* Gives the easy handle back (to the session, the pool, or frees it) and
** what the request held.  Idempotent; safe whether the engine lives. */
void lurl_transfer_release(lurl_transfer *t);
/* The engine is going: t frees its handle and forgets the engine. */
void lurl_transfer_orphan(lurl_transfer *t);
/* Forgets the chunks nobody will take (the transfer is closed or collected). */
void lurl_drop_chunk(lua_State *L, lurl_transfer *t);

/* libcurl's callbacks: ud is the handle's companion (body, header) or the
** transfer (read, progress). */
size_t lurl_on_body(char *p, size_t size, size_t n, void *ud);
size_t lurl_on_header(char *p, size_t size, size_t n, void *ud);
size_t lurl_on_read(char *buf, size_t size, size_t n, void *ud);
void lurl_transfer_progress_end(lurl_transfer *t);
int lurl_on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                     curl_off_t ulnow);

/* core.result's work on the transfer at stack index tidx (the top of the
** stack), for a C closure whose upvalues after `uv` are
** core.result's LURL_RESULT_UPVALUES (its field names, the response
** metatable, then the kept-transfer slot, LURL_RESULT_KEPT_UV): core.result
** has them first (uv 0); core.fetch after core.start's own, from
** LURL_FETCH_RESULT_UV on (request.c). */
#define LURL_RESULT_UPVALUES 7
#define LURL_RESULT_KEPT_UV 7
#define LURL_FETCH_RESULT_UV 7
int lurl_transfer_result(lua_State *L, int tidx, int uv);

/* The transfer metatable; core.result, set_response_mt, pull, sink,
** io_state, feed, done. */
void lurl_transfer_open(lua_State *L);

#endif
