/*
** certs.c -- res.certificate: the peer chain of an https exchange.
**
** libcurl's CURLOPT_CERTINFO formats every certificate as text, on every
** new handshake, and gives nothing on a reused connection.  lurl asks the
** connection's OpenSSL object instead (CURLINFO_TLS_SSL_PTR), once the
** final headers of an https transfer are in, while the connection is
** still the transfer's:
**
**  - Speed trick, the kept chain: each easy handle keeps the chain of the
**    connection it last used, keyed by the peer certificate object (the
**    chain holds a reference to it, so no other certificate can take its
**    address while kept).  A request on the same connection, or on a
**    resumed TLS session of it, finds the same object: one pointer
**    comparison and a reference count.  A new connection copies the
**    stack of references (X509_chain_up_ref: no certificate is copied).
**  - Nothing is formatted until a script reads res.certificate.
**
** A transfer holds one reference until core.result moves it into the
** response's timings userdata (response.c), whose __gc drops it.
*/
#define _DEFAULT_SOURCE /* timegm */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <lauxlib.h>

#include "certs.h"
#include "handle.h"
#include "transfer.h"

struct lurl_chain {
  int refs;
  X509 *leaf;             /* the peer's certificate (a reference) */
  STACK_OF(X509) *sk;     /* the chain the peer sent (references), or NULL */
};

void lurl_chain_unref(lurl_chain *c) {
  if (!c || --c->refs > 0) return;
  X509_free(c->leaf);
  if (c->sk) sk_X509_pop_free(c->sk, X509_free);
  free(c);
}

void lurl_chain_forget(lurl_handle *hd) {
  lurl_chain_unref(hd->chain);
  hd->chain = NULL;
}

void lurl_chain_capture(lurl_transfer *t) {
  struct curl_tlssessioninfo *tsi = NULL;
  if (t->chain || !t->hd ||
      curl_easy_getinfo(t->easy, CURLINFO_TLS_SSL_PTR, &tsi) != CURLE_OK || !tsi ||
      tsi->backend != CURLSSLBACKEND_OPENSSL || !tsi->internals)
    return;
  SSL *ssl = (SSL *)tsi->internals;
  X509 *leaf = SSL_get0_peer_certificate(ssl);
  if (!leaf) return;
  lurl_handle *hd = t->hd;
  if (!hd->chain || hd->chain->leaf != leaf) { /* a new connection */
    lurl_chain *c = (lurl_chain *)calloc(1, sizeof *c);
    if (!c) return; /* res.certificate will be nil: no error for a detail */
    c->refs = 1;
    X509_up_ref(leaf);
    c->leaf = leaf;
    STACK_OF(X509) *sk = SSL_get_peer_cert_chain(ssl);
    c->sk = sk ? X509_chain_up_ref(sk) : NULL;
    lurl_chain_forget(hd);
    hd->chain = c;
  }
  hd->chain->refs++;
  t->chain = hd->chain;
}

/* X509_NAME as OpenSSL's one-line form ("CN = localhost, O = x"), the
** form `openssl x509 -subject` prints. */
static void push_name(lua_State *L, const X509_NAME *name) {
  BIO *b = BIO_new(BIO_s_mem());
  char *p = NULL;
  long n = 0;
  if (b && X509_NAME_print_ex(b, name, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) >= 0)
    n = BIO_get_mem_data(b, &p);
  lua_pushlstring(L, p ? p : "", p && n > 0 ? (size_t)n : 0);
  BIO_free(b);
}

/* An ASN1 time as seconds since the epoch (UTC). */
static void push_time(lua_State *L, const ASN1_TIME *t) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  if (t && ASN1_TIME_to_tm(t, &tm) == 1) lua_pushinteger(L, (lua_Integer)timegm(&tm));
  else lua_pushnil(L);
}

static void push_cert(lua_State *L, X509 *x) {
  lua_createtable(L, 0, 5);
  push_name(L, X509_get_subject_name(x));
  lua_setfield(L, -2, "subject");
  push_name(L, X509_get_issuer_name(x));
  lua_setfield(L, -2, "issuer");
  push_time(L, X509_get0_notBefore(x));
  lua_setfield(L, -2, "not_before");
  push_time(L, X509_get0_notAfter(x));
  lua_setfield(L, -2, "not_after");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdn = 0;
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  if (X509_digest(x, EVP_sha256(), md, &mdn) == 1) {
    for (unsigned i = 0; i < mdn; i++) {
      static const char digits[] = "0123456789abcdef";
      hex[2 * i] = digits[md[i] >> 4];
      hex[2 * i + 1] = digits[md[i] & 15];
    }
    lua_pushlstring(L, hex, 2 * (size_t)mdn);
    lua_setfield(L, -2, "sha256");
  }
}

void lurl_chain_push(lua_State *L, const lurl_chain *c) {
  int n = c->sk ? sk_X509_num(c->sk) : 0;
  lua_createtable(L, n ? n : 1, 5);
  int t = lua_gettop(L);
  push_cert(L, c->leaf);
  /* the server's own certificate's fields, also as the table's own */
  static const char *const keys[] = {"subject", "issuer", "not_before", "not_after", "sha256"};
  for (int k = 0; k < 5; k++) {
    lua_getfield(L, -1, keys[k]);
    lua_setfield(L, t, keys[k]);
  }
  lua_rawseti(L, t, 1);
  int i = 2;
  for (int j = 0; j < n; j++) {
    X509 *x = sk_X509_value(c->sk, j);
    if (j == 0 && X509_cmp(x, c->leaf) == 0) continue; /* the chain starts with it */
    push_cert(L, x);
    lua_rawseti(L, t, i++);
  }
}
