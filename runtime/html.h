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

/* Numbers every element among its siblings (html_select.c), once after
** parsing and before matching: :nth-child() and its kin then read a
** position instead of counting siblings, which would be quadratic over a
** long list.  The numbers go into fields lurl never reads otherwise, the
** elements' source positions: end_pos.line is the element's index among
** its element siblings (from 1), end_pos.offset how many there are;
** end_pos.column and start_pos.column the same among the siblings of its
** type (0 for a type gumbo does not know: those are counted when asked).
** Iterative: any depth. */
void lurl_html_number(GumboNode *root);

/* Does the element match any selector of the group? (Its tree numbered.) */
int lurl_sel_match(const lurl_sel *sel, const GumboNode *el);

/* core.html_parse and the element methods (html.c). */
void lurl_html_open(lua_State *L);

#endif
