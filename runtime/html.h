/*
** html.h -- lurl's HTML documents (runtime/html.c: gumbo's tree held in an
** arena, the document and element userdata, text and serialization) and
** their CSS selectors (runtime/html_select.c: parsing and matching, pure C
** over gumbo's tree, unit-tested in spec/c/test_html_select.c).
*/
#ifndef LURL_HTML_H
#define LURL_HTML_H

#include <stddef.h>
#include <gumbo.h>
#include <lua.h>

/* Is the node an element (a <template> is one too)? */
static inline int lurl_html_is_element(const GumboNode *n) {
  return n->type == GUMBO_NODE_ELEMENT || n->type == GUMBO_NODE_TEMPLATE;
}

/* The children of a document or element node, or NULL for other nodes. */
static inline const GumboVector *lurl_html_children(const GumboNode *n) {
  if (n->type == GUMBO_NODE_DOCUMENT) return &n->v.document.children;
  if (lurl_html_is_element(n)) return &n->v.element.children;
  return NULL;
}

/* The name of an element as the DOM gives it (lower case, an SVG name in
** its camel case): its bytes at *name, its length returned.  A tag gumbo
** does not know is the source's spelling (not lower-cased: compare it
** without case).  NULL name for non-elements. */
size_t lurl_html_tag(const GumboNode *n, const char **name);

/* A compiled selector group (html_select.c): one malloc'd block. */
typedef struct lurl_sel lurl_sel;

/* Compiles a selector of n bytes.  NULL when it is malformed, with
** *errpos its byte offset where parsing failed and *why a static phrase
** (or when out of memory: *why "not enough memory"). */
lurl_sel *lurl_sel_compile(const char *s, size_t n, size_t *errpos, const char **why);
void lurl_sel_free(lurl_sel *sel);

/* The matcher's cache of sibling positions (for :nth-child and its kin
** over siblings met in document order): zero it before a walk. */
typedef struct lurl_sel_ctx {
  const GumboNode *parent[2]; /* [0]: every element, [1]: of one type */
  unsigned next[2];           /* index_within_parent after the last counted */
  int count[2];               /* elements counted before next */
  const GumboNode *typed;     /* the element whose type [1] counts */
} lurl_sel_ctx;

/* Does the element match any selector of the group? */
int lurl_sel_match(const lurl_sel *sel, const GumboNode *el, lurl_sel_ctx *ctx);

/* core.html_parse and the element methods (html.c). */
void lurl_html_open(lua_State *L);

#endif
