/*
** test_blocks.c -- runtime/blocks.c, the binary's Lua allocator: blocks
** kept by size class and handed back, contents kept across a move, the
** lists bounded, and a Lua state run over it (under the sanitizers too:
** this test builds the lists whatever the binary does).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "blocks.h"

static int failures;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                            \
    }                                                                        \
  } while (0)

static void fill(unsigned char *p, size_t n, unsigned char seed) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed + i);
}

static int same(const unsigned char *p, size_t n, unsigned char seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (unsigned char)(seed + i)) return 0;
  return 1;
}

/* A freed small block comes back for the next block of its class, and
** holds the whole class (written to the end here: ASan would see an
** overflow). */
static void test_reuse(void) {
  lurl_blocks *b = lurl_blocks_new();
  CHECK(b != NULL);
  for (size_t n = 1; n <= LURL_BLOCKS_MAX + 40; n++) {
    unsigned char *p = lurl_blocks_alloc(b, NULL, 4 /* a type tag, not a size */, n);
    CHECK(p != NULL);
    fill(p, n, (unsigned char)n);
    CHECK(lurl_blocks_alloc(b, p, n, 0) == NULL);
    unsigned char *q = lurl_blocks_alloc(b, NULL, 0, n);
    if (n <= LURL_BLOCKS_MAX) CHECK(q == p); /* the list's, not malloc's */
    size_t cls = n <= 24 ? 24 : (n - 8 + 15) / 16 * 16 + 8;
    if (n <= LURL_BLOCKS_MAX) fill(q, cls, 1); /* the whole class is the block's */
    lurl_blocks_alloc(b, q, n, 0);
  }
  CHECK(lurl_blocks_kept(b) > 0);
  lurl_blocks_free(b);
}

/* Growing within a class stays in place, across classes or past the
** largest class moves with the contents, shrinking never fails. */
static void test_realloc(void) {
  lurl_blocks *b = lurl_blocks_new();
  unsigned char *p = lurl_blocks_alloc(b, NULL, 0, 30);
  fill(p, 30, 7);
  unsigned char *q = lurl_blocks_alloc(b, p, 30, 40); /* class 40 holds both */
  CHECK(q == p && same(q, 30, 7));
  fill(q, 40, 9);
  unsigned char *r = lurl_blocks_alloc(b, q, 40, 100); /* another class */
  CHECK(r != NULL && same(r, 40, 9));
  fill(r, 100, 3);
  unsigned char *big = lurl_blocks_alloc(b, r, 100, 5000); /* past the classes */
  CHECK(big != NULL && same(big, 100, 3));
  fill(big, 5000, 5);
  unsigned char *bigger = lurl_blocks_alloc(b, big, 5000, 9000);
  CHECK(bigger != NULL && same(bigger, 5000, 5));
  unsigned char *small = lurl_blocks_alloc(b, bigger, 9000, 50); /* a shrink to a class */
  CHECK(small != NULL && same(small, 50, 5));
  unsigned char *smaller = lurl_blocks_alloc(b, small, 50, 10); /* stays */
  CHECK(smaller == small && same(smaller, 10, 5));
  /* grown again within what it can hold (its class when it was 50) */
  unsigned char *again = lurl_blocks_alloc(b, smaller, 10, 24);
  CHECK(again == smaller && same(again, 10, 5));
  fill(again, 56, 2);
  lurl_blocks_alloc(b, again, 24, 0);
  lurl_blocks_free(b);
}

/* The lists hold at most LURL_BLOCKS_KEEP bytes; the rest goes back. */
static void test_bound(void) {
  lurl_blocks *b = lurl_blocks_new();
  size_t n = 2 * LURL_BLOCKS_KEEP / 264 + 10;
  void **ps = calloc(n, sizeof *ps);
  for (size_t i = 0; i < n; i++) ps[i] = lurl_blocks_alloc(b, NULL, 0, 264);
  for (size_t i = 0; i < n; i++) lurl_blocks_alloc(b, ps[i], 264, 0);
  CHECK(lurl_blocks_kept(b) <= LURL_BLOCKS_KEEP);
  CHECK(lurl_blocks_kept(b) > LURL_BLOCKS_KEEP - 264);
  free(ps);
  lurl_blocks_free(b); /* the kept ones freed: LeakSanitizer would say */
}

/* A state over the lists: tables, strings and closures made and
** collected, then closed; what the lists kept is freed after. */
static void test_state(void) {
  lurl_blocks *b = lurl_blocks_new();
  lua_State *L = lua_newstate(lurl_blocks_alloc, b);
  CHECK(L != NULL);
  luaL_openlibs(L);
  const char *script =
      "collectgarbage('generational')\n"
      "local keep, sum = {}, 0\n"
      "for i = 1, 20000 do\n"
      "  local t = { id = i, name = 'item ' .. i, tags = { i, i + 1 } }\n"
      "  if i % 97 == 0 then keep[#keep + 1] = t end\n"
      "  local f = function() return t.id end\n"
      "  sum = sum + f() + #t.name\n"
      "  local s = string.rep('x', i % 300)\n"
      "  sum = sum + #s\n"
      "end\n"
      "for i = 1, #keep do assert(keep[i].name == 'item ' .. keep[i].id) end\n"
      "return sum\n";
  CHECK(luaL_dostring(L, script) == LUA_OK);
  CHECK(lua_tointeger(L, -1) > 0);
  lua_close(L);
  CHECK(lurl_blocks_kept(b) > 0);
  lurl_blocks_free(b);
}

int main(void) {
  test_reuse();
  test_realloc();
  test_bound();
  test_state();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("blocks: all checks passed\n");
  return 0;
}
