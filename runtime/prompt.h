/*
** prompt.h -- the interactive prompt of the lurl binary: line editing,
** history and completion (libedit), and the readable printer of results.
** Linked into the binary only; neither liblurl nor http.so carries it, and
** nothing here runs unless lurl.c's REPL is reading from a terminal.
*/
#ifndef LURL_PROMPT_H
#define LURL_PROMPT_H

#include <lua.h>

/*
** lurl_prompt_begin [-0, +0]: sets up the prompt for state L: loads the
** printer and completer (runtime/prompt.lua, compiled in), makes `http` and
** `json` globals (unless the script already set them), reads the history
** file.  Returns 1 when the prompt is ready, 0 (with a message printed to
** stderr) when it could not be set up; lurl.c then keeps its plain REPL.
*/
int lurl_prompt_begin(lua_State *L);

/*
** lurl_prompt_read [-0, +(0|1)]: shows `prompt`, reads one edited line and
** pushes it (without newline).  Returns 1 with the line pushed, 0 at end of
** input (Ctrl-D), -1 when Ctrl-C cleared the line (nothing pushed).  May
** block; never raises.
*/
int lurl_prompt_read(lua_State *L, const char *prompt);

/*
** lurl_prompt_print [-n, +0]: prints the n values on the stack readably
** (tables expanded and bounded, a response as status line, headers and body,
** an error in its one-line form) and pops them.  Falls back to `tostring`
** when the printer itself fails.
*/
void lurl_prompt_print(lua_State *L);
/*
** lurl_prompt_hint [-0, +0]: after a line failed, prints prompt.lua's hint
** when the line read a requests spelling (res.headers.get) lurl spells
** otherwise.  Never raises.
*/
void lurl_prompt_hint(lua_State *L);

/* lurl_prompt_end [-0, +0]: writes the history file (bounded) and forgets L. */
void lurl_prompt_end(lua_State *L);

#endif
