/*
** blocks.c -- the lurl binary's Lua allocator: small blocks kept for reuse.
**
** Speed trick, kept blocks: a request makes a handful of small Lua objects
** (its response table and that table's slots, the body string, a script's
** options table), and the collector frees them in bursts, dozens of
** requests' worth at once.  glibc's per-thread cache holds seven blocks of
** a size, so most of a burst goes to its fast bins, later allocations take
** the slow path, and every 16 KiB buffer libcurl allocates for a transfer
** then consolidates the bins (~0.6-1 k instructions per request, more with
** every object a script adds).  Here a freed block of up to LURL_BLOCKS_MAX
** bytes goes on a list of its size class and the next allocation of that
** class takes it back: a push and a pop, no malloc, no consolidation.
**
** Classes are 16 * k + 8 bytes (24, 40, ... 264), the usable sizes of
** glibc's chunks, so a block malloc gives for one class wastes nothing.
** Invariant: every block of the state can hold class_bytes(class_of(n))
** bytes, n its size now (LURL_BLOCKS_MAX or less), so a freed one can go
** on its class's list: the state is made over this allocator from its
** first block (runtime/lurl.c), a small block comes from take() at its
** class's size, a shrink in place keeps a block of a larger class, and a
** block kept when a shrink to a small size could not move (a large one)
** holds more.  The lists hold at most LURL_BLOCKS_KEEP bytes: beyond
** that a freed block goes back to malloc.  Lua's contract (lua_Alloc):
** ptr NULL is a new block (osize then says the object's type, not a
** size); nsize 0 frees; a shrink never fails.
**
** Only the binary installs it (runtime/lurl.c); a host embedding the
** library keeps its own allocator.  Under the sanitizers the binary does
** not install it, so that a use of a freed Lua object is still caught;
** spec/c/test_blocks.c checks the lists themselves.
*/
#include "blocks.h"

#include <stdlib.h>
#include <string.h>

#define NCLASS ((LURL_BLOCKS_MAX - 8) / 16)

struct lurl_blocks {
  void *head[NCLASS + 1]; /* by class 1..NCLASS; each block's first word
                             links to the next */
  size_t kept;            /* bytes on the lists */
};

/* The class of a size of 1..LURL_BLOCKS_MAX bytes, and its block size. */
static size_t class_of(size_t n) { return n <= 24 ? 1 : (n - 8 + 15) / 16; }
static size_t class_bytes(size_t k) { return 16 * k + 8; }

lurl_blocks *lurl_blocks_new(void) { return (lurl_blocks *)calloc(1, sizeof(lurl_blocks)); }

static void *take(lurl_blocks *b, size_t n) {
  if (n > LURL_BLOCKS_MAX) return malloc(n);
  size_t k = class_of(n);
  void *p = b->head[k];
  if (!p) return malloc(class_bytes(k));
  memcpy(&b->head[k], p, sizeof p); /* its link */
  b->kept -= class_bytes(k);
  return p;
}

/* Gives back a block the state used for osize bytes. */
static void give(lurl_blocks *b, void *p, size_t osize) {
  if (osize <= LURL_BLOCKS_MAX) {
    size_t k = class_of(osize), bytes = class_bytes(k);
    if (b->kept + bytes <= LURL_BLOCKS_KEEP) {
      memcpy(p, &b->head[k], sizeof p);
      b->head[k] = p;
      b->kept += bytes;
      return;
    }
  }
  free(p);
}

void *lurl_blocks_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  lurl_blocks *b = (lurl_blocks *)ud;
  if (ptr == NULL) return nsize ? take(b, nsize) : NULL;
  if (nsize == 0) {
    give(b, ptr, osize);
    return NULL;
  }
  if (osize > LURL_BLOCKS_MAX && nsize > LURL_BLOCKS_MAX) return realloc(ptr, nsize);
  /* a small block's class already holds nsize bytes: one of the same
  ** class, or a shrink (the block stays, its class is what it holds) */
  if (osize <= LURL_BLOCKS_MAX && nsize <= class_bytes(class_of(osize))) return ptr;
  void *p = take(b, nsize);
  if (!p) return nsize < osize ? ptr : NULL; /* a shrink never fails: keep it */
  memcpy(p, ptr, osize < nsize ? osize : nsize);
  give(b, ptr, osize);
  return p;
}

void lurl_blocks_free(lurl_blocks *b) {
  if (!b) return;
  for (size_t k = 1; k <= NCLASS; k++) {
    void *p = b->head[k];
    while (p) {
      void *next;
      memcpy(&next, p, sizeof next);
      free(p);
      p = next;
    }
  }
  free(b);
}

size_t lurl_blocks_kept(const lurl_blocks *b) { return b->kept; }
