/*
** handle.c -- lurl's easy handles: their companions, the options they carry
** for life, the kept per-request options and parsed URL, and the pool of
** idle ones (see handle.h).  Nothing here knows Lua, a transfer's insides
** or a share: the engine owns a pool, a transfer borrows a handle from it
** (or from its session, share.c) and gives it back.
*/
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lurl.h"
#include "decode.h"
#include "certs.h"
#include "handle.h"

#define LURL_RH(ae) "Accept: */*\r\nUser-Agent: " LURL_DEFAULT_UA "\r\nAccept-Encoding: " ae "\r\n"

/* The Accept-Encoding of what lurl decodes (decode.c: all four codings,
** whatever libcurl was built with; a constant string). */
const char *lurl_accept_encoding(void) { return LURL_ACCEPT_ENCODING; }

/* The record of the default request headers (what res.request.headers
** shows), in the order libcurl sends them (a constant string). */
const char *lurl_default_reqhead(void) { return LURL_RH(LURL_ACCEPT_ENCODING); }

/* The options every easy handle of ours carries for its whole life: set
** once when it is made (or after a reset), not per request.  hd is the
** handle's companion (handle.h), made here for a new handle (NULL). */
static CURL *configure(const lurl_pool *p, CURL *h, lurl_handle *hd) {
  if (!h) return NULL;
  if (!hd && (hd = (lurl_handle *)malloc(sizeof *hd)) == NULL) {
    curl_easy_cleanup(h);
    return NULL;
  }
  memset(hd, 0, sizeof *hd); /* the kept options as libcurl starts them */
  hd->easy = h;
  curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)hd);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, hd->errbuf);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, (void *)hd);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, (void *)hd);
  /* proxies are decided in request.c from the env: libcurl reads no
  ** environment per request */
  curl_easy_setopt(h, CURLOPT_PROXY, "");
  curl_easy_setopt(h, CURLOPT_NOPROXY, "");
  /* verify = true: the environment's CA bundle, else the system's */
  if (p->env->ca) curl_easy_setopt(h, CURLOPT_CAINFO, p->env->ca);
  if (p->env->capath) {
    curl_easy_setopt(h, CURLOPT_CAPATH, p->env->capath);
    if (!p->env->ca) curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
  }
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, p->on_body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, p->on_header);
  /* lurl decodes bodies itself, bounded (transfer.c, decode.c); the
  ** Accept-Encoding header is one of our request headers */
  curl_easy_setopt(h, CURLOPT_HTTP_CONTENT_DECODING, 0L);
  curl_easy_setopt(h, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  return h;
}

lurl_handle *lurl_handle_of(CURL *h) {
  lurl_handle *hd = NULL;
  curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&hd);
  return hd;
}

/* Frees the URL a companion keeps (the handle no longer points at it). */
static void forget_url(lurl_handle *hd) {
  curl_url_cleanup(hd->cu);
  free(hd->url);
  hd->cu = NULL, hd->url = NULL, hd->url_len = 0;
}

static int is_upper_hex(char c) { return c >= 'A' && c <= 'F'; }
static int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || is_upper_hex(c); }

/*
** Part of the parsed-URL cache: the query of url when url is the kept URL
** with another query (a new page of the same endpoint, params), else NULL;
** lurl_handle_url then sets only the query on the kept parsed URL instead
** of parsing the whole URL again.  Invariant: it gives what parsing the
** whole URL would.  The kept URL parsed; the bytes up to the first '?'
** are the same, so scheme, authority and path are; and libcurl 7.88 keeps
** a query set alone as it is, except that it lower-cases the hex digits of
** %XX escapes and accepts what a whole URL may not hold (spaces, control
** bytes, '#', which starts a fragment): queries with an escape in upper
** case or any byte outside '!'..'~' or a '#' are parsed whole.
*/
static const char *only_query_differs(const lurl_handle *hd, const char *url, size_t len) {
  const char *q = (const char *)memchr(url, '?', len);
  if (!q || !hd->url || q + 1 == url + len) return NULL;
  size_t pre = (size_t)(q - url) + 1; /* through the '?' */
  if (hd->url_len < pre || memcmp(hd->url, url, pre) != 0) return NULL;
  for (const char *p = q + 1, *end = url + len; p < end; p++) {
    if (*p <= ' ' || *p > '~' || *p == '#') return NULL;
    if (*p == '%' && end - p > 2 && is_hex(p[1]) && is_hex(p[2]) &&
        (is_upper_hex(p[1]) || is_upper_hex(p[2])))
      return NULL;
  }
  return q + 1;
}

/*
** Part of the parsed-URL cache, for a change of query only: did libcurl
** keep, as its string of the kept URL (CURLINFO_EFFECTIVE_URL: what
** curl_url_get made of it), our string byte for byte?  Then its string of
** the new URL is ours too: the part through the '?' parses the same, and
** a query that only_query_differs lets through is kept and written back
** as it is by a whole parse.  libcurl follows no redirect of lurl's (Lua
** does), so the string is the one it took for the last request or the
** same again (an auth retry).
*/
static int libcurl_kept_ours(const lurl_handle *hd) {
  char *eff = NULL;
  curl_easy_getinfo(hd->easy, CURLINFO_EFFECTIVE_URL, &eff);
  return eff && strlen(eff) == hd->url_len && memcmp(eff, hd->url, hd->url_len) == 0;
}

/*
** Speed trick, the parsed-URL cache.  Gives the handle the URL of its next
** request.  Handed a string
** (CURLOPT_URL), libcurl parses it on every transfer and rebuilds it
** through its printf more than once; handed a parsed URL (CURLOPT_CURLU),
** it only copies it.  The companion keeps the parsed URL and its string, so
** a handle reused for the same URL parses nothing, and a new URL is parsed
** once, with the flags libcurl gives CURLOPT_URL.  A URL libcurl's parser
** refuses goes as a string, so the transfer fails as it always did.
** Invariant: hd->url is non-NULL exactly when CURLOPT_CURLU is hd->cu and
** cu holds that string parsed; anything that resets the handle's options
** (lurl_pool_give) forgets both (forget_url), and only this function sets
** the handle's URL.
*/
void lurl_handle_url(lurl_handle *hd, const char *url, size_t len) {
  if (hd->url && hd->url_len == len && memcmp(hd->url, url, len) == 0) return;
  char *copy = (char *)malloc(len + 1);
  if (!hd->cu) hd->cu = curl_url();
  const char *q = copy && hd->cu ? only_query_differs(hd, url, len) : NULL;
  int verbatim = q && libcurl_kept_ours(hd);
  if (copy && hd->cu &&
      (q ? curl_url_set(hd->cu, CURLUPART_QUERY, q, 0)
         : curl_url_set(hd->cu, CURLUPART_URL, url,
                        CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME)) == CURLUE_OK) {
    memcpy(copy, url, len + 1);
    free(hd->url);
    hd->url = copy, hd->url_len = len;
    /* libcurl 7.88 takes the URL string out of the URL handle only when it
    ** holds none (Curl_pretransfer), and keeps it for messages, auth
    ** retries and redirects: an empty CURLOPT_URL makes it take the new one
    ** (curl_url_get, through its printf); a string it would make the same
    ** (libcurl_kept_ours) is handed over as it is */
    curl_easy_setopt(hd->easy, CURLOPT_URL, verbatim ? copy : NULL);
    curl_easy_setopt(hd->easy, CURLOPT_CURLU, hd->cu);
    return;
  }
  free(copy);
  forget_url(hd); /* cu may hold a half-set URL */
  curl_easy_setopt(hd->easy, CURLOPT_CURLU, NULL);
  curl_easy_setopt(hd->easy, CURLOPT_URL, url);
}

/* Frees the spare buffers a companion keeps (lurl_transfer_take_spares). */
static void drop_spares(lurl_handle *hd) {
  lurl_buf_free(&hd->spare_body);
  lurl_buf_free(&hd->spare_head);
}

/* Frees one of our easy handles and its companion. */
void lurl_easy_free(CURL *h) {
  lurl_handle *hd = lurl_handle_of(h);
  curl_easy_cleanup(h);
  if (hd) forget_url(hd), drop_spares(hd), lurl_chain_forget(hd);
  if (hd) curl_slist_free_all(hd->connect_to); /* after cleanup: libcurl no longer reads it */
  free(hd);
}

/* Speed trick, the handle cache: puts h (on no share, off the multi) in
** the pool, or frees it.  Invariant: an idle handle is in the configured
** state plus only kept options (LURL_SET_KEPT) and its cached URL; a
** tainted handle (one that carried options beyond the per-request set,
** see request.c) is reset and configured again first.  A session's idle
** handles (share.c) hold the same invariant and stay on its share. */
void lurl_pool_give(lurl_pool *p, CURL *h, int tainted) {
  if (!p || p->closed || p->n >= LURL_POOL_MAX) {
    lurl_easy_free(h);
    return;
  }
  if (tainted) {
    lurl_handle *hd = lurl_handle_of(h);
    /* libcurl 7.88 leaks the cookie file list across curl_easy_reset
    ** (fixed upstream later): clear it first */
    curl_easy_setopt(h, CURLOPT_COOKIEFILE, NULL);
    curl_easy_reset(h);
    forget_url(hd);
    drop_spares(hd); /* configure zeroes the companion */
    lurl_chain_forget(hd);
    curl_slist_free_all(hd->connect_to); /* reset: libcurl no longer reads it */
    configure(p, h, hd);
  }
  p->idle[p->n++] = h;
}

/*
** Did the handle's last exchange carry an authentication challenge (a 401,
** or a 407 from the server or a CONNECT)?  libcurl stores a Digest
** challenge's nonce on the handle even when no auth was asked for, and
** answers the next Digest request with it, to whatever server that goes,
** then ignores that server's own challenge; curl_easy_reset is the only
** way to forget it.  Auth state belongs to one request.
*/
int lurl_handle_challenged(CURL *h) {
  long code = 0, connect_code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_getinfo(h, CURLINFO_HTTP_CONNECTCODE, &connect_code);
  return code == 401 || code == 407 || connect_code == 407;
}

/* An idle handle, else a new one, configured (see configure). */
lurl_handle *lurl_pool_take(lurl_pool *p) {
  CURL *h = p->n > 0 ? p->idle[--p->n] : configure(p, curl_easy_init(), NULL);
  return h ? lurl_handle_of(h) : NULL;
}

int lurl_pool_init(lurl_pool *p, const lurl_env *env, curl_write_callback on_body,
                   curl_write_callback on_header) {
  memset(p, 0, sizeof *p);
  p->env = env;
  p->on_body = on_body;
  p->on_header = on_header;
  /* the request header lines every request sends unless told otherwise:
  ** built once, shared by the transfers (libcurl only reads the list), as
  ** one node (the joined lines: joins_next, request_head.c) */
  p->headers = curl_slist_append(NULL, "User-Agent: " LURL_DEFAULT_UA "\r\n"
                                       "Accept-Encoding: " LURL_ACCEPT_ENCODING);
  return p->headers ? 0 : -1;
}

void lurl_pool_close(lurl_pool *p) {
  p->closed = 1;
  while (p->n > 0) lurl_easy_free(p->idle[--p->n]);
  curl_slist_free_all(p->headers);
  p->headers = NULL;
}
