/*
** transfer.c -- one HTTP exchange, the "http.transfer" userdata: its
** handle borrowed and given back, libcurl's write, header, read and
** progress callbacks, and its methods (core.result, pull, sink, io_state,
** feed, done).
**
** No Lua code of a script runs inside a libcurl callback.  A callback that
** needs Lua (a streamed body whose buffer is full, an upload function with
** nothing buffered, a progress report) pauses the transfer or sets `wake`;
** the engine then returns to Lua, which does the work (calls the user's
** function, hands over a chunk) and resumes the transfer.  The one Lua API
** use inside a callback is making a streamed chunk's Lua string straight
** from libcurl's buffer (deliver_direct, a speed trick, see there).
** Memory stays bounded: a streamed body holds at most about one chunk, an
** upload at most the chunk its function returned.
*/
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "engine.h"
#include "errors.h"
#include "limit.h"
#include "luac.h"
#include "response.h"
#include "share.h"
#include "certs.h"
#include "transfer.h"

#define MIN_CHUNK 16384
#define PROGRESS_EVERY_MS 100

/* ------------------------------------------------------ life and handle -- */

static void push_transfer_error(lua_State *L, lurl_transfer *t, int tidx);
static void free_buffers(lurl_transfer *t);

/* Every transfer's tag (request.c sets it).  A userdata of a transfer's
** size carrying it is a transfer: a test much cheaper than the registry
** lookup of luaL_checkudata, which is left to word the error otherwise. */
const char lurl_transfer_tag[] = LURL_TRANSFER_MT;

lurl_transfer *lurl_checktransfer(lua_State *L, int idx) {
  lurl_transfer *t = (lurl_transfer *)lurl_totagged(L, idx, sizeof *t, lurl_transfer_tag);
  return t ? t : (lurl_transfer *)luaL_checkudata(L, idx, LURL_TRANSFER_MT);
}

/*
** Speed trick, the kept transfer: a transfer read whole, released, and
** dropped by its caller is parked in one slot (lurl_kept, shared by
** core.start, core.fetch and core.result) and the next request takes it
** instead of making a new userdata: no allocation of ~530 bytes, no
** finalizer, no collector work for them per request.  Parked are: the
** transfer of a hop core.fetch read whole (never handed to Lua), and one
** core.result(t, true) read, where `true` is the caller's promise that it
** keeps no reference to t (lurl.exchange's engine hops, whose `t` is a
** local dead after the call; task.wait forgets it on wake-up).
** Invariant: the slot holds a transfer only while it is parked, and a
** parked transfer is referred to by nothing else; lurl_transfer_new empties
** the slot when it takes it, so a request started while another is being
** started (Lua code of an option) makes a fresh one, and a transfer an
** error unwinds past is collected as before.  A streamed transfer (its
** response reads it on) is never parked.  The only way around it is a
** script reading C stack slots with the debug library (as for the kept
** guard, request.c).  Parking clears the user values a next request may
** not set (the body, the share, the headset): a parked transfer pins none.
*/
void lurl_transfer_park(lua_State *L, int tidx, int kept) {
  lurl_transfer *t = (lurl_transfer *)lua_touserdata(L, tidx);
  if (t->easy || t->st.on || t->state == LURL_T_RUNNING || t->watched) return; /* in use */
  free_buffers(t); /* an error's response buffers: __gc would have freed them */
  /* each request sets the method and the URL; the rest as `pinned` says
  ** (the headset is request_head.c's: always cleared) */
  if (t->pinned & LURL_PIN_BODY) lua_pushnil(L), lua_setiuservalue(L, tidx, LURL_TUV_BODY);
  if (t->pinned & LURL_PIN_SHARE) lua_pushnil(L), lua_setiuservalue(L, tidx, LURL_TUV_SHARE);
  lua_pushnil(L);
  lua_setiuservalue(L, tidx, LURL_TUV_HEADSET);
  lurl_kept *k = (lurl_kept *)lua_touserdata(L, kept);
  k->t = t; /* a transfer parked before is dropped: the collector takes it */
  lua_pushvalue(L, tidx);
  lua_setiuservalue(L, kept, 1);
}

/* Pushes a new transfer and gives it an easy handle (see transfer.h). */
lurl_transfer *lurl_transfer_new(lua_State *L, lurl_engine *e, int mt, int kept,
                                 lurl_share *share, int share_idx) {
  lurl_kept *k = kept ? (lurl_kept *)lua_touserdata(L, kept) : NULL;
  lurl_transfer *t = k ? k->t : NULL;
  if (t) { /* see the kept transfer, above */
    lua_getiuservalue(L, kept, 1);
    k->t = NULL; /* in use: out of the slot */
    lua_pushnil(L);
    lua_setiuservalue(L, kept, 1);
    memset(t, 0, sizeof *t);
  } else {
    t = (lurl_transfer *)lua_newuserdatauv(L, sizeof *t, LURL_TUV_COUNT);
    memset(t, 0, sizeof *t);
    lua_pushvalue(L, mt);
    lua_setmetatable(L, -2);
  }
  t->tag = lurl_transfer_tag;
  /* a handle the session used before (still on its share, cookie engine
  ** on), else one from the engine's pool or a new one, on no share */
  CURL *kept_h = share ? lurl_share_take(share) : NULL;
  lurl_handle *hd = kept_h ? lurl_handle_of(kept_h) : lurl_pool_take(lurl_engine_pool(e));
  if (!hd) luaL_error(L, "libcurl: cannot create an easy handle");
  t->easy = hd->easy;
  t->hd = hd, hd->t = t, hd->errbuf[0] = hd->msg[0] = hd->refused[0] = '\0';
  t->eng = e; /* so __gc can give the handle back even if a caller raises */
  if (share) {
    lua_pushvalue(L, share_idx);
    lua_setiuservalue(L, -2, LURL_TUV_SHARE);
    t->pinned |= LURL_PIN_SHARE;
    if (!kept_h) lurl_share_attach(share, t->easy);
    t->share = share;
  }
  return t;
}

/*
** Gives the transfer's easy handle back (to its session's idle handles,
** still attached and configured, or to the engine's pool, or frees it) and
** its request header list.  Idempotent; safe whether or not the engine is
** alive.
*/
void lurl_transfer_release(lurl_transfer *t) {
  if (t->easy) {
    lurl_engine *e = t->eng;
    CURL *h = t->easy;
    if (e) lurl_engine_remove(e, t); /* off the multi (if running) and the live list */
    if (!t->tainted && t->state != LURL_T_IDLE && lurl_handle_challenged(h))
      t->tainted = 1; /* only a reset forgets the challenge */
    t->hd->t = NULL;
    t->hd = NULL;
    if (t->share) {
      if (t->tainted || e == NULL || lurl_engine_closed(e) || !lurl_share_keep(t->share, h)) {
        lurl_share_detach(t->share, h);
        lurl_pool_give(e ? lurl_engine_pool(e) : NULL, h, t->tainted);
      }
      t->share = NULL;
    } else {
      lurl_pool_give(e ? lurl_engine_pool(e) : NULL, h, t->tainted);
    }
    t->easy = NULL;
  }
  if (t->state == LURL_T_RUNNING) t->state = LURL_T_DONE;
  free(t->hblock); /* the list libcurl read, and the record: res._tm has it */
  t->hblock = NULL;
  t->slist = NULL;
  t->reqhead = NULL, t->reqhead_len = 0;
  lurl_chain_unref(t->chain); /* when core.result did not take it */
  t->chain = NULL;
  if (t->up.mime) { /* only once the easy handle no longer uses it */
    curl_mime_free(t->up.mime);
    t->up.mime = NULL;
  }
  t->up.file = NULL;
  lurl_buf_free(&t->up.buf);
  lurl_decoder_free(t->in.dec); /* its window can be megabytes: not left to __gc */
  t->in.dec = NULL;
}

/* The engine is going (its __gc): t frees its handle and forgets it. */
void lurl_transfer_orphan(lurl_transfer *t) {
  lurl_engine_remove(t->eng, t);
  if (t->share) {
    lurl_share_detach(t->share, t->easy);
    t->share = NULL;
  }
  lurl_easy_free(t->easy);
  t->easy = NULL;
  t->hd = NULL;
  t->state = LURL_T_DONE;
  t->eng = NULL;
}

/*
** Speed trick, spare buffers: a response's head and body buffers (C
** memory, copied into Lua when core.result makes the response) are not
** freed and made again for the next request of the same easy handle: when
** small (LURL_SPARE_MAX) they stay on the handle's companion, which the
** pool keeps, and the next transfer on that handle starts with them: two
** mallocs and two frees fewer per request.  Invariant: only buffers that
** count against no budget (acct NULL: a state without a memory cap) are
** kept or taken, so a limited state's cap counts what it always did; a
** spare is owned by the companion (freed with it, or when a reset zeroes
** it, handle.c) and by no transfer; a transfer takes spares only before
** its handle runs, and gives them back only after core.result copied them.
*/
static void take_spare(lurl_buf *b, lurl_buf *spare) {
  if (b->data || b->acct || !spare->data) return;
  b->data = spare->data, b->cap = spare->cap, b->len = 0;
  b->data[0] = '\0';
  spare->data = NULL, spare->cap = spare->len = 0;
}

static void give_spare(lurl_buf *b, lurl_buf *spare) {
  if (!b->data || b->acct || b->cap > LURL_SPARE_MAX || spare->data) return;
  spare->data = b->data, spare->cap = b->cap, spare->len = 0;
  b->data = NULL, b->cap = b->len = 0;
}

/* For request.c, once the buffers' budget (acct) is set: see above. */
void lurl_transfer_take_spares(lurl_transfer *t) {
  take_spare(&t->body, &t->hd->spare_body);
  take_spare(&t->head, &t->hd->spare_head);
}

/* Frees what the response held in C memory (release frees the rest). */
static void free_buffers(lurl_transfer *t) {
  lurl_buf_free(&t->body);
  lurl_buf_free(&t->head);
}

/* __gc of a transfer: take it off the multi handle first, then free. */
static int transfer_gc(lua_State *L) {
  lurl_transfer *t = lurl_checktransfer(L, 1);
  lurl_engine_forget(L, t); /* a waiting coroutine closed by hand */
  lurl_drop_chunk(L, t);
  lurl_transfer_release(t);
  free_buffers(t);
  return 0;
}

static int transfer_tostring(lua_State *L) {
  lurl_transfer *t = lurl_checktransfer(L, 1);
  static const char *const names[] = {"idle", "running", "done"};
  lua_pushfstring(L, "http.transfer (%s)", names[t->state]);
  return 1;
}

/* ------------------------------------------------------ streamed chunks -- */

/* Registry key: luaL_ref table of the chunk queues deliver_direct fills,
** one per streamed transfer with chunks waiting: {first = i, [i] = s, ...}. */
static const char chunks_key = 0;

/* Under lua_pcall: makes the Lua string of one streamed chunk and appends it
** to t's queue (created on the first chunk, kept in an array slot of the
** chunks table: refs are reused, no hash churn). */
static int make_chunk(lua_State *L) {
  const char *p = (const char *)lua_touserdata(L, 1);
  size_t len = (size_t)lua_tointeger(L, 2);
  lurl_transfer *t = (lurl_transfer *)lua_touserdata(L, 3);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &chunks_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &chunks_key);
  }
  if (!t->st.chunk_ref) {
    lua_createtable(L, 4, 0);
    lua_pushvalue(L, -1);
    t->st.chunk_ref = luaL_ref(L, -3);
    t->st.chunk_first = t->st.chunk_last = 0;
  } else {
    lua_rawgeti(L, -1, t->st.chunk_ref);
  }
  lua_pushlstring(L, p, len);
  lua_rawseti(L, -2, ++t->st.chunk_last);
  return 0;
}

/*
** Speed trick, chunks made in the write callback: a streamed chunk straight
** from libcurl's buffer into a Lua string, one copy of every byte fewer
** than going through t->body.  Only when the engine is inside
** curl_multi_perform for a Lua state (turn) and no byte is buffered in
** t->body (they would come first).  Returns 0 when it could not (no stack,
** out of memory): the caller buffers the bytes instead.
** Invariants: no script code runs in here (under lua_pcall, the collector
** stopped so no finalizer runs, call/return hooks off) and no Lua error
** crosses libcurl; the bytes allocated while the collector was stopped are
** a debt the engine pays once libcurl returns (lurl_engine_gc_owe, the
** collector debt, engine.c's perform); the queue (chunk_ref) is taken in
** order by core.pull and core.sink and dropped with the transfer.
*/
static int deliver_direct(lurl_transfer *t, const char *p, size_t len) {
  lua_State *L = t->eng ? lurl_engine_lua(t->eng) : NULL;
  if (!L || !lua_checkstack(L, 4)) return 0;
  /* a call or return hook would run script code around make_chunk; line
  ** and count hooks never fire in a C function, and a host's count hook
  ** (instruction limits) must keep its countdown: left alone */
  lua_Hook hook = lua_gethook(L);
  int mask = lua_gethookmask(L), count = lua_gethookcount(L);
  int off = hook && (mask & (LUA_MASKCALL | LUA_MASKRET));
  if (off) lua_sethook(L, NULL, 0, 0);
  int running = lua_gc(L, LUA_GCISRUNNING);
  if (running) lua_gc(L, LUA_GCSTOP); /* no finalizer may run in here */
  lua_pushcfunction(L, make_chunk);
  lua_pushlightuserdata(L, (void *)p);
  lua_pushinteger(L, (lua_Integer)len);
  lua_pushlightuserdata(L, t);
  int rc = lua_pcall(L, 3, 0, 0);
  if (rc != LUA_OK) lua_pop(L, 1); /* out of memory: buffer the bytes */
  if (running) {
    /* LUA_GCRESTART forgets what was allocated while stopped: the engine
    ** charges it to the collector once libcurl has returned (engine.c) */
    lua_gc(L, LUA_GCRESTART);
    lurl_engine_gc_owe(t->eng, len + 64);
  }
  if (off) lua_sethook(L, hook, mask, count);
  if (rc == LUA_OK) t->st.queued += len;
  return rc == LUA_OK;
}

/* Takes the oldest chunk deliver_direct made, if any; pushes it or nothing
** and returns 1 or 0. */
static int take_direct(lua_State *L, lurl_transfer *t) {
  if (!t->st.chunk_ref) return 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &chunks_key);
  lua_rawgeti(L, -1, t->st.chunk_ref);
  lua_rawgeti(L, -1, ++t->st.chunk_first);
  lua_pushnil(L);
  lua_rawseti(L, -3, t->st.chunk_first);
  t->st.queued -= lua_rawlen(L, -1);
  if (t->st.chunk_first == t->st.chunk_last) { /* the queue is empty: give it back */
    luaL_unref(L, -3, t->st.chunk_ref);
    t->st.chunk_ref = 0;
    t->st.queued = 0;
  }
  lua_replace(L, -3);
  lua_pop(L, 1);
  return 1;
}

/* Forgets the chunks nobody will take (the transfer is closed or collected). */
void lurl_drop_chunk(lua_State *L, lurl_transfer *t) {
  if (!t->st.chunk_ref) return;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &chunks_key);
  luaL_unref(L, -1, t->st.chunk_ref);
  lua_pop(L, 1);
  t->st.chunk_ref = 0;
  t->st.queued = 0;
}

/* lurl_buf_add without a call when the bytes fit the buffer as it is (the
** header callback and a small body land here for every response; the
** spare buffers make that the usual case): the same checks, in line. */
static inline int buf_add(lurl_buf *b, const char *p, size_t n) {
  if (b->data && n < b->cap - b->len &&
      (!b->limit || (b->len <= b->limit && n <= b->limit - b->len))) {
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return LURL_BUF_OK;
  }
  return lurl_buf_add(b, p, n);
}

/* Decoded (or plain) response body bytes.  Buffered bodies fill t->body
** (capped by max_body).  Streamed bodies go to res:save's file, or become
** Lua strings, and pause once a chunk is waiting for Lua to take it.
** Returns 1, or 0 with t->fault set. */
static int body_bytes(lurl_transfer *t, const char *p, size_t len) {
  if (!t->st.on) {
    int rc = buf_add(&t->body, p, len);
    if (rc == LURL_BUF_OK) return 1;
    t->fault = rc == LURL_BUF_LIMIT ? LURL_FAULT_BODY_TOO_LARGE : LURL_FAULT_NOMEM;
    return 0;
  }
  if (t->st.max_body && t->st.received + len > t->st.max_body) {
    t->fault = LURL_FAULT_BODY_TOO_LARGE;
    return 0;
  }
  t->st.received += len;
  if (t->st.sink) { /* res:save: straight to the file, no Lua in between */
    if (fwrite(p, 1, len, t->st.sink) == len) {
      t->st.sunk += len;
      return 1;
    }
    t->st.sink_errno = errno ? errno : EIO;
    t->fault = LURL_FAULT_WRITE;
    return 0;
  }
  t->wake = 1; /* data is there: a reader gets it as it arrives */
  if (t->body.len == 0 && deliver_direct(t, p, len)) {
    if (t->st.queued >= t->st.chunk_cap && !t->st.paused) { /* enough for Lua: wait for it */
      t->st.paused = 1;
      curl_easy_pause(t->easy, CURLPAUSE_RECV | (t->up.need ? CURLPAUSE_SEND : 0));
    }
    return 1;
  }
  if (lurl_buf_add(&t->body, p, len) != LURL_BUF_OK) {
    t->fault = LURL_FAULT_NOMEM;
    return 0;
  }
  if (t->body.len >= t->st.chunk_cap && !t->st.paused && t->state == LURL_T_RUNNING) {
    /* a chunk is ready: libcurl reads no more until Lua takes it.  These
    ** bytes are kept (returning CURL_WRITEFUNC_PAUSE would make libcurl
    ** copy them aside and hand them over again); the buffer stays under
    ** chunk_cap plus one delivery. */
    t->st.paused = 1;
    curl_easy_pause(t->easy, CURLPAUSE_RECV | (t->up.need ? CURLPAUSE_SEND : 0));
  }
  return 1;
}

/* Why the Content-Encoding of the response cannot be decoded, in
** the handle's msg (lurl's own fault message, see lurl_transfer_msg):
** its fields parsed again, on this rare path only. */
static void coding_error(lurl_transfer *t) {
  unsigned char codes[LURL_MAX_CODINGS];
  int n = 0;
  size_t pos = 0;
  lurl_field f;
  while (t->head.data && lurl_next_field(t->head.data, t->head.len, &pos, &f))
    if (lurl_ieq(f.name, f.name_len, "Content-Encoding", 16) &&
        lurl_codings_parse(f.value, f.value_len, codes, &n, t->hd->msg, sizeof t->hd->msg) != 0)
      return;
}

/* A streamed body with a chunk waiting for Lua: decode no further. */
static int stream_full(const lurl_transfer *t) {
  return t->st.on && !t->st.sink && t->body.len + t->st.queued >= t->st.chunk_cap;
}

/* Whether the response's header block has a Location field. */
static int has_location(const lurl_transfer *t) {
  size_t pos = 0;
  lurl_field f;
  while (t->head.data && lurl_next_field(t->head.data, t->head.len, &pos, &f))
    if (lurl_ieq(f.name, f.name_len, "Location", 8)) return 1;
  return 0;
}

/*
** A body that cannot be decoded: a fault, unless the response is a
** redirect (301, 302, 303, 307 or 308 with a Location), whose body nobody
** reads, as requests treats it: resolve_redirects reads such a body raw
** when decoding fails, whether it then follows the redirect or not
** (allow_redirects=False looks ahead too), so its bad encoding is never an
** error.  Its bytes are read and dropped (the connection stays usable) and
** the body is empty.  Returns 1 when the bytes are dropped, 0 with
** t->fault set.  Rare path: the header block is searched here only.
*/
static int undecodable(lurl_transfer *t) {
  long code = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
  if ((code == 301 || code == 302 || code == 303 || code == 307 || code == 308) &&
      has_location(t)) {
    t->in.undecodable = 1;
    t->hd->msg[0] = '\0'; /* no error: the message must not name a later one */
    lurl_decoder_free(t->in.dec); /* nothing kept back to decode (refill) */
    t->in.dec = NULL;
    lurl_buf_reset(&t->body); /* what was decoded before the fault goes too */
    return 1;
  }
  t->fault = LURL_FAULT_DECODE;
  return 0;
}

/*
** An encoded body: decoded here (libcurl's decoding is off, engine.c), one
** bounded step at a time, each step's bytes passed on as plain bytes are.
** A streamed body stops decoding once a chunk is waiting: the input left
** is kept by the decoder (at most one delivery of libcurl's, which is
** paused now) and decoded when Lua has taken the chunk (refill), so memory
** stays one chunk whatever the compression ratio; max_body counts the
** decoded bytes as they come.  Returns 1, or 0 with t->fault set.
*/
static int decode_body(lurl_transfer *t, const char *p, size_t len) {
  if (t->fault) return 0; /* found by a refill outside the callback */
  if (t->in.undecodable) return 1; /* a 3xx body being dropped */
  if (!t->in.dec) {
    if (t->in.ncodings < 0) { /* a coding lurl cannot decode (on_header) */
      coding_error(t);
      return undecodable(t);
    }
    if ((t->in.dec = lurl_decoder_new(t->in.codings, t->in.ncodings)) == NULL) {
      t->fault = LURL_FAULT_NOMEM;
      return 0;
    }
  }
  for (;;) {
    if (stream_full(t)) {
      if (lurl_decoder_keep(t->in.dec, p, len) == 0) return 1;
      t->fault = LURL_FAULT_NOMEM;
      return 0;
    }
    size_t used, made;
    const char *out;
    if (lurl_decoder_step(t->in.dec, p, len, &used, &out, &made) != 0) {
      snprintf(t->hd->msg, sizeof t->hd->msg, "%s", lurl_decoder_error(t->in.dec));
      return undecodable(t);
    }
    p += used, len -= used;
    if (made > 0 && !body_bytes(t, out, made)) return 0;
    if (made == 0 && len == 0) return 1; /* all used, nothing more to give */
  }
}

/* Decodes what a streamed body kept back (see decode_body), now that Lua
** took a chunk or a file takes the bytes; returns whether some is still
** kept back (the transfer stays paused). */
static int refill(lurl_transfer *t) {
  if (!t->in.dec || t->fault || !lurl_decoder_pending(t->in.dec)) return 0;
  if (!decode_body(t, "", 0)) return 0;
  return lurl_decoder_pending(t->in.dec);
}

/* Response body bytes from libcurl.  Plain bytes take no detour. */
size_t lurl_on_body(char *p, size_t size, size_t n, void *ud) {
  lurl_transfer *t = ((lurl_handle *)ud)->t;
  size_t len = size * n;
  t->moved = 1; /* the read clock starts over (check_deadlines, engine.c) */
  t->in.wire += (curl_off_t)len;
  if (t->in.ncodings) return decode_body(t, p, len) ? len : 0;
  return body_bytes(t, p, len) ? len : 0;
}

/* Parses a Content-Length value: one length, or a list of equal ones
** ("5, 5"); every value must match the one seen before (RFC 9112 6.3).
** Returns 0, or -1 with t->fault set. */
static int check_length(lurl_transfer *t, const char *v, size_t n) {
  if (n > 0 && v[n - 1] == '\n') n--;
  if (n > 0 && v[n - 1] == '\r') n--;
  while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  size_t i = 0;
  do {
    while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
    size_t s = i;
    long long x = 0;
    int big = 0;
    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
      int d = v[i] - '0'; /* x * 10 + d must stay under 2^63 */
      if (x > 922337203685477580LL || (x == 922337203685477580LL && d > 7)) big = 1;
      else x = x * 10 + d;
    }
    size_t e = i;
    while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
    if (e == s || big || (i < n && v[i] != ',')) {
      while (n > 0 && (v[0] == ' ' || v[0] == '\t')) v++, n--;
      snprintf(t->hd->msg, sizeof t->hd->msg, "invalid Content-Length '%.*s' in the response: %s",
               (int)(n > 40 ? 40 : n), v, big ? "too large to be a length" : "not a length");
      t->fault = LURL_FAULT_BAD_LENGTH;
      return -1;
    }
    if (t->in.has_clen && x != t->in.clen) {
      snprintf(t->hd->msg, sizeof t->hd->msg,
               "conflicting Content-Length values in the response: %lld and %lld", t->in.clen, x);
      t->fault = LURL_FAULT_LENGTHS;
      return -1;
    }
    t->in.has_clen = 1, t->in.clen = x;
  } while (i++ < n);
  return 0;
}

/* A header line of a response: Content-Length is checked, Content-Encoding
** noted (a coding lurl cannot decode fails at the first body byte, so a
** HEAD or a 304 still succeeds).  Returns 0, or -1 with t->fault set. */
static uint64_t lower8(const char *p) { /* 8 bytes, ASCII letters lower-cased */
  uint64_t w;
  memcpy(&w, p, 8);
  return w | 0x2020202020202020ULL;
}

static uint64_t word8(const char *lit) {
  uint64_t w;
  memcpy(&w, lit, 8);
  return w;
}

static int framing_field(lurl_transfer *t, const char *p, size_t len) {
  /* two word compares per field, not a string compare: this runs for
  ** every response.  OR 0x20 also folds a few controls onto '-' and ':',
  ** which are checked exactly */
  if (len <= 16 || p[7] != '-' || lower8(p) != word8("content-")) return 0;
  if (p[14] == ':' && lower8(p + 7) == word8("-length:")) return check_length(t, p + 15, len - 15);
  if (len > 17 && p[16] == ':' && lower8(p + 9) == word8("ncoding:") && (p[8] | 0x20) == 'e' &&
      t->in.ncodings >= 0) {
    char why[8];
    if (lurl_codings_parse(p + 17, len - 17, t->in.codings, &t->in.ncodings, why, sizeof why) != 0)
      t->in.ncodings = -1; /* the message is made if a body comes (coding_error) */
  }
  return 0;
}

/* Header lines of every response libcurl reads (100-continue, digest
** challenges...): a new status line starts the block, and the body, over.
** The empty line that ends a final response's header block is what a
** streamed request waits for.  All the header lines of a transfer count
** against LURL_MAX_HEAD_BYTES and LURL_MAX_HEAD_LINES. */
size_t lurl_on_header(char *p, size_t size, size_t n, void *ud) {
  lurl_transfer *t = ((lurl_handle *)ud)->t;
  size_t len = size * n;
  if (len > 5 && memcmp(p, "HTTP/", 5) == 0) {
    lurl_buf_reset(&t->head);
    lurl_buf_reset(&t->body);
    t->in.ncodings = 0, t->in.has_clen = 0; /* an earlier block's fields are not this one's */
    t->in.undecodable = 0;
    lurl_decoder_free(t->in.dec);
    t->in.dec = NULL;
  }
  t->moved = 1;
  t->in.head_total += len;
  if (++t->in.head_lines > LURL_MAX_HEAD_LINES || t->in.head_total > LURL_MAX_HEAD_BYTES) {
    t->fault = t->in.head_total > LURL_MAX_HEAD_BYTES ? LURL_FAULT_HEAD_SIZE : LURL_FAULT_HEAD_LINES;
    return 0;
  }
  if ((p[0] | 0x20) == 'c' && !t->headers_done && framing_field(t, p, len) != 0) return 0;
  if (buf_add(&t->head, p, len) != LURL_BUF_OK) {
    t->fault = LURL_FAULT_NOMEM;
    return 0;
  }
  if ((len == 2 && p[0] == '\r') || (len == 1 && p[0] == '\n')) {
    long code = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    t->status = code; /* core.result's, unless a later block comes */
    /* 1xx are interim; libcurl answers a first digest 401 itself */
    int interim = code < 200 || (code == 401 && t->curl_auth && !t->auth_tried);
    if (code == 401) t->auth_tried = 1;
    if (!interim) {
      t->headers_done = 1;
      if (t->https) lurl_chain_capture(t); /* certs.c: res.certificate */
      if (t->st.on) t->wake = 1;
    }
  }
  return len;
}

/* Upload bytes: from an open file, or from chunks Lua handed over; with
** nothing buffered, pause and ask Lua for the next chunk. */
size_t lurl_on_read(char *buf, size_t size, size_t n, void *ud) {
  lurl_transfer *t = (lurl_transfer *)ud;
  size_t room = size * n;
  t->last_ms = lurl_now_ms();
  if (t->up.file) {
    size_t got = fread(buf, 1, room, t->up.file);
    if (got == 0 && ferror(t->up.file)) return CURL_READFUNC_ABORT;
    return got;
  }
  if (t->up.off < t->up.buf.len) {
    size_t k = t->up.buf.len - t->up.off;
    if (k > room) k = room;
    memcpy(buf, t->up.buf.data + t->up.off, k);
    t->up.off += k;
    t->up.given += (curl_off_t)k;
    if (t->up.off == t->up.buf.len) {
      lurl_buf_reset(&t->up.buf);
      t->up.off = 0;
    }
    return k;
  }
  if (t->up.eof) return 0;
  t->up.need = 1;
  t->wake = 1;
  return CURL_READFUNC_PAUSE;
}

/* Progress: remember the numbers; wake Lua (which calls on_progress) at
** most every PROGRESS_EVERY_MS. */
int lurl_on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                     curl_off_t ulnow) {
  lurl_transfer *t = (lurl_transfer *)ud;
  /* a body from a function goes chunked: libcurl counts the chunks'
  ** framing too, which the body does not have */
  if (t->up.given && ulnow > t->up.given) ulnow = t->up.given;
  if (dlnow != t->prog.dl_now || ulnow != t->prog.ul_now || dltotal != t->prog.dl_total ||
      ultotal != t->prog.ul_total) {
    t->prog.dl_now = dlnow;
    t->prog.dl_total = dltotal;
    t->prog.ul_now = ulnow;
    t->prog.ul_total = ultotal;
    long long now = lurl_now_ms();
    if (now - t->prog.ms >= PROGRESS_EVERY_MS) {
      t->prog.ms = now;
      t->prog.due = 1;
      t->wake = 1;
    }
  }
  return 0;
}

/*
** A transfer that reports progress has ended well (engine.c, finish): its
** final sizes become a report due, unless on_progress was last given
** them.  libcurl may end a transfer without calling the progress callback
** with its last bytes, and lurl_on_progress reports at most every
** PROGRESS_EVERY_MS, so the numbers Lua last saw can fall short (an upload
** stopping at 65536 of 200000).  A body received whole is its total
** (a chunked one, whose total was unknown, too); so is a body sent from a
** function (chunked), counted as the bytes the function gave.
*/
void lurl_transfer_progress_end(lurl_transfer *t) {
  curl_off_t dn = 0, un = 0, ut = -1;
  curl_easy_getinfo(t->easy, CURLINFO_SIZE_DOWNLOAD_T, &dn);
  curl_easy_getinfo(t->easy, CURLINFO_SIZE_UPLOAD_T, &un);
  curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_UPLOAD_T, &ut);
  if (t->up.eof) un = t->up.given; /* a function's body, without the chunks' framing */
  if (ut < un) ut = un; /* unknown (-1: chunked) */
  t->prog.dl_now = dn, t->prog.dl_total = dn;
  t->prog.ul_now = un, t->prog.ul_total = ut;
  const curl_off_t *s = t->prog.shown;
  if (s[0] != dn || s[1] != dn || s[2] != un || s[3] != ut) t->prog.due = 1;
}

/* Resumes a paused receive side (after Lua took the buffered chunk). */
static void unpause(lurl_transfer *t) {
  if (t->st.paused && t->easy && t->state == LURL_T_RUNNING) {
    /* a chunk decoded from what was kept back is waiting: stay paused.  A
    ** decoding fault here ends the transfer at libcurl's next delivery */
    if (refill(t) || stream_full(t)) return;
    t->st.paused = 0;
    t->last_ms = lurl_now_ms(); /* the pause was the reader's, not the server's */
    curl_easy_pause(t->easy, t->up.need ? CURLPAUSE_SEND : CURLPAUSE_CONT);
  }
}

/*
** core.pull(transfer [, want]) -> chunk | nil [, err] | false
** The bytes of the streamed body that have arrived (at most about `want`);
** nil at the end (nil, err when the transfer failed, e.g. the body was cut
** short); false when Lua must wait for the loop first.  `want` bounds how
** much is buffered before the transfer pauses.
*/
static int core_pull(lua_State *L) {
  lurl_transfer *t = lurl_checktransfer(L, 1);
  lua_Integer want = luaL_optinteger(L, 2, 0);
  if (want > 0) t->st.chunk_cap = (size_t)want < MIN_CHUNK ? MIN_CHUNK : (size_t)want;
  t->wake = 0;
  if (take_direct(L, t)) { /* made in the write callback: it came first */
    if (t->body.len == 0 && t->st.queued < t->st.chunk_cap) unpause(t);
    return 1;
  }
  if (t->body.len == 0) refill(t); /* decoded bytes kept back come next */
  if (t->body.len > 0) { /* whatever has arrived, at most about chunk_cap */
    lua_pushlstring(L, t->body.data, t->body.len);
    lurl_buf_reset(&t->body);
    unpause(t);
    return 1;
  }
  if (t->state == LURL_T_RUNNING) {
    unpause(t);
    lua_pushboolean(L, 0);
    return 1;
  }
  /* done: end of body, or the failure that ended it */
  if (t->fault || t->code != CURLE_OK) {
    lua_pushnil(L);
    push_transfer_error(L, t, 1);
    lurl_transfer_release(t);
    return 2;
  }
  lurl_transfer_release(t);
  lua_pushnil(L);
  return 1;
}

/* Writes all of s to f, or records why not. */
static int sink_write(lurl_transfer *t, FILE *f, const char *s, size_t n) {
  errno = 0;
  if (fwrite(s, 1, n, f) == n) {
    t->st.sunk += n;
    return 1;
  }
  t->st.sink_errno = errno ? errno : EIO;
  return 0;
}

/*
** core.sink(transfer [, file]) -> bytes written | nil, message
** res:save's fast path: from now on the write callback writes the streamed
** body straight to `file` (an open io file the caller keeps open until the
** transfer is done), the bytes already here first.  The transfer never
** pauses for Lua again; the caller waits for it to finish, then pulls to
** learn how it ended.  core.sink(transfer) detaches the file (before it is
** closed).  Either way: the bytes written to the file so far, or nil and
** why a write failed.
*/
static int core_sink(lua_State *L) {
  lurl_transfer *t = lurl_checktransfer(L, 1);
  if (lua_isnoneornil(L, 2)) {
    t->st.sink = NULL;
  } else {
    luaL_Stream *fs = (luaL_Stream *)luaL_checkudata(L, 2, LUA_FILEHANDLE);
    if (!fs->closef) return luaL_error(L, "attempt to use a closed file");
    int ok = 1;
    while (ok && take_direct(L, t)) {
      size_t n;
      const char *s = lua_tolstring(L, -1, &n);
      ok = sink_write(t, fs->f, s, n);
      lua_pop(L, 1);
    }
    if (ok && t->body.len > 0) ok = sink_write(t, fs->f, t->body.data, t->body.len);
    lurl_buf_reset(&t->body);
    if (ok) {
      t->st.sink = fs->f;
      refill(t); /* what decoding kept back goes to the file first */
      /* a write error is reported below (the caller cancels); any other
      ** fault ends the transfer at libcurl's next delivery */
      if (t->fault != LURL_FAULT_WRITE) unpause(t);
    } else {
      t->fault = LURL_FAULT_WRITE;
    }
  }
  if (t->fault == LURL_FAULT_WRITE) {
    lua_pushnil(L);
    lua_pushstring(L, strerror(t->st.sink_errno));
    return 2;
  }
  lua_pushinteger(L, (lua_Integer)t->st.sunk);
  return 1;
}

/*
** core.io_state(transfer) -> needs_upload_chunk, headers_done, progress_due,
**                             down_now, down_total, up_now, up_total
** Clears `wake`: the caller is about to deal with all of it.
*/
static int core_io_state(lua_State *L) {
  lurl_transfer *t = lurl_checktransfer(L, 1);
  t->wake = 0;
  lua_pushboolean(L, t->up.need && t->state == LURL_T_RUNNING);
  lua_pushboolean(L, t->headers_done);
  lua_pushboolean(L, t->prog.due);
  if (t->prog.due) {
    t->prog.shown[0] = t->prog.dl_now, t->prog.shown[1] = t->prog.dl_total;
    t->prog.shown[2] = t->prog.ul_now, t->prog.shown[3] = t->prog.ul_total;
  }
  t->prog.due = 0;
  lua_pushinteger(L, (lua_Integer)t->prog.dl_now);
  lua_pushinteger(L, (lua_Integer)t->prog.dl_total);
  lua_pushinteger(L, (lua_Integer)t->prog.ul_now);
  lua_pushinteger(L, (lua_Integer)t->prog.ul_total);
  return 7;
}

/* core.feed(transfer, chunk | nil): the next upload chunk, or nil at the
** end of the body; resumes the send side. */
static int core_feed(lua_State *L) {
  lurl_transfer *t = lurl_checktransfer(L, 1);
  t->wake = 0;
  if (lua_isnoneornil(L, 2)) {
    t->up.eof = 1;
  } else {
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    if (lurl_buf_add(&t->up.buf, s, n) != LURL_BUF_OK) return luaL_error(L, "not enough memory");
  }
  if (t->up.need && t->easy && t->state == LURL_T_RUNNING) {
    t->up.need = 0;
    curl_easy_pause(t->easy, t->st.paused ? CURLPAUSE_RECV : CURLPAUSE_CONT);
  }
  return 0;
}

/* ----------------------------------------------------------- the result -- */

/* Pushes the error object for a failed transfer [-0, +1]. */
static void push_transfer_error(lua_State *L, lurl_transfer *t, int tidx) {
  char msg[CURL_ERROR_SIZE + 64];
  const char *kind = lurl_error_kind(t, lurl_now_ms(), msg, sizeof msg);
  lua_getiuservalue(L, tidx, LURL_TUV_METHOD);
  lua_getiuservalue(L, tidx, LURL_TUV_URL);
  /* a body lurl could not decode keeps libcurl's code for it (61) */
  lurl_push_error(L, kind, msg, lua_tostring(L, -2), lua_tostring(L, -1),
                  t->fault == LURL_FAULT_DECODE ? CURLE_BAD_CONTENT_ENCODING
                  : t->fault ? -1 : (int)t->code);
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/*
** core.result(transfer) -> res | nil, err.  Gives the easy handle back to
** the engine either way.  Raises only for an interrupt or lack of memory.
** Its upvalues are the field names, in the order of result_keys (made by
** push_result): set with lua_rawset, they cost
** no string lookup per field.  The last upvalue is the response metatable
** (core.set_response_mt; lua/http/response.lua), nil until it is set.
*/
static const char *const result_keys[] = {"status", "url", "body", "_reqbody", "_tm"};
/* the upvalues after `uv` (0 for core.result; core.fetch keeps them after
** core.start's, see lurl_transfer_result) */
#define KEY_STATUS lua_upvalueindex(uv + 1)
#define KEY_URL lua_upvalueindex(uv + 2)
#define KEY_BODY lua_upvalueindex(uv + 3)
#define KEY_REQBODY lua_upvalueindex(uv + 4)
#define KEY_TM lua_upvalueindex(uv + 5)
#define RESULT_MT lua_upvalueindex(uv + 6)
#define RESULT_MT_UPVALUE 6 /* RESULT_MT, as lua_setupvalue numbers it */
_Static_assert(sizeof result_keys / sizeof result_keys[0] + 1 == RESULT_MT_UPVALUE &&
               RESULT_MT_UPVALUE + 1 == LURL_RESULT_KEPT_UV &&
               LURL_RESULT_KEPT_UV == LURL_RESULT_UPVALUES,
               "core.result: one upvalue per key, the metatable, the kept transfer");
int lurl_transfer_result(lua_State *L, int tidx, int uv) {
  lurl_transfer *t = lurl_checktransfer(L, tidx);
  int method_i = tidx + 1, url_i = tidx + 2;
  lua_getiuservalue(L, tidx, LURL_TUV_METHOD); /* method_i */
  lua_getiuservalue(L, tidx, LURL_TUV_URL); /* url_i */
  /* a streamed response is handed over once its headers are in */
  int streaming = t->st.on && t->state == LURL_T_RUNNING && t->headers_done;
  if (t->state == LURL_T_RUNNING && !streaming) return luaL_error(L, "transfer still running");
  if (!t->easy) return luaL_error(L, "transfer already consumed");
  if (t->fault == LURL_FAULT_NOMEM) {
    lurl_transfer_release(t);
    return luaL_error(L, "not enough memory");
  }
  if (t->fault == LURL_FAULT_INTERRUPTED) {
    lurl_transfer_release(t);
    return luaL_error(L, "interrupted");
  }
  if (!streaming && (t->fault || t->code != CURLE_OK) && !(t->st.on && t->headers_done)) {
    push_transfer_error(L, t, tidx);
    lurl_transfer_release(t);
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  /* the fields nearly every caller reads; reason, ok, http_version and
  ** elapsed are worked out when read (lua/http/response.lua) */
  CURL *h = t->easy;
  long code = t->status; /* the header callback's: one getinfo less */
  if (!code) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  /* four fields for a plain GET (status, url, body, _tm): a hash of four
  ** slots; _reqbody, and lazy fields once read, grow it */
  lua_createtable(L, 0, 4);
  lua_pushvalue(L, KEY_STATUS);
  lua_pushinteger(L, code);
  lua_rawset(L, -3);
  lua_pushvalue(L, KEY_URL);
  lua_pushvalue(L, url_i);
  lua_rawset(L, -3);
  if (!t->st.on) {
    lua_pushvalue(L, KEY_BODY);
    lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
    lua_rawset(L, -3);
  }
  if (t->pinned & LURL_PIN_STRING_BODY) { /* a string body: what was sent */
    lua_pushvalue(L, KEY_REQBODY);
    lua_getiuservalue(L, tidx, LURL_TUV_BODY);
    lua_rawset(L, -3);
  }
  lua_pushvalue(L, KEY_TM);
  size_t mlen;
  const char *method = lua_tolstring(L, method_i, &mlen);
  /* the request head record rides in the timings userdata too: res._reqhead
  ** is made from it when read (lua/http/response.lua) */
  lurl_bytes bytes = {(curl_off_t)t->in.head_total, t->in.wire, -1};
  if (t->up_counted) curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &bytes.up);
  lurl_push_timings(L, h, &t->head, method ? method : "", method ? mlen : 0,
                    t->reqhead ? t->reqhead : "", t->reqhead_len, t->chain,
                    &bytes); /* res._tm */
  t->chain = NULL; /* the timings userdata holds it now */
  lua_rawset(L, -3);
  if (!lua_isnil(L, RESULT_MT)) {
    lua_pushvalue(L, RESULT_MT);
    lua_setmetatable(L, -2);
  }
  if (t->st.on) return 1; /* the transfer lives on: Lua pulls the body */
  give_spare(&t->body, &t->hd->spare_body); /* copied above: see spare buffers */
  give_spare(&t->head, &t->hd->spare_head);
  lurl_transfer_release(t);
  free_buffers(t); /* the body may be large: given back now, not at collection */
  return 1;
}

/* core.result(t [, drop]): drop = true promises that the caller keeps no
** reference to t once this returns: it is parked for the next request
** (speed trick, the kept transfer). */
static int core_result(lua_State *L) {
  int drop = lua_toboolean(L, 2);
  lua_settop(L, 1);
  int n = lurl_transfer_result(L, 1, 0);
  if (drop) lurl_transfer_park(L, 1, lua_upvalueindex(LURL_RESULT_KEPT_UV));
  return n;
}

/* core.set_response_mt(mt): the metatable core.result and core.fetch
** give every response (its upvalues are core.result and, once
** lurl_request_open made it, core.fetch). */
static int set_response_mt(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  /* the metatable is core.result's RESULT_MT, and core.fetch's */
  lua_pushvalue(L, 1);
  lua_setupvalue(L, lua_upvalueindex(1), RESULT_MT_UPVALUE);
  if (lua_type(L, lua_upvalueindex(2)) == LUA_TFUNCTION)
    lua_setupvalue(L, lua_upvalueindex(2), LURL_FETCH_RESULT_UV + RESULT_MT_UPVALUE);
  return 0;
}

/* Pushes core.result, a closure over its field names and the response
** metatable, and core.set_response_mt [-0, +2]. */
static void push_result(lua_State *L) {
  int n = (int)(sizeof result_keys / sizeof result_keys[0]);
  for (int i = 0; i < n; i++) lua_pushstring(L, result_keys[i]);
  lua_pushnil(L); /* the response metatable, once set */
  lurl_kept *k = (lurl_kept *)lua_newuserdatauv(L, sizeof *k, 1);
  k->t = NULL; /* the kept transfer: none parked yet */
  lua_pushcclosure(L, core_result, n + 2);
  lua_pushvalue(L, -1);
  lua_pushnil(L); /* core.fetch, set by lurl_request_open */
  lua_pushcclosure(L, set_response_mt, 2);
}

/* core.stream_bytes(transfer, timings): a streamed response's res.bytes
** counted to the end of its body (core.result made the timings when the
** headers were in); lurl.stream calls it when the stream ends. */
static int core_stream_bytes(lua_State *L) {
  lurl_transfer *t = lurl_checktransfer(L, 1);
  lurl_timings_set_bytes(L, 2, (curl_off_t)t->in.head_total, t->in.wire);
  return 0;
}

/* core.done(transfer) -> done, woken: finished, or has news for Lua */
static int core_done(lua_State *L) {
  lurl_transfer *t = lurl_checktransfer(L, 1);
  lua_pushboolean(L, t->state != LURL_T_RUNNING);
  lua_pushboolean(L, t->wake);
  return 2;
}

void lurl_transfer_open(lua_State *L) {
  if (luaL_newmetatable(L, LURL_TRANSFER_MT)) {
    lua_pushcfunction(L, transfer_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, transfer_gc);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, transfer_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {
    {"pull", core_pull}, {"sink", core_sink}, {"io_state", core_io_state},
    {"feed", core_feed}, {"done", core_done}, {"stream_bytes", core_stream_bytes},
    {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  push_result(L);
  lua_setfield(L, -3, "set_response_mt");
  lua_setfield(L, -2, "result");
}
