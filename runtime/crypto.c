/*
** crypto.c -- what request signing needs and Lua lacks (SPEC, Auth
** flows): SHA-256, HMAC (SHA-1, SHA-256, SHA-512) from libcrypto, and the
** base64 and hex encodings.  A leaf: knows no request, no transfer.
** Every function takes strings with any bytes (NULs included) and returns
** binary digests; http.hex and http.base64 print them.
*/
#include <string.h>

#include <lauxlib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto.h"

/* http.sha256(s) -> the 32-byte digest of s. */
static int core_sha256(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (!EVP_Digest(s, n, md, &mdlen, EVP_sha256(), NULL))
    return luaL_error(L, "sha256: the digest failed");
  lua_pushlstring(L, (const char *)md, mdlen);
  return 1;
}

/* http.hmac(alg, key, s) -> the binary HMAC of s under key, alg one of
** "sha1", "sha256", "sha512". */
static int core_hmac(lua_State *L) {
  static const char *const algs[] = {"sha1", "sha256", "sha512", NULL};
  int a = luaL_checkoption(L, 1, NULL, algs);
  size_t kn, n;
  const char *key = luaL_checklstring(L, 2, &kn);
  const char *s = luaL_checklstring(L, 3, &n);
  const EVP_MD *md = a == 0 ? EVP_sha1() : a == 1 ? EVP_sha256() : EVP_sha512();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int outlen = 0;
  /* a zero-length key is a valid HMAC key; libcrypto wants a non-NULL one */
  if (!HMAC(md, kn ? key : "", (int)kn, (const unsigned char *)s, n, out, &outlen))
    return luaL_error(L, "hmac: the digest failed");
  lua_pushlstring(L, (const char *)out, outlen);
  return 1;
}

/* http.base64(s) -> RFC 4648 base64 with padding, no line breaks. */
static int core_base64(lua_State *L) {
  static const char tab[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, (n + 2) / 3 * 4);
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)s[i] << 16;
    if (i + 1 < n) v |= (unsigned)s[i + 1] << 8;
    if (i + 2 < n) v |= s[i + 2];
    p[o++] = tab[(v >> 18) & 63];
    p[o++] = tab[(v >> 12) & 63];
    p[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
    p[o++] = i + 2 < n ? tab[v & 63] : '=';
  }
  luaL_pushresultsize(&b, o);
  return 1;
}

/* http.hex(s) -> s in lower-case hexadecimal. */
static int core_hex(lua_State *L) {
  static const char digits[] = "0123456789abcdef";
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, n * 2);
  for (size_t i = 0; i < n; i++) {
    p[2 * i] = digits[s[i] >> 4];
    p[2 * i + 1] = digits[s[i] & 15];
  }
  luaL_pushresultsize(&b, n * 2);
  return 1;
}

void lurl_crypto_open(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"sha256", core_sha256}, {"hmac", core_hmac}, {"base64", core_base64}, {"hex", core_hex},
    {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
