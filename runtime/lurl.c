/*
** lurl.c -- the `lurl` binary: a standalone Lua 5.4 interpreter that behaves
** like `lua5.4` (same options, same `arg` table, same exit statuses) and
** makes `http` and `json` requirable.  Keeping it a faithful stand-in is what
** lets `busted --lua=lurl` and `#!/usr/bin/env lurl` scripts work unchanged.
**
** Deliberate differences from lua.c: `--trace`, `-h`/`--help` and
** `--version`; `-v` also describes libcurl; error messages are prefixed
** "lurl: "; an error object with __tostring still gets a traceback; an
** interrupted run exits with 130; on a terminal the REPL reads through
** libedit and prints results readably (prompt.c, the binary's alone).
*/
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h> /* mallopt: the binary's heap policy, see main */
#endif

#include <curl/curl.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "blocks.h"
#include "lurl.h"
#include "prompt.h"

#define PROGNAME "lurl"
#define PROMPT1 "> "
#define PROMPT2 ">> "
#define EXIT_INTERRUPTED 130 /* 128 + SIGINT, what shells report for ^C */

/* Option bits gathered by parse_cmdline. */
enum { OPT_E = 1, OPT_I = 2, OPT_V = 4, OPT_EXEC = 8, OPT_TRACE = 16 };

/* The command line as parse_cmdline understood it; main hands it to pmain. */
typedef struct cmdline {
  int argc;
  char **argv;
  int script;  /* argv index of the script ("-" = stdin); argc when none */
  int flags;   /* OPT_* */
} cmdline;

/* True while the REPL reads through prompt.c (stdin and stdout are a
** terminal). */
static int prompt_on = 0;

/* Prefix of error messages; NULL inside the REPL, where it would be noise. */
static const char *msg_prefix = PROGNAME;

/* State running a chunk, for the SIGINT handler (which has no other way in).
** Only ever written outside the handler. */
static lua_State *volatile running_state = NULL;

static void print_message(const char *msg) {
  if (msg_prefix != NULL) fprintf(stderr, "%s: ", msg_prefix);
  fprintf(stderr, "%s\n", msg);
  fflush(stderr);
}

/*
** print_usage: writes the option summary to `out`.  When `bad` is non-NULL
** it is the offending argument and a line explaining what is wrong with it
** comes first (an -e/-l without argument, or an unknown option).
*/
static void print_usage(FILE *out, const char *bad) {
  if (bad != NULL) {
    if (bad[0] == '-' && (bad[1] == 'e' || bad[1] == 'l'))
      fprintf(out, "%s: '%s' needs argument\n", PROGNAME, bad);
    else
      fprintf(out, "%s: unrecognized option '%s'\n", PROGNAME, bad);
  }
  fputs("usage: " PROGNAME " [options] [script [args]]\n"
        "Available options are:\n"
        "  -e stat   execute string 'stat'\n"
        "  -i        enter interactive mode after executing 'script'\n"
        "  -l mod    require library 'mod' into global 'mod'\n"
        "  -l g=mod  require library 'mod' into global 'g'\n"
        "  -v        show version information\n"
        "  -E        ignore environment variables\n"
        "  -W        turn warnings on\n"
        "  --trace   trace every request on stderr\n"
        "  --version show version information and exit\n"
        "  -h        show this help and exit (also --help)\n"
        "  --        stop handling options\n"
        "  -         stop handling options and execute stdin\n", out);
  fflush(out);
}

/*
** print_version: lurl's, Lua's and libcurl's versions on stdout, plus the
** libcurl features that change how requests behave (protocols, decoders), so
** a bug report carrying `lurl -v` says what the transfer layer could do.
*/
static void print_version(void) {
  const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
  printf("%s %s\n%s\n", PROGNAME, LURL_VERSION, LUA_RELEASE);
  printf("libcurl %s", cv->version);
  if (cv->ssl_version != NULL) printf(" (%s)", cv->ssl_version);
  fputs("\nfeatures:", stdout);
  if (cv->features & CURL_VERSION_HTTP2) fputs(" HTTP2", stdout);
  if (cv->features & CURL_VERSION_BROTLI) fputs(" brotli", stdout);
  if (cv->features & CURL_VERSION_ZSTD) fputs(" zstd", stdout);
  if (cv->features & CURL_VERSION_LIBZ) fputs(" libz", stdout);
  if (cv->features & CURL_VERSION_IPV6) fputs(" IPv6", stdout);
  /* Older libcurls hand out a shorter struct; `age` says which fields exist. */
  if (cv->age >= CURLVERSION_SIXTH && cv->nghttp2_version != NULL)
    printf(" nghttp2/%s", cv->nghttp2_version);
  fputs("\n", stdout);
  printf("gumbo %s (HTML)\n", LURL_GUMBO_VERSION);
  fflush(stdout);
}

static int msghandler(lua_State *L);

/*
** stop_hook: installed by on_sigint; turns the interrupt into a Lua error at
** the next call, return or line.  It removes itself first so it fires once.
** If the interrupt already surfaced as an error (lurl's wait loop raises one)
** the next "call" is our message handler: raising there would replace lurl's
** error (which names the request) with a bare "interrupted!", so it steps
** aside.
*/
static void stop_hook(lua_State *L, lua_Debug *ar) {
  lua_sethook(L, NULL, 0, 0);
  if (ar->event == LUA_HOOKCALL && lua_getinfo(L, "f", ar)) {
    int in_handler = lua_tocfunction(L, -1) == msghandler;
    lua_pop(L, 1);
    if (in_handler) return;
  }
  luaL_error(L, "interrupted!");
}

static void set_sigint(void (*handler)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  /* No SA_RESTART: a poll() inside libcurl's wait must return EINTR so the
  ** lurl loop notices the interrupt instead of sleeping until its timeout. */
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, NULL);
}

/*
** on_sigint: async-signal-safe (sigaction, lua_sethook and
** lurl_signal_interrupt all are).  Pure Lua code is stopped by the hook; a
** request blocked in C is stopped by lurl_signal_interrupt.  Default handling
** comes back at once, so a second ^C kills a process that does not respond.
*/
static void on_sigint(int sig) {
  (void)sig;
  set_sigint(SIG_DFL);
  lurl_signal_interrupt();
  lua_sethook(running_state, stop_hook,
              LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

/*
** msghandler [-1, +1]: message handler of every protected call made here.
** Turns the error object into a string (its __tostring when it has one, as
** lurl's error objects do; otherwise a note of its type) and appends a
** traceback.
*/
static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)",
                            luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/*
** docall [-(narg+1), +(nres|1)]: calls the function below the `narg`
** arguments on top of the stack, with msghandler and with ^C turned into an
** error.  Returns the lua_pcall status; on error the message is on top.
*/
static int docall(lua_State *L, int narg, int nres) {
  int status;
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  running_state = L;
  set_sigint(on_sigint);
  status = lua_pcall(L, narg, nres, base);
  set_sigint(SIG_DFL);
  /* A ^C caught while C code ran may leave the hook armed: disarm it so it
  ** does not kill the next chunk (a later REPL line). */
  lua_sethook(L, NULL, 0, 0);
  lua_remove(L, base);
  return status;
}

/*
** report [-(0|1), +0]: when status is an error, prints the message on top of
** the stack and pops it.  Returns status unchanged.
*/
static int report(lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    print_message(msg != NULL ? msg : "(error object is not a string)");
    lua_pop(L, 1);
  }
  return status;
}

/* Runs the chunk a load just left on the stack (if it loaded). */
static int dochunk(lua_State *L, int status) {
  if (status == LUA_OK) status = docall(L, 0, 0);
  return report(L, status);
}

static int dofile(lua_State *L, const char *name) {
  return dochunk(L, luaL_loadfile(L, name));  /* NULL name = stdin */
}
static int dostring(lua_State *L, const char *s, const char *chunkname) {
  return dochunk(L, luaL_loadbuffer(L, s, strlen(s), chunkname));
}

/*
** dolibrary: `-l spec`.  spec is "mod" (global mod = require "mod") or
** "g=mod" (global g = require "mod").  Returns a lua_pcall status.
*/
static int dolibrary(lua_State *L, const char *spec) {
  const char *eq = strchr(spec, '=');
  const char *mod = eq != NULL ? eq + 1 : spec;
  int status;
  lua_getglobal(L, "require");
  lua_pushstring(L, mod);
  status = docall(L, 1, 1);
  if (status == LUA_OK) {
    if (eq != NULL) lua_pushlstring(L, spec, (size_t)(eq - spec));
    else lua_pushstring(L, spec);
    lua_insert(L, -2);
    lua_setglobal(L, lua_tostring(L, -2));
    lua_pop(L, 1);
  }
  return report(L, status);
}

/*
** push_script_args [-0, +n]: pushes arg[1..#arg] -- read from the global at
** this point, since an -e may have changed it, as in lua.c.  Returns n.
*/
static int push_script_args(lua_State *L) {
  int i, n;
  if (lua_getglobal(L, "arg") != LUA_TTABLE)
    luaL_error(L, "'arg' is not a table");
  n = (int)luaL_len(L, -1);
  luaL_checkstack(L, n + 3, "too many arguments to script");
  for (i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  lua_remove(L, -n - 1);
  return n;
}

/*
** run_script: loads argv[script] ("-" = stdin, unless it came after "--")
** and calls it with the script arguments as `...`.  Returns a status.
*/
static int run_script(lua_State *L, const cmdline *c) {
  const char *name = c->argv[c->script];
  int status;
  if (strcmp(name, "-") == 0 && strcmp(c->argv[c->script - 1], "--") != 0)
    name = NULL;
  status = luaL_loadfile(L, name);
  if (status == LUA_OK) {
    int n = push_script_args(L);
    status = docall(L, n, LUA_MULTRET);
  }
  return report(L, status);
}

/*
** run_options: performs -e, -l and -W in command-line order.  Returns 0 as
** soon as one fails (its message already printed), 1 otherwise.
*/
static int run_options(lua_State *L, const cmdline *c) {
  int i;
  for (i = 1; i < c->script; i++) {
    const char *opt = c->argv[i];
    const char *val;
    if (opt[1] == 'W') { lua_warning(L, "@on", 0); continue; }
    if (opt[1] != 'e' && opt[1] != 'l') continue;  /* done before the state */
    val = opt[2] != '\0' ? opt + 2 : c->argv[++i];
    if ((opt[1] == 'e' ? dostring(L, val, "=(command line)")
                       : dolibrary(L, val)) != LUA_OK)
      return 0;
  }
  return 1;
}

/* LUA_INIT_5_4, else LUA_INIT: "@file" runs the file, anything else is code. */
static int run_lua_init(lua_State *L) {
  const char *chunkname = "=LUA_INIT_5_4";
  const char *init = getenv(chunkname + 1);
  if (init == NULL) {
    chunkname = "=LUA_INIT";
    init = getenv(chunkname + 1);
  }
  if (init == NULL) return LUA_OK;
  if (init[0] == '@') return dofile(L, init + 1);
  return dostring(L, init, chunkname);
}

static char *line_buf = NULL;  /* getline's buffer, reused for every line */
static size_t line_cap = 0;

/*
** push_line [-0, +(0|1)]: prompts (_PROMPT/_PROMPT2 when set) and reads one
** line from stdin, pushing it without its newline.  On the first line of a
** statement a leading '=' means "return" (Lua 5.1 habit, kept by lua.c).
** Returns 0 at end of input, pushing nothing; through prompt.c -1 when
** Ctrl-C cleared the line (nothing pushed).
*/
static int push_line(lua_State *L, int first) {
  ssize_t len;
  int n = 1, got = 1;  /* n: values the prompt lookup left on the stack */
  const char *prompt = first ? PROMPT1 : PROMPT2;
  if (lua_getglobal(L, first ? "_PROMPT" : "_PROMPT2") != LUA_TNIL) {
    prompt = luaL_tolstring(L, -1, NULL);
    n = 2;
  }
  if (prompt_on) {
    got = lurl_prompt_read(L, prompt);
    if (got == 1) lua_insert(L, -1 - n);  /* the line below the prompt values */
    lua_pop(L, n);
    if (got != 1) return got;
  } else {
    fputs(prompt, stdout);
    fflush(stdout);
    lua_pop(L, n);
    len = getline(&line_buf, &line_cap, stdin);
    if (len < 0) return 0;
    if (len > 0 && line_buf[len - 1] == '\n') line_buf[--len] = '\0';
    lua_pushlstring(L, line_buf, (size_t)len);
  }
  if (first && lua_tostring(L, -1)[0] == '=') {
    lua_pushfstring(L, "return %s", lua_tostring(L, -1) + 1);
    lua_remove(L, -2);
  }
  return 1;
}

/* True when a load failed only because the chunk ended too early. */
static int incomplete(lua_State *L, int status) {
  static const char mark[] = "<eof>";
  size_t len, mlen = sizeof mark - 1;
  const char *msg;
  if (status != LUA_ERRSYNTAX) return 0;
  msg = lua_tolstring(L, -1, &len);
  return len >= mlen && strcmp(msg + len - mlen, mark) == 0;
}

/*
** load_statement [-0, +1]: reads a statement and compiles it.  An expression
** is tried first as "return <line>" so its value gets printed; otherwise
** lines are accumulated while the chunk is incomplete.  Pushes the function
** or an error message; returns the load status, or -1 at end of input.
*/
static int load_statement(lua_State *L) {
  int status, got;
  size_t len;
  const char *src;
  if ((got = push_line(L, 1)) == 0) return -1;
  if (got < 0) lua_pushliteral(L, "");  /* Ctrl-C: an empty statement */
  src = lua_pushfstring(L, "return %s", lua_tostring(L, -1));
  status = luaL_loadbuffer(L, src, strlen(src), "=stdin");
  lua_remove(L, -2);  /* the "return" text */
  if (status == LUA_OK) {
    lua_remove(L, -2);  /* the line */
    return status;
  }
  lua_pop(L, 1);  /* that error means nothing: it was not an expression */
  for (;;) {
    src = lua_tolstring(L, -1, &len);
    status = luaL_loadbuffer(L, src, len, "=stdin");
    /* At end of input an incomplete chunk is reported as it stands. */
    if (!incomplete(L, status) || (got = push_line(L, 0)) == 0) break;
    if (got < 0) {  /* Ctrl-C drops the statement: compile nothing instead */
      lua_pop(L, 2);  /* the "<eof>" message and the text */
      lua_pushliteral(L, "");
      continue;
    }
    lua_remove(L, -2);  /* the "<eof>" message */
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);
  }
  lua_remove(L, -2);  /* the accumulated text */
  return status;
}

/* print_results [-n, +0]: passes the n values on the stack to global print. */
static void print_results(lua_State *L) {
  int n = lua_gettop(L);
  if (n == 0) return;
  if (prompt_on) {  /* the readable printer, the prompt's alone */
    lurl_prompt_print(L);
    return;
  }
  luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
  lua_getglobal(L, "print");
  lua_insert(L, 1);
  if (lua_pcall(L, n, 0, 0) != LUA_OK)
    print_message(lua_pushfstring(L, "error calling 'print' (%s)",
                                  lua_tostring(L, -1)));
}

/*
** repl: read-eval-print loop until end of input.  Errors are printed and the
** loop goes on; a ^C only aborts the statement running.
*/
static void repl(lua_State *L) {
  int status;
  const char *saved_prefix = msg_prefix;
  msg_prefix = NULL;
  /* libedit only when both ends are a terminal: `lurl | tee log` gets the
  ** plain loop, without escape sequences in the log */
  prompt_on = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) && lurl_prompt_begin(L);
  for (;;) {
    lua_settop(L, 0);
    if ((status = load_statement(L)) == -1) break;
    if (status == LUA_OK) {
      lurl_clear_interrupt();  /* a ^C of an earlier line is not for this one */
      status = docall(L, 0, LUA_MULTRET);
    }
    if (status == LUA_OK) print_results(L);
    else report(L, status);
    if (status != LUA_OK && prompt_on) lurl_prompt_hint(L); /* res.headers.get(...) */
  }
  lua_settop(L, 0);
  if (prompt_on) lurl_prompt_end(L);
  prompt_on = 0;
  fputs("\n", stdout);
  fflush(stdout);
  free(line_buf);
  line_buf = NULL;
  line_cap = 0;
  msg_prefix = saved_prefix;
}

/*
** parse_cmdline: scans the options before the script, as lua.c does: it stops
** at the first non-option, at "-" (stdin is the script) or after "--".
** -e/-l take their value glued on or as the next argument (which may not
** start with '-').  Returns 0 when fine, 1 for -h/--help, 2 for --version,
** or -1 with *bad set to the offending argument.
*/
static int parse_cmdline(int argc, char **argv, cmdline *c, const char **bad) {
  int i;
  c->argc = argc;
  c->argv = argv;
  c->flags = 0;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || a[1] == '\0') break;  /* the script, or "-" */
    *bad = a;
    if (strcmp(a, "--") == 0) { i++; break; }  /* the script comes next */
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return 1;
    if (strcmp(a, "--version") == 0) return 2;
    if (strcmp(a, "--trace") == 0) { c->flags |= OPT_TRACE; continue; }
    if (a[1] == 'e' || a[1] == 'l') {
      if (a[1] == 'e') c->flags |= OPT_EXEC;
      if (a[2] == '\0' && (++i >= argc || argv[i][0] == '-')) return -1;
      continue;
    }
    if (a[2] != '\0') return -1;  /* single-letter flags take nothing glued */
    switch (a[1]) {
      case 'E': c->flags |= OPT_E; break;
      case 'W': break;  /* acted on in command-line order, by run_options */
      case 'i': c->flags |= OPT_I | OPT_V; break;  /* -i implies -v */
      case 'v': c->flags |= OPT_V; break;
      default: return -1;
    }
  }
  c->script = i < argc ? i : argc;
  return 0;
}

/*
** create_arg_table: global `arg` as lua.c builds it -- the script at index
** 0, the interpreter and options at negative indices, script arguments at
** 1..n.  Without a script, argv[0] is at 0 and the options are at 1..n.
*/
static void create_arg_table(lua_State *L, const cmdline *c) {
  int i, zero = c->script < c->argc ? c->script : 0;
  lua_createtable(L, c->argc - zero - 1 > 0 ? c->argc - zero - 1 : 0,
                  zero + 1);
  for (i = 0; i < c->argc; i++) {
    lua_pushstring(L, c->argv[i]);
    lua_rawseti(L, -2, i - zero);
  }
  lua_setglobal(L, "arg");
}

/*
** pmain [-1, +1]: everything that runs Lua code, called protected so even a
** memory error while opening the libraries is reported.  Takes the cmdline
** as a light userdata; pushes true when every chunk succeeded.
*/
static int pmain(lua_State *L) {
  const cmdline *c = (const cmdline *)lua_touserdata(L, 1);
  int has_script = c->script < c->argc;
  luaL_checkversion(L);
  if (c->flags & OPT_V) print_version();
  if (c->flags & OPT_E) {
    /* Must precede luaL_openlibs: `package` reads it when it opens. */
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  luaL_openlibs(L);
  lurl_openlibs(L);
  create_arg_table(L, c);
  lua_gc(L, LUA_GCRESTART);  /* main stopped it while libraries opened */
  lua_gc(L, LUA_GCGEN, 0, 0);  /* lua.c's choice; scripts see the same GC */
  if (!(c->flags & OPT_E) && run_lua_init(L) != LUA_OK) return 0;
  if (!run_options(L, c)) return 0;
  if (has_script && run_script(L, c) != LUA_OK) return 0;
  if (c->flags & OPT_I) {
    repl(L);
  } else if (!has_script && !(c->flags & (OPT_EXEC | OPT_V))) {
    if (isatty(STDIN_FILENO)) {
      print_version();
      repl(L);
    } else if (dofile(L, NULL) != LUA_OK) {
      return 0;
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

/*
** The binary's state.  Its Lua heap keeps small blocks for reuse
** (runtime/blocks.c), so the state is made over that allocator from its
** first block, with a panic and a warning function of the binary's own
** (luaL_newstate's are its allocator's companions): warnings are off until
** "@on" (lurl -W), each printed as "Lua warning: " and its pieces.  Under
** the sanitizers it is luaL_newstate's, so a freed Lua object is never
** reused behind their back.
*/
#if defined(LURL_SANITIZED)
static lua_State *new_state(lurl_blocks **blocks) {
  *blocks = NULL;
  return luaL_newstate();
}
#else
static int on_panic(lua_State *L) {
  const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  fprintf(stderr, "%s: PANIC: unprotected error in call to Lua API (%s)\n", PROGNAME,
          msg ? msg : "error object is not a string");
  return 0; /* Lua aborts */
}

static struct { int on, cont; } warn_state; /* one state per process */

static void on_warning(void *ud, const char *msg, int tocont) {
  (void)ud;
  if (!warn_state.cont && !tocont && msg[0] == '@') { /* a control message */
    if (strcmp(msg, "@on") == 0) warn_state.on = 1;
    else if (strcmp(msg, "@off") == 0) warn_state.on = 0;
    return;
  }
  if (warn_state.on) {
    if (!warn_state.cont) fputs("Lua warning: ", stderr);
    fputs(msg, stderr);
    if (!tocont) fputc('\n', stderr);
    fflush(stderr);
  }
  warn_state.cont = tocont;
}

static lua_State *new_state(lurl_blocks **blocks) {
  *blocks = lurl_blocks_new();
  if (!*blocks) return NULL;
  lua_State *L = lua_newstate(lurl_blocks_alloc, *blocks);
  if (!L) {
    lurl_blocks_free(*blocks);
    *blocks = NULL;
    return NULL;
  }
  lua_atpanic(L, on_panic);
  lua_setwarnf(L, on_warning, NULL);
  return L;
}
#endif

int main(int argc, char **argv) {
  cmdline c;
  const char *bad = NULL;
  lua_State *L;
  int status, ok;
  switch (parse_cmdline(argc, argv, &c, &bad)) {
    case 1: print_usage(stdout, NULL); return EXIT_SUCCESS;
    case 2: print_version(); return EXIT_SUCCESS;
    case -1: print_usage(stderr, bad); return EXIT_FAILURE;
    default: break;
  }
#if defined(M_TOP_PAD)
  /* The lurl binary's heap: glibc gives the top of the heap back to the
  ** kernel whenever the collector frees a burst of responses, and the next
  ** requests fault the same pages in again (20,000 GETs in tasks: ~10,600
  ** page faults, the C program ~850; docs/performance.md).  Keeping 4 MiB
  ** of slack at the top costs no resident memory until it is touched.  A
  ** host embedding the library keeps its own malloc policy. */
  mallopt(M_TOP_PAD, 4 << 20);
#endif
  /* Before the state exists, so the library sees it whichever way it reads
  ** it (at open time or per request). */
  if ((c.flags & OPT_TRACE) && setenv("LURL_TRACE", "1", 1) != 0) {
    print_message("cannot set LURL_TRACE");
    return EXIT_FAILURE;
  }
  /* A file over `ulimit -f` must be a write error that res:save reports
  ** (leaving the target untouched, as for a full disk), not a SIGXFSZ
  ** death.  The library leaves signal dispositions to its host: the binary
  ** is that host. */
  signal(SIGXFSZ, SIG_IGN);
  lurl_blocks *blocks = NULL;
  L = new_state(&blocks);
  if (L == NULL) {
    print_message("cannot create state: not enough memory");
    return EXIT_FAILURE;
  }
  lua_gc(L, LUA_GCSTOP);  /* no collection while the libraries open */
  lua_pushcfunction(L, pmain);
  lua_pushlightuserdata(L, &c);
  status = lua_pcall(L, 1, 1, 0);
  ok = lua_toboolean(L, -1);
  report(L, status);
  lua_close(L);
  lurl_blocks_free(blocks);
  if (ok && status == LUA_OK) return EXIT_SUCCESS;
  /* A ^C that ended the run is reported the way shells expect. */
  return lurl_interrupted() ? EXIT_INTERRUPTED : EXIT_FAILURE;
}
