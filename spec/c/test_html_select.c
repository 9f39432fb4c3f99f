/*
** test_html_select.c -- unit tests for runtime/html_select.c (run by ctest
** as c_html_select): where a malformed selector fails (the byte offset
** the error names) and why, and matching over a small parsed page.
** Each failed check prints file:line; the last line is "N passed, N failed".
*/
#include <stdio.h>
#include <string.h>

#include "html.h"

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

/* Does `sel` fail at byte offset `pos` with a reason containing `why`? */
static int fails_at(const char *sel, size_t pos, const char *why) {
  size_t at = 99999;
  const char *msg = NULL;
  lurl_sel *s = lurl_sel_compile(sel, strlen(sel), &at, &msg);
  if (s) {
    lurl_sel_free(s);
    printf("  %s: compiled\n", sel);
    return 0;
  }
  if (at != pos || strstr(msg, why) == NULL) {
    printf("  %s: failed at %zu (%s)\n", sel, at, msg);
    return 0;
  }
  return 1;
}

static int compiles(const char *sel) {
  size_t at;
  const char *msg;
  lurl_sel *s = lurl_sel_compile(sel, strlen(sel), &at, &msg);
  if (!s) printf("  %s: failed at %zu (%s)\n", sel, at, msg);
  lurl_sel_free(s);
  return s != NULL;
}

static void test_errors(void) {
  CHECK(fails_at("", 0, "empty selector"));
  CHECK(fails_at("   ", 3, "empty selector"));
  CHECK(fails_at("div >", 5, "after the combinator"));
  CHECK(fails_at("div > , p", 6, "after the combinator"));
  CHECK(fails_at("a,", 2, "after ','"));
  CHECK(fails_at("a,,b", 2, "expected a selector"));
  CHECK(fails_at("div!", 3, "unexpected character"));
  CHECK(fails_at("a[", 2, "expected a name"));
  CHECK(fails_at("a[href", 6, "attribute operator"));
  CHECK(fails_at("a[href=", 7, "attribute value"));
  CHECK(fails_at("a[href=x", 8, "expected ']'"));
  CHECK(fails_at("a[href!=x]", 6, "attribute operator"));
  CHECK(fails_at("a[href~x]", 7, "expected '='"));
  CHECK(fails_at("a[href=\"x]", 7, "unterminated string"));
  CHECK(fails_at("p::before", 2, "pseudo-elements"));
  CHECK(fails_at("p:hover", 2, "unknown pseudo-class"));
  CHECK(fails_at("p:first-child(1)", 2, "unknown functional"));
  CHECK(fails_at("li:nth-child(", 13, "an+b"));
  CHECK(fails_at("li:nth-child(2n+)", 16, "number after the sign"));
  CHECK(fails_at("li:nth-child(2n", 15, "expected ')'"));
  CHECK(fails_at("li:nth-child(x)", 13, "an+b"));
  CHECK(fails_at("a:not(b c)", 8, "one simple selector"));
  CHECK(fails_at("a:not(:not(b))", 7, ":not() inside :not()"));
  CHECK(fails_at("a:not()", 6, "simple selector"));
  CHECK(fails_at("svg|rect", 3, "namespaces"));
  CHECK(fails_at("[*|x]", 1, "namespaces"));
  CHECK(fails_at("#", 1, "expected a name"));
  CHECK(fails_at(".", 1, "expected a name"));
  CHECK(fails_at(".a\\", 3, "escapes nothing"));
  CHECK(fails_at(")", 0, "expected a selector"));
}

static void test_compiles(void) {
  const char *ok[] = {
    "*", "div", "DIV", "#id", ".a.b", "[x]", "[x=y]", "[x='y z']", "[x~=y]", "[x|=en]",
    "[x^=a]", "[x$=a]", "[x*=a]", "a b", "a > b", "a+b", "a ~ b", "a, b", " a ", "a:first-child",
    "li:nth-child(2n+1)", "li:nth-child( -n + 3 )", "li:nth-child(odd)", "li:nth-child(EVEN)",
    "li:nth-last-child(2)", "p:nth-of-type(+3)", "p:nth-last-of-type(n)", ":root", ":empty",
    ":checked", ":enabled", ":disabled", "a:not(.b)", "a:not([href])", "*:not(*)",
    "#\\31 23", ".\\@x", "custom-el", "-x", "_y", "h1 ~ p:only-of-type", NULL};
  for (int i = 0; ok[i]; i++) CHECK(compiles(ok[i]));
}

/* The elements of a page matching sel, as "tag#id" joined by spaces. */
static void matches(GumboOutput *o, const char *sel, char *out, size_t cap) {
  size_t at;
  const char *why;
  lurl_sel *s = lurl_sel_compile(sel, strlen(sel), &at, &why);
  out[0] = '\0';
  if (!s) return;
  /* a preorder walk with an explicit stack (the test page is shallow) */
  GumboNode *stack[64];
  int top = 0;
  stack[top++] = o->document;
  while (top) {
    GumboNode *n = stack[--top];
    if (lurl_sel_match(s, n)) {
      GumboAttribute *id = gumbo_get_attribute(&n->v.element.attributes, "id");
      const char *name;
      size_t l = lurl_html_tag(n, &name);
      size_t len = strlen(out);
      snprintf(out + len, cap - len, "%s%.*s#%s", len ? " " : "", (int)l, name, id ? id->value : "");
    }
    const GumboVector *v = lurl_html_children(n);
    for (unsigned i = v ? v->length : 0; i-- > 0;) stack[top++] = (GumboNode *)v->data[i];
  }
  lurl_sel_free(s);
}

static void test_matching(void) {
  const char *page =
    "<div id=a class='x y'><p id=p1>1</p><p id=p2 lang=en-GB>2</p><span id=s1></span>"
    "<p id=p3 title='a b'>3</p></div><ul id=u><li id=l1><li id=l2><li id=l3><li id=l4></ul>"
    "<form id=f><input id=i1 type=checkbox checked><input id=i2 disabled>"
    "<fieldset disabled id=fs><legend id=lg><input id=i3></legend><input id=i4></fieldset></form>"
    "<div id=cu><x-a id=x1></x-a><x-b id=y1></x-b><!-- c --><x-a id=x2></x-a></div>";
  GumboOutput *o = gumbo_parse(page);
  lurl_html_number(o->document);
  char out[512];
  struct {
    const char *sel, *want;
  } cases[] = {
    {"p", "p#p1 p#p2 p#p3"},
    {"div > p:first-child", "p#p1"},
    {"p:last-of-type", "p#p3"},
    {"span:empty", "span#s1"},
    {"p + span", "span#s1"},
    {"p ~ p", "p#p2 p#p3"},
    {"[lang|=en]", "p#p2"},
    {"[title~=b]", "p#p3"},
    {".x.y > #p3", "p#p3"},
    {"li:nth-child(2n)", "li#l2 li#l4"},
    {"li:nth-last-child(-n+2)", "li#l3 li#l4"},
    {"li:nth-child(3), #l1", "li#l1 li#l3"},
    {"ul > :not(#l1):not(#l2)", "li#l3 li#l4"},
    {"li:not(:first-child)", "li#l2 li#l3 li#l4"},
    {":checked", "input#i1"},
    {"input:disabled", "input#i2 input#i4"},
    {"input:enabled", "input#i1 input#i3"},
    {"html:root", "html#"},
    {"div p ~ span", "span#s1"},
    {"body > div > p + p", "p#p2"},
    {"x-a:nth-of-type(2)", "x-a#x2"},
    {"#cu > :nth-last-of-type(1)", "x-b#y1 x-a#x2"},
    {"#cu > :nth-child(2)", "x-b#y1"},
    {"#cu > :nth-last-child(3)", "x-a#x1"},
    {"#cu > :first-of-type", "x-a#x1 x-b#y1"},
    {"ul > li:nth-last-of-type(odd)", "li#l2 li#l4"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    matches(o, cases[i].sel, out, sizeof out);
    if (strcmp(out, cases[i].want) != 0) printf("  %s: got \"%s\"\n", cases[i].sel, out);
    CHECK(strcmp(out, cases[i].want) == 0);
  }
  gumbo_destroy_output(&kGumboDefaultOptions, o);
}

int main(void) {
  test_errors();
  test_compiles();
  test_matching();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
