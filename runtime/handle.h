/*
** handle.h -- lurl's easy handles (runtime/handle.c): each libcurl easy
** handle with its companion (lurl_handle), the options every handle
** carries for its whole life, the options kept per handle so a value it
** already holds is not set again, the parsed-URL cache, and the pool of
** idle handles an engine keeps for reuse.
*/
#ifndef LURL_HANDLE_H
#define LURL_HANDLE_H

#include <stddef.h>
#include <curl/curl.h>

#include "text.h"

#define LURL_DEFAULT_UA "lurl/" LURL_VERSION

typedef struct lurl_transfer lurl_transfer;

/* The environment a Lua state's requests read (CA bundle and proxies, with
** requests' and curl's variable names), read once when its engine starts,
** as curl reads it once per run.  NULL: not set or empty. */
typedef struct lurl_env {
  char *ca, *capath;                        /* REQUESTS_CA_BUNDLE..., SSL_CERT_DIR */
  char *http_proxy, *https_proxy, *all_proxy, *no_proxy;
} lurl_env;

/* What lurl keeps beside each of its easy handles, for the handle's whole
** life: its CURLOPT_PRIVATE, and the data of its write and header
** callbacks.  The options set on every request are remembered, so a value
** the handle already holds is not set again (LURL_SET_KEPT). */
typedef struct lurl_handle {
  CURL *easy;
  lurl_transfer *t;            /* the transfer using the handle, or NULL */
  char errbuf[CURL_ERROR_SIZE]; /* its CURLOPT_ERRORBUFFER */
  char msg[CURL_ERROR_SIZE];   /* what a fault of lurl's own was about
                                  (lurl_transfer_msg, transfer.h), or "" */
  char refused[256];           /* why a limited state's address policy refused
                                  a connection (policy.c), or "" */
  lurl_buf spare_body, spare_head; /* small response buffers a finished
                                  transfer left for the next (transfer.c,
                                  lurl_transfer_take_spares), or empty */
  struct curl_slist *headers;  /* CURLOPT_HTTPHEADER as last set */
  long connect_ms, total_ms;   /* CURLOPT_CONNECTTIMEOUT_MS, CURLOPT_TIMEOUT_MS */
  long pipewait;               /* CURLOPT_PIPEWAIT */
  CURLU *cu;                   /* the parsed URL (CURLOPT_CURLU), or NULL */
  char *url;                   /* the string cu was parsed from; non-NULL
                                  when CURLOPT_CURLU is cu (else CURLOPT_URL) */
  size_t url_len;
  struct lurl_chain *chain;    /* the peer chain of the TLS connection this
                                  handle last used (certs.c), or NULL */
  struct curl_slist *connect_to; /* CURLOPT_CONNECT_TO of a request's resolve
                                  and connect_to options (request_net.c),
                                  freed when the handle is reset or freed */
} lurl_handle;

/*
** Speed trick, the kept options: sets a per-request option unless the
** handle holds `val` already.  Invariant: every setopt of such an option
** goes through this macro (so the field is what libcurl holds), and a
** handle whose options were reset (lurl_pool_give of a tainted handle)
** has its fields zeroed with it, as libcurl's defaults are.
*/
#define LURL_SET_KEPT(hd, field, opt, val) \
  ((hd)->field == (val) ? (void)0 : ((hd)->field = (val), (void)curl_easy_setopt((hd)->easy, (opt), (val))))

#define LURL_POOL_MAX 16 /* idle easy handles kept for reuse */
#define LURL_SPARE_MAX 4096 /* the largest buffer a handle keeps as a spare */

/* An engine's idle handles, configured and on no share, and what a new
** handle is configured with. */
typedef struct lurl_pool {
  CURL *idle[LURL_POOL_MAX];
  int n;
  int closed;                  /* handles given back are freed */
  const lurl_env *env;         /* the engine's snapshot (CA paths) */
  curl_write_callback on_body, on_header; /* the transfer's callbacks */
  struct curl_slist *headers;  /* the default request header lines */
} lurl_pool;

/* Sets the pool up; 0, or -1 when out of memory (nothing to free). */
int lurl_pool_init(lurl_pool *p, const lurl_env *env, curl_write_callback on_body,
                   curl_write_callback on_header);
/* Frees every idle handle and the default headers; handles given back
** later are freed. */
void lurl_pool_close(lurl_pool *p);
/* An idle handle, or a new configured one; NULL when out of memory. */
lurl_handle *lurl_pool_take(lurl_pool *p);
/* Keeps h (off any multi and share) for reuse, or frees it.  A tainted
** handle (it carried options beyond the per-request set) is reset and
** configured again first. */
void lurl_pool_give(lurl_pool *p, CURL *h, int tainted);

/* The companion of one of our easy handles (CURLOPT_PRIVATE). */
lurl_handle *lurl_handle_of(CURL *h);
/* Gives the handle the URL of its next request (the parsed-URL cache). */
void lurl_handle_url(lurl_handle *hd, const char *url, size_t len);
/* Did the handle's last exchange carry an authentication challenge? */
int lurl_handle_challenged(CURL *h);
/* Frees one of our easy handles and its companion. */
void lurl_easy_free(CURL *h);

/* The Accept-Encoding of what lurl decodes, and the record of the default
** request headers (what res.request.headers shows): constant strings. */
const char *lurl_accept_encoding(void);
const char *lurl_default_reqhead(void);

#endif
