-- Errors that finish the job (issue 21, item 4): an unknown option key
-- names the nearest known one, a method called with '.' says to call it
-- with ':', a value lua-cjson cannot encode is named by its field path, a
-- missing lua-cjson is a missing module (not bad JSON from the server);
-- the same over a session's transport (a function, a mock).
-- (The prompt's hints for requests spellings: spec/prompt_spec.lua.)
--
-- Each message is compared whole, after the position, which must be this
-- file's line; where a request was refused, the fault server's log shows
-- that nothing was sent.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"

local FAULT, HTTPBIN = helper.fault, helper.httpbin
local fault_reset, fault_log = support.fault_reset, support.fault_log

-- The message f(...) raises, without its position, which must be here.
local function raised(f, ...)
  local args = table.pack(...)
  local ok, e = pcall(function()
    local r = f(table.unpack(args, 1, args.n)) -- not a tail call: the position is this line
    return r
  end)
  assert.is_false(ok, "expected an error to be raised")
  e = tostring(e)
  assert.matches("^[^:]*errmsg_spec%.lua:%d+: ", e)
  return (e:gsub("^[^:]*errmsg_spec%.lua:%d+: ", ""))
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

describe("an unknown option key", function()
  it("names the nearest request option, nothing sent", function()
    fault_reset()
    local url = FAULT .. "/ok"
    local cases = {
      { { timout = 1 }, "unknown option 'timout' (did you mean 'timeout'?)" },
      { { tiemout = 1 }, "unknown option 'tiemout' (did you mean 'timeout'?)" }, -- a swap is one edit
      { { Timeout = 1 }, "unknown option 'Timeout' (did you mean 'timeout'?)" }, -- any case
      { { header = {} }, "unknown option 'header' (did you mean 'headers'?)" },
      { { allow_redirect = false }, "unknown option 'allow_redirect' (did you mean 'allow_redirects'?)" },
      { { jsn = {} }, "unknown option 'jsn' (did you mean 'json'?)" },
      { { verfy = false }, "unknown option 'verfy' (did you mean 'verify'?)" },
      { { zzz = 1 }, "unknown option 'zzz'" }, -- nothing near: no guess
      { { auht_token = "x" }, "unknown option 'auht_token'" },
    }
    for _, c in ipairs(cases) do
      assert.are.equal("bad argument #2 to 'get' (" .. c[2] .. ")", raised(http.get, url, c[1]))
    end
    assert.are.equal("bad argument #3 to 'request' (unknown option 'parms' (did you mean 'params'?))",
      raised(http.request, "GET", url, { parms = {} }))
    local s <close> = http.session()
    assert.are.equal("bad argument #2 to 'post' (unknown option 'dat' (did you mean 'data'?))",
      raised(s.post, s, url, { dat = "x" }))
    assert.are.same({}, fault_log())
  end)

  it("names the nearest session option, its own or a request option's", function()
    local cases = {
      { { base_ur = "http://x/" }, "unknown option 'base_ur' (did you mean 'base_url'?)" },
      { { cassete = "x.har" }, "unknown option 'cassete' (did you mean 'cassette'?)" },
      { { transprot = print }, "unknown option 'transprot' (did you mean 'transport'?)" },
      { { max_conections = 2 }, "unknown option 'max_conections' (did you mean 'max_connections'?)" },
      { { rate_limt = 2 }, "unknown option 'rate_limt' (did you mean 'rate_limit'?)" },
      { { timout = 1 }, "unknown option 'timout' (did you mean 'timeout'?)" },
      { { HEADERS = {} }, "unknown option 'HEADERS' (did you mean 'headers'?)" },
      { { bogus = 1 }, "unknown option 'bogus'" },
    }
    for _, c in ipairs(cases) do
      assert.are.equal("bad argument #1 to 'session' (" .. c[2] .. ")",
        raised(function() local s = http.session(c[1]); return s end))
    end
  end)

  it("is named as over libcurl by a session with a transport, nothing reaching it", function()
    local called = 0
    local function tr() called = called + 1; return { status = 200, body = "ok" } end
    local mock = http.mock()
    mock:get("http://api.test/x", { status = 200, body = "ok" })
    for _, t in ipairs { tr, mock } do
      -- the session's defaults
      assert.are.equal("bad argument #1 to 'session' (unknown option 'timout' (did you mean 'timeout'?))",
        raised(function() local s = http.session { transport = t, timout = 3 }; return s end))
      assert.are.equal("bad argument #1 to 'session' (field 'timeout': number, table or false expected, got string)",
        raised(function() local s = http.session { transport = t, timeout = "3" }; return s end))
      -- a call's options
      local s <close> = http.session { transport = t }
      assert.are.equal("bad argument #2 to 'get' (unknown option 'timout' (did you mean 'timeout'?))",
        raised(s.get, s, "http://api.test/x", { timout = 3 }))
      assert.are.equal("bad argument #3 to 'request' (unknown option 'parms' (did you mean 'params'?))",
        raised(s.request, s, "GET", "http://api.test/x", { parms = {} }))
      assert.are.equal("bad argument #2 to 'get' (option names must be strings)",
        raised(s.get, s, "http://api.test/x", { 1 }))
      assert.are.equal(200, support.must(s:get("http://api.test/x", { timeout = 3 })).status)
    end
    assert.are.equal(1, called)
    -- an installed mock is every new session's transport, the hidden one's too
    http.mock.install(mock)
    local ok, msg = pcall(raised, http.get, "http://api.test/x", { timout = 3 })
    local ok2, msg2 = pcall(raised, function() local s = http.session { timout = 3 }; return s end)
    http.mock.uninstall()
    assert.is_true(ok, msg)
    assert.are.equal("bad argument #2 to 'get' (unknown option 'timout' (did you mean 'timeout'?))", msg)
    assert.is_true(ok2, msg2)
    assert.are.equal("bad argument #1 to 'session' (unknown option 'timout' (did you mean 'timeout'?))", msg2)
  end)

  it("inside timeout, proxies and retry names the nearest key", function()
    fault_reset()
    local url = FAULT .. "/ok"
    local cases = {
      { { timeout = { conect = 1 } },
        "field 'timeout': {connect=, read=, total=} expected, got key 'conect' (did you mean 'connect'?)" },
      { { timeout = { Total = 1 } },
        "field 'timeout': {connect=, read=, total=} expected, got key 'Total' (did you mean 'total'?)" },
      { { timeout = { whole = 1 } }, "field 'timeout': {connect=, read=, total=} expected, got key 'whole'" },
      { { proxies = { htps = "http://127.0.0.1:1" } },
        "field 'proxies': {http=, https=, all=} expected, got key 'htps' (did you mean 'https'?)" },
      { { retry = { atempts = 3 } }, "field 'retry': unknown key 'atempts' (did you mean 'attempts'?)" },
      { { retry = { max_backof = 3 } }, "field 'retry': unknown key 'max_backof' (did you mean 'max_backoff'?)" },
      { { retry = { status = { 503 } } }, "field 'retry': unknown key 'status' (did you mean 'statuses'?)" },
      { { retry = { tries = 3 } }, "field 'retry': unknown key 'tries'" },
    }
    for _, c in ipairs(cases) do
      assert.are.equal("bad argument #2 to 'get' (" .. c[2] .. ")", raised(http.get, url, c[1]))
      assert.are.equal("bad argument #1 to 'session' (" .. c[2] .. ")",
        raised(function() local s = http.session(c[1]); return s end))
    end
    assert.are.same({}, fault_log())
  end)
end)

describe("a method called with '.'", function()
  local res
  setup(function() res = support.must(http.get(HTTPBIN .. "/get")) end)

  it("on a response says to call it with ':'", function()
    for _, m in ipairs { "json", "html", "raise_for_status", "chunks", "lines", "close" } do
      assert.are.equal(("bad argument #1 to '%s' (response expected; call it as res:%s())"):format(m, m),
        raised(res[m]))
    end
    assert.are.equal("bad argument #1 to 'save' (response expected; call it as res:save())",
      raised(res.save, helper.tmpdir .. "/errmsg-never"))
    assert.is_nil(io.open(helper.tmpdir .. "/errmsg-never"))
    assert.are.equal("bad argument #1 to 'read' (response expected; call it as res:read())", raised(res.read, 10))
    assert.are.equal("bad argument #1 to 'header_values' (response expected; call it as res:header_values())",
      raised(res.header_values, "content-type"))
    -- with ':' they work
    assert.are.equal("application/json", res:header_values("content-type")[1])
    assert.is_table(res:json().headers)
  end)

  it("on a mocked response too, whose methods work with ':'", function()
    local mock = http.mock()
    mock:get("/j", { json = { a = 1 } })
    local s <close> = http.session { transport = mock }
    local r = support.must(s:get("http://api.test/j"))
    assert.are.equal("bad argument #1 to 'json' (response expected; call it as res:json())", raised(r.json))
    assert.are.same({ a = 1 }, r:json())
    assert.are.equal(r, r:raise_for_status())
  end)

  it("on a cookie jar says to call it with ':'", function()
    local s <close> = http.session()
    support.must(s:get(HTTPBIN .. "/cookies/set?a=1"))
    local jar = s.cookies
    local calls = {
      list = {}, get = { "a" }, set = { "b", "2" }, clear = {},
      save = { helper.tmpdir .. "/errmsg-jar" }, load = { helper.tmpdir .. "/errmsg-jar" },
    }
    for m, args in pairs(calls) do
      assert.are.equal(("bad argument #1 to '%s' (cookie jar expected; call it as jar:%s())"):format(m, m),
        raised(jar[m], table.unpack(args)))
    end
    assert.are.equal("1", jar:get("a")) -- nothing was cleared
    assert.is_nil(io.open(helper.tmpdir .. "/errmsg-jar"))
  end)
end)

describe("a value lua-cjson cannot encode", function()
  it("is a bad argument naming the field path, nothing sent", function()
    fault_reset()
    local url = FAULT .. "/ok"
    local cyc = {}
    cyc.self = { cyc }
    local cases = {
      { { cb = print }, "field 'json.cb': cannot encode a function" },
      { { items = { 1, 2, { f = print } } }, "field 'json.items[3].f': cannot encode a function" },
      { { ["a b"] = { co = coroutine.create(print) } }, "field 'json[\"a b\"].co': cannot encode a thread" },
      { { f = io.stdout }, "field 'json.f': cannot encode a userdata" },
      { { x = 0 / 0 }, "field 'json.x': cannot encode NaN or an infinity" },
      { { 1, { y = -math.huge } }, "field 'json[2].y': cannot encode NaN or an infinity" },
      { { list = { [1] = 1, [50] = 2 } }, "field 'json.list': cannot encode a sparse array (2 items, largest index 50)" },
      { { k = { [true] = 1 } }, "field 'json.k': cannot encode a boolean key" },
      { cyc, "field 'json.self[1]': cannot encode a table that holds itself" },
    }
    for _, c in ipairs(cases) do
      assert.are.equal("bad argument #2 to 'post' (" .. c[2] .. ")", raised(http.post, url, { json = c[1] }))
    end
    assert.are.equal("bad argument #2 to 'put' (field 'json': cannot encode a function)",
      raised(http.put, url, { json = print }))
    local s <close> = http.session { json = { ok = true } }
    assert.are.equal("bad argument #3 to 'request' (field 'json.n': cannot encode NaN or an infinity)",
      raised(s.request, s, "POST", url, { json = { n = math.huge } }))
    assert.are.same({}, fault_log())
    -- what encodes still goes out as before: nulls, big ids, empty arrays
    local res = support.must(http.post(HTTPBIN .. "/post",
      { json = { a = http.json_null or require("http.json").null, id = 100000000000001, e = http.array {} } }))
    assert.are.same({ a = require("http.json").null, id = 100000000000001, e = {} }, res:json().json)
  end)

  it("is named the same way over a transport, which gets nothing", function()
    local called = 0
    local s <close> = http.session { transport = function()
      called = called + 1
      return { status = 200, body = "ok" }
    end }
    assert.are.equal("bad argument #2 to 'post' (field 'json.x': cannot encode a function)",
      raised(s.post, s, "http://api.test/x", { json = { x = print } }))
    assert.are.equal("bad argument #3 to 'request' (field 'json.items[3].f': cannot encode a function)",
      raised(s.request, s, "PUT", "http://api.test/x", { json = { items = { 1, 2, { f = print } } } }))
    assert.are.equal("bad argument #2 to 'put' (field 'json': cannot encode NaN or an infinity)",
      raised(s.put, s, "http://api.test/x", { json = 0 / 0 }))
    assert.are.equal(0, called)
    local mock = http.mock()
    mock:post("http://api.test/x", { status = 201 })
    local m <close> = http.session { transport = mock }
    assert.are.equal("bad argument #2 to 'post' (field 'json.x': cannot encode a function)",
      raised(m.post, m, "http://api.test/x", { json = { x = print } }))
    assert.are.equal(201, support.must(m:post("http://api.test/x", { json = { x = 1 } })).status)
  end)

  it("is named the same way by http.json's encode", function()
    local json = require "http.json"
    assert.are.equal("bad argument #1 to 'encode' (field 'cb': cannot encode a function)",
      raised(json.encode, { cb = print }))
    assert.are.equal("bad argument #1 to 'encode' (field 'items[3].f': cannot encode a function)",
      raised(json.encode, { items = { 1, 2, { f = print } } }))
    assert.are.equal("bad argument #1 to 'encode' (cannot encode a function)", raised(json.encode, print))
    assert.are.equal("bad argument #1 to 'encode' (field '[1]': cannot encode NaN or an infinity)",
      raised(json.encode, { 0 / 0 }))
    assert.are.equal('{"a":[]}', json.encode({ a = http.array {} }))
  end)
end)

describe("a missing lua-cjson", function()
  -- a child lurl or lua5.4 whose package paths cannot find cjson
  local script = ([[
package.cpath = %q
package.loaded.cjson, package.preload.cjson = nil, nil
local http = require "http"
local res = assert(http.get(%q))
for _, f in ipairs {
  function() local v = res:json(); return v end,
  function() local r = http.post(%q, { json = { a = 1 } }); return r end,
  function() local s = require("http.json").encode({ a = 1 }); return s end,
} do
  local ok, e = pcall(f)
  print(ok, type(e) == "table" and e.kind or "", tostring(e))
end
]])

  local function run(interp, cpath)
    local path = helper.tmpdir .. "/errmsg-nocjson.lua"
    local f = assert(io.open(path, "w"))
    f:write(script:format(cpath, HTTPBIN .. "/json", FAULT .. "/ok"))
    f:close()
    local p = assert(io.popen(("LUA_CPATH='' %s %s 2>&1"):format(interp, q(path))))
    local out = p:read("a")
    p:close()
    return out
  end

  local function check(out)
    local want = "module 'cjson' not found: lurl needs lua-cjson (Debian: lua-cjson)"
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal(3, #lines, out)
    for _, l in ipairs(lines) do
      -- an error raised at the script's line, not a JSONDecodeError
      assert.are.equal("false\t\t" .. want, (l:gsub("[^\t]*errmsg%-nocjson%.lua:%d+: ", "")), out)
      assert.truthy(l:find("errmsg-nocjson.lua:", 1, true), out)
    end
  end

  -- lurl (LURL_BIN: a sanitizer build's http.so loads only in its own
  -- binary), plus the interpreter running this spec when it is another
  -- (lua5.4 with build/http.so), as spec/mock_spec.lua does
  local list = { os.getenv("LURL_BIN") or "lua5.4" }
  local i = -1
  while arg and arg[i - 1] do i = i - 1 end
  local me = arg and arg[i]
  if me and me ~= list[1] then list[#list + 1] = me end
  local build = os.getenv("LURL_BUILD_DIR") or "build"
  for _, interp in ipairs(list) do
    it("is reported as a missing module, not bad JSON, by " .. interp:match("[^/]*$"), function()
      fault_reset()
      check(run(q(interp), build .. "/?.so"))
      assert.are.same({}, fault_log())
    end)
  end

end)
