/*
** test_text.c -- unit tests for runtime/text.c (run by ctest as c_text).
** Each failed check prints file:line; the last line is "N passed, N failed"
** and the exit status is non-zero if anything failed.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

static int passed, failed;

#define CHECK(cond)                                                  \
  do {                                                               \
    if (cond) {                                                      \
      passed++;                                                      \
    } else {                                                         \
      failed++;                                                      \
      printf("%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                \
  } while (0)

/* Does the byte range (p, n) equal the C string s? */
static int eq(const char *p, size_t n, const char *s) {
  return p != NULL && n == strlen(s) && memcmp(p, s, n) == 0;
}

#define S(lit) (lit), (sizeof(lit) - 1) /* a literal as (pointer, length) */

/* ---------------------------------------------------------------- buffers */

static void test_buf(void) {
  lurl_buf b = {0};
  CHECK(lurl_buf_add(&b, "ab", 2) == LURL_BUF_OK);
  CHECK(b.len == 2 && b.cap >= 3 && strcmp(b.data, "ab") == 0);
  CHECK(lurl_buf_adds(&b, "cd") == LURL_BUF_OK);
  CHECK(b.len == 4 && strcmp(b.data, "abcd") == 0);
  CHECK(b.data[b.len] == '\0');

  /* Embedded NULs are data, and the terminator still follows them. */
  CHECK(lurl_buf_add(&b, "x\0y", 3) == LURL_BUF_OK);
  CHECK(b.len == 7 && memcmp(b.data, "abcdx\0y", 7) == 0 && b.data[7] == 0);

  /* Growing across many appends keeps content and terminator intact. */
  lurl_buf_reset(&b);
  for (int i = 0; i < 1000; i++) lurl_buf_add(&b, "0123456789", 10);
  CHECK(b.len == 10000 && b.cap > 10000 && b.data[10000] == '\0');
  CHECK(memcmp(b.data + 9990, "0123456789", 10) == 0);

  /* Reset keeps the allocation but empties the string. */
  char *old = b.data;
  size_t cap = b.cap;
  lurl_buf_reset(&b);
  CHECK(b.len == 0 && b.data == old && b.cap == cap && b.data[0] == '\0');

  /* A zero-length add still yields a valid empty string. */
  lurl_buf_free(&b);
  CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
  CHECK(lurl_buf_add(&b, NULL, 0) == LURL_BUF_OK);
  CHECK(b.data != NULL && b.len == 0 && b.data[0] == '\0');
  lurl_buf_free(&b);
  lurl_buf_free(&b); /* freeing twice is harmless */
  CHECK(b.data == NULL);
}

static void test_buf_limit(void) {
  lurl_buf b = {0};
  b.limit = 5;
  CHECK(lurl_buf_add(&b, "abc", 3) == LURL_BUF_OK);
  CHECK(lurl_buf_add(&b, "def", 3) == LURL_BUF_LIMIT);
  CHECK(b.len == 3 && strcmp(b.data, "abc") == 0); /* unchanged */
  CHECK(lurl_buf_add(&b, "de", 2) == LURL_BUF_OK);   /* len == limit is ok */
  CHECK(b.len == 5 && strcmp(b.data, "abcde") == 0);
  CHECK(lurl_buf_add(&b, "f", 1) == LURL_BUF_LIMIT);
  CHECK(lurl_buf_add(&b, "", 0) == LURL_BUF_OK);
  CHECK(b.len == 5 && b.cap <= 6); /* never allocates past limit + NUL */

  lurl_buf_reset(&b);
  CHECK(b.len == 0 && b.limit == 5);
  CHECK(lurl_buf_adds(&b, "123456") == LURL_BUF_LIMIT);
  CHECK(b.len == 0 && b.data[0] == '\0');
  CHECK(lurl_buf_adds(&b, "12345") == LURL_BUF_OK);

  lurl_buf_free(&b);
  CHECK(b.data == NULL && b.len == 0 && b.limit == 5); /* limit survives */
  CHECK(lurl_buf_adds(&b, "123456") == LURL_BUF_LIMIT);
  CHECK(b.data == NULL);

  /* A size that cannot be represented is NOMEM, not a wrap-around. */
  b.limit = 0;
  CHECK(lurl_buf_adds(&b, "abc") == LURL_BUF_OK);
  CHECK(lurl_buf_add(&b, "x", SIZE_MAX - 2) == LURL_BUF_NOMEM);
  CHECK(b.len == 3 && strcmp(b.data, "abc") == 0);
  lurl_buf_free(&b);
}

/* ---------------------------------------------------------------- requote */

static int requote_is(const char *in, const char *want) {
  lurl_buf b = {0};
  int ok = lurl_url_requote(&b, in) == LURL_BUF_OK && b.data && strcmp(b.data, want) == 0 &&
           lurl_url_needs_requote(in) == (strcmp(in, want) != 0);
  if (!ok) printf("  requote got \"%s\", want \"%s\"\n", b.data ? b.data : "(null)", want);
  lurl_buf_free(&b);
  return ok;
}

static void test_requote(void) {
  CHECK(requote_is("http://h/a b?q=x y#f g", "http://h/a%20b?q=x%20y#f%20g"));
  CHECK(requote_is("http://h/caf\xc3\xa9", "http://h/caf%C3%A9"));
  CHECK(requote_is("http://h/a%20b%2Fc", "http://h/a%20b%2Fc")); /* escapes kept */
  CHECK(requote_is("http://h/100%", "http://h/100%25"));
  CHECK(requote_is("http://h/%zz%4", "http://h/%25zz%254"));
  CHECK(requote_is("http://h/{a}|<b>\"^`\\", "http://h/%7Ba%7D%7C%3Cb%3E%22%5E%60%5C"));
  CHECK(requote_is("http://h/p?a=1&b=[x]:@!$'()*+,;=~", "http://h/p?a=1&b=[x]:@!$'()*+,;=~"));
  CHECK(requote_is("http://h/\x01\x7f", "http://h/%01%7F"));
  /* the authority is left alone: userinfo escapes and IDN hosts are libcurl's */
  CHECK(requote_is("http://u:p%zz@caf\xc3\xa9.example/x y", "http://u:p%zz@caf\xc3\xa9.example/x%20y"));
  CHECK(requote_is("http://h", "http://h"));
  CHECK(requote_is("http://h?a b", "http://h?a%20b"));
  CHECK(requote_is("no scheme/a b", "no scheme/a b"));

  /* appends; fails whole under a limit */
  lurl_buf b = {0};
  b.limit = 12;
  CHECK(lurl_url_requote(&b, "http://h/a b") == LURL_BUF_LIMIT);
  lurl_buf_free(&b);
}

/* --------------------------------------------------------- percent-encode */

static int pct_is(const char *in, size_t n, int form, const char *want) {
  lurl_buf b = {0};
  int ok = lurl_buf_add_pct(&b, in, n, form) == LURL_BUF_OK && b.data &&
           strcmp(b.data, want) == 0 && b.len == strlen(want);
  if (!ok)
    printf("  pct got \"%s\", want \"%s\"\n", b.data ? b.data : "(null)",
           want);
  lurl_buf_free(&b);
  return ok;
}

static void test_pct(void) {
  const char *unres =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
  CHECK(pct_is(unres, strlen(unres), 0, unres));
  CHECK(pct_is(unres, strlen(unres), 1, unres));
  CHECK(pct_is(S("a b"), 1, "a+b"));
  CHECK(pct_is(S("a b"), 0, "a%20b"));
  CHECK(pct_is(S("\xc3\xa9"), 0, "%C3%A9")); /* "é" in UTF-8 */
  CHECK(pct_is(S("&=+/?#"), 0, "%26%3D%2B%2F%3F%23"));
  CHECK(pct_is(S("&=+/?#"), 1, "%26%3D%2B%2F%3F%23"));
  CHECK(pct_is(S("a\0b"), 0, "a%00b"));
  CHECK(pct_is(S("%*!'()"), 1, "%25%2A%21%27%28%29"));
  CHECK(pct_is(S("\xff\x7f"), 0, "%FF%7F"));
  CHECK(pct_is("", 0, 1, ""));

  /* Appends after existing content. */
  lurl_buf b = {0};
  lurl_buf_adds(&b, "q=");
  CHECK(lurl_buf_add_pct(&b, S("x y"), 1) == LURL_BUF_OK);
  CHECK(strcmp(b.data, "q=x+y") == 0 && b.len == 5);

  /* All or nothing under a limit: "é" needs 6 bytes, only 4 remain. */
  b.limit = 9;
  CHECK(lurl_buf_add_pct(&b, S("\xc3\xa9"), 0) == LURL_BUF_LIMIT);
  CHECK(strcmp(b.data, "q=x+y") == 0 && b.len == 5);
  CHECK(lurl_buf_add_pct(&b, S("\xc3"), 0) == LURL_BUF_OK);
  CHECK(lurl_buf_add_pct(&b, S("z"), 0) == LURL_BUF_OK); /* exactly 9 */
  CHECK(strcmp(b.data, "q=x+y%C3z") == 0 && b.len == 9);
  CHECK(lurl_buf_add_pct(&b, S("z"), 0) == LURL_BUF_LIMIT);
  lurl_buf_free(&b);
}

/* ----------------------------------------------------------- status lines */

static void test_status(void) {
  lurl_status st;
  CHECK(lurl_parse_status(S("HTTP/1.1 200 OK\r\n"), &st) == 0);
  CHECK(st.major == 1 && st.minor == 1 && st.code == 200);
  CHECK(eq(st.reason, st.reason_len, "OK"));

  CHECK(lurl_parse_status(S("HTTP/1.0 404 Not Found"), &st) == 0);
  CHECK(st.major == 1 && st.minor == 0 && st.code == 404);
  CHECK(eq(st.reason, st.reason_len, "Not Found"));

  CHECK(lurl_parse_status(S("HTTP/2 204\r\n"), &st) == 0);
  CHECK(st.major == 2 && st.minor == 0 && st.code == 204);
  CHECK(st.reason != NULL && st.reason_len == 0);

  CHECK(lurl_parse_status(S("HTTP/1.1 500 \r\n"), &st) == 0);
  CHECK(st.code == 500 && st.reason_len == 0);

  CHECK(lurl_parse_status(S("HTTP/1.1 302 Found\n"), &st) == 0);
  CHECK(st.code == 302 && eq(st.reason, st.reason_len, "Found"));

  CHECK(lurl_parse_status(S("HTTP/3 200"), &st) == 0);
  CHECK(st.major == 3 && st.minor == 0 && st.code == 200);

  /* The length bounds the parse, not a NUL: "OK" is cut to "O". */
  CHECK(lurl_parse_status("HTTP/1.1 200 OK", 14, &st) == 0);
  CHECK(eq(st.reason, st.reason_len, "O"));

  CHECK(lurl_parse_status(S("garbage"), &st) == -1);
  CHECK(lurl_parse_status(S("HTTP/1.1 abc"), &st) == -1);
  CHECK(lurl_parse_status(S("HTTP/1.1 20"), &st) == -1);
  CHECK(lurl_parse_status(S("HTTP/1.1 2000 OK"), &st) == -1);
  CHECK(lurl_parse_status(S("HTTP/1.1"), &st) == -1);
  CHECK(lurl_parse_status(S("HTTP/x.1 200 OK"), &st) == -1);
  CHECK(lurl_parse_status(S("HTTP/1. 200 OK"), &st) == -1);
  CHECK(lurl_parse_status(S("http/1.1 200 OK"), &st) == -1);
  CHECK(lurl_parse_status(S("HTTP/"), &st) == -1);
  CHECK(lurl_parse_status("", 0, &st) == -1);
}

/* ---------------------------------------------------------- header blocks */

static void test_fields(void) {
  const char blk[] =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: text/html\r\n"
      "X-Pad:   spaced value \t\r\n"
      "X-Empty:\r\n"
      "X-Blank:   \r\n"
      "no colon here\r\n"
      "X-Folded: first\r\n"
      "  continuation: line\r\n"
      "\tanother: one\r\n"
      "Set-Cookie: a=b; Path=/\r\n"
      "X-Url: http://h:80/x\r\n"
      "\r\n";
  size_t pos = 0;
  lurl_field f;
  CHECK(lurl_next_field(S(blk), &pos, &f) == 1);
  CHECK(eq(f.name, f.name_len, "Content-Type"));
  CHECK(eq(f.value, f.value_len, "text/html"));
  CHECK(lurl_next_field(S(blk), &pos, &f) == 1);
  CHECK(eq(f.name, f.name_len, "X-Pad"));
  CHECK(eq(f.value, f.value_len, "spaced value"));
  CHECK(lurl_next_field(S(blk), &pos, &f) == 1);
  CHECK(eq(f.name, f.name_len, "X-Empty") && f.value_len == 0);
  CHECK(lurl_next_field(S(blk), &pos, &f) == 1);
  CHECK(eq(f.name, f.name_len, "X-Blank") && f.value_len == 0);
  CHECK(lurl_next_field(S(blk), &pos, &f) == 1);
  CHECK(eq(f.name, f.name_len, "X-Folded"));
  CHECK(eq(f.value, f.value_len, "first")); /* continuation not merged */
  CHECK(lurl_next_field(S(blk), &pos, &f) == 1);
  CHECK(eq(f.name, f.name_len, "Set-Cookie"));
  CHECK(eq(f.value, f.value_len, "a=b; Path=/"));
  CHECK(lurl_next_field(S(blk), &pos, &f) == 1);
  CHECK(eq(f.name, f.name_len, "X-Url"));
  CHECK(eq(f.value, f.value_len, "http://h:80/x")); /* split at first ':' */
  CHECK(lurl_next_field(S(blk), &pos, &f) == 0);
  CHECK(lurl_next_field(S(blk), &pos, &f) == 0); /* stays at the end */

  /* Bare LF line ends, a status line whose reason holds a colon, and a last
   * line without any terminator. */
  const char lf[] = "HTTP/1.1 200 Note: fine\nA: 1\nB:2\n\nC:  3";
  pos = 0;
  CHECK(lurl_next_field(S(lf), &pos, &f) == 1);
  CHECK(eq(f.name, f.name_len, "A") && eq(f.value, f.value_len, "1"));
  CHECK(lurl_next_field(S(lf), &pos, &f) == 1);
  CHECK(eq(f.name, f.name_len, "B") && eq(f.value, f.value_len, "2"));
  CHECK(lurl_next_field(S(lf), &pos, &f) == 1);
  CHECK(eq(f.name, f.name_len, "C") && eq(f.value, f.value_len, "3"));
  CHECK(lurl_next_field(S(lf), &pos, &f) == 0);

  /* Empty names and whitespace before the colon. */
  const char odd[] = ": nameless\r\nName  : v\r\n";
  pos = 0;
  CHECK(lurl_next_field(S(odd), &pos, &f) == 1);
  CHECK(eq(f.name, f.name_len, "Name") && eq(f.value, f.value_len, "v"));
  CHECK(lurl_next_field(S(odd), &pos, &f) == 0);

  /* Nothing but a status line, or nothing at all. */
  pos = 0;
  CHECK(lurl_next_field(S("HTTP/2 204\r\n\r\n"), &pos, &f) == 0);
  pos = 0;
  CHECK(lurl_next_field("", 0, &pos, &f) == 0);
}

static void test_ieq(void) {
  CHECK(lurl_ieq(S("Content-Type"), S("content-type")));
  CHECK(lurl_ieq(S("ETAG"), S("etag")));
  CHECK(!lurl_ieq(S("ETag"), S("ETags")));
  /* '[' | 0x20 == '{', so this catches folding of non-letters. */
  CHECK(!lurl_ieq(S("a["), S("A{")));
  CHECK(lurl_ieq("", 0, "", 0));
}

/* ------------------------------------------------------------------ links */

/* Fetches the next link and checks its url and rel (rel NULL = no rel). */
static int link_is(const char *v, size_t *pos, const char *url,
                   const char *rel) {
  lurl_link l;
  if (lurl_next_link(v, strlen(v), pos, &l) != 1) {
    printf("  no link where <%s> was expected\n", url);
    return 0;
  }
  int ok = eq(l.url, l.url_len, url) &&
           (rel ? eq(l.rel, l.rel_len, rel)
                : (l.rel == NULL && l.rel_len == 0));
  if (!ok)
    printf("  link got <%.*s> rel=%.*s\n", (int)l.url_len, l.url,
           (int)l.rel_len, l.rel ? l.rel : "");
  return ok;
}

static int links_end(const char *v, size_t *pos) {
  lurl_link l;
  return lurl_next_link(v, strlen(v), pos, &l) == 0;
}

static void test_links(void) {
  size_t pos = 0;
  const char *v =
      "<https://x/?page=2>; rel=\"next\", <https://x/?page=9>; rel=last";
  CHECK(link_is(v, &pos, "https://x/?page=2", "next"));
  CHECK(link_is(v, &pos, "https://x/?page=9", "last"));
  CHECK(links_end(v, &pos));
  CHECK(links_end(v, &pos));

  pos = 0; /* commas inside the URL do not split */
  v = "<https://x/a,b?c=1,2>; rel=\"next\",<https://x/d>;rel=prev";
  CHECK(link_is(v, &pos, "https://x/a,b?c=1,2", "next"));
  CHECK(link_is(v, &pos, "https://x/d", "prev"));
  CHECK(links_end(v, &pos));

  pos = 0; /* several relation types, extra params with commas */
  v = "<https://x/9>; title=\"a, b\"; rel=\"next last\"; type=text/html, "
      "<https://x/1>; rel=first; title=\"x;y\"";
  CHECK(link_is(v, &pos, "https://x/9", "next last"));
  CHECK(link_is(v, &pos, "https://x/1", "first"));
  CHECK(links_end(v, &pos));

  pos = 0; /* whitespace variations, case of the parameter name */
  v = "  <a>\t;\trel = \"next\" ,\t<b> ; REL=last ;  , <c>;rel=up  ";
  CHECK(link_is(v, &pos, "a", "next"));
  CHECK(link_is(v, &pos, "b", "last"));
  CHECK(link_is(v, &pos, "c", "up"));
  CHECK(links_end(v, &pos));

  pos = 0; /* no rel, empty rel, first rel wins, escaped quote, empty URL */
  v = "<a>, <b>; rel=\"\", <c>; rel=one; rel=two, <d>; rel=\"x\\\"y\", <>";
  CHECK(link_is(v, &pos, "a", NULL));
  CHECK(link_is(v, &pos, "b", ""));
  CHECK(link_is(v, &pos, "c", "one"));
  CHECK(link_is(v, &pos, "d", "x\\\"y"));
  CHECK(link_is(v, &pos, "", NULL));
  CHECK(links_end(v, &pos));

  pos = 0; /* malformed pieces are skipped, good ones around them kept */
  v = "garbage, <a>; rel=next, junk \"q,q\" <z,z>, <b> junk; rel=x, "
      "<c>; =bad, <d>; rel=\"ok\", <e>rel=x, <f>; rel=last";
  CHECK(link_is(v, &pos, "a", "next"));
  CHECK(link_is(v, &pos, "d", "ok"));
  CHECK(link_is(v, &pos, "f", "last"));
  CHECK(links_end(v, &pos));

  pos = 0; /* an unterminated quote swallows the rest of the value */
  v = "<a>; rel=\"next, <b>; rel=last";
  CHECK(links_end(v, &pos));

  pos = 0; /* an unclosed '<' ends the iteration */
  v = "<a>; rel=next, <https://x/unclosed; rel=last";
  CHECK(link_is(v, &pos, "a", "next"));
  CHECK(links_end(v, &pos));

  pos = 0;
  CHECK(links_end("", &pos));
  pos = 0;
  CHECK(links_end(" , ,, ", &pos));
}

/* ------------------------------------------------------ hosts and tokens */

static void test_lacks_host(void) {
  const char *bad[] = {"http:/h/x", "http:h/x", "HTTP:/h", "https:/h", "Https:h",
                       "http://", "http:///x", "http://?q", "http://#f", "http:",
                       "http:/\xe9"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(lurl_url_lacks_host(bad[i]));
    if (!lurl_url_lacks_host(bad[i])) printf("  \"%s\" has a host?\n", bad[i]);
  }
  const char *good[] = {"http://h", "http://h/x", "HTTPS://h:1/x?q", "http://[::1]/",
                        "http://u:p@h/", "ftp:/x", "example.com/x", "httpx:/h",
                        "htt:/h", "", "mailto:a@b"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    CHECK(!lurl_url_lacks_host(good[i]));
    if (lurl_url_lacks_host(good[i])) printf("  \"%s\" lacks a host?\n", good[i]);
  }
}

static void test_token(void) {
  CHECK(lurl_is_token(S("GET")));
  CHECK(lurl_is_token(S("X-Custom.1")));
  CHECK(lurl_is_token(S("!#$%&'*+-.^_`|~09azAZ")));
  CHECK(!lurl_is_token(S("")));
  CHECK(!lurl_is_token(S("GET /x HTTP/1.1\r\nX")));
  CHECK(!lurl_is_token(S("X-A\r")));
  CHECK(!lurl_is_token(S("\rX")));
  CHECK(!lurl_is_token(S("a\nb")));
  CHECK(!lurl_is_token(S("a\0b")));
  CHECK(!lurl_is_token(S("a b")));
  CHECK(!lurl_is_token(S("a;b")));
  CHECK(!lurl_is_token(S("a=b")));
  CHECK(!lurl_is_token(S("a:b")));
  CHECK(!lurl_is_token(S("caf\xc3\xa9")));
  CHECK(!lurl_is_token(S("\x7f")));
  const char *seps = "()<>@,;:\\\"/[]?={} \t";
  for (const char *p = seps; *p; p++) CHECK(!lurl_is_token(p, 1));
}

/* lurl_fmt_int writes what "%lld" (Lua's tostring of an integer) writes */
static void test_fmt_int(void) {
  static const long long vals[] = {0, 1, -1, 9, 10, 50, -50, 1234567890123LL,
                                   9223372036854775807LL, -9223372036854775807LL - 1};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    char got[LURL_INT_CHARS], want[32];
    size_t n = lurl_fmt_int(got, vals[i]);
    snprintf(want, sizeof want, "%lld", vals[i]);
    CHECK(n == strlen(want) && strcmp(got, want) == 0);
  }
}

int main(void) {
  test_buf();
  test_buf_limit();
  test_pct();
  test_requote();
  test_status();
  test_fields();
  test_ieq();
  test_links();
  test_lacks_host();
  test_token();
  test_fmt_int();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
