/*
** errors.c -- lurl's error objects.
**
** A transport failure reaches Lua as `nil, err`, where err is a table with
** the metatable "http.error": kind, message, method, url, curl_code,
** retryable (and response, for HTTPError, filled in by Lua).  Every error
** object is built by lurl_push_error, which stores its URL with the
** secret parts hidden by the rules of redact.c.
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "errors.h"
#include "limit.h"
#include "redact.h"
#include "transfer.h"

/* The family tree of requests' exceptions: each kind with its parents. */
static const struct {
  const char *kind;
  const char *parents[3];
} families[] = {
  {"RequestException", {NULL, NULL, NULL}},
  {"ConnectionError", {"RequestException", NULL, NULL}},
  {"ProxyError", {"ConnectionError", NULL, NULL}},
  {"SSLError", {"ConnectionError", NULL, NULL}},
  {"Timeout", {"RequestException", NULL, NULL}},
  {"ConnectTimeout", {"ConnectionError", "Timeout", NULL}},
  {"ReadTimeout", {"Timeout", NULL, NULL}},
  {"HTTPError", {"RequestException", NULL, NULL}},
  {"TooManyRedirects", {"RequestException", NULL, NULL}},
  {"InvalidURL", {"RequestException", NULL, NULL}},
  {"InvalidHeader", {"RequestException", NULL, NULL}},
  {"JSONDecodeError", {"RequestException", NULL, NULL}},
  {"ContentDecodingError", {"RequestException", NULL, NULL}},
  {"ChunkedEncodingError", {"RequestException", NULL, NULL}},
  {"BodyTooLarge", {"RequestException", NULL, NULL}},
};
#define NFAMILIES (sizeof(families) / sizeof(families[0]))

static int family_index(const char *kind) {
  for (size_t i = 0; i < NFAMILIES; i++)
    if (strcmp(families[i].kind, kind) == 0) return (int)i;
  return -1;
}

/* Is `kind` equal to `ancestor` or below it in the tree? */
static int kind_is(const char *kind, const char *ancestor) {
  if (strcmp(kind, ancestor) == 0) return 1;
  int i = family_index(kind);
  if (i < 0) return 0;
  for (int p = 0; p < 3 && families[i].parents[p]; p++)
    if (kind_is(families[i].parents[p], ancestor)) return 1;
  return 0;
}

/*
** Pushes a new error object [-0, +1].  `method`, `url` may be NULL;
** curl_code < 0 means "not from libcurl".  Never raises except on memory.
*/
void lurl_push_error(lua_State *L, const char *kind, const char *msg,
                     const char *method, const char *url, int curl_code) {
  lua_createtable(L, 0, 8);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  if (msg)
    lurl_scrub_message(L, msg, url);
  else
    lua_pushstring(L, kind);
  lua_setfield(L, -2, "message");
  if (method) {
    lua_pushstring(L, method);
    lua_setfield(L, -2, "method");
  }
  if (url) {
    lurl_redact_url(L, url);
    lua_setfield(L, -2, "url");
  }
  if (curl_code >= 0) {
    lua_pushinteger(L, curl_code);
    lua_setfield(L, -2, "curl_code");
  }
  /* A request that failed on the way may well succeed when tried again;
  ** a bad certificate or a bad URL will not. */
  int retryable = (kind_is(kind, "ConnectionError") && !kind_is(kind, "SSLError")) ||
                  kind_is(kind, "Timeout") || kind_is(kind, "ChunkedEncodingError");
  lua_pushboolean(L, retryable);
  lua_setfield(L, -2, "retryable");
  luaL_setmetatable(L, LURL_ERROR_MT);
}

/* ------------------------------------------------- the classifier -- */

/* Did the whole header block of the response arrive? */
static int headers_complete(const lurl_transfer *t) {
  const char *h = t->head.data;
  size_t n = t->head.len;
  return (n >= 2 && h[n - 1] == '\n' && h[n - 2] == '\n') ||
         (n >= 4 && memcmp(h + n - 4, "\r\n\r\n", 4) == 0);
}

/* The kind of a fault lurl found itself (enum lurl_fault), or NULL. */
static const char *fault_kind(const lurl_transfer *t, char *msg, size_t msz) {
  switch (t->fault) {
  case LURL_FAULT_READ_TIMEOUT:
    snprintf(msg, msz, "read timed out after %.1f s", t->read_ms / 1000.0);
    return "ReadTimeout";
  case LURL_FAULT_BODY_TOO_LARGE: {
    size_t cap = t->st.on ? t->st.max_body : t->body.limit;
    if (!t->st.on && !t->max_body_set && cap == LURL_DEFAULT_MAX_BODY)
      snprintf(msg, msz, "response body larger than %zu MiB, the default max_body of a body "
               "that is not streamed: stream it (stream = true, res:save) or set max_body "
               "(false: no limit)", cap >> 20);
    else
      snprintf(msg, msz, "response body larger than max_body (%zu bytes)", cap);
    return "BodyTooLarge";
  }
  case LURL_FAULT_DECODE:
    snprintf(msg, msz, "%s", lurl_transfer_msg(t));
    return "ContentDecodingError";
  case LURL_FAULT_LENGTHS:
    snprintf(msg, msz, "%s", lurl_transfer_msg(t));
    return "InvalidHeader";
  case LURL_FAULT_BAD_LENGTH:
    snprintf(msg, msz, "%s", lurl_transfer_msg(t));
    return "ConnectionError";
  case LURL_FAULT_HEAD_SIZE:
    snprintf(msg, msz, "response headers too large: more than %d KiB (lurl's limit for the "
             "header lines of one response)", LURL_MAX_HEAD_BYTES / 1024);
    return "ConnectionError";
  case LURL_FAULT_HEAD_LINES:
    snprintf(msg, msz, "too many response header lines: more than %d (lurl's limit for one "
             "response)", LURL_MAX_HEAD_LINES);
    return "ConnectionError";
  case LURL_FAULT_CANCELLED:
    snprintf(msg, msz, "request cancelled");
    return "RequestException";
  default: return NULL;
  }
}

/* Was a failure the proxy's?  A proxy_used ending in '?' is one a no_proxy
** list may have bypassed: libcurl decides (CURLOPT_NOPROXY) and does not
** say which way it went, so only a failure that names the proxy itself
** (resolving it, its CONNECT) is the proxy's then. */
static int via_proxy(const lurl_transfer *t) {
  const char *p = t->proxy_used;
  return p && p[strlen(p) - 1] != '?';
}

/* A timeout: the total deadline, the connect timeout, or libcurl's own. */
static const char *timeout_kind(const lurl_transfer *t, long long now_ms, char *msg,
                                size_t msz) {
  curl_off_t pre = 0;
  curl_easy_getinfo(t->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
  /* the total deadline may have struck first, even while connecting */
  long long spent = now_ms - t->started_ms;
  if (t->total_ms > 0 && spent + 5 >= t->total_ms &&
      (pre > 0 || t->total_ms < t->connect_ms)) {
    snprintf(msg, msz, "total timeout of %.1f s exceeded", t->total_ms / 1000.0);
    return "Timeout";
  }
  if (pre <= 0) {
    snprintf(msg, msz, "connect timed out after %.1f s", t->connect_ms / 1000.0);
    return via_proxy(t) ? "ProxyError" : "ConnectTimeout";
  }
  snprintf(msg, msz, "total timeout of %.1f s exceeded", t->total_ms / 1000.0);
  return "Timeout";
}

/* Chooses the error kind for a failed transfer (see errors.h). */
const char *lurl_error_kind(const lurl_transfer *t, long long now_ms, char *msg, size_t msz) {
  CURLcode c = t->code;
  const char *kind = fault_kind(t, msg, msz);
  if (kind) return kind;
  const char *refused = lurl_transfer_refused(t);
  if (refused[0] && c != CURLE_OK) { /* a limited state's address policy */
    snprintf(msg, msz, "%s", refused);
    return via_proxy(t) ? "ProxyError" : "ConnectionError";
  }
  /* a message of lurl's own beats libcurl's "Failed writing" */
  const char *detail = lurl_transfer_msg(t);
  if (!detail[0]) detail = curl_easy_strerror(c);
  snprintf(msg, msz, "%s", detail);
  switch (c) {
  case CURLE_OPERATION_TIMEDOUT:
    return timeout_kind(t, now_ms, msg, msz);
  case CURLE_URL_MALFORMAT:
    return "InvalidURL";
  case CURLE_OUT_OF_MEMORY: /* libcurl's dynbuf refuses a header line over 100 KiB so */
    if (!t->headers_done)
      snprintf(msg, msz, "response header line too long: more than 100 KiB (libcurl's limit "
               "for one header line)");
    return "ConnectionError";
  case CURLE_UNSUPPORTED_PROTOCOL: /* URLs were checked: a bad status line */
  case CURLE_WEIRD_SERVER_REPLY:
    if (strstr(detail, "Content-Length")) /* libcurl's word for a negative or non-numeric one */
      snprintf(msg, msz, "invalid Content-Length in the response: not a length");
    return "ConnectionError";
  case CURLE_COULDNT_RESOLVE_PROXY:
    return "ProxyError";
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
    return via_proxy(t) ? "ProxyError" : "ConnectionError";
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_USE_SSL_FAILED:
    return "SSLError";
  case CURLE_BAD_CONTENT_ENCODING:
    return "ContentDecodingError";
  case CURLE_PARTIAL_FILE: {
    curl_off_t got = 0, want = -1;
    curl_easy_getinfo(t->easy, CURLINFO_SIZE_DOWNLOAD_T, &got);
    curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &want);
    if (want >= 0)
      snprintf(msg, msz, "response body ended early: got %ld of %ld bytes", (long)got,
               (long)want);
    else
      snprintf(msg, msz, "response body ended early: %s", detail);
    return "ChunkedEncodingError";
  }
  case CURLE_RECV_ERROR:
    if (t->proxy_used && strstr(detail, "CONNECT")) return "ProxyError";
    /* A connection that broke once the headers were complete broke the body. */
    if (strstr(detail, "chunk") || headers_complete(t)) return "ChunkedEncodingError";
    return "ConnectionError";
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return headers_complete(t) ? "ChunkedEncodingError" : "ConnectionError";
  default:
    return "ConnectionError";
  }
}

/* core.error(kind, message [, method, url]) -> err: for errors found in Lua. */
static int core_error(lua_State *L) {
  const char *kind = luaL_checkstring(L, 1);
  const char *msg = luaL_checkstring(L, 2);
  const char *method = luaL_optstring(L, 3, NULL);
  const char *url = luaL_optstring(L, 4, NULL);
  if (family_index(kind) < 0)
    return luaL_argerror(L, 1, lua_pushfstring(L, "unknown error kind '%s'", kind));
  lurl_push_error(L, kind, msg, method, url, -1);
  return 1;
}

/* err:is(kind): true when err is of that kind or one below it. */
static int err_is(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *want = luaL_checkstring(L, 2);
  lua_getfield(L, 1, "kind");
  const char *kind = lua_tostring(L, -1);
  lua_pushboolean(L, kind && kind_is(kind, want));
  return 1;
}

/* tostring(err): "Kind: message (METHOD url)". */
static int err_tostring(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "kind");
  lua_getfield(L, 1, "message");
  lua_getfield(L, 1, "method");
  lua_getfield(L, 1, "url");
  const char *kind = luaL_optstring(L, 2, "RequestException");
  const char *msg = luaL_optstring(L, 3, "");
  if (lua_isstring(L, 4) && lua_isstring(L, 5))
    lua_pushfstring(L, "%s: %s (%s %s)", kind, msg, lua_tostring(L, 4),
                    lua_tostring(L, 5));
  else
    lua_pushfstring(L, "%s: %s", kind, msg);
  return 1;
}

/* Creates the "http.error" metatable and adds to the core table on top:
** core.errors (each kind name mapped to itself), core.error_mt and
** core.error. */
void lurl_errors_open(lua_State *L) {
  luaL_newmetatable(L, LURL_ERROR_MT);
  lua_pushcfunction(L, err_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, err_is);
  lua_setfield(L, -2, "is");
  lua_setfield(L, -2, "__index");
  lua_setfield(L, -2, "error_mt");
  lua_createtable(L, 0, (int)NFAMILIES);
  for (size_t i = 0; i < NFAMILIES; i++) {
    lua_pushstring(L, families[i].kind);
    lua_setfield(L, -2, families[i].kind);
  }
  lua_setfield(L, -2, "errors");
  lua_pushcfunction(L, core_error);
  lua_setfield(L, -2, "error");
}

/*
** Raises a programming error ("bad argument ...") located at the first
** stack frame outside lurl's own code, so the message points at the
** user's line rather than at lua/http/client.lua.
*/
int lurl_raise(lua_State *L, const char *fmt, ...) {
  /* ar is read only when lua_getstack filled it for the frame chosen: a
  ** stack that ends first (called straight from C, or only lurl's own
  ** frames) gives no position */
  lua_Debug ar;
  int found = 0;
  for (int level = 1; !found && lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Sl", &ar);
    found = ar.currentline > 0 && strncmp(ar.source, "@lua/http/", 10) != 0 &&
            strncmp(ar.source, "@lua/lurl/", 10) != 0;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (found) {
    lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
    luaL_addvalue(&b);
  }
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  luaL_addvalue(&b);
  luaL_pushresult(&b);
  return lua_error(L);
}
