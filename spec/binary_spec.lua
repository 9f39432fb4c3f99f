-- The lurl binary behaves like lua5.4: arg, -e, -l, -i, -, -v, -E,
-- LUA_INIT, exit statuses, tracebacks, error objects, shebang scripts,
-- and Ctrl-C during a transfer (exit 130, promptly).
local helper = require "spec.helper"

local LURL = os.getenv("LURL_BIN") or "build/lurl"
local DIR = helper.tmpdir

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"[exit $?]\""))
  local out = p:read("a")
  p:close()
  local body, code = out:match("^(.-)%[exit (%d+)%]\n?$")
  return body, tonumber(code)
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function write(name, text)
  local path = DIR .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

describe("the lurl binary", function()
  it("runs a script with arg and ... like lua5.4", function()
    local s = write("args.lua", "print(arg[0], arg[1], arg[2], #arg, ...)\n")
    local out, code = sh(q(LURL) .. " " .. q(s) .. " a b")
    assert.equal(0, code)
    assert.equal(s .. "\ta\tb\t2\ta\tb\n", out)
  end)

  it("puts options at negative indices of arg", function()
    local s = write("neg.lua", "print(arg[-1], arg[-2])\n")
    local out = sh(q(LURL) .. " -e 'x=1' " .. q(s))
    assert.equal("x=1\t-e\n", out)
  end)

  it("runs -e, -l and - (stdin)", function()
    assert.equal("3\n", (sh(q(LURL) .. " -e 'print(1+2)'")))
    assert.equal("table\n", (sh(q(LURL) .. " -l string -e 'print(type(string))'")))
    assert.equal("from stdin\n", (sh("echo 'print(\"from stdin\")' | " .. q(LURL) .. " -")))
  end)

  it("has http and json ready to require", function()
    local out = sh(q(LURL) .. [[ -e 'local h = require "http"; local j = require "json"; print(type(h.get), j.encode({1}))']])
    assert.equal("function\t[1]\n", out)
  end)

  it("runs an interactive session with -i", function()
    local out, code = sh("printf 'x = 20 + 1\\nprint(x * 2)\\n=x\\n' | " .. q(LURL) .. " -i")
    assert.equal(0, code)
    assert.truthy(out:find("42", 1, true))
    assert.truthy(out:find("21", 1, true))
  end)

  it("prints lurl, Lua, libcurl, the TLS library and features with -v", function()
    local out, code = sh(q(LURL) .. " -v")
    assert.equal(0, code)
    assert.truthy(out:find("^lurl 0%.1%.0"))
    assert.truthy(out:find("Lua 5.4", 1, true))
    assert.truthy(out:find("libcurl %d"))
    assert.truthy(out:find("OpenSSL", 1, true))
    assert.truthy(out:find("HTTP2", 1, true))
  end)

  it("honours LUA_INIT, and -E ignores it", function()
    assert.equal("init\n", (sh("LUA_INIT='print(\"init\")' " .. q(LURL) .. " -e ''")))
    assert.equal("", (sh("LUA_INIT='print(\"init\")' " .. q(LURL) .. " -E -e ''")))
    local f = write("init.lua", "print('from file')\n")
    assert.equal("from file\n", (sh("LUA_INIT=@" .. q(f) .. " " .. q(LURL) .. " -e ''")))
  end)

  it("exits 1 with a traceback on an uncaught error", function()
    local s = write("boom.lua", "local function f() error('boom') end\nf()\n")
    local out, code = sh(q(LURL) .. " " .. q(s))
    assert.equal(1, code)
    assert.truthy(out:find("boom", 1, true))
    assert.truthy(out:find("stack traceback", 1, true))
  end)

  it("prints an error object with its __tostring", function()
    local out, code = sh(q(LURL) .. [[ -e 'error(setmetatable({}, {__tostring = function() return "Kind: what went wrong" end}))']])
    assert.equal(1, code)
    assert.truthy(out:find("Kind: what went wrong", 1, true))
  end)

  it("prints a transport error as a readable line, with no password", function()
    local url = "http://user:s3cret@127.0.0.1:" .. helper.dead_port .. "/"
    local out, code = sh(q(LURL) .. " -e " .. q("assert(require('http').get('" .. url .. "'))"))
    assert.equal(1, code)
    assert.truthy(out:find("ConnectionError: ", 1, true))
    assert.is_nil(out:find("s3cret", 1, true))
  end)

  it("runs a #!/usr/bin/env lurl script", function()
    local bindir = LURL:match("^(.*)/[^/]*$") or "."
    local s = write("shebang.lua", "#!/usr/bin/env lurl\nprint('shebang ok')\n")
    os.execute("chmod +x " .. q(s))
    local out, code = sh("PATH=" .. q(bindir) .. ":$PATH " .. q(s))
    assert.equal(0, code)
    assert.equal("shebang ok\n", out)
  end)

  it("stops a transfer at once on Ctrl-C and exits 130", function()
    -- the fault server holds the response for 10 s; SIGINT after 0.5 s
    local s = write("stall.lua", ("local http = require 'http'\n" ..
      "io.stdout:write('started\\n'); io.stdout:flush()\n" ..
      "print(http.get(%q, {timeout = 30}))\n"):format(helper.fault .. "/stall?after=1&secs=10"))
    local cmd = ("%s %s 2>&1 & pid=$!; sleep 0.5; t0=$(date +%%s%%N); kill -INT $pid; wait $pid; " ..
      "code=$?; t1=$(date +%%s%%N); echo \"code=$code ms=$(( (t1 - t0) / 1000000 ))\"")
      :format(q(LURL), q(s))
    local out = sh(cmd)
    local code, ms = out:match("code=(%d+) ms=(%d+)")
    assert.equal("130", code, out)
    assert.is_true(tonumber(ms) < 2000, "took " .. tostring(ms) .. " ms to stop: " .. out)
    assert.truthy(out:find("interrupted", 1, true))
  end)
end)
