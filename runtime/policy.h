/*
** policy.h -- the file, address and finalizer policy of limited states
** (runtime/policy.c); a limited state's record (limit.h) holds one.
*/
#ifndef LURL_POLICY_H
#define LURL_POLICY_H

#include <lua.h>

typedef struct lurl_handle lurl_handle;

typedef struct lurl_policy {
  int reduced;                /* the library is reduced (no io): limited, not all_libs */
  int files;                  /* the file policy applies */
  int addresses;              /* the address policy applies */
  int allow_loopback, allow_private;
  int max_transfers;          /* transfers at once (0: no cap) */
  int has_read, has_write;    /* the host gave read_dirs / write_dirs */
  char **read, **write;       /* canonical directories (malloc'd) */
  int nread, nwrite;
} lurl_policy;

/* limit.c: the policy of L's state, or NULL for a state lurl did not make. */
lurl_policy *lurl_policy_of(lua_State *L);

int lurl_policy_init(lurl_policy *p, const char *read_dirs, const char *write_dirs);
void lurl_policy_free(lurl_policy *p);
const char *lurl_policy_file(lua_State *L, const char *path, int write);
void lurl_policy_open(lua_State *L);
void lurl_policy_apply(lua_State *L, lurl_handle *hd);
/* Is host[0..n) an IPv4 or IPv6 address literal (no brackets)? */
int lurl_policy_is_address(const char *host, size_t n);
/* Why the address policy of L's state refuses the address literal host,
** pushed [-0, +(0|1)]; NULL when allowed, when host is a name (checked
** when connecting) or when no policy applies. */
const char *lurl_policy_address(lua_State *L, const char *host);
void lurl_policy_wrap_libs(lua_State *L);

#endif
