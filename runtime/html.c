#define _POSIX_C_SOURCE 200809L
/*
** html.c -- HTML documents: libgumbo's tree, the document and element
** userdata, their text and their serialization.
**
** core.html_parse(text [, url]) -> doc.  gumbo allocates the whole tree
** from an arena (its allocator option), freed at once when the document is
** collected: gumbo_destroy_output frees node by node recursively and would
** blow the C stack on a deep tree, so it is never called.  The arena counts
** against a limited state's memory cap; past it, or when malloc fails, the
** allocator jumps out of gumbo (which holds nothing but arena memory) and
** the parse raises.  Before gumbo sees it, the text's element nesting is
** capped at MAX_DEPTH (cap_depth): gumbo's tree builder scans its stack of
** open elements for each start tag, so a page of 100,000 nested <div>s
** would take quadratic time.  After parsing, every element's position
** among its siblings is numbered once (lurl_html_number), for :nth-child().
**
** A document is an element userdata over gumbo's document node.  Every
** element holds the tree userdata (`http.html.tree`, the arena) in its
** first user value, so the tree lives while any element of it is reachable;
** the tree's user value (the "info" table) holds the source text gumbo
** points into, the document's URL, and a weak cache from node to element,
** so one node is always the same Lua value.  Every walk here is iterative.
*/
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#include "errors.h"
#include "html.h"
#include "limit.h"
#include "luac.h"

#define MAX_DEPTH 512              /* elements nested deeper become siblings */
#define CHUNK ((size_t)256 * 1024) /* arena chunk */
#define SEL_CACHE 256              /* compiled selectors kept per state */

static const char TREE_TAG[] = "http.html.tree";
static const char EL_TAG[] = "http.html.element";
static const char SEL_TAG[] = "http.html.selector";

/* ---- the arena ---- */

typedef struct chunk {
  struct chunk *next;
  size_t size, used;
  max_align_t data[];
} chunk;

typedef struct arena {
  chunk *head;
  size_t total;    /* bytes malloc'd, counted against acct */
  lurl_acct *acct; /* a limited state's budget, or NULL */
  jmp_buf *jb;     /* where a failed allocation jumps to */
} arena;

static void *arena_alloc(void *ud, size_t n) {
  arena *a = (arena *)ud;
  n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
  if (n == 0) n = sizeof(max_align_t);
  chunk *c = a->head;
  if (c && c->size - c->used >= n) {
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
  }
  size_t size = n > CHUNK / 4 ? n : CHUNK;
  if (a->acct && a->acct->used + size + sizeof(chunk) > a->acct->max) {
    a->acct->refused = 1;
    longjmp(*a->jb, 1);
  }
  chunk *nc = (chunk *)malloc(sizeof(chunk) + size);
  if (nc == NULL) longjmp(*a->jb, 1);
  nc->size = size;
  nc->used = n;
  a->total += size + sizeof(chunk);
  if (a->acct) a->acct->used += size + sizeof(chunk);
  if (c && size != CHUNK) { /* a big block: keep bumping in the current chunk */
    nc->next = c->next;
    c->next = nc;
  } else {
    nc->next = c;
    a->head = nc;
  }
  return nc->data;
}

/* gumbo frees temporaries as it goes; they stay until the arena goes. */
static void arena_dealloc(void *ud, void *p) {
  (void)ud;
  (void)p;
}

static void arena_free(arena *a) {
  for (chunk *c = a->head, *next; c; c = next) {
    next = c->next;
    free(c);
  }
  if (a->acct) a->acct->used -= a->total;
  a->head = NULL;
  a->total = 0;
}

/* ---- the depth cap ---- */

static int name_is(const char *s, size_t n, const char *const *list) {
  for (; *list; list++)
    if (strlen(*list) == n && strncasecmp(s, *list, n) == 0) return 1;
  return 0;
}

/* Elements that never nest in themselves (void ones, those whose start
** tag closes an open one of their kind or is ignored inside one, those the
** parser keeps at one place) are not counted, so a page of unclosed <a>s
** or <li>s, which are siblings in the tree, is not taken for a deep one;
** nor raw text ones, whose content is skipped. */
static const char *const uncounted[] = {
  "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img",
  "input", "keygen", "link", "meta", "param", "source", "track", "wbr", "html", "head",
  "body", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "tbody", "thead",
  "tfoot", "colgroup", "caption", "rb", "rt", "rtc", "rp", "a", "button", "nobr", "form",
  "select", "h1", "h2", "h3", "h4", "h5", "h6", NULL};
static const char *const rawtext[] = {
  "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", NULL};

static int is_alpha(int c) { return (c | 32) >= 'a' && (c | 32) <= 'z'; }

/* The end of the tag starting at s[i] ('<'): after its '>' (quoted
** attribute values skipped), or n. */
static size_t tag_end(const char *s, size_t n, size_t i, int *selfclose) {
  char q = 0;
  for (i++; i < n; i++) {
    char c = s[i];
    if (q) {
      if (c == q) q = 0;
    } else if (c == '"' || c == '\'') {
      if (s[i - 1] == '=' || s[i - 1] == ' ') q = c;
    } else if (c == '>') {
      *selfclose = s[i - 1] == '/';
      return i + 1;
    }
  }
  return n;
}

/* Finds "</name" (any case) from i; its index or n. */
static size_t find_end_tag(const char *s, size_t n, size_t i, const char *name, size_t nl) {
  while (i < n) {
    const char *p = memchr(s + i, '<', n - i);
    if (!p) return n;
    i = (size_t)(p - s);
    if (i + 2 + nl <= n && s[i + 1] == '/' && strncasecmp(s + i + 2, name, nl) == 0) return i;
    i++;
  }
  return n;
}

/*
** A linear pre-pass that counts open elements the way the tree builder
** would, roughly (it may only count low: see `uncounted`), and drops the
** start tags that would nest deeper than MAX_DEPTH, with as many of the
** end tags after them: their content lands in the element at the cap, as
** browsers flatten what is nested too deep.  Returns NULL when nothing is
** dropped (the usual case: no copy), else the filtered text in the arena.
*/
static char *cap_depth(arena *a, const char *s, size_t n, size_t *outlen) {
  size_t depth = 0, excess = 0, foreign = 0, done = 0, i = 0;
  char *out = NULL;
  size_t ol = 0;
  while (i < n) {
    const char *p = memchr(s + i, '<', n - i);
    if (!p) break;
    size_t at = (size_t)(p - s), end = 0;
    int sc = 0, drop = 0;
    if (at + 3 < n && memcmp(p, "<!--", 4) == 0) {
      const char *e = NULL;
      for (size_t k = at + 4; k + 2 < n && !e; k++)
        if (s[k] == '-' && s[k + 1] == '-' && s[k + 2] == '>') e = s + k;
      i = e ? (size_t)(e - s) + 3 : n;
      continue;
    }
    if (at + 1 < n && (p[1] == '!' || p[1] == '?')) {
      const char *e = memchr(p, '>', n - at);
      i = e ? (size_t)(e - s) + 1 : n;
      continue;
    }
    if (at + 2 < n && p[1] == '/' && is_alpha((unsigned char)p[2])) {
      size_t k = at + 2;
      while (k < n && !strchr(" \t\n\r\f/>", s[k])) k++;
      end = tag_end(s, n, at, &sc);
      if (name_is(s + at + 2, k - at - 2, uncounted) || name_is(s + at + 2, k - at - 2, rawtext)) {
        i = end;
        continue;
      }
      if (excess) {
        excess--;
        drop = 1;
      } else if (depth) {
        depth--;
        if (foreign > depth) foreign = 0;
      }
    } else if (at + 1 < n && is_alpha((unsigned char)p[1])) {
      size_t k = at + 1;
      while (k < n && !strchr(" \t\n\r\f/>", s[k])) k++;
      const char *name = s + at + 1;
      size_t nl = k - at - 1;
      end = tag_end(s, n, at, &sc);
      if (!foreign && nl == 9 && strncasecmp(name, "plaintext", 9) == 0) break; /* all text after */
      if (name_is(name, nl, rawtext) && !foreign) {
        i = find_end_tag(s, n, end, name, nl);
        continue;
      }
      if (name_is(name, nl, uncounted) || (sc && foreign)) {
        i = end;
        continue;
      }
      if (depth >= MAX_DEPTH) {
        excess++;
        drop = 1;
      } else {
        depth++;
        if (!foreign && (name_is(name, nl, (const char *const[]){"svg", "math", NULL})))
          foreign = depth;
      }
    } else {
      i = at + 1;
      continue;
    }
    if (drop) {
      if (!out) out = (char *)arena_alloc(a, n + 1);
      memcpy(out + ol, s + done, at - done);
      ol += at - done;
      done = end;
    }
    i = end;
  }
  if (!out) return NULL;
  memcpy(out + ol, s + done, n - done);
  *outlen = ol + n - done;
  return out;
}

/* ---- the tree and its elements ---- */

typedef struct html_tree {
  const char *tag; /* TREE_TAG */
  arena a;
  GumboOutput *out; /* NULL once freed */
} html_tree;

typedef struct html_el {
  const char *tag; /* EL_TAG */
  GumboNode *node;
  html_tree *tree;
} html_el;

static int tree_gc(lua_State *L) {
  html_tree *t = (html_tree *)lurl_totagged(L, 1, sizeof(html_tree), TREE_TAG);
  if (t) {
    t->out = NULL;
    arena_free(&t->a);
  }
  return 0;
}

static html_el *check_el(lua_State *L, int idx) {
  html_el *e = (html_el *)lurl_totagged(L, idx, sizeof(html_el), EL_TAG);
  if (e == NULL) luaL_typeerror(L, idx, EL_TAG);
  if (e->tree->out == NULL) luaL_error(L, "the HTML document was freed");
  return e;
}

/* Pushes the element of node (one per node: the tree's cache) [-0, +1].
** tidx: the tree userdata. */
static void push_node(lua_State *L, int tidx, html_tree *t, GumboNode *node) {
  lua_getiuservalue(L, tidx, 1);
  lua_getfield(L, -1, "nodes");
  if (lua_rawgetp(L, -1, node) != LUA_TNIL) {
    lua_replace(L, -3);
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  html_el *e = (html_el *)lua_newuserdatauv(L, sizeof(html_el), 2);
  e->tag = EL_TAG;
  e->node = node;
  e->tree = t;
  lua_pushvalue(L, tidx);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, EL_TAG);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, -3, node);
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* Pushes the element of another node of e's tree [-0, +1]. */
static void push_near(lua_State *L, int eidx, GumboNode *node) {
  html_el *e = (html_el *)lua_touserdata(L, eidx);
  lua_getiuservalue(L, eidx, 1);
  push_node(L, lua_gettop(L), e->tree, node);
  lua_remove(L, -2);
}

/* core.html_parse(text [, url]) -> the document */
static int core_html_parse(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  const char *url = luaL_optstring(L, 2, NULL);
  html_tree *t = (html_tree *)lua_newuserdatauv(L, sizeof(html_tree), 1);
  memset(t, 0, sizeof *t);
  t->tag = TREE_TAG;
  luaL_setmetatable(L, TREE_TAG);
  int tidx = lua_gettop(L);
  lua_createtable(L, 0, 4); /* info */
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "src");
  if (url) {
    lua_pushstring(L, url);
    lua_setfield(L, -2, "url");
  }
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, "nodes");
  lua_setiuservalue(L, tidx, 1);

  jmp_buf jb;
  t->a.jb = &jb;
  t->a.acct = lurl_limits_acct(L);
  if (setjmp(jb) == 0) {
    size_t fl = 0;
    const char *f = cap_depth(&t->a, s, n, &fl);
    GumboOptions o = kGumboDefaultOptions;
    o.allocator = arena_alloc;
    o.deallocator = arena_dealloc;
    o.userdata = &t->a;
    o.max_errors = 0;
    t->out = gumbo_parse_with_options(&o, f ? f : s, f ? fl : n);
  } else {
    int capped = t->a.acct && t->a.acct->refused;
    arena_free(&t->a);
    return lurl_raise(L, capped ? "not enough memory (the state's memory cap) to parse HTML"
                                : "not enough memory to parse HTML");
  }
  t->a.jb = NULL;
  lurl_html_number(t->out->document);
  push_node(L, tidx, t, t->out->document);
  lua_getiuservalue(L, tidx, 1);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, "doc");
  lua_pop(L, 1);
  return 1;
}

/* core.html_info(el) -> the document's info table (src, url, doc, nodes) */
static int core_html_info(lua_State *L) {
  check_el(L, 1);
  lua_getiuservalue(L, 1, 1);
  lua_getiuservalue(L, -1, 1);
  return 1;
}

/* Is the name lurl_html_tag gave the source's spelling (to lower-case)? */
static int from_source(const GumboNode *n, const char *name) {
  const GumboStringPiece *o = &n->v.element.original_tag;
  return o->data && name >= o->data && name < o->data + o->length;
}

/* An element's name as the DOM gives it: lower case but SVG's own. */
static void push_tag(lua_State *L, const GumboNode *n) {
  const char *name;
  size_t l = lurl_html_tag(n, &name);
  if (!from_source(n, name)) {
    lua_pushlstring(L, name, l);
    return;
  }
  luaL_Buffer b;
  char *o = luaL_buffinitsize(L, &b, l);
  for (size_t i = 0; i < l; i++) o[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
  luaL_pushresultsize(&b, l);
}

/* The namespace prefix of an attribute's name ("xlink:" of xlink:href). */
static const char *attr_prefix(const GumboAttribute *a) {
  switch (a->attr_namespace) {
  case GUMBO_ATTR_NAMESPACE_XLINK: return "xlink:";
  case GUMBO_ATTR_NAMESPACE_XML: return "xml:";
  case GUMBO_ATTR_NAMESPACE_XMLNS: return strcmp(a->name, "xmlns") != 0 ? "xmlns:" : "";
  default: return "";
  }
}

/* An attribute's name with its namespace prefix. */
static void add_attr_name(luaL_Buffer *b, const GumboAttribute *a) {
  luaL_addstring(b, attr_prefix(a));
  luaL_addstring(b, a->name);
}

static void push_attrs(lua_State *L, const GumboNode *n) {
  if (!lurl_html_is_element(n)) {
    lua_newtable(L);
    return;
  }
  const GumboVector *v = &n->v.element.attributes;
  lua_createtable(L, 0, (int)v->length);
  for (unsigned i = 0; i < v->length; i++) {
    const GumboAttribute *a = (const GumboAttribute *)v->data[i];
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    add_attr_name(&b, a);
    luaL_pushresult(&b);
    lua_pushstring(L, a->value);
    lua_rawset(L, -3);
  }
}

/* el.tag, el.attrs, el.parent, then the methods (upvalue 1). */
static int el_index(lua_State *L) {
  html_el *e = check_el(L, 1);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  if (lua_type(L, 2) != LUA_TSTRING) return 0;
  size_t kl;
  const char *k = lua_tolstring(L, 2, &kl);
  GumboNode *n = e->node;
  if (kl == 3 && memcmp(k, "tag", 3) == 0) {
    if (n->type == GUMBO_NODE_DOCUMENT) lua_pushliteral(L, "#document");
    else push_tag(L, n);
  } else if (kl == 5 && memcmp(k, "attrs", 5) == 0) {
    if (lua_getiuservalue(L, 1, 2) != LUA_TTABLE) {
      push_attrs(L, n);
      lua_pushvalue(L, -1);
      lua_setiuservalue(L, 1, 2);
    }
  } else if (kl == 6 && memcmp(k, "parent", 6) == 0) {
    if (n->parent) push_near(L, 1, n->parent);
    else lua_pushnil(L);
  } else {
    return 0;
  }
  return 1;
}

static int el_tostring(lua_State *L) {
  html_el *e = (html_el *)lurl_totagged(L, 1, sizeof(html_el), EL_TAG);
  if (e && e->tree->out && lurl_html_is_element(e->node)) {
    push_tag(L, e->node);
    lua_pushfstring(L, "http.html.element (<%s>)", lua_tostring(L, -1));
  } else {
    lua_pushstring(L, e && e->tree->out ? "http.html.document" : "http.html.element (freed)");
  }
  return 1;
}

/* el:attr(name) -> value | nil (names are matched in lower case) */
static int el_attr(lua_State *L) {
  html_el *e = check_el(L, 1);
  size_t l;
  const char *name = luaL_checklstring(L, 2, &l);
  if (!lurl_html_is_element(e->node)) return 0;
  const GumboVector *v = &e->node->v.element.attributes;
  for (unsigned i = 0; i < v->length; i++) {
    const GumboAttribute *a = (const GumboAttribute *)v->data[i];
    const char *pre = attr_prefix(a);
    size_t pl = strlen(pre);
    if (pl + strlen(a->name) == l && strncasecmp(pre, name, pl) == 0 &&
        strncasecmp(a->name, name + pl, l - pl) == 0) {
      lua_pushstring(L, a->value);
      return 1;
    }
  }
  return 0;
}

/* el:children() -> a list of the child elements */
static int el_children(lua_State *L) {
  html_el *e = check_el(L, 1);
  const GumboVector *v = lurl_html_children(e->node);
  lua_newtable(L);
  int k = 0;
  for (unsigned i = 0; v && i < v->length; i++) {
    GumboNode *c = (GumboNode *)v->data[i];
    if (!lurl_html_is_element(c)) continue;
    push_near(L, 1, c);
    lua_rawseti(L, -2, ++k);
  }
  return 1;
}

/* The node after n in document order, within root (NULL at the end);
** `enter`: may go into n's children. */
static GumboNode *walk(GumboNode *n, const GumboNode *root, int enter) {
  const GumboVector *v = enter ? lurl_html_children(n) : NULL;
  if (v && v->length) return (GumboNode *)v->data[0];
  while (n != root && n->parent) {
    const GumboVector *pv = lurl_html_children(n->parent);
    if (n->index_within_parent + 1 < pv->length) return (GumboNode *)pv->data[n->index_within_parent + 1];
    n = n->parent;
  }
  return NULL;
}

static int is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

/* el:text([raw]) -> the text of the subtree, runs of whitespace made one
** space, none at either end; with raw true, as it is (a textarea's value) */
static int el_text(lua_State *L) {
  html_el *e = check_el(L, 1);
  int raw = lua_toboolean(L, 2);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  int space = 0, any = 0;
  GumboNode *root = e->node;
  for (GumboNode *n = root; n; n = walk(n, root, 1)) {
    if (n->type != GUMBO_NODE_TEXT && n->type != GUMBO_NODE_WHITESPACE && n->type != GUMBO_NODE_CDATA)
      continue;
    if (raw) {
      luaL_addstring(&b, n->v.text.text);
      continue;
    }
    for (const char *p = n->v.text.text; *p;) {
      if (is_space((unsigned char)*p)) {
        space = any;
        while (is_space((unsigned char)*p)) p++;
        continue;
      }
      size_t k = 0;
      while (p[k] && !is_space((unsigned char)p[k])) k++;
      if (space) luaL_addchar(&b, ' ');
      luaL_addlstring(&b, p, k);
      space = 0;
      any = 1;
      p += k;
    }
  }
  luaL_pushresult(&b);
  return 1;
}

/* ---- serialization (the HTML fragment serialization algorithm) ---- */

static int is_void(const GumboNode *n) {
  if (n->v.element.tag_namespace != GUMBO_NAMESPACE_HTML) return 0;
  switch (n->v.element.tag) {
  case GUMBO_TAG_AREA: case GUMBO_TAG_BASE: case GUMBO_TAG_BASEFONT: case GUMBO_TAG_BGSOUND:
  case GUMBO_TAG_BR: case GUMBO_TAG_COL: case GUMBO_TAG_EMBED: case GUMBO_TAG_FRAME:
  case GUMBO_TAG_HR: case GUMBO_TAG_IMG: case GUMBO_TAG_INPUT: case GUMBO_TAG_KEYGEN:
  case GUMBO_TAG_LINK: case GUMBO_TAG_META: case GUMBO_TAG_PARAM: case GUMBO_TAG_SOURCE:
  case GUMBO_TAG_TRACK: case GUMBO_TAG_WBR: return 1;
  default: return 0;
  }
}

static int is_rawtext_parent(const GumboNode *p) {
  if (!p || !lurl_html_is_element(p) || p->v.element.tag_namespace != GUMBO_NAMESPACE_HTML) return 0;
  switch (p->v.element.tag) {
  case GUMBO_TAG_STYLE: case GUMBO_TAG_SCRIPT: case GUMBO_TAG_XMP: case GUMBO_TAG_IFRAME:
  case GUMBO_TAG_NOEMBED: case GUMBO_TAG_NOFRAMES: case GUMBO_TAG_PLAINTEXT: return 1;
  default: return 0;
  }
}

/* s escaped: & < > and U+00A0 always, " in attribute values (the
** standard escapes < > in attributes since 2025, as browsers now do). */
static void add_escaped(luaL_Buffer *b, const char *s, int in_attr) {
  const char *stop = in_attr ? "&\"<>\xC2" : "&<>\xC2";
  while (*s) {
    size_t k = strcspn(s, stop);
    luaL_addlstring(b, s, k);
    s += k;
    switch (*s) {
    case '\0': return;
    case '&': luaL_addstring(b, "&amp;"); break;
    case '"': luaL_addstring(b, "&quot;"); break;
    case '<': luaL_addstring(b, "&lt;"); break;
    case '>': luaL_addstring(b, "&gt;"); break;
    default: /* 0xC2 */
      if ((unsigned char)s[1] == 0xA0) {
        luaL_addstring(b, "&nbsp;");
        s++;
      } else {
        luaL_addchar(b, *s);
      }
    }
    s++;
  }
}

static void add_name(luaL_Buffer *b, const GumboNode *n) {
  const char *name;
  size_t l = lurl_html_tag(n, &name);
  int lower = from_source(n, name);
  for (size_t i = 0; i < l; i++)
    luaL_addchar(b, (char)(lower && name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]));
}

static void open_tag(luaL_Buffer *b, const GumboNode *n) {
  luaL_addchar(b, '<');
  add_name(b, n);
  const GumboVector *v = &n->v.element.attributes;
  for (unsigned i = 0; i < v->length; i++) {
    const GumboAttribute *a = (const GumboAttribute *)v->data[i];
    luaL_addchar(b, ' ');
    add_attr_name(b, a);
    luaL_addstring(b, "=\"");
    add_escaped(b, a->value, 1);
    luaL_addchar(b, '"');
  }
  luaL_addchar(b, '>');
}

static void close_tag(luaL_Buffer *b, const GumboNode *n) {
  luaL_addstring(b, "</");
  add_name(b, n);
  luaL_addchar(b, '>');
}

/* One node as it is entered; returns whether to go into its children. */
static int enter_node(luaL_Buffer *b, const GumboNode *n) {
  switch (n->type) {
  case GUMBO_NODE_ELEMENT:
  case GUMBO_NODE_TEMPLATE:
    open_tag(b, n);
    if (is_void(n)) return 0;
    if (n->v.element.children.length) return 1;
    close_tag(b, n);
    return 0;
  case GUMBO_NODE_COMMENT:
    luaL_addstring(b, "<!--");
    luaL_addstring(b, n->v.text.text);
    luaL_addstring(b, "-->");
    return 0;
  case GUMBO_NODE_DOCUMENT: return 1;
  default:
    if (is_rawtext_parent(n->parent)) luaL_addstring(b, n->v.text.text);
    else add_escaped(b, n->v.text.text, 0);
    return 0;
  }
}

/* The children of root serialized, iteratively (end tags written as the
** walk climbs out of an element). */
static void add_children(luaL_Buffer *b, GumboNode *root) {
  const GumboVector *v = lurl_html_children(root);
  if (!v || !v->length) return;
  GumboNode *n = (GumboNode *)v->data[0];
  for (;;) {
    if (enter_node(b, n)) {
      n = (GumboNode *)n->v.element.children.data[0];
      continue;
    }
    for (;;) {
      const GumboVector *pv = lurl_html_children(n->parent);
      if (n->index_within_parent + 1 < pv->length) {
        n = (GumboNode *)pv->data[n->index_within_parent + 1];
        break;
      }
      n = n->parent;
      if (n == root) return;
      close_tag(b, n);
    }
  }
}

static int el_inner_html(lua_State *L) {
  html_el *e = check_el(L, 1);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  add_children(&b, e->node);
  luaL_pushresult(&b);
  return 1;
}

/* el:outer_html(); the document's starts with its doctype */
static int el_outer_html(lua_State *L) {
  html_el *e = check_el(L, 1);
  GumboNode *n = e->node;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (n->type == GUMBO_NODE_DOCUMENT) {
    if (n->v.document.has_doctype) {
      luaL_addstring(&b, "<!DOCTYPE ");
      luaL_addstring(&b, n->v.document.name);
      luaL_addchar(&b, '>');
    }
    add_children(&b, n);
  } else if (enter_node(&b, n)) {
    add_children(&b, n);
    close_tag(&b, n);
  }
  luaL_pushresult(&b);
  return 1;
}

/* ---- selectors ---- */

typedef struct sel_box {
  const char *tag; /* SEL_TAG */
  lurl_sel *sel;
} sel_box;

static int sel_gc(lua_State *L) {
  sel_box *s = (sel_box *)lurl_totagged(L, 1, sizeof(sel_box), SEL_TAG);
  if (s && s->sel) {
    lurl_sel_free(s->sel);
    s->sel = NULL;
  }
  return 0;
}

/* The compiled selector of the string at idx, from the cache (upvalue 2
** of the select functions) or compiled now [-0, +1]. */
static lurl_sel *compiled(lua_State *L, int idx, const char *fname) {
  size_t n;
  const char *s = luaL_checklstring(L, idx, &n);
  int cache = lua_upvalueindex(2);
  lua_pushvalue(L, idx);
  if (lua_rawget(L, cache) == LUA_TUSERDATA) return ((sel_box *)lua_touserdata(L, -1))->sel;
  lua_pop(L, 1);
  sel_box *bx = (sel_box *)lua_newuserdatauv(L, sizeof(sel_box), 0);
  bx->tag = SEL_TAG;
  bx->sel = NULL;
  luaL_setmetatable(L, SEL_TAG);
  size_t at;
  const char *why;
  if ((bx->sel = lurl_sel_compile(s, n, &at, &why)) == NULL)
    lurl_raise(L, "%s: bad selector \"%s\": %s at position %d", fname, s, why, (int)at + 1);
  lua_rawgeti(L, cache, 1); /* how many it holds (selectors are string keys) */
  lua_Integer count = lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (count >= SEL_CACHE) { /* a script making selectors on the fly: start over */
    lua_pushnil(L);
    while (lua_next(L, cache)) {
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, cache);
    }
    count = 0;
  }
  lua_pushvalue(L, idx);
  lua_pushvalue(L, -2);
  lua_rawset(L, cache);
  lua_pushinteger(L, count + 1);
  lua_rawseti(L, cache, 1);
  return bx->sel;
}

/* The state of a select iteration (upvalue 1 of the iterator); user
** values: the root element, the selector box. */
typedef struct sel_iter {
  lurl_sel *sel;
  GumboNode *root, *cur;
} sel_iter;

/* The next match after it->cur, or NULL. */
static GumboNode *next_match(sel_iter *it) {
  GumboNode *n = it->cur;
  while ((n = walk(n, it->root, 1)) != NULL) {
    if (lurl_sel_match(it->sel, n)) break;
  }
  it->cur = n;
  return n;
}

static int select_step(lua_State *L) {
  sel_iter *it = (sel_iter *)lua_touserdata(L, lua_upvalueindex(1));
  if (it->cur == NULL) return 0;
  lua_getiuservalue(L, lua_upvalueindex(1), 1); /* the root: checks its tree lives */
  check_el(L, -1);
  if (next_match(it) == NULL) return 0;
  push_near(L, lua_gettop(L), it->cur);
  return 1;
}

/* el:select(css) -> iterator over the matching descendants, in document
** order */
static int el_select(lua_State *L) {
  html_el *e = check_el(L, 1);
  compiled(L, 2, "select");
  sel_box *bx = (sel_box *)lua_touserdata(L, -1);
  sel_iter *it = (sel_iter *)lua_newuserdatauv(L, sizeof(sel_iter), 2);
  memset(it, 0, sizeof *it);
  it->sel = bx->sel;
  it->root = it->cur = e->node;
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, -2);
  lua_setiuservalue(L, -2, 2);
  lua_pushcclosure(L, select_step, 1);
  return 1;
}

/* el:select_one(css) -> the first match or nil */
static int el_select_one(lua_State *L) {
  html_el *e = check_el(L, 1);
  sel_iter it;
  memset(&it, 0, sizeof it);
  it.sel = compiled(L, 2, "select_one");
  it.root = it.cur = e->node;
  if (next_match(&it) == NULL) return 0;
  push_near(L, 1, it.cur);
  return 1;
}

void lurl_html_open(lua_State *L) {
  luaL_newmetatable(L, TREE_TAG);
  lua_pushcfunction(L, tree_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, SEL_TAG);
  lua_pushcfunction(L, sel_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  luaL_newmetatable(L, EL_TAG);
  lua_newtable(L); /* the methods; lurl.html adds its own (url, form) */
  lua_newtable(L); /* the selector cache */
  static const luaL_Reg methods[] = {
    {"attr", el_attr}, {"children", el_children}, {"text", el_text},
    {"inner_html", el_inner_html}, {"outer_html", el_outer_html},
    {"select", el_select}, {"select_one", el_select_one}, {NULL, NULL}};
  for (int i = 0; methods[i].name; i++) {
    lua_pushvalue(L, -2);
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, methods[i].func, 2); /* upvalues: methods, cache */
    lua_setfield(L, -3, methods[i].name);
  }
  lua_pop(L, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, -4, "html_methods"); /* core.html_methods */
  lua_pushcclosure(L, el_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, el_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);

  static const luaL_Reg fns[] = {
    {"html_parse", core_html_parse}, {"html_info", core_html_info}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
