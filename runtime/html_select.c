/*
** html_select.c -- CSS Selectors Level 3 over gumbo's tree: a selector
** group compiled into one malloc'd block, and the matcher.
**
** Grammar (what SPEC's HTML section lists): a group is complex selectors
** separated by ','; a complex one is compound selectors joined by the
** combinators ' ', '>', '+', '~'; a compound one is an optional type or
** '*' and any of #id, .class, [attr], [attr op value] (=, ~=, |=, ^=, $=,
** *=), :pseudo-class, :nth-*(an+b) and :not(simple).  Identifiers and
** strings take CSS escapes.  Namespaces and pseudo-elements are refused.
**
** Matching goes right to left.  The results of a failed match say how far
** to back off (as browsers do, Servo's matching.rs names them), so a
** selector like `a b c d` over a deep tree stays linear in the depth
** instead of trying every chain of ancestors.
*/
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "html.h"

enum { K_ANY, K_TAG, K_ID, K_CLASS, K_ATTR, K_PSEUDO };
enum { A_EXISTS, A_EQ, A_INCLUDES, A_DASH, A_PREFIX, A_SUFFIX, A_SUBSTR };
enum {
  P_FIRST_CHILD, P_LAST_CHILD, P_ONLY_CHILD, P_FIRST_OF_TYPE, P_LAST_OF_TYPE,
  P_ONLY_OF_TYPE, P_ROOT, P_EMPTY, P_CHECKED, P_ENABLED, P_DISABLED,
  P_NTH_CHILD, P_NTH_LAST_CHILD, P_NTH_OF_TYPE, P_NTH_LAST_OF_TYPE
};

typedef struct simple {
  unsigned char kind, op, negate; /* op: A_* or P_* */
  GumboTag tag;                   /* K_TAG */
  const char *name, *val;         /* NUL-terminated, in the block */
  size_t nlen, vlen;
  long a, b;                      /* :nth-*(an+b) */
} simple;

typedef struct compound {
  int first, n; /* simples */
  char comb;    /* how it relates to the compound on its left; 0: leftmost */
} compound;

typedef struct complex {
  int first, n; /* compounds */
} complex;

struct lurl_sel {
  complex *cx;
  compound *cp;
  simple *sp;
  char *str;
  int ncx, ncp, nsp;
  size_t nstr;
};

#define MAX_SELECTOR 4096 /* bytes; longer ones are refused */

typedef struct parser {
  const char *s;
  size_t n, i;
  const char *why;
  lurl_sel *sel;
} parser;

static int fail(parser *p, const char *why) {
  if (!p->why) p->why = why;
  return 0;
}

static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
static int is_hex(int c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static int is_nmstart(int c) {
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}
static int is_nmchar(int c) { return is_nmstart(c) || (c >= '0' && c <= '9') || c == '-'; }

static int peek(const parser *p) { return p->i < p->n ? (unsigned char)p->s[p->i] : -1; }
static int skip_ws(parser *p) {
  size_t i0 = p->i;
  while (p->i < p->n && is_ws((unsigned char)p->s[p->i])) p->i++;
  return p->i > i0;
}

static void put_utf8(parser *p, unsigned long cp) {
  char *o = p->sel->str + p->sel->nstr;
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    o[0] = (char)cp, p->sel->nstr += 1;
  } else if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 63)), p->sel->nstr += 2;
  } else if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12)), o[1] = (char)(0x80 | ((cp >> 6) & 63));
    o[2] = (char)(0x80 | (cp & 63)), p->sel->nstr += 3;
  } else {
    o[0] = (char)(0xF0 | (cp >> 18)), o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63)), o[3] = (char)(0x80 | (cp & 63));
    p->sel->nstr += 4;
  }
}

/* A backslash escape at p->i, decoded onto the strings (a hex escape is
** never longer decoded than written, so the block's room suffices). */
static int escape(parser *p) {
  p->i++; /* the backslash */
  int c = peek(p);
  if (c < 0 || c == '\n' || c == '\r' || c == '\f') return fail(p, "a backslash escapes nothing");
  if (is_hex(c)) {
    unsigned long cp = 0;
    for (int k = 0; k < 6 && is_hex(peek(p)); k++, p->i++) {
      int h = peek(p);
      cp = cp * 16 + (unsigned long)(h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
    }
    if (p->i < p->n && is_ws((unsigned char)p->s[p->i])) p->i++;
    put_utf8(p, cp);
  } else {
    p->sel->str[p->sel->nstr++] = (char)c;
    p->i++;
  }
  return 1;
}

/* An identifier (name: nmchar+ for #id) onto the strings, NUL-terminated;
** ASCII lower-cased when `lower`. */
static int ident(parser *p, const char **out, size_t *len, int name, int lower) {
  size_t start = p->sel->nstr;
  int c = peek(p);
  if (!name) {
    if (c == '-') {
      p->sel->str[p->sel->nstr++] = '-';
      p->i++;
      c = peek(p);
    }
    if (!(c >= 0 && is_nmstart(c)) && c != '\\') return fail(p, "expected a name");
  }
  while ((c = peek(p)) >= 0 && (is_nmchar(c) || c == '\\')) {
    if (c == '\\') {
      if (!escape(p)) return 0;
    } else {
      p->sel->str[p->sel->nstr++] = (char)(lower && c >= 'A' && c <= 'Z' ? c + 32 : c);
      p->i++;
    }
  }
  if (p->sel->nstr == start) return fail(p, "expected a name");
  *out = p->sel->str + start;
  *len = p->sel->nstr - start;
  p->sel->str[p->sel->nstr++] = '\0';
  return 1;
}

/* A quoted string (the quote at p->i) onto the strings. */
static int string(parser *p, const char **out, size_t *len) {
  int q = peek(p);
  size_t start = p->sel->nstr, open = p->i++;
  for (;;) {
    int c = peek(p);
    if (c < 0) {
      p->i = open;
      return fail(p, "unterminated string");
    }
    if (c == q) break;
    if (c == '\n' || c == '\r' || c == '\f') return fail(p, "newline in a string");
    if (c == '\\' && p->i + 1 < p->n && strchr("\n\r\f", p->s[p->i + 1])) {
      p->i += 2; /* an escaped newline continues the string */
    } else if (c == '\\') {
      if (!escape(p)) return 0;
    } else {
      p->sel->str[p->sel->nstr++] = (char)c;
      p->i++;
    }
  }
  p->i++;
  *out = p->sel->str + start;
  *len = p->sel->nstr - start;
  p->sel->str[p->sel->nstr++] = '\0';
  return 1;
}

static simple *new_simple(parser *p, int kind) {
  simple *s = &p->sel->sp[p->sel->nsp++];
  memset(s, 0, sizeof *s);
  s->kind = (unsigned char)kind;
  return s;
}

/* [name], [name op value] */
static int attribute(parser *p, simple *s) {
  static const char ops[] = "=~|^$*";
  p->i++; /* '[' */
  skip_ws(p);
  if (peek(p) == '|' || peek(p) == '*') return fail(p, "namespaces are not supported");
  if (!ident(p, &s->name, &s->nlen, 0, 1)) return 0;
  skip_ws(p);
  int c = peek(p);
  if (c == ']') {
    p->i++;
    s->op = A_EXISTS;
    return 1;
  }
  const char *o = c > 0 ? strchr(ops, c) : NULL;
  if (o == NULL) return fail(p, "expected an attribute operator or ']'");
  if (c != '=') {
    p->i++;
    if (peek(p) != '=') return fail(p, "expected '='");
  }
  s->op = (unsigned char)(A_EQ + (o - ops));
  p->i++;
  skip_ws(p);
  c = peek(p);
  if (c == '"' || c == '\'') {
    if (!string(p, &s->val, &s->vlen)) return 0;
  } else if (!ident(p, &s->val, &s->vlen, 0, 0)) {
    p->why = NULL;
    return fail(p, "expected an attribute value");
  }
  skip_ws(p);
  if (peek(p) != ']') return fail(p, "expected ']'");
  p->i++;
  return 1;
}

static int digits(parser *p, long *v) {
  if (!(peek(p) >= '0' && peek(p) <= '9')) return 0;
  *v = 0;
  while (peek(p) >= '0' && peek(p) <= '9') {
    if (*v > 100000000) return fail(p, "number too large"), -1;
    *v = *v * 10 + (peek(p) - '0');
    p->i++;
  }
  return 1;
}

/* The argument of :nth-*(): odd, even, an+b, b (after the '('). */
static int nth(parser *p, simple *s) {
  skip_ws(p);
  const char *t = p->s + p->i;
  size_t left = p->n - p->i;
  if (left >= 3 && strncasecmp(t, "odd", 3) == 0 && (left == 3 || !is_nmchar((unsigned char)t[3]))) {
    s->a = 2, s->b = 1, p->i += 3;
  } else if (left >= 4 && strncasecmp(t, "even", 4) == 0 &&
             (left == 4 || !is_nmchar((unsigned char)t[4]))) {
    s->a = 2, s->b = 0, p->i += 4;
  } else {
    long sign = 1, v = 1;
    if (peek(p) == '+' || peek(p) == '-') sign = peek(p) == '-' ? -1 : 1, p->i++;
    int d = digits(p, &v);
    if (d < 0) return 0;
    if (peek(p) == 'n' || peek(p) == 'N') {
      p->i++;
      s->a = sign * v;
      skip_ws(p);
      if (peek(p) == '+' || peek(p) == '-') {
        long bs = peek(p) == '-' ? -1 : 1;
        p->i++;
        skip_ws(p);
        d = digits(p, &v);
        if (d <= 0) return d < 0 ? 0 : fail(p, "expected a number after the sign");
        s->b = bs * v;
      }
    } else if (d) {
      s->b = sign * v;
    } else {
      return fail(p, "expected an+b, odd or even");
    }
  }
  skip_ws(p);
  if (peek(p) != ')') return fail(p, "expected ')'");
  p->i++;
  return 1;
}

static const struct {
  const char *name;
  int op;
} pseudos[] = {
  {"first-child", P_FIRST_CHILD}, {"last-child", P_LAST_CHILD}, {"only-child", P_ONLY_CHILD},
  {"first-of-type", P_FIRST_OF_TYPE}, {"last-of-type", P_LAST_OF_TYPE},
  {"only-of-type", P_ONLY_OF_TYPE}, {"root", P_ROOT}, {"empty", P_EMPTY},
  {"checked", P_CHECKED}, {"enabled", P_ENABLED}, {"disabled", P_DISABLED},
  {"nth-child(", P_NTH_CHILD}, {"nth-last-child(", P_NTH_LAST_CHILD},
  {"nth-of-type(", P_NTH_OF_TYPE}, {"nth-last-of-type(", P_NTH_LAST_OF_TYPE}, {NULL, 0}};

static int simple_sel(parser *p, int in_not);

/* :name or :name(...) (p->i at the ':'). */
static int pseudo(parser *p, int in_not) {
  p->i++;
  if (peek(p) == ':') return fail(p, "pseudo-elements are not supported");
  size_t at = p->i;
  const char *name;
  size_t len;
  if (!ident(p, &name, &len, 0, 1)) return 0;
  int fn = peek(p) == '(';
  if (fn && len == 3 && memcmp(name, "not", 3) == 0) {
    if (in_not) return p->i = at, fail(p, ":not() inside :not()");
    p->i++;
    skip_ws(p);
    if (!simple_sel(p, 1)) return 0;
    skip_ws(p);
    if (peek(p) != ')') return fail(p, ":not() takes one simple selector");
    p->i++;
    return 1;
  }
  for (int k = 0; pseudos[k].name; k++) {
    size_t kl = strlen(pseudos[k].name);
    int kfn = pseudos[k].name[kl - 1] == '(';
    if (kfn == fn && kl - (size_t)kfn == len && memcmp(name, pseudos[k].name, len) == 0) {
      simple *s = new_simple(p, K_PSEUDO);
      s->negate = (unsigned char)in_not;
      s->op = (unsigned char)pseudos[k].op;
      if (!fn) return 1;
      p->i++;
      return nth(p, s);
    }
  }
  p->i = at;
  return fail(p, fn ? "unknown functional pseudo-class" : "unknown pseudo-class");
}

/* One simple selector at p->i: type, *, #id, .class, [attr], :pseudo.
** Returns 0 (p->why set) or 1; -1 when nothing here starts one. */
static int simple_sel(parser *p, int in_not) {
  int c = peek(p);
  simple *s;
  switch (c) {
  case '*':
    p->i++;
    if (peek(p) == '|') return fail(p, "namespaces are not supported");
    if (in_not) new_simple(p, K_ANY)->negate = 1;
    return 1;
  case '#':
    p->i++;
    s = new_simple(p, K_ID);
    s->negate = (unsigned char)in_not;
    return ident(p, &s->name, &s->nlen, 1, 0);
  case '.':
    p->i++;
    s = new_simple(p, K_CLASS);
    s->negate = (unsigned char)in_not;
    return ident(p, &s->name, &s->nlen, 0, 0);
  case '[':
    s = new_simple(p, K_ATTR);
    s->negate = (unsigned char)in_not;
    return attribute(p, s);
  case ':': return pseudo(p, in_not);
  case '|': return fail(p, "namespaces are not supported");
  default:
    if (c < 0 || !(is_nmstart(c) || c == '-' || c == '\\'))
      return in_not ? fail(p, "expected a simple selector") : -1;
    s = new_simple(p, K_TAG);
    s->negate = (unsigned char)in_not;
    if (!ident(p, &s->name, &s->nlen, 0, 1)) return 0;
    if (peek(p) == '|') return fail(p, "namespaces are not supported");
    s->tag = gumbo_tagn_enum(s->name, (unsigned)s->nlen);
    return 1;
  }
}

static int compound_sel(parser *p, char comb) {
  compound *c = &p->sel->cp[p->sel->ncp++];
  c->first = p->sel->nsp;
  c->comb = comb;
  size_t at = p->i;
  int r, k = 0;
  /* a type or '*' may only come first */
  if ((r = simple_sel(p, 0)) == 0) return 0;
  for (;;) {
    int ch = peek(p);
    if (r < 0 || !(ch == '#' || ch == '.' || ch == '[' || ch == ':')) break;
    k++;
    if ((r = simple_sel(p, 0)) == 0) return 0;
  }
  if (p->i == at) return fail(p, "expected a selector");
  (void)k;
  c->n = p->sel->nsp - c->first;
  return 1;
}

static int complex_sel(parser *p) {
  complex *x = &p->sel->cx[p->sel->ncx++];
  x->first = p->sel->ncp;
  if (!compound_sel(p, 0)) return 0;
  for (;;) {
    int ws = skip_ws(p);
    int c = peek(p);
    if (c < 0 || c == ',') break;
    char comb = ' ';
    if (c == '>' || c == '+' || c == '~') {
      comb = (char)c;
      p->i++;
      skip_ws(p);
      if (peek(p) < 0 || peek(p) == ',') return fail(p, "expected a selector after the combinator");
    } else if (!ws) {
      return fail(p, "unexpected character");
    }
    if (p->sel->ncp - x->first >= 64) return fail(p, "too many compound selectors");
    if (!compound_sel(p, comb)) return 0;
  }
  x->n = p->sel->ncp - x->first;
  return 1;
}

lurl_sel *lurl_sel_compile(const char *s, size_t n, size_t *errpos, const char **why) {
  *errpos = 0;
  if (n > MAX_SELECTOR) {
    *why = "selector too long";
    return NULL;
  }
  size_t slots = n + 2;
  size_t size = sizeof(lurl_sel) + slots * (sizeof(complex) + sizeof(compound) + sizeof(simple)) +
                2 * slots;
  lurl_sel *sel = (lurl_sel *)malloc(size);
  if (sel == NULL) {
    *why = "not enough memory";
    return NULL;
  }
  memset(sel, 0, sizeof *sel);
  sel->sp = (simple *)(sel + 1);
  sel->cp = (compound *)(sel->sp + slots);
  sel->cx = (complex *)(sel->cp + slots);
  sel->str = (char *)(sel->cx + slots);
  parser p = {s, n, 0, NULL, sel};
  skip_ws(&p);
  if (p.i == n) fail(&p, "empty selector");
  while (!p.why) {
    if (!complex_sel(&p)) break;
    if (p.i == n) break;
    p.i++; /* ',' */
    skip_ws(&p);
    if (p.i == n) fail(&p, "expected a selector after ','");
  }
  if (p.why) {
    *errpos = p.i;
    *why = p.why;
    free(sel);
    return NULL;
  }
  return sel;
}

void lurl_sel_free(lurl_sel *sel) { free(sel); }

/* ---- matching ---- */

size_t lurl_html_tag(const GumboNode *n, const char **name) {
  if (!lurl_html_is_element(n)) return *name = NULL, 0;
  const GumboElement *e = &n->v.element;
  if (e->tag_namespace == GUMBO_NAMESPACE_SVG) {
    GumboStringPiece t = e->original_tag;
    gumbo_tag_from_original_text(&t);
    const char *svg = t.length ? gumbo_normalize_svg_tagname(&t) : NULL;
    if (svg) return *name = svg, strlen(svg);
  }
  if (e->tag != GUMBO_TAG_UNKNOWN) {
    *name = gumbo_normalized_tagname(e->tag);
    return strlen(*name);
  }
  GumboStringPiece t = e->original_tag;
  gumbo_tag_from_original_text(&t);
  *name = t.data;
  return t.length;
}

static const char *attr(const GumboNode *n, const char *name) {
  GumboAttribute *a = gumbo_get_attribute(&n->v.element.attributes, name);
  return a ? a->value : NULL;
}

static int same_type(const GumboNode *a, const GumboNode *b) {
  if (a->v.element.tag != b->v.element.tag) return 0;
  if (a->v.element.tag != GUMBO_TAG_UNKNOWN) return 1;
  const char *x, *y;
  size_t lx = lurl_html_tag(a, &x), ly = lurl_html_tag(b, &y);
  return lx == ly && strncasecmp(x, y, lx) == 0;
}

static const GumboNode *parent_element(const GumboNode *n) {
  const GumboNode *p = n->parent;
  return p && lurl_html_is_element(p) ? p : NULL;
}

/* The element sibling before (dir -1) or after (dir 1) n, of n's type
** when `typed`. */
static const GumboNode *sibling(const GumboNode *n, int dir, int typed) {
  if (!n->parent) return NULL;
  const GumboVector *v = lurl_html_children(n->parent);
  for (long i = (long)n->index_within_parent + dir; i >= 0 && i < (long)v->length; i += dir) {
    const GumboNode *c = (const GumboNode *)v->data[i];
    if (lurl_html_is_element(c) && (!typed || same_type(c, n))) return c;
  }
  return NULL;
}

/* Numbers the element children of p (see html.h); tally: a zeroed
** counter per known tag, left zeroed. */
static void number_children(GumboNode *p, unsigned *tally) {
  const GumboVector *v = lurl_html_children(p);
  unsigned k = 0;
  for (unsigned i = 0; i < v->length; i++) {
    GumboNode *c = (GumboNode *)v->data[i];
    if (!lurl_html_is_element(c)) continue;
    GumboTag t = c->v.element.tag;
    c->v.element.end_pos.line = ++k;
    c->v.element.end_pos.column = t == GUMBO_TAG_UNKNOWN ? 0 : ++tally[t];
  }
  for (unsigned i = 0; i < v->length; i++) {
    GumboNode *c = (GumboNode *)v->data[i];
    if (!lurl_html_is_element(c)) continue;
    GumboTag t = c->v.element.tag;
    c->v.element.end_pos.offset = k;
    c->v.element.start_pos.column = t == GUMBO_TAG_UNKNOWN ? 0 : tally[t];
  }
  for (unsigned i = 0; i < v->length; i++) {
    GumboNode *c = (GumboNode *)v->data[i];
    if (lurl_html_is_element(c) && c->v.element.tag != GUMBO_TAG_UNKNOWN) tally[c->v.element.tag] = 0;
  }
}

void lurl_html_number(GumboNode *root) {
  unsigned tally[GUMBO_TAG_LAST + 1];
  memset(tally, 0, sizeof tally);
  GumboNode *n = root;
  while (n) {
    const GumboVector *v = lurl_html_children(n);
    if (v && v->length) {
      number_children(n, tally);
      n = (GumboNode *)v->data[0];
      continue;
    }
    while (n != root && n->parent) { /* the next node in document order */
      const GumboVector *pv = lurl_html_children(n->parent);
      if (n->index_within_parent + 1 < pv->length) break;
      n = n->parent;
    }
    if (n == root || !n->parent) break;
    n = (GumboNode *)lurl_html_children(n->parent)->data[n->index_within_parent + 1];
  }
}

/* n's position (1-based) among its element siblings (of its type when
** `typed`), counted from the end when `last`: the numbers of
** lurl_html_number, or counted for a type gumbo does not know. */
static long position(const GumboNode *n, int typed, int last) {
  const GumboElement *e = &n->v.element;
  if (!typed) return last ? (long)e->end_pos.offset - e->end_pos.line + 1 : (long)e->end_pos.line;
  if (e->tag != GUMBO_TAG_UNKNOWN)
    return last ? (long)e->start_pos.column - e->end_pos.column + 1 : (long)e->end_pos.column;
  long count = 1;
  for (const GumboNode *s = sibling(n, last ? 1 : -1, 1); s; s = sibling(s, last ? 1 : -1, 1)) count++;
  return count;
}

static int nth_ok(long a, long b, long pos) {
  if (a == 0) return pos == b;
  return (pos - b) / a >= 0 && (pos - b) % a == 0;
}

static int is_disabled(const GumboNode *n) {
  switch (n->v.element.tag) {
  case GUMBO_TAG_BUTTON: case GUMBO_TAG_INPUT: case GUMBO_TAG_SELECT: case GUMBO_TAG_TEXTAREA:
  case GUMBO_TAG_OPTGROUP: case GUMBO_TAG_OPTION: case GUMBO_TAG_FIELDSET: break;
  default: return -1; /* neither enabled nor disabled */
  }
  if (attr(n, "disabled")) return 1;
  const GumboNode *p = parent_element(n);
  if (n->v.element.tag == GUMBO_TAG_OPTION && p && p->v.element.tag == GUMBO_TAG_OPTGROUP &&
      attr(p, "disabled"))
    return 1;
  /* inside a disabled fieldset, unless inside its first legend */
  for (const GumboNode *c = n; p; c = p, p = parent_element(p)) {
    if (p->v.element.tag == GUMBO_TAG_FIELDSET && attr(p, "disabled")) {
      const GumboNode *legend = NULL;
      const GumboVector *v = &p->v.element.children;
      for (unsigned i = 0; i < v->length && !legend; i++) {
        const GumboNode *k = (const GumboNode *)v->data[i];
        if (lurl_html_is_element(k) && k->v.element.tag == GUMBO_TAG_LEGEND) legend = k;
      }
      if (c != legend) return 1;
    }
  }
  return 0;
}

static int match_pseudo(const simple *s, const GumboNode *n) {
  const GumboElement *e = &n->v.element;
  switch (s->op) {
  case P_FIRST_CHILD: return sibling(n, -1, 0) == NULL;
  case P_LAST_CHILD: return sibling(n, 1, 0) == NULL;
  case P_ONLY_CHILD: return !sibling(n, -1, 0) && !sibling(n, 1, 0);
  case P_FIRST_OF_TYPE: return sibling(n, -1, 1) == NULL;
  case P_LAST_OF_TYPE: return sibling(n, 1, 1) == NULL;
  case P_ONLY_OF_TYPE: return !sibling(n, -1, 1) && !sibling(n, 1, 1);
  case P_ROOT: return n->parent && n->parent->type == GUMBO_NODE_DOCUMENT;
  case P_EMPTY:
    for (unsigned i = 0; i < e->children.length; i++) {
      const GumboNode *c = (const GumboNode *)e->children.data[i];
      if (c->type != GUMBO_NODE_COMMENT && (lurl_html_is_element(c) || c->v.text.text[0])) return 0;
    }
    return 1;
  case P_CHECKED: {
    if (e->tag == GUMBO_TAG_OPTION) return attr(n, "selected") != NULL;
    const char *t = attr(n, "type");
    return e->tag == GUMBO_TAG_INPUT && t &&
           (strcasecmp(t, "checkbox") == 0 || strcasecmp(t, "radio") == 0) && attr(n, "checked");
  }
  case P_ENABLED: return is_disabled(n) == 0;
  case P_DISABLED: return is_disabled(n) == 1;
  case P_NTH_CHILD: return nth_ok(s->a, s->b, position(n, 0, 0));
  case P_NTH_LAST_CHILD: return nth_ok(s->a, s->b, position(n, 0, 1));
  case P_NTH_OF_TYPE: return nth_ok(s->a, s->b, position(n, 1, 0));
  case P_NTH_LAST_OF_TYPE: return nth_ok(s->a, s->b, position(n, 1, 1));
  }
  return 0;
}

/* Is the whitespace-separated word w (wl bytes) in list? */
static int has_word(const char *list, const char *w, size_t wl) {
  const char *p = list;
  while (*p) {
    while (*p && is_ws((unsigned char)*p)) p++;
    size_t k = 0;
    while (p[k] && !is_ws((unsigned char)p[k])) k++;
    if (k == wl && k && memcmp(p, w, k) == 0) return 1;
    p += k;
  }
  return 0;
}

static int match_attr(const simple *s, const char *v) {
  if (!v) return 0;
  size_t vl = strlen(v);
  switch (s->op) {
  case A_EXISTS: return 1;
  case A_EQ: return vl == s->vlen && memcmp(v, s->val, vl) == 0;
  case A_INCLUDES: return has_word(v, s->val, s->vlen);
  case A_DASH:
    return vl >= s->vlen && memcmp(v, s->val, s->vlen) == 0 && (vl == s->vlen || v[s->vlen] == '-');
  case A_PREFIX: return s->vlen && vl >= s->vlen && memcmp(v, s->val, s->vlen) == 0;
  case A_SUFFIX: return s->vlen && vl >= s->vlen && memcmp(v + vl - s->vlen, s->val, s->vlen) == 0;
  case A_SUBSTR: return s->vlen && strstr(v, s->val) != NULL;
  }
  return 0;
}

static int match_simple(const simple *s, const GumboNode *n) {
  int r;
  switch (s->kind) {
  case K_ANY: r = 1; break;
  case K_TAG:
    if (s->tag != GUMBO_TAG_UNKNOWN) {
      r = n->v.element.tag == s->tag;
    } else {
      const char *name;
      size_t l = lurl_html_tag(n, &name);
      r = l == s->nlen && strncasecmp(name, s->name, l) == 0;
    }
    break;
  case K_ID: {
    const char *v = attr(n, "id");
    r = v && strcmp(v, s->name) == 0 && strlen(v) == s->nlen;
    break;
  }
  case K_CLASS: {
    const char *v = attr(n, "class");
    r = v && has_word(v, s->name, s->nlen);
    break;
  }
  case K_ATTR: r = match_attr(s, attr(n, s->name)); break;
  default: r = match_pseudo(s, n); break;
  }
  return s->negate ? !r : r;
}

enum { MATCHED, RESTART_SIBLING, RESTART_DESCENDANT, NOT_GLOBALLY };

/* Compound k of a complex selector (and those left of it) against n. */
static int match_from(const lurl_sel *sel, const complex *x, int k, const GumboNode *n) {
  const compound *c = &sel->cp[k];
  for (int i = 0; i < c->n; i++)
    if (!match_simple(&sel->sp[c->first + i], n)) return RESTART_SIBLING;
  if (k == x->first) return MATCHED;
  char comb = c->comb;
  int not_found = comb == '+' || comb == '~' ? RESTART_DESCENDANT : NOT_GLOBALLY;
  const GumboNode *e = n;
  for (;;) {
    e = comb == '>' || comb == ' ' ? parent_element(e) : sibling(e, -1, 0);
    if (e == NULL) return not_found;
    int r = match_from(sel, x, k - 1, e);
    if (r == MATCHED || r == NOT_GLOBALLY || comb == '+') return r;
    if (comb == '>') return RESTART_DESCENDANT;
    if (comb == '~' && r == RESTART_DESCENDANT) return r;
  }
}

int lurl_sel_match(const lurl_sel *sel, const GumboNode *el) {
  if (!lurl_html_is_element(el)) return 0;
  for (int i = 0; i < sel->ncx; i++) {
    const complex *x = &sel->cx[i];
    if (match_from(sel, x, x->first + x->n - 1, el) == MATCHED) return 1;
  }
  return 0;
}
