/*
** policy.c -- what a limited state may touch besides its budgets (the
** memory, instruction and time limits stay in host.c): which files lurl's
** options may name, which addresses its connections may reach, and the
** library guards that keep script code out of finalizers.
**
**  - files: every option or method that names a file (CA bundles, client
**    certificates and keys, netrc files, http.file uploads, res:save
**    targets, cookie jar save and load, HAR files) asks lurl_policy_file.
**    Paths are canonicalized with realpath(3), so "../" and symlinks
**    cannot leave the directories the host listed.
**  - addresses: libcurl's CURLOPT_OPENSOCKETFUNCTION sees the address each
**    connection really goes to, after name resolution, redirects, proxies
**    and `resolve` overrides; loopback, private, link-local and
**    unspecified addresses are refused unless the host allows them.
**  - finalizers: Lua runs __gc with hooks off, so no budget can stop one.
**    A limited state never lets a script's function become a finalizer:
**    setmetatable refuses a metatable with __gc (Lua 5.4 marks an object
**    for finalization only when __gc is present at setmetatable time,
**    manual 2.5.3), rawset refuses the key "__gc", getmetatable hides the
**    metatables that have one, and every metatable it returns, like those
**    lurl's modules export, gets a guard refusing a new __gc field.
**
** The state's policy lives in its host struct (host.c), out of Lua's reach.
*/
#define _XOPEN_SOURCE 700
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <lauxlib.h>

#include "engine.h"
#include "limit.h"
#include "policy.h"
#include "transfer.h"

/* ------------------------------------------------------------- files -- */

/* Canonical copies of a ':'-separated directory list.  A directory that
** does not exist is left out: nothing can be under it.  0: no memory. */
static int dirs_init(char ***out, int *n, const char *spec) {
  *out = NULL;
  *n = 0;
  if (spec == NULL) return 1;
  int cap = 1;
  for (const char *p = spec; *p; p++) cap += *p == ':';
  char **v = (char **)calloc((size_t)cap, sizeof *v);
  if (v == NULL) return 0;
  *out = v;
  const char *p = spec;
  while (*p) {
    size_t w = strcspn(p, ":");
    char one[PATH_MAX], real[PATH_MAX];
    if (w > 0 && w < sizeof one) {
      memcpy(one, p, w);
      one[w] = '\0';
      struct stat st;
      if (realpath(one, real) && stat(real, &st) == 0 && S_ISDIR(st.st_mode)) {
        if ((v[*n] = strdup(real)) == NULL) return 0;
        (*n)++;
      }
    }
    p += w;
    p += *p == ':';
  }
  return 1;
}

int lurl_policy_init(lurl_policy *p, const char *read_dirs, const char *write_dirs) {
  p->has_read = read_dirs != NULL;
  p->has_write = write_dirs != NULL;
  return dirs_init(&p->read, &p->nread, read_dirs) &&
         dirs_init(&p->write, &p->nwrite, write_dirs);
}

void lurl_policy_free(lurl_policy *p) {
  for (int i = 0; i < p->nread; i++) free(p->read[i]);
  for (int i = 0; i < p->nwrite; i++) free(p->write[i]);
  free(p->read);
  free(p->write);
  p->read = p->write = NULL;
  p->nread = p->nwrite = 0;
}

/*
** The canonical absolute form of path into out (PATH_MAX bytes).  A path
** that does not exist yet (a file about to be written) is its canonical
** parent plus its last component; a dangling symlink is refused, since
** opening it would create its target wherever that points.  0: refused.
*/
static int canon(const char *path, char *out) {
  if (*path == '\0') return 0;
  if (realpath(path, out)) return 1;
  struct stat st;
  if (errno != ENOENT || lstat(path, &st) == 0) return 0;
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  char dir[PATH_MAX], rdir[PATH_MAX];
  size_t n = slash ? (size_t)(slash - path) : 0;
  if (n >= sizeof dir) return 0;
  if (slash == NULL) strcpy(dir, ".");
  else if (n == 0) strcpy(dir, "/");
  else {
    memcpy(dir, path, n);
    dir[n] = '\0';
  }
  if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) return 0;
  if (!realpath(dir, rdir)) return 0;
  int w = snprintf(out, PATH_MAX, "%s/%s", strcmp(rdir, "/") == 0 ? "" : rdir, base);
  return w > 0 && w < PATH_MAX;
}

static int under(char **dirs, int n, const char *c) {
  for (int i = 0; i < n; i++) {
    size_t len = strlen(dirs[i]);
    if (strcmp(dirs[i], "/") == 0) return 1;
    if (strncmp(c, dirs[i], len) == 0 && (c[len] == '\0' || c[len] == '/')) return 1;
  }
  return 0;
}

/* Is the file allowed?  write: 1 to create or write it, 0 to read it. */
static int file_allowed(const lurl_policy *p, const char *path, int write) {
  if (p == NULL || !p->files) return 1;
  char c[PATH_MAX];
  if (!canon(path, c)) return 0;
  return write ? under(p->write, p->nwrite, c) : under(p->read, p->nread, c);
}

/*
** NULL when the state may read (write: 0) or write (1) path; otherwise
** pushes the reason and returns it [-0, +1].
*/
const char *lurl_policy_file(lua_State *L, const char *path, int write) {
  const lurl_policy *p = lurl_policy_of(L);
  if (file_allowed(p, path, write)) return NULL;
  const char *verb = write ? "writing" : "reading";
  const char *field = write ? "write_dirs" : "read_dirs";
  if (!(write ? p->has_write : p->has_read))
    return lua_pushfstring(L, "%s '%s' is not allowed in this state (the host set "
                           "limits and no lurl_limits.%s)", verb, path, field);
  return lua_pushfstring(L, "%s '%s' is not allowed in this state (outside "
                         "lurl_limits.%s)", verb, path, field);
}

/* core.filekind's question: may the state look at this path at all? */
static int may_stat(lua_State *L, const char *path) {
  const lurl_policy *p = lurl_policy_of(L);
  return file_allowed(p, path, 0) || file_allowed(p, path, 1);
}

static int io_fclose(lua_State *L) {
  luaL_Stream *s = (luaL_Stream *)luaL_checkudata(L, 1, LUA_FILEHANDLE);
  return luaL_fileresult(L, fclose(s->f) == 0, NULL);
}

/*
** core.open(path, mode) -> file | nil, message: io.open for lurl's own
** modules (res:save, cookie jars, HAR files), under the file policy.  The
** file is a standard Lua file handle (the io library's metatable stays in
** the registry when a limited state drops `io` from the globals).
*/
static int core_open(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *mode = luaL_optstring(L, 2, "r");
  int write = strpbrk(mode, "wa+") != NULL;
  const char *why = lurl_policy_file(L, path, write);
  if (why) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  luaL_Stream *s = (luaL_Stream *)lua_newuserdatauv(L, sizeof *s, 0);
  s->closef = NULL; /* closed until fopen succeeds */
  s->f = NULL;
  if (luaL_getmetatable(L, LUA_FILEHANDLE) != LUA_TTABLE)
    return luaL_error(L, "core.open: the io library is not open in this state");
  lua_setmetatable(L, -2);
  s->f = fopen(path, mode);
  if (s->f == NULL) return luaL_fileresult(L, 0, path);
  s->closef = io_fclose;
  return 1;
}

/* core.rename(from, to) and core.remove(path): os.rename and os.remove
** under the file policy (both ends must be writable). */
static int core_rename(lua_State *L) {
  const char *from = luaL_checkstring(L, 1), *to = luaL_checkstring(L, 2);
  const char *why = lurl_policy_file(L, from, 1);
  if (why == NULL) why = lurl_policy_file(L, to, 1);
  if (why) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  return luaL_fileresult(L, rename(from, to) == 0, NULL);
}

static int core_remove(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *why = lurl_policy_file(L, path, 1);
  if (why) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  return luaL_fileresult(L, remove(path) == 0, path);
}

/* core.limited() -> true in a state whose library the host reduced (no io:
** LURL_TRACE is ignored, trace = true and the progress bar are refused). */
static int core_limited(lua_State *L) {
  const lurl_policy *p = lurl_policy_of(L);
  lua_pushboolean(L, p && p->reduced);
  return 1;
}

/* core.max_transfers() -> the state's cap on transfers at once (0: none). */
static int core_max_transfers(lua_State *L) {
  const lurl_policy *p = lurl_policy_of(L);
  lua_pushinteger(L, p ? p->max_transfers : 0);
  return 1;
}

/* core.running() -> transfers running in the state (for max_transfers). */
static int core_running(lua_State *L) {
  lua_pushinteger(L, lurl_engine_running(lurl_engine_get(L), INT_MAX));
  return 1;
}

/* Adds the policy's functions to the core table on top [-0, +0]. */
/* core.filekind(path) -> "file" | "other" | nil (missing): res:save writes
** a device or a FIFO (e.g. /dev/null) in place instead of renaming over it. */
static int core_filekind(lua_State *L) {
  struct stat st;
  const char *path = luaL_checkstring(L, 1);
  if (!may_stat(L, path)) return 0; /* outside a limited state's files */
  if (stat(path, &st) != 0) return 0;
  lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : "other");
  return 1;
}

void lurl_policy_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"open", core_open}, {"rename", core_rename},
    {"remove", core_remove}, {"limited", core_limited},
    {"max_transfers", core_max_transfers}, {"running", core_running},
    {"filekind", core_filekind}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}

/* --------------------------------------------------------- addresses -- */

enum { ADDR_PUBLIC, ADDR_LOOPBACK, ADDR_PRIVATE, ADDR_LINKLOCAL, ADDR_UNSPECIFIED };
static const char *const addr_class[] = {"public", "loopback", "private", "link-local",
                                         "unspecified"};

static int v4_class(const unsigned char *a) {
  if (a[0] == 127) return ADDR_LOOPBACK;
  if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168))
    return ADDR_PRIVATE;
  if (a[0] == 169 && a[1] == 254) return ADDR_LINKLOCAL;
  if (a[0] == 0) return ADDR_UNSPECIFIED; /* 0.0.0.0/8: "this host" */
  return ADDR_PUBLIC;
}

static int v6_class(const unsigned char *a) {
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const unsigned char zero[16] = {0};
  if (memcmp(a, mapped, 12) == 0) return v4_class(a + 12); /* ::ffff:a.b.c.d */
  if (memcmp(a, zero, 12) == 0 && (a[12] | a[13] | a[14]) == 0 && a[15] <= 1)
    return a[15] ? ADDR_LOOPBACK : ADDR_UNSPECIFIED; /* ::1, :: */
  if (memcmp(a, zero, 12) == 0) return v4_class(a + 12); /* ::a.b.c.d, deprecated */
  if ((a[0] & 0xfe) == 0xfc) return ADDR_PRIVATE;          /* fc00::/7 */
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return ADDR_LINKLOCAL; /* fe80::/10 */
  return ADDR_PUBLIC;
}

/* The class of a socket address and its text (for messages). */
static int classify(const struct sockaddr *sa, char *text, size_t n) {
  snprintf(text, n, "?");
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
    inet_ntop(AF_INET, &in->sin_addr, text, (socklen_t)n);
    return v4_class((const unsigned char *)&in->sin_addr);
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, text, (socklen_t)n);
    return v6_class((const unsigned char *)&in6->sin6_addr);
  }
  if (sa->sa_family == AF_UNIX) {
    snprintf(text, n, "a unix socket");
    return ADDR_LOOPBACK; /* a local daemon is this machine */
  }
  return ADDR_UNSPECIFIED; /* no other family is expected: refuse it */
}

/*
** CURLOPT_OPENSOCKETFUNCTION of limited states (clientp: the handle's
** companion).  Called for every connection libcurl opens, to the server or
** to a proxy, with the address it is about to connect to.  A refused
** address gets no socket; the reason is kept on the transfer, so its
** error names the policy instead of a generic connect failure.
*/
static curl_socket_t open_socket(void *clientp, curlsocktype purpose,
                                 struct curl_sockaddr *a) {
  (void)purpose;
  lurl_handle *hd = (lurl_handle *)clientp;
  lurl_transfer *t = hd->t;
  lua_State *L = t && t->eng ? lurl_engine_lua(t->eng) : NULL;
  const lurl_policy *p = L ? lurl_policy_of(L) : NULL;
  char text[INET6_ADDRSTRLEN + 16];
  int c = classify(&a->addr, text, sizeof text);
  int ok = p == NULL || !p->addresses || c == ADDR_PUBLIC ||
           (c == ADDR_LOOPBACK && p->allow_loopback) ||
           ((c == ADDR_PRIVATE || c == ADDR_LINKLOCAL) && p->allow_private);
  if (!ok) {
    if (c == ADDR_UNSPECIFIED) /* kept on the handle: lurl_transfer_refused */
      snprintf(hd->refused, sizeof hd->refused, "connection to %s refused: unspecified "
               "addresses are never allowed in a state with limits", text);
    else
      snprintf(hd->refused, sizeof hd->refused, "connection to %s refused: %s addresses are "
               "not allowed in this state (lurl_limits.%s)", text, addr_class[c],
               c == ADDR_LOOPBACK ? "allow_loopback" : "allow_private");
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype, a->protocol);
}

int lurl_policy_is_address(const char *host, size_t n) {
  char buf[INET6_ADDRSTRLEN + 1];
  unsigned char a[16];
  if (n == 0 || n >= sizeof buf) return 0;
  memcpy(buf, host, n);
  buf[n] = '\0';
  return inet_pton(AF_INET, buf, a) == 1 || inet_pton(AF_INET6, buf, a) == 1;
}

/* For the options naming an address (resolve, connect_to, doh_url;
** request_net.c): the policy's answer before anything connects. */
const char *lurl_policy_address(lua_State *L, const char *host) {
  const lurl_policy *p = lurl_policy_of(L);
  if (p == NULL || !p->addresses) return NULL;
  struct sockaddr_in6 s6;
  struct sockaddr_in s4;
  struct sockaddr *sa;
  memset(&s6, 0, sizeof s6);
  memset(&s4, 0, sizeof s4);
  if (inet_pton(AF_INET, host, &s4.sin_addr) == 1) {
    s4.sin_family = AF_INET;
    sa = (struct sockaddr *)(void *)&s4;
  } else if (inet_pton(AF_INET6, host, &s6.sin6_addr) == 1) {
    s6.sin6_family = AF_INET6;
    sa = (struct sockaddr *)(void *)&s6;
  } else {
    return NULL;
  }
  char text[INET6_ADDRSTRLEN + 16];
  int c = classify(sa, text, sizeof text);
  if (c == ADDR_PUBLIC || (c == ADDR_LOOPBACK && p->allow_loopback) ||
      ((c == ADDR_PRIVATE || c == ADDR_LINKLOCAL) && p->allow_private))
    return NULL;
  if (c == ADDR_UNSPECIFIED)
    return lua_pushfstring(L, "address %s refused: unspecified addresses are never allowed "
                           "in a state with limits", text);
  return lua_pushfstring(L, "address %s refused: %s addresses are not allowed in this state "
                         "(lurl_limits.%s)", text, addr_class[c],
                         c == ADDR_LOOPBACK ? "allow_loopback" : "allow_private");
}

/* For request.c: puts the address check on the handle of a limited state.
** Set on every request: a handle reset by curl_easy_reset loses it. */
void lurl_policy_apply(lua_State *L, lurl_handle *hd) {
  const lurl_policy *p = lurl_policy_of(L);
  if (p == NULL || !p->addresses) return;
  curl_easy_setopt(hd->easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(hd->easy, CURLOPT_OPENSOCKETDATA, hd);
}

/* ------------------------------------------------------- finalizers -- */

static const char guard_key = 0;
#define NO_GC "finalizers run outside the host's budget"

/* __newindex of the guard: a metatable gets any new field but __gc. */
static int guard_newindex(lua_State *L) {
  if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "__gc") == 0)
    return luaL_error(L, "cannot add __gc to a metatable in this state (" NO_GC ")");
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 0;
}

/* Gives the table at idx the guard as its metatable, unless it has one. */
static void guard(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE || lua_getmetatable(L, idx)) {
    if (lua_type(L, idx) == LUA_TTABLE) lua_pop(L, 1);
    return;
  }
  lua_rawgetp(L, LUA_REGISTRYINDEX, &guard_key);
  lua_setmetatable(L, idx);
}

static int has_gc(lua_State *L, int mt) {
  mt = lua_absindex(L, mt);
  lua_pushliteral(L, "__gc");
  int t = lua_rawget(L, mt);
  lua_pop(L, 1);
  return t != LUA_TNIL;
}

/* setmetatable (upvalue 1: the original) refusing a metatable with __gc. */
static int safe_setmetatable(lua_State *L) {
  if (lua_type(L, 2) == LUA_TTABLE && has_gc(L, 2))
    return luaL_error(L, "setmetatable: a metatable with __gc is not allowed in this "
                      "state (" NO_GC ")");
  lua_settop(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 2, 1);
  return 1;
}

/* getmetatable: __metatable as usual; a metatable with __gc is hidden
** (false); any other is guarded before the script gets it. */
static int safe_getmetatable(lua_State *L) {
  luaL_checkany(L, 1);
  if (!lua_getmetatable(L, 1)) {
    lua_pushnil(L);
    return 1;
  }
  if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL) return 1;
  if (has_gc(L, 2)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  guard(L, 2);
  return 1;
}

/* rawset (upvalue 1: the original) refusing the key "__gc". */
static int safe_rawset(lua_State *L) {
  if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "__gc") == 0)
    return luaL_error(L, "rawset: '__gc' cannot be set in this state (" NO_GC ")");
  lua_settop(L, 3);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 3, 1);
  return 1;
}

/* Guards every table a loaded module exports that looks like a metatable
** (has a "__" field): the ones lurl sets on objects it makes later. */
static void guard_exports(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
    int lurls = strncmp(name, "http", 4) == 0 || strncmp(name, "lurl.", 5) == 0 ||
                strstr(name, "json") != NULL;
    if (lurls && lua_type(L, -1) == LUA_TTABLE) {
      lua_pushnil(L);
      while (lua_next(L, -2)) {
        if (lua_type(L, -1) == LUA_TTABLE) {
          int looks = 0;
          lua_pushnil(L);
          while (!looks && lua_next(L, -2)) {
            looks = lua_type(L, -2) == LUA_TSTRING && strncmp(lua_tostring(L, -2), "__", 2) == 0;
            lua_pop(L, looks ? 2 : 1);
          }
          if (looks && !has_gc(L, -1)) guard(L, -1);
        }
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* Replaces setmetatable, getmetatable and rawset in the globals of a
** limited state and guards the exported metatables (see the top). */
void lurl_policy_wrap_libs(lua_State *L) {
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, guard_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable"); /* the guard cannot be swapped out */
  lua_rawsetp(L, LUA_REGISTRYINDEX, &guard_key);
  static const struct { const char *name; lua_CFunction f; } w[] = {
    {"setmetatable", safe_setmetatable}, {"rawset", safe_rawset}, {NULL, NULL}};
  for (int i = 0; w[i].name; i++) {
    lua_getglobal(L, w[i].name);
    lua_pushcclosure(L, w[i].f, 1);
    lua_setglobal(L, w[i].name);
  }
  lua_pushcfunction(L, safe_getmetatable);
  lua_setglobal(L, "getmetatable");
  guard_exports(L);
}
