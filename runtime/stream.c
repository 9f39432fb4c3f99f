/*
** stream.c -- bytes in and out of a transfer: libcurl's write, header, read
** and progress callbacks, and the Lua calls that pull a streamed body and
** feed an upload.
**
** No Lua code of a script runs inside a libcurl callback.  A callback that
** needs Lua (a streamed body whose buffer is full, an upload function with
** nothing buffered, a progress report) pauses the transfer or sets `wake`;
** the engine then returns to Lua, which does the work (calls the user's
** function, hands over a chunk) and resumes the transfer.  The one Lua API
** use inside a callback is making a streamed chunk's Lua string straight from
** libcurl's buffer (deliver_direct): under lua_pcall, with the collector
** stopped (no finalizer runs) and call/return hooks off, so no script code
** runs and no Lua error crosses libcurl.  Memory stays bounded: a streamed body holds
** at most about one chunk, an upload at most the chunk its function returned.
*/
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lurl_int.h"

#define MIN_CHUNK 16384
#define PROGRESS_EVERY_MS 100

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
  if (!t->chunk_ref) {
    lua_createtable(L, 4, 0);
    lua_pushvalue(L, -1);
    t->chunk_ref = luaL_ref(L, -3);
    t->chunk_first = t->chunk_last = 0;
  } else {
    lua_rawgeti(L, -1, t->chunk_ref);
  }
  lua_pushlstring(L, p, len);
  lua_rawseti(L, -2, ++t->chunk_last);
  return 0;
}

/*
** A streamed chunk straight from libcurl's buffer into a Lua string: one
** copy of every byte fewer than going through t->body.  Only when the
** engine is inside curl_multi_perform for a Lua state (turn) and no byte is
** buffered in t->body (they would come first).  Returns 0 when it could not
** (no stack, out of memory): the caller buffers the bytes instead.
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
  if (rc == LUA_OK) t->queued += len;
  return rc == LUA_OK;
}

/* Takes the oldest chunk deliver_direct made, if any; pushes it or nothing
** and returns 1 or 0. */
static int take_direct(lua_State *L, lurl_transfer *t) {
  if (!t->chunk_ref) return 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &chunks_key);
  lua_rawgeti(L, -1, t->chunk_ref);
  lua_rawgeti(L, -1, ++t->chunk_first);
  lua_pushnil(L);
  lua_rawseti(L, -3, t->chunk_first);
  t->queued -= lua_rawlen(L, -1);
  if (t->chunk_first == t->chunk_last) { /* the queue is empty: give it back */
    luaL_unref(L, -3, t->chunk_ref);
    t->chunk_ref = 0;
    t->queued = 0;
  }
  lua_replace(L, -3);
  lua_pop(L, 1);
  return 1;
}

/* Forgets the chunks nobody will take (the transfer is closed or collected). */
void lurl_drop_chunk(lua_State *L, lurl_transfer *t) {
  if (!t->chunk_ref) return;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &chunks_key);
  luaL_unref(L, -1, t->chunk_ref);
  lua_pop(L, 1);
  t->chunk_ref = 0;
  t->queued = 0;
}

/* Decoded (or plain) response body bytes.  Buffered bodies fill t->body
** (capped by max_body).  Streamed bodies go to res:save's file, or become
** Lua strings, and pause once a chunk is waiting for Lua to take it.
** Returns 1, or 0 with t->fault set. */
static int body_bytes(lurl_transfer *t, const char *p, size_t len) {
  if (!t->stream) {
    int rc = lurl_buf_add(&t->body, p, len);
    if (rc == LURL_BUF_OK) return 1;
    t->fault = rc == LURL_BUF_LIMIT ? LURL_FAULT_BODY_TOO_LARGE : LURL_FAULT_NOMEM;
    return 0;
  }
  if (t->max_body && t->received + len > t->max_body) {
    t->fault = LURL_FAULT_BODY_TOO_LARGE;
    return 0;
  }
  t->received += len;
  if (t->sink) { /* res:save: straight to the file, no Lua in between */
    if (fwrite(p, 1, len, t->sink) == len) {
      t->sunk += len;
      return 1;
    }
    t->sink_errno = errno ? errno : EIO;
    t->fault = LURL_FAULT_WRITE;
    return 0;
  }
  t->wake = 1; /* data is there: a reader gets it as it arrives */
  if (t->body.len == 0 && deliver_direct(t, p, len)) {
    if (t->queued >= t->chunk_cap && !t->paused) { /* enough for Lua: wait for it */
      t->paused = 1;
      curl_easy_pause(t->easy, CURLPAUSE_RECV | (t->up_need ? CURLPAUSE_SEND : 0));
    }
    return 1;
  }
  if (lurl_buf_add(&t->body, p, len) != LURL_BUF_OK) {
    t->fault = LURL_FAULT_NOMEM;
    return 0;
  }
  if (t->body.len >= t->chunk_cap && !t->paused && t->state == LURL_T_RUNNING) {
    /* a chunk is ready: libcurl reads no more until Lua takes it.  These
    ** bytes are kept (returning CURL_WRITEFUNC_PAUSE would make libcurl
    ** copy them aside and hand them over again); the buffer stays under
    ** chunk_cap plus one delivery. */
    t->paused = 1;
    curl_easy_pause(t->easy, CURLPAUSE_RECV | (t->up_need ? CURLPAUSE_SEND : 0));
  }
  return 1;
}

/* Why the Content-Encoding of the response cannot be decoded, in
** t->errbuf (the message of lurl's faults; engine.c's finish keeps it):
** its fields parsed again, on this rare path only. */
static void coding_error(lurl_transfer *t) {
  unsigned char codes[LURL_MAX_CODINGS];
  int n = 0;
  size_t pos = 0;
  lurl_field f;
  while (t->head.data && lurl_next_field(t->head.data, t->head.len, &pos, &f))
    if (lurl_ieq(f.name, f.name_len, "Content-Encoding", 16) &&
        lurl_codings_parse(f.value, f.value_len, codes, &n, t->errbuf, sizeof t->errbuf) != 0)
      return;
}

/* A streamed body with a chunk waiting for Lua: decode no further. */
static int stream_full(const lurl_transfer *t) {
  return t->stream && !t->sink && t->body.len + t->queued >= t->chunk_cap;
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
  if (!t->dec) {
    if (t->ncodings < 0) { /* a coding lurl cannot decode (on_header) */
      coding_error(t);
      t->fault = LURL_FAULT_DECODE;
      return 0;
    }
    if ((t->dec = lurl_decoder_new(t->codings, t->ncodings)) == NULL) {
      t->fault = LURL_FAULT_NOMEM;
      return 0;
    }
  }
  for (;;) {
    if (stream_full(t)) {
      if (lurl_decoder_keep(t->dec, p, len) == 0) return 1;
      t->fault = LURL_FAULT_NOMEM;
      return 0;
    }
    size_t used, made;
    const char *out;
    if (lurl_decoder_step(t->dec, p, len, &used, &out, &made) != 0) {
      snprintf(t->errbuf, sizeof t->errbuf, "%s", lurl_decoder_error(t->dec));
      t->fault = LURL_FAULT_DECODE;
      return 0;
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
  if (!t->dec || t->fault || !lurl_decoder_pending(t->dec)) return 0;
  if (!decode_body(t, "", 0)) return 0;
  return lurl_decoder_pending(t->dec);
}

/* Response body bytes from libcurl.  Plain bytes take no detour. */
size_t lurl_on_body(char *p, size_t size, size_t n, void *ud) {
  lurl_transfer *t = ((lurl_handle *)ud)->t;
  size_t len = size * n;
  t->moved = 1; /* the read clock starts over (check_deadlines, engine.c) */
  if (t->ncodings) return decode_body(t, p, len) ? len : 0;
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
      snprintf(t->errbuf, sizeof t->errbuf, "invalid Content-Length '%.*s' in the response: %s",
               (int)(n > 40 ? 40 : n), v, big ? "too large to be a length" : "not a length");
      t->fault = LURL_FAULT_BAD_LENGTH;
      return -1;
    }
    if (t->has_clen && x != t->clen) {
      snprintf(t->errbuf, sizeof t->errbuf,
               "conflicting Content-Length values in the response: %lld and %lld", t->clen, x);
      t->fault = LURL_FAULT_LENGTHS;
      return -1;
    }
    t->has_clen = 1, t->clen = x;
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
      t->ncodings >= 0) {
    char why[8];
    if (lurl_codings_parse(p + 17, len - 17, t->codings, &t->ncodings, why, sizeof why) != 0)
      t->ncodings = -1; /* the message is made if a body comes (coding_error) */
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
    t->ncodings = 0, t->has_clen = 0; /* an earlier block's fields are not this one's */
    lurl_decoder_free(t->dec);
    t->dec = NULL;
  }
  t->moved = 1;
  t->head_total += len;
  if (++t->head_lines > LURL_MAX_HEAD_LINES || t->head_total > LURL_MAX_HEAD_BYTES) {
    t->fault = t->head_total > LURL_MAX_HEAD_BYTES ? LURL_FAULT_HEAD_SIZE : LURL_FAULT_HEAD_LINES;
    return 0;
  }
  if ((p[0] | 0x20) == 'c' && !t->headers_done && framing_field(t, p, len) != 0) return 0;
  if (lurl_buf_add(&t->head, p, len) != LURL_BUF_OK) {
    t->fault = LURL_FAULT_NOMEM;
    return 0;
  }
  if ((len == 2 && p[0] == '\r') || (len == 1 && p[0] == '\n')) {
    long code = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    /* 1xx are interim; libcurl answers a first digest 401 itself */
    int interim = code < 200 || (code == 401 && t->curl_auth && !t->auth_tried);
    if (code == 401) t->auth_tried = 1;
    if (!interim) {
      t->headers_done = 1;
      if (t->stream) t->wake = 1;
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
  if (t->upfile) {
    size_t got = fread(buf, 1, room, t->upfile);
    if (got == 0 && ferror(t->upfile)) return CURL_READFUNC_ABORT;
    return got;
  }
  if (t->up_off < t->up.len) {
    size_t k = t->up.len - t->up_off;
    if (k > room) k = room;
    memcpy(buf, t->up.data + t->up_off, k);
    t->up_off += k;
    if (t->up_off == t->up.len) {
      lurl_buf_reset(&t->up);
      t->up_off = 0;
    }
    return k;
  }
  if (t->up_eof) return 0;
  t->up_need = 1;
  t->wake = 1;
  return CURL_READFUNC_PAUSE;
}

/* Progress: remember the numbers; wake Lua (which calls on_progress) at
** most every PROGRESS_EVERY_MS. */
int lurl_on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                     curl_off_t ulnow) {
  lurl_transfer *t = (lurl_transfer *)ud;
  if (dlnow != t->dl_now || ulnow != t->ul_now || dltotal != t->dl_total ||
      ultotal != t->ul_total) {
    t->dl_now = dlnow;
    t->dl_total = dltotal;
    t->ul_now = ulnow;
    t->ul_total = ultotal;
    long long now = lurl_now_ms();
    if (now - t->progress_ms >= PROGRESS_EVERY_MS) {
      t->progress_ms = now;
      t->progress_due = 1;
      t->wake = 1;
    }
  }
  return 0;
}

/* Resumes a paused receive side (after Lua took the buffered chunk). */
static void unpause(lurl_transfer *t) {
  if (t->paused && t->easy && t->state == LURL_T_RUNNING) {
    /* a chunk decoded from what was kept back is waiting: stay paused.  A
    ** decoding fault here ends the transfer at libcurl's next delivery */
    if (refill(t) || stream_full(t)) return;
    t->paused = 0;
    t->last_ms = lurl_now_ms(); /* the pause was the reader's, not the server's */
    curl_easy_pause(t->easy, t->up_need ? CURLPAUSE_SEND : CURLPAUSE_CONT);
  }
}

/*
** core.pull(transfer [, want]) -> chunk | nil [, err] | false
** The bytes of the streamed body that have arrived (at most about `want`);
** nil at the end (nil, err when the transfer failed, e.g. the body was cut
** short); false when Lua must wait for the loop first.  `want` bounds how
** much is buffered before the transfer pauses.
*/
static int lurl_core_pull(lua_State *L) {
  lurl_transfer *t = lurl_checktransfer(L, 1);
  lua_Integer want = luaL_optinteger(L, 2, 0);
  if (want > 0) t->chunk_cap = (size_t)want < MIN_CHUNK ? MIN_CHUNK : (size_t)want;
  t->wake = 0;
  if (take_direct(L, t)) { /* made in the write callback: it came first */
    if (t->body.len == 0 && t->queued < t->chunk_cap) unpause(t);
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
    lurl_push_transfer_error(L, t, 1);
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
    t->sunk += n;
    return 1;
  }
  t->sink_errno = errno ? errno : EIO;
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
static int lurl_core_sink(lua_State *L) {
  lurl_transfer *t = lurl_checktransfer(L, 1);
  if (lua_isnoneornil(L, 2)) {
    t->sink = NULL;
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
      t->sink = fs->f;
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
    lua_pushstring(L, strerror(t->sink_errno));
    return 2;
  }
  lua_pushinteger(L, (lua_Integer)t->sunk);
  return 1;
}

/*
** core.io_state(transfer) -> needs_upload_chunk, headers_done, progress_due,
**                             down_now, down_total, up_now, up_total
** Clears `wake`: the caller is about to deal with all of it.
*/
static int lurl_core_io_state(lua_State *L) {
  lurl_transfer *t = lurl_checktransfer(L, 1);
  t->wake = 0;
  lua_pushboolean(L, t->up_need && t->state == LURL_T_RUNNING);
  lua_pushboolean(L, t->headers_done);
  lua_pushboolean(L, t->progress_due);
  t->progress_due = 0;
  lua_pushinteger(L, (lua_Integer)t->dl_now);
  lua_pushinteger(L, (lua_Integer)t->dl_total);
  lua_pushinteger(L, (lua_Integer)t->ul_now);
  lua_pushinteger(L, (lua_Integer)t->ul_total);
  return 7;
}

/* core.feed(transfer, chunk | nil): the next upload chunk, or nil at the
** end of the body; resumes the send side. */
static int lurl_core_feed(lua_State *L) {
  lurl_transfer *t = lurl_checktransfer(L, 1);
  t->wake = 0;
  if (lua_isnoneornil(L, 2)) {
    t->up_eof = 1;
  } else {
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    if (lurl_buf_add(&t->up, s, n) != LURL_BUF_OK) return luaL_error(L, "not enough memory");
  }
  if (t->up_need && t->easy && t->state == LURL_T_RUNNING) {
    t->up_need = 0;
    curl_easy_pause(t->easy, t->paused ? CURLPAUSE_RECV : CURLPAUSE_CONT);
  }
  return 0;
}

/*
** Builds a multipart body from the `files` table at index fi and the form
** fields of the `data` table at index di (0 when absent).  Files are
** streamed from disk by libcurl when the transfer runs.  Keys are sorted so
** the body is deterministic.  Raises on bad input (a missing file names the
** field and the path).
*/
/* The sorted keys of the table at idx, or a raise naming the field. */
static int sorted_keys(lua_State *L, int idx, lurl_key *keys, int max, const char *field,
                       const char *fname, int argn) {
  int n = lurl_sorted_keys(L, idx, keys, max);
  if (n == LURL_KEYS_NOT_STRING)
    lurl_field_error(L, argn, fname, field, "string keys expected");
  if (n == LURL_KEYS_TOO_MANY) lurl_field_error(L, argn, fname, field, "too many entries");
  return n;
}

static const char *optstr(lua_State *L, int t, const char *k) {
  lua_getfield(L, t, k);
  const char *s = lua_tostring(L, -1);
  lua_pop(L, 1); /* still anchored by the table */
  return s;
}

static int has_crlf(const char *s) {
  return s && (strchr(s, '\r') || strchr(s, '\n'));
}

void lurl_build_mime(lua_State *L, lurl_transfer *t, int fi, int di, const char *fname,
                     int argn) {
  curl_mime *m = curl_mime_init(t->easy);
  if (!m) luaL_error(L, "not enough memory");
  t->mime = m;
  lurl_key keys[256];
  if (di) {
    int n = sorted_keys(L, di, keys, 256, "data", fname, argn);
    for (int i = 0; i < n; i++) {
      lua_getfield(L, di, keys[i].s);
      size_t vl;
      if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1) && !isfinite(lua_tonumber(L, -1)))
        lurl_raise(L, "bad argument #%d to '%s' (field 'data.%s': number is NaN or infinite)",
                   argn, fname, keys[i].s); /* never "nan" or "inf" on the wire */
      const char *v = lua_tolstring(L, -1, &vl);
      if (!v) lurl_raise(L, "bad argument #%d to '%s' (field 'data.%s': string expected)", argn, fname, keys[i].s);
      curl_mimepart *p = curl_mime_addpart(m);
      curl_mime_name(p, keys[i].s);
      curl_mime_data(p, v, vl);
      lua_pop(L, 1);
    }
  }
  int n = sorted_keys(L, fi, keys, 256, "files", fname, argn);
  for (int i = 0; i < n; i++) {
    lua_getfield(L, fi, keys[i].s);
    int v = lua_gettop(L);
    if (!lua_istable(L, v))
      lurl_raise(L, "bad argument #%d to '%s' (field 'files.%s': http.file(path) or {content=...} expected)", argn, fname,
                 keys[i].s);
    curl_mimepart *p = curl_mime_addpart(m);
    curl_mime_name(p, keys[i].s);
    const char *path = optstr(L, v, "path");
    if (path) {
      const char *why = lurl_policy_file(L, path, 0); /* a limited state's file policy */
      if (why) lurl_raise(L, "bad argument #%d to '%s' (field 'files.%s': %s)", argn, fname, keys[i].s, why);
      FILE *f = fopen(path, "rb"); /* fail now, with a clear message, not mid-upload */
      if (!f) lurl_raise(L, "bad argument #%d to '%s' (field 'files.%s': cannot open '%s')", argn, fname, keys[i].s, path);
      fclose(f);
      if (curl_mime_filedata(p, path) != CURLE_OK)
        lurl_raise(L, "bad argument #%d to '%s' (field 'files.%s': cannot read '%s')", argn, fname, keys[i].s, path);
    } else {
      lua_getfield(L, v, "content");
      size_t cl;
      const char *c = lua_tolstring(L, -1, &cl);
      if (!c) lurl_raise(L, "bad argument #%d to '%s' (field 'files.%s.content': string expected)", argn, fname, keys[i].s);
      curl_mime_data(p, c, cl);
      lua_pop(L, 1);
      if (!optstr(L, v, "filename")) curl_mime_filename(p, keys[i].s);
    }
    const char *fn = optstr(L, v, "filename");
    const char *ct = optstr(L, v, "content_type");
    if (has_crlf(ct)) /* libcurl escapes names and file names, not the type */
      lurl_raise(L, "bad argument #%d to '%s' (field 'files.%s': CR or LF in content_type)",
                 argn, fname, keys[i].s);
    if (fn) curl_mime_filename(p, fn);
    curl_mime_type(p, ct ? ct : "application/octet-stream");
    lua_pop(L, 1);
  }
  t->tainted = 1; /* the handle is reset before its next use */
  curl_easy_setopt(t->easy, CURLOPT_MIMEPOST, m);
}

/* core.filekind(path) -> "file" | "other" | nil (missing): res:save writes
** a device or a FIFO (e.g. /dev/null) in place instead of renaming over it. */
static int lurl_core_filekind(lua_State *L) {
  struct stat st;
  const char *path = luaL_checkstring(L, 1);
  if (!lurl_policy_may_stat(L, path)) return 0; /* outside a limited state's files */
  if (stat(path, &st) != 0) return 0;
  lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : "other");
  return 1;
}

/* core.pull, core.sink, core.io_state, core.feed, core.filekind. */
void lurl_stream_open(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"pull", lurl_core_pull}, {"sink", lurl_core_sink}, {"io_state", lurl_core_io_state},
    {"feed", lurl_core_feed}, {"filekind", lurl_core_filekind}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
