/*
** blocks.h -- the lurl binary's Lua allocator: small blocks kept for reuse.
*/
#ifndef LURL_BLOCKS_H
#define LURL_BLOCKS_H

#include <stddef.h>

/* Kept blocks, by size class; ud of lurl_blocks_alloc. */
typedef struct lurl_blocks lurl_blocks;

/* The largest block a list keeps, and what the lists hold at most. */
#define LURL_BLOCKS_MAX 264
#define LURL_BLOCKS_KEEP (1u << 20)

lurl_blocks *lurl_blocks_new(void);
/* A lua_Alloc over malloc: see blocks.c. */
void *lurl_blocks_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
/* Frees the kept blocks and b (after lua_close). */
void lurl_blocks_free(lurl_blocks *b);
/* The bytes the lists hold now (for tests). */
size_t lurl_blocks_kept(const lurl_blocks *b);

#endif
