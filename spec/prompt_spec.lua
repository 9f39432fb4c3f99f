-- The interactive prompt, driven in a real pseudo-terminal (tmux): line
-- editing and history (also across sessions, in a bounded private file),
-- Tab completion read raw, http and json ready, the readable printer
-- (tables, a response, an error), Ctrl-C and Ctrl-D.  Then the other side:
-- off a terminal lurl reads and prints exactly as lua5.4 does, and the
-- command-line conventions (-h, --help, --version).
local helper = require "spec.helper"

local LURL = os.getenv("LURL_BIN") or "build/lurl"
local DIR = helper.tmpdir

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"[exit $?]\""))
  local out = p:read("a")
  p:close()
  local body, code = out:match("^(.-)%[exit (%d+)%]\n?$")
  return body, tonumber(code)
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

-- ---- a lurl session in its own tmux server ------------------------------

local serial = 0
local Session = {}
Session.__index = Session

-- Starts lurl (extra args `args`) on a 120x50 terminal, HOME a fresh
-- directory unless given; waits for the first prompt.
local function session(opts)
  opts = opts or {}
  serial = serial + 1
  local s = setmetatable({}, Session)
  -- a tmux server of its own per session, named after this run's state
  -- directory (unique), so parallel runs and other tmux users never meet
  s.sock = ("lurl-prompt-%s-%d"):format(DIR:match("([^/.]+)$"), serial)
  s.home = opts.home or (DIR .. "/prompt-home-" .. serial)
  os.execute("mkdir -p " .. q(s.home))
  local cmd = ("env -u LURL_HISTORY HOME=%s %s %s %s; echo \"[exit $?]\"; sleep 600")
    :format(q(s.home), opts.env or "", q(LURL), opts.args or "")
  local _, code = sh(("tmux -L %s new-session -d -s t -x 120 -y 50 %s"):format(s.sock, q(cmd)))
  assert(code == 0, "tmux could not start (is Debian's tmux installed?)")
  s:wait_prompt(1)
  return s
end

function Session:tmux(args)
  return (sh("tmux -L " .. self.sock .. " " .. args))
end

-- The whole screen (and scrollback), wrapped lines joined.
function Session:screen()
  return self:tmux("capture-pane -p -J -S -500 -t t")
end

-- Waits (up to 10 s) until fn(screen) is true; returns the screen.
function Session:wait(what, fn)
  local s
  for _ = 1, 200 do
    s = self:screen()
    if fn(s) then return s end
    os.execute("sleep 0.05")
  end
  error("timed out waiting for " .. what .. "; screen:\n" .. s, 2)
end

local function prompts(s)
  local n = 0
  for line in s:gmatch("[^\n]*") do
    if line:find("^>") and not line:find("^>>") then n = n + 1 end
  end
  return n
end

local function last_line(s)
  local last = ""
  for line in s:gmatch("[^\n]+") do last = line end
  return last
end

-- Waits until the n-th prompt is showing, idle ("> " as the last line).
function Session:wait_prompt(n)
  return self:wait("prompt #" .. n, function(s)
    return prompts(s) >= n and last_line(s):find("^>%s*$") ~= nil
  end)
end

-- Types text literally (no Enter).
function Session:type(text)
  self:tmux("send-keys -t t -l " .. q(text))
end

-- Presses keys by tmux name: "Enter", "Tab", "Up", "C-c", "C-d".
function Session:press(...)
  for _, k in ipairs { ... } do self:tmux("send-keys -t t " .. k) end
end

-- Runs one line and returns what it printed (between its line and the
-- next prompt).
function Session:run(line)
  local before = prompts(self:screen())
  self:type(line)
  self:press("Enter")
  local s = self:wait_prompt(before + 1)
  local lines = {}
  for l in (s .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  while #lines > 0 and lines[#lines] == "" do lines[#lines] = nil end
  local from
  for i = #lines, 1, -1 do
    if lines[i] == "> " .. line or lines[i]:sub(1, #line + 2) == "> " .. line then from = i break end
  end
  assert(from, "the typed line is not on the screen:\n" .. s)
  return table.concat(lines, "\n", from + 1, #lines - 1)
end

-- Stops the tmux server and removes its socket (tmux leaves it behind).
function Session:close()
  local path = self:tmux("display-message -p '#{socket_path}'"):match("^(/[^\n]+)")
  self:tmux("kill-server")
  if path then os.remove(path) end
end

-- Exits with Ctrl-D and returns lurl's exit status.
function Session:exit()
  self:press("C-d")
  local s = self:wait("exit", function(s) return s:find("%[exit %d+%]") ~= nil end)
  return tonumber(s:match("%[exit (%d+)%]"))
end

describe("the interactive prompt", function()
  local s
  after_each(function()
    if s then s:close() end
    s = nil
  end)

  it("completes globals, fields and methods with Tab", function()
    s = session()
    s:type("ht")
    s:press("Tab")
    s:wait("ht -> http", function(x) return last_line(x) == "> http" end)
    s:type(".ge")
    s:press("Tab")
    s:wait("http.get(", function(x) return last_line(x) == "> http.get(" end)
    s:press("C-u")
    s:type("http.")
    s:press("Tab", "Tab")
    local list = s:wait("the field list", function(x)
      return x:find("http.session", 1, true) and x:find("http.post", 1, true) and true
    end)
    assert.truthy(list:find("http.get", 1, true))
    assert.truthy(list:find("http.parallel", 1, true))
    -- a string's methods through its metatable, raw
    s:press("C-u")
    s:run('str = "abc"')
    s:type("str:upp")
    s:press("Tab")
    s:wait("str:upper(", function(x) return last_line(x) == "> str:upper(" end)
  end)

  it("never runs a user's __index or __pairs while completing", function()
    s = session()
    s:run("hits = 0")
    s:run("p = setmetatable({ plain = 1 }, { __index = function() hits = hits + 1 end,"
      .. " __pairs = function() hits = hits + 100 return next, {} end })")
    s:run("q = setmetatable({}, { __index = { alpha = 1, beta = 2 } })")
    s:type("p.pl")
    s:press("Tab")
    s:wait("p.plain", function(x) return last_line(x) == "> p.plain" end)
    s:press("C-u")
    s:type("p.zz.")
    s:press("Tab")
    s:press("C-u")
    s:type("q.al")
    s:press("Tab")
    s:wait("q.alpha (a table __index, read raw)", function(x) return last_line(x) == "> q.alpha" end)
    s:press("C-u")
    assert.equal("0", s:run("hits"))
  end)

  it("recalls lines with the up arrow and keeps history in a bounded private file", function()
    local home = DIR .. "/prompt-home-history"
    os.execute("rm -rf " .. q(home) .. "; mkdir -p " .. q(home))
    -- an old history longer than the bound: entries 1..1500
    local old = { "_HiStOrY_V2_" }
    for i = 1, 1500 do old[#old + 1] = "old" .. i end
    write(home .. "/.lurl_history", table.concat(old, "\n") .. "\n")
    s = session { home = home }
    assert.equal("first1", s:run('print("first" .. 1)'))
    s:press("Up")
    s:wait("the recalled line", function(x) return last_line(x) == '> print("first" .. 1)' end)
    s:press("Enter")
    s:wait_prompt(3)
    local screen = s:screen()
    local n = 0
    for _ in screen:gmatch("\nfirst1\n") do n = n + 1 end
    assert.equal(2, n)
    assert.equal(0, s:exit())
    s:close()

    local hist = assert(read(home .. "/.lurl_history"))
    local entries = {}
    for line in hist:gmatch("[^\n]+") do entries[#entries + 1] = line end
    assert.equal("_HiStOrY_V2_", entries[1])
    assert.is_true(#entries - 1 <= 1000, "history holds " .. (#entries - 1) .. " entries")
    assert.truthy(hist:find("first", 1, true))
    assert.falsy(hist:find("\nold1\n", 1, true))   -- the oldest fell off
    assert.truthy(hist:find("\nold1500\n", 1, true))
    -- the repeated line is one entry
    local reps = 0
    for _ in hist:gmatch("first") do reps = reps + 1 end
    assert.equal(1, reps)
    local mode = sh("stat -c %a " .. q(home .. "/.lurl_history"))
    assert.equal("600\n", mode)

    -- a new session starts with it: Up shows the last line of the old one
    s = session { home = home }
    s:press("Up")
    s:wait("the line from the last session", function(x)
      return last_line(x) == '> print("first" .. 1)'
    end)
  end)

  it("writes a fresh history file owner-only", function()
    s = session()
    s:run("x = 1")
    assert.equal(0, s:exit())
    -- libedit's format: a first line, then entries with spaces as \040
    assert.equal("_HiStOrY_V2_\nx\\040=\\0401\n", read(s.home .. "/.lurl_history"))
    assert.equal("600\n", (sh("stat -c %a " .. q(s.home .. "/.lurl_history"))))
  end)

  it("keeps history where LURL_HISTORY says, and none when it is empty", function()
    local file = DIR .. "/prompt-elsewhere.hist"
    os.remove(file)
    s = session { env = "LURL_HISTORY=" .. q(file) }
    s:run("y = 2")
    assert.equal(0, s:exit())
    assert.equal("_HiStOrY_V2_\ny\\040=\\0402\n", read(file))
    assert.is_nil(read(s.home .. "/.lurl_history"))
    s:close()
    s = session { env = "LURL_HISTORY=" }
    s:run("z = 3")
    assert.equal(0, s:exit())
    assert.is_nil(read(s.home .. "/.lurl_history"))
  end)

  it("is the plain loop when stdout is not a terminal (lurl | cat)", function()
    s = session { args = "| cat" }
    assert.truthy(s:run("{ 1 }"):find("^table: 0x%x+$"))
    assert.equal("nil", s:run("http"))
  end)

  it("has http and json ready as globals", function()
    s = session()
    assert.truthy(s:run("type(http.get), type(json.encode)"):find("^function%s+function$"))
    assert.equal('[1,"a"]', s:run('json.encode({1, "a"})'))
  end)

  it("prints a response: status line, headers and the JSON pretty", function()
    s = session()
    s:run(("url = %q"):format(helper.httpbin .. "/get"))
    s:run("res = http.get(url)")
    local out = s:run("res")
    assert.truthy(out:find("^HTTP/1%.1 200 OK\n"), out)
    assert.truthy(out:find("\nContent%-Type: application/json\n"), out)
    assert.truthy(out:find('\n\n{\n  "args": {},\n  "headers": {\n    "Accept": ', 1, true), out)
    assert.truthy(out:find('\n  "url": "' .. helper.httpbin .. '/get"\n}\n', 1, true), out)
    assert.truthy(out:find("\n%-%- GET " .. helper.httpbin:gsub("%p", "%%%0") .. "/get$"), out)
    -- tostring stays one line
    assert.equal("http.response (200 OK, " .. helper.httpbin .. "/get)", s:run("tostring(res)"))
    assert.equal("http.response (200 OK, " .. helper.httpbin .. "/get)", s:run("print(res)"))
  end)

  it("prints a text body as an excerpt and a binary one by size", function()
    s = session()
    local out = s:run(("http.get(%q)"):format(helper.httpbin .. "/robots.txt"))
    assert.truthy(out:find("^HTTP/1%.1 200 OK\n"), out)
    assert.truthy(out:find("\n\nUser%-agent: %*\nDisallow: /deny\n"), out)
    out = s:run(("http.get(%q)"):format(helper.httpbin .. "/bytes/3000"))
    assert.truthy(out:find("\n%(3000 bytes of application/octet%-stream%)\n"), out)
    out = s:run(("http.get(%q)"):format(helper.httpbin .. "/base64/" .. ("QUJD"):rep(500)))
    assert.truthy(out:find("\n%.%.%. %(1500 bytes in all%)\n"), out)
  end)

  it("prints an error in its one-line form", function()
    s = session()
    local url = "http://127.0.0.1:" .. helper.dead_port .. "/"
    local out = s:run(("select(2, http.get(%q))"):format(url))
    assert.truthy(out:find("^ConnectionError: .*%(GET " .. url:gsub("%p", "%%%0") .. "%)$"), out)
    assert.falsy(out:find("\n"), out)
  end)

  it("hints lurl's spelling under a nil read as requests spells it", function()
    s = session()
    s:run(("res = http.get(%q)"):format(helper.httpbin .. "/get"))
    assert.equal("nil\n-- lurl: res.status (requests: status_code)", s:run("res.status_code"))
    assert.equal("nil\n-- lurl: res.body (requests: content)", s:run("res.content"))
    assert.equal("nil\n-- lurl: res:chunks() (requests: iter_content)", s:run("res.iter_content"))
    assert.equal("nil\n-- lurl: res.encoding (requests: apparent_encoding)", s:run("res.apparent_encoding"))
    assert.equal("200", s:run("res.status")) -- no hint where nothing is wrong
    assert.equal("nil", s:run("res.bogus"))
    -- a line that fails: the hint comes under the error
    local out = s:run('res.headers.get("content-type")')
    assert.truthy(out:find("attempt to call a nil value %(field 'get'%)\n"), out)
    assert.truthy(out:find('\n%-%- lurl: res%.headers%["name"%] %(any case%) %(requests: get%)$'), out)
    out = s:run("res.json['url']")
    assert.truthy(out:find("\n%-%- lurl: res:json%(%) %(requests: json%)$"), out)
    out = s:run("http.exceptions.Timeout")
    assert.truthy(out:find("\n%-%- lurl: http%.errors %(requests: exceptions%)$"), out)
    s:run("sess = http.session()")
    out = s:run("sess.mount('http://', nil)")
    assert.truthy(out:find("\n%-%- lurl: http%.session{transport = fn} %(requests: mount%)$"), out)
    -- off a terminal nothing is added: lua5.4's output exactly
    local f = write(DIR .. "/hint.lua", ("http = require 'http'\nres = http.get(%q)\nreturn res.status_code\n")
      :format(helper.httpbin .. "/get"))
    assert.equal("", (sh(q(LURL) .. " < " .. q(f))))
    local plain = sh(q(LURL) .. " -i < " .. q(f))
    assert.truthy(plain:find("> nil\n"), plain)
    assert.falsy(plain:find("-- lurl:", 1, true), plain)
  end)

  it("prints tables nested, bounded and safe from cycles; tostring is unchanged", function()
    s = session()
    s:run('t = { 1, "two", deep = { a = { b = { c = { d = { e = 1 } } } } } }')
    s:run("t.self = t")
    local out = s:run("t")
    assert.truthy(out:find('1, "two"', 1, true), out)
    assert.truthy(out:find("self = <cycle>", 1, true), out)
    assert.truthy(out:find("{...}", 1, true), out)
    s:run("big = {} for i = 1, 100 do big[i] = i * 2 end")
    out = s:run("big")
    assert.truthy(out:find("... (100 entries in all)", 1, true), out)
    assert.falsy(out:find("200", 1, true), out)
    assert.truthy(s:run("tostring(t)"):find("^table: 0x%x+$"))
    assert.truthy(s:run("print(t)"):find("^table: 0x%x+$"))
    assert.equal('{ ["a b"] = "x\\ny", [true] = 1 }', s:run('{ ["a b"] = "x\\ny", [true] = 1 }'))
  end)

  it("clears the line on Ctrl-C and exits on Ctrl-D", function()
    s = session()
    s:type("abc")
    s:press("C-c")
    s:wait_prompt(2)
    assert.equal("2", s:run("1 + 1"))
    -- a statement left open is dropped too
    s:type("for i = 1, 3 do")
    s:press("Enter")
    s:wait("continuation", function(x) return last_line(x):find("^>>") ~= nil end)
    s:press("C-c")
    s:wait_prompt(4)
    assert.equal("3", s:run("1 + 2"))
    assert.equal(0, s:exit())
  end)

  it("stops a running transfer on Ctrl-C and goes on", function()
    s = session()
    local line = ("http.get(%q)"):format(helper.httpbin .. "/delay/8")
    s:type(line)
    s:press("Enter")
    os.execute("sleep 0.5")
    local t0 = os.time()
    s:press("C-c")
    local screen = s:wait_prompt(2)
    assert.truthy(screen:find("interrupted", 1, true), screen)
    assert.is_true(os.time() - t0 <= 3)
    assert.equal("2", s:run("1 + 1"))
  end)
end)

describe("lurl off a terminal", function()
  local script = table.concat({
    "t = { 1, 2 }",
    "print(#t, t[1] + 0.5, 10 // 3, 'x' .. 1)",
    "print(nil, true, 2^53)",
    "return 5",
  }, "\n") .. "\n"

  it("reads stdin and prints exactly as lua5.4 does", function()
    local f = write(DIR .. "/plain.lua", script)
    local want = assert(sh("lua5.4 < " .. q(f)))
    assert.equal("2\t1.5\t3\tx1\nnil\ttrue\t9.007199254741e+15\n", want)
    assert.equal(want, (sh(q(LURL) .. " < " .. q(f))))
    assert.equal(want, (sh(q(LURL) .. " - < " .. q(f))))
    assert.equal(want, (sh(q(LURL) .. " " .. q(f))))
    assert.equal(want, (sh("cat " .. q(f) .. " | " .. q(LURL))))
    assert.equal("2\t1.5\n", (sh(q(LURL) .. " -e 't = {1, 2}; print(#t, t[1] + 0.5)'")))
  end)

  it("has no http or json globals outside the prompt", function()
    assert.equal("nil\tnil\n", (sh(q(LURL) .. " -e 'print(http, json)'")))
    assert.equal("nil\tnil\n", (sh("echo 'print(http, json)' | " .. q(LURL))))
  end)

  it("keeps lua's plain printing for -i when stdin is not a terminal", function()
    local out, code = sh("printf '{1, 2}\\n' | " .. q(LURL) .. " -i")
    assert.equal(0, code)
    assert.truthy(out:find("\n> table: 0x%x+\n"), out)
  end)
end)

describe("lurl's command line", function()
  it("prints the usage with -h and --help", function()
    for _, opt in ipairs { "-h", "--help" } do
      local out, code = sh(q(LURL) .. " " .. opt)
      assert.equal(0, code)
      assert.truthy(out:find("^usage: lurl %[options%] %[script %[args%]%]\n"), out)
      for _, o in ipairs { "-e stat", "-l mod", "-i ", "-v ", "-E ", "-W ", "--trace", "--version", "-h ", "--help" } do
        assert.truthy(out:find(o, 1, true), o)
      end
    end
  end)

  it("prints versions with --version and exits", function()
    local out, code = sh("echo 'print(\"ran\")' | " .. q(LURL) .. " --version")
    assert.equal(0, code)
    assert.truthy(out:find("^lurl 0%.1%.0\nLua 5%.4"), out)
    assert.truthy(out:find("libcurl %d+%.%d+%.%d+ %(OpenSSL/"), out)
    assert.truthy(out:find("HTTP2", 1, true), out)
    assert.falsy(out:find("ran", 1, true), out)
  end)

  it("refuses unknown options as lua5.4 does", function()
    local out, code = sh(q(LURL) .. " -x")
    assert.equal(1, code)
    assert.truthy(out:find("^lurl: unrecognized option '%-x'\nusage: "), out)
    out, code = sh(q(LURL) .. " --versio")
    assert.equal(1, code)
    assert.truthy(out:find("unrecognized option '--versio'", 1, true), out)
  end)
end)
