-- Streamed downloads: http.stream and stream = true, res:chunks(),
-- res:lines(), res:read(), res.body, res:save() with resume, failures in
-- the middle of a body, releasing a half-read stream, progress, and the
-- memory a large download costs.
--
-- The fault server's /pattern route serves a body whose every byte can be
-- recomputed here (pattern() below), honours Range, can pace its writes and
-- cut the connection after K bytes; /pattern-stats tells what it did for
-- each request (Range asked, bytes written, finished, client gone).  So
-- every test checks what the server sent and saw as well as what the
-- script got.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"

local FAULT, HTTPBIN = helper.fault, helper.httpbin
local MiB = 1048576

local must = support.must

-- The /pattern body: record k is k in decimal, zero-padded to rec - #eol
-- digits, then eol; these are bytes [offset, offset + len) of it.
local function pattern(offset, len, rec, eol)
  rec, eol = rec or 64, eol or "\n"
  if len <= 0 then return "" end
  local width = rec - #eol
  local first, last = offset // rec, (offset + len - 1) // rec
  local parts = {}
  for k = first, last do
    local d = tostring(k)
    parts[#parts + 1] = string.rep("0", width - #d) .. d .. eol
  end
  local start = offset - first * rec
  return table.concat(parts):sub(start + 1, start + len)
end

local ntok = 0
local function token(name)
  ntok = ntok + 1
  return ("stream-%s-%d"):format(name, ntok)
end

-- URL of /pattern for token tok with query q (keys sorted)
local function purl(tok, q)
  local parts = { "token=" .. tok }
  for k, v in pairs(q or {}) do parts[#parts + 1] = k .. "=" .. tostring(v) end
  table.sort(parts)
  return FAULT .. "/pattern?" .. table.concat(parts, "&")
end

local function stats(tok)
  return cjson.decode(must(http.get(FAULT .. "/pattern-stats?token=" .. tok)).body)
end

-- the server's side of request i of tok, once it is over (finished, or the
-- client went away, or the route cut it); waits up to 5 s for that
local function settled(tok, i, want)
  local s
  for _ = 1, 250 do
    s = stats(tok)
    if want == "gone" and s.gone[i] then return s end
    if want ~= "gone" and (s.done[i] or s.gone[i]) then return s end
    http.sleep(0.02)
  end
  return s
end

local function fault_log()
  return cjson.decode(must(http.get(FAULT .. "/requests")).body)
end

-- the fault server's records whose target contains s
local function fault_records(s)
  local out = {}
  for _, e in ipairs(fault_log()) do
    if e.target:find(s, 1, true) then out[#out + 1] = e end
  end
  return out
end

local read_file = support.read_file

local write_file = support.write_file

local DIR = helper.tmpdir .. "/stream_spec"
os.execute("mkdir -p '" .. DIR .. "'")
local nfile = 0
local function fresh_path(name)
  nfile = nfile + 1
  local p = ("%s/%d-%s"):format(DIR, nfile, name)
  os.remove(p)
  os.remove(p .. ".part")
  return p
end

-- asserts got == want without printing megabytes: names the first difference
local function same_bytes(want, got, what)
  if want == got then return end
  local msg
  if type(got) ~= "string" then
    msg = "got a " .. type(got)
  else
    local i = 1
    while i <= #want and want:byte(i) == got:byte(i) do i = i + 1 end
    msg = ("%d bytes expected, %d got; first difference at offset %d: %q vs %q"):format(
      #want, #got, i - 1, want:sub(i, i + 15), got:sub(i, i + 15))
  end
  assert.is_true(false, (what and what .. ": " or "") .. msg)
end

-- all chunks of chunks(size), as a list
local function all_chunks(res, size)
  local list = {}
  for c in res:chunks(size) do list[#list + 1] = c end
  return list
end

local function all_lines(res)
  local list = {}
  for l in res:lines() do list[#list + 1] = l end
  return list
end

-- the error raised by f(...), which must raise
local function raised(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error to be raised")
  return e
end

-- URL-safe base64 (httpbin's /base64/<value> route decodes it)
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local function b64url(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local k = #s - i + 1 >= 3 and 4 or #s - i + 2
    for j = 1, 4 do
      local v = (n >> (6 * (4 - j))) & 63
      out[#out + 1] = j <= k and B64:sub(v + 1, v + 1) or "="
    end
  end
  return table.concat(out)
end

-- Child processes: the lurl binary under ctest (LURL_BIN), else lua5.4.
-- ASan's quarantine keeps freed memory resident on purpose, which would
-- hide what the code itself holds: keep it small in children.
local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function run_child(name, src, args, stderr_path)
  local script = DIR .. "/child-" .. name .. ".lua"
  write_file(script, src)
  local asan = os.getenv("ASAN_OPTIONS")
  local cmd = { "env",
    shq("LUA_CPATH=" .. package.cpath), shq("LUA_PATH=" .. package.path),
    shq("ASAN_OPTIONS=" .. (asan and asan ~= "" and asan .. ":" or "") .. "quarantine_size_mb=1"),
    shq(os.getenv("LURL_BIN") or "lua5.4"), shq(script) }
  for _, a in ipairs(args or {}) do cmd[#cmd + 1] = shq(a) end
  local line = table.concat(cmd, " ") .. " 2>" .. shq(stderr_path or (script .. ".err"))
  local p = assert(io.popen(line, "r"))
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok, code, read_file(stderr_path or (script .. ".err"))
end

---------------------------------------------------------------------------

describe("http.stream and stream = true", function()
  it("return as soon as the headers are in, before the server has sent the body", function()
    local tok = token("early")
    local res = must(http.stream(purl(tok, { size = 640, block = 160, pace = 0.3 })))
    assert.equal(200, res.status)
    assert.equal("640", res.headers["content-length"])
    local s = stats(tok)
    assert.equal(1, s.requests)
    assert.is_false(s.done[1], "the server had already sent the whole body")
    same_bytes(pattern(0, 640), res.body)
    assert.is_true(settled(tok, 1).done[1])
  end)

  it("stream = true works on any method and on a session; the request body is sent", function()
    local s <close> = http.session()
    local res = must(s:request("POST", FAULT .. "/digest", { stream = true, body = "hello" }))
    assert.equal(200, res.status)
    local got = cjson.decode(res.body)
    assert.equal("POST", got.method)
    assert.equal(5, got.size)
    local res2 = must(s:get(purl(token("sess"), { size = 1000 }), { stream = true }))
    same_bytes(pattern(0, 1000), res2.body)
  end)

  it("follow redirects and stream the final response", function()
    local tok = token("redir")
    local target = purl(tok, { size = 5000 })
    local res = must(http.stream(HTTPBIN .. "/redirect-to", { params = { url = target } }))
    assert.equal(200, res.status)
    assert.equal(1, #res.history)
    assert.equal(302, res.history[1].status)
    assert.equal(target, res.url)
    same_bytes(pattern(0, 5000), res.body)
    assert.equal(1, stats(tok).requests)
  end)

  it("stream a 206 for a Range asked by hand (httpbin /range/N)", function()
    local full = must(http.get(HTTPBIN .. "/range/1000")).body
    local res = must(http.stream(HTTPBIN .. "/range/1000", { headers = { Range = "bytes=100-299" } }))
    assert.equal(206, res.status)
    assert.equal("bytes 100-299/1000", res.headers["content-range"])
    assert.equal(full:sub(101, 300), table.concat(all_chunks(res, 64)))
  end)

  it("give responses whose res:json() reads the streamed body", function()
    local res = must(http.stream(HTTPBIN .. "/get", { params = { x = "1" } }))
    assert.same({ x = "1" }, res:json().args)
  end)
end)

describe("res:chunks(size)", function()
  for _, size in ipairs { 1000, 16384, 100000 } do
    it(("yields the body in order, in chunks of at most %d bytes"):format(size), function()
      local tok = token("chunks" .. size)
      local res = must(http.stream(purl(tok, { size = 300000 })))
      local list = all_chunks(res, size)
      assert.is_true(#list >= 300000 // size)
      for i, c in ipairs(list) do
        assert.is_true(#c > 0 and #c <= size, ("chunk %d has %d bytes"):format(i, #c))
      end
      same_bytes(pattern(0, 300000), table.concat(list))
      assert.is_true(settled(tok, 1).done[1])
    end)
  end

  it("gives the same bytes as a buffered GET (httpbin /stream-bytes with a seed)", function()
    local url = HTTPBIN .. "/stream-bytes/102400?chunk_size=4096&seed=7"
    local buffered = must(http.get(url)).body
    assert.equal(102400, #buffered)
    local res = must(http.stream(url))
    assert.is_nil(res.headers["content-length"]) -- httpbin streams it chunked
    assert.equal(buffered, table.concat(all_chunks(res, 8192)))
  end)

  it("works without a size, and on a chunked body", function()
    local tok = token("chunked")
    local res = must(http.stream(purl(tok, { size = 200000, chunked = 1, block = 7000 })))
    assert.equal("chunked", res.headers["transfer-encoding"])
    same_bytes(pattern(0, 200000), table.concat(all_chunks(res)))
    assert.is_true(settled(tok, 1).done[1])
  end)

  it("keeps a script's debug hooks, and no hook runs for the calls lurl makes inside libcurl", function()
    -- chunks become Lua strings inside libcurl's write callback (a C
    -- function of lurl's own, under lua_pcall): a call hook must not see
    -- it, the script's hooks must survive it, a count hook keeps counting
    local known = {}
    for _, t in pairs(package.loaded) do
      if type(t) == "table" then
        for _, v in pairs(t) do if type(v) == "function" then known[v] = true end end
      end
    end
    local tok = token("hooks")
    local calls, counts, unknown = 0, 0, 0
    local function on_call(ev)
      if ev == "count" then counts = counts + 1 return end
      calls = calls + 1
      local info = debug.getinfo(2, "Sf")
      if info.what == "C" and not known[info.func] then unknown = unknown + 1 end
    end
    local res = must(http.stream(purl(tok, { size = 2 * MiB })))
    -- the response's __index is a C closure (core.response_index) that a
    -- script reaches through the metatable: res:chunks looks it up
    known[getmetatable(res).__index] = true
    local got = {}
    debug.sethook(on_call, "c", 100)
    for chunk in res:chunks(65536) do got[#got + 1] = chunk end
    local hook, mask, count = debug.gethook()
    debug.sethook()
    assert.equal(on_call, hook)
    assert.equal("c", mask)
    assert.equal(100, count)
    assert.is_true(calls > 0 and counts > 0)
    assert.equal(0, unknown, "a call hook ran for a C function no script can reach")
    same_bytes(pattern(0, 2 * MiB), table.concat(got))
  end)

  it("hands out data as it arrives on a slow chunked stream, as requests' iter_content does", function()
    -- an event feed must be usable before it ends
    local tok = token("prompt-chunks")
    local res = must(http.stream(purl(tok, { size = 320, block = 64, pace = 0.3, chunked = 1 })))
    local first = res:chunks(65536)()
    same_bytes(pattern(0, #first), first)
    assert.is_false(stats(tok).done[1], "the first chunk came only after the whole body")
    res:close()
  end)

  it("slices a buffered (not streamed) body", function()
    local res = must(http.get(purl(token("buffered"), { size = 2500 })))
    local list = all_chunks(res, 1000)
    assert.same({ 1000, 1000, 500 }, { #list[1], #list[2], #list[3] })
    same_bytes(pattern(0, 2500), table.concat(list))
  end)

  it("refuses a size that is not a positive integer", function()
    local res = must(http.stream(purl(token("badsize"), { size = 10 })))
    for _, bad in ipairs { 0, -1, 1.5, "x" } do
      assert.matches("bad argument #1 to 'chunks'", tostring(raised(res.chunks, res, bad)))
    end
    res:close()
  end)
end)

describe("res:lines()", function()
  it("yields httpbin's /stream/N lines, one JSON document each", function()
    local res = must(http.stream(HTTPBIN .. "/stream/5"))
    local lines = all_lines(res)
    assert.equal(5, #lines)
    for i, l in ipairs(lines) do assert.equal(i - 1, cjson.decode(l).id) end
  end)

  it("strips LF and CRLF", function()
    for _, eol in ipairs { "\n", "\r\n" } do
      local res = must(http.stream(purl(token("eol"), { size = 6400, eol = eol == "\n" and "lf" or "crlf" })))
      local lines = all_lines(res)
      assert.equal(100, #lines)
      for k = 0, 99 do same_bytes(pattern(k * 64, 64 - #eol, 64, eol), lines[k + 1]) end
    end
  end)

  it("returns a last line that has no newline", function()
    local res = must(http.stream(purl(token("tail"), { size = 64 * 3 + 10 })))
    local lines = all_lines(res)
    assert.equal(4, #lines)
    assert.equal("0000000000", lines[4])
  end)

  it("keeps empty lines and does not invent one after a final newline", function()
    local cases = { { "a\n\n\r\nb\n", { "a", "", "", "b" } }, { "a\nb", { "a", "b" } },
      { "\n", { "" } }, { "x\r\n", { "x" } } }
    for _, case in ipairs(cases) do
      local res = must(http.stream(HTTPBIN .. "/base64/" .. b64url(case[1])))
      assert.equal(case[1], res:read(100)) -- what the server sent (control)
      res = must(http.stream(HTTPBIN .. "/base64/" .. b64url(case[1])))
      assert.same(case[2], all_lines(res))
    end
  end)

  it("returns lines longer than any buffer (3 MiB) whole", function()
    local rec = 3 * MiB + 1
    local tok = token("longline")
    local res = must(http.stream(purl(tok, { size = 2 * rec + 5, rec = rec })))
    local lines = all_lines(res)
    assert.equal(3, #lines)
    assert.equal(rec - 1, #lines[1])
    same_bytes(pattern(0, rec - 1, rec), lines[1])
    same_bytes(pattern(rec, rec - 1, rec), lines[2])
    assert.equal("00000", lines[3])
    assert.is_true(settled(tok, 1).done[1])
  end)

  it("continues where res:read() stopped", function()
    local res = must(http.stream(purl(token("readlines"), { size = 64 * 4 })))
    same_bytes(pattern(0, 10), res:read(10))
    local lines = all_lines(res)
    assert.same({ pattern(10, 53), pattern(64, 63), pattern(128, 63), pattern(192, 63) }, lines)
  end)

  it("yields each line of a slow stream as it arrives", function()
    -- line-delimited event feeds (watch APIs, logs) are read this way
    local tok = token("prompt-lines")
    local res = must(http.stream(purl(tok, { size = 320, block = 64, pace = 0.3, chunked = 1 })))
    local first = res:lines()()
    same_bytes(pattern(0, 63), first)
    assert.is_false(stats(tok).done[1], "the first line came only after the whole body")
    res:close()
  end)

  it("works on a buffered response", function()
    local res = must(http.get(purl(token("buflines"), { size = 64 * 2 + 3 })))
    assert.same({ pattern(0, 63), pattern(64, 63), "000" }, all_lines(res))
  end)
end)

describe("res:read(n)", function()
  it("returns exactly n bytes, fewer only at the end, then nil like file:read", function()
    local tok = token("read")
    local res = must(http.stream(purl(tok, { size = 100000 })))
    local sizes, parts = { 1, 63, 64, 70000, 50000 }, {}
    for i, n in ipairs(sizes) do
      parts[i] = res:read(n)
      assert.is_string(parts[i])
    end
    assert.same({ 1, 63, 64, 70000, 100000 - 70128 }, { #parts[1], #parts[2], #parts[3], #parts[4], #parts[5] })
    same_bytes(pattern(0, 100000), table.concat(parts))
    assert.is_nil(res:read(1))
    assert.is_nil(res:read(1))
    assert.is_true(settled(tok, 1).done[1])
  end)

  it("returns the whole body when n is larger, and nil for an empty body", function()
    local res = must(http.stream(purl(token("readbig"), { size = 5000 })))
    same_bytes(pattern(0, 5000), res:read(10 * MiB))
    assert.is_nil(res:read(10))
    local empty = must(http.stream(purl(token("empty"), { size = 0 })))
    assert.equal("0", empty.headers["content-length"])
    assert.is_nil(empty:read(1))
  end)

  it("can be followed by chunks() and by res.body, which read the rest", function()
    local res = must(http.stream(purl(token("mix1"), { size = 200000 })))
    same_bytes(pattern(0, 100), res:read(100))
    same_bytes(pattern(100, 199900), table.concat(all_chunks(res, 65536)))
    local res2 = must(http.stream(purl(token("mix2"), { size = 200000 })))
    same_bytes(pattern(0, 7), res2:read(7))
    same_bytes(pattern(7, 199993), res2.body)
  end)

  it("reads res.body in a task as a wait that yields, so other tasks run meanwhile", function()
    -- res.body of a stream is a lazy field whose maker waits on the
    -- transfer: the response's __index (a C closure) must let it yield to
    -- the loop (a call that cannot yield drives the loop inline, from
    -- inside the reading task: the other task would see it "normal")
    local co_a, seen
    local a = http.spawn(function()
      co_a = coroutine.running()
      local res = must(http.stream(purl(token("taskbody-a"), { size = 320, block = 64, pace = 0.1 })))
      return res.body
    end)
    local b = http.spawn(function()
      http.sleep(0.2) -- a is inside res.body by now
      seen = coroutine.status(co_a)
      return must(http.stream(purl(token("taskbody-b"), { size = 64 }))).body
    end)
    local got = http.join { a, b }
    same_bytes(pattern(0, 320), got[1])
    same_bytes(pattern(0, 64), got[2])
    assert.equal("suspended", seen)
  end)

  it("reads a buffered response the same way", function()
    local res = must(http.get(purl(token("bufread"), { size = 100 })))
    same_bytes(pattern(0, 60), res:read(60))
    same_bytes(pattern(60, 40), res:read(60))
    assert.is_nil(res:read(60))
  end)

  it("refuses a missing or non-positive n", function()
    local res = must(http.stream(purl(token("readbad"), { size = 10 })))
    for _, bad in ipairs { 0, -5, 2.5 } do
      assert.matches("bad argument #1 to 'read'", tostring(raised(res.read, res, bad)))
    end
    assert.matches("bad argument #1 to 'read'", tostring(raised(res.read, res)))
    res:close()
  end)
end)

describe("a failure while streaming", function()
  it("a stall longer than the read timeout is a ReadTimeout at the read that meets it", function()
    local url = FAULT .. "/stall?after=100&secs=3"
    local res = must(http.stream(url, { timeout = { read = 0.5 } }))
    assert.equal(200, res.status)
    local got = {}
    local err = raised(function() for c in res:chunks(1000) do got[#got + 1] = c end end)
    assert.equal(("x"):rep(100), table.concat(got))
    assert.equal("ReadTimeout", err.kind)
    assert.is_true(err:is("Timeout"))
    assert.is_false(err:is("ConnectionError"))
    assert.equal(url, err.url)
    assert.is_nil(res:read(1)) -- over: no second error, no hang
    res = must(http.stream(url, { timeout = { read = 0.5 } }))
    assert.equal(("x"):rep(100), res:read(100))
    assert.equal("ReadTimeout", raised(res.read, res, 1).kind)
  end)

  it("a reader slower than the read timeout is not a timeout: the pause is the reader's", function()
    local tok = token("slowreader")
    local res = must(http.stream(purl(tok, { size = 4 * MiB }), { timeout = { read = 0.3 } }))
    same_bytes(pattern(0, 1000), res:read(1000))
    http.sleep(0.8)
    local rest = table.concat(all_chunks(res, 65536))
    assert.equal(4 * MiB - 1000, #rest)
    same_bytes(pattern(1000, 1000), rest:sub(1, 1000))
    assert.is_true(settled(tok, 1).done[1])
  end)

  local truncations = {
    { "/truncated (Content-Length 100, 10 sent)", FAULT .. "/truncated", ("0123456789"), { ChunkedEncodingError = true } },
    { "/reset-mid-body", FAULT .. "/reset-mid-body", ("y"):rep(100),
      { ChunkedEncodingError = true, ConnectionError = true } },
  }
  for _, case in ipairs(truncations) do
    local name, url, before, kinds = case[1], case[2], case[3], case[4]
    it(name .. " raises at the read that meets the end, after the bytes that came", function()
      for _, how in ipairs { "chunks", "read", "lines", "body", "save" } do
        local res = must(http.stream(url))
        local got = {}
        local err = raised(function()
          if how == "chunks" then for c in res:chunks(10) do got[#got + 1] = c end
          elseif how == "read" then while true do got[#got + 1] = res:read(10) end
          elseif how == "lines" then for l in res:lines() do got[#got + 1] = l end
          elseif how == "body" then return res.body
          else return res:save(fresh_path("trunc")) end
        end)
        assert.is_table(err, how .. ": the error is an error object")
        assert.is_true(kinds[err.kind] == true, how .. ": got " .. tostring(err))
        if how == "chunks" or how == "read" then assert.equal(before, table.concat(got), how) end
      end
    end)
  end

  it("a chunked body cut short is a ChunkedEncodingError, never a short success", function()
    local tok = token("cutchunked")
    local res = must(http.stream(purl(tok, { size = 300000, chunked = 1, cut = 100000 })))
    local n = 0
    local err = raised(function() for c in res:chunks() do n = n + #c end end)
    assert.equal("ChunkedEncodingError", err.kind)
    assert.is_true(n <= 100000)
    assert.equal(100000, stats(tok).sent[1])
  end)

  it("max_body bounds a streamed body too: BodyTooLarge at a read, naming the limit", function()
    local res = must(http.stream(purl(token("maxbody"), { size = 300000 }), { max_body = 100000 }))
    local n = 0
    local err = raised(function() for c in res:chunks(16384) do n = n + #c end end)
    assert.equal("BodyTooLarge", err.kind)
    assert.is_true(n <= 100000)
    assert.matches("100000", err.message)
  end)
end)

describe("releasing a half-read stream", function()
  local BIG = 64 * MiB -- far more than socket buffers hold: the server stays blocked

  -- conn number the fault server gave the request whose target has s
  local function conn_of(s)
    local recs = fault_records(s)
    assert.is_true(#recs > 0, "no request with " .. s)
    return recs[#recs].conn
  end

  local function check_released(tok, sess)
    local s = settled(tok, 1, "gone")
    assert.is_true(s.gone[1], "the server never saw the client go away")
    assert.is_true(s.sent[1] < BIG)
    local res = must(sess:get(FAULT .. "/ok?after=" .. tok))
    assert.equal("ok", res.body)
    -- the half-read connection cannot be reused: a new one was made
    assert.are_not.equal(conn_of("token=" .. tok), conn_of("/ok?after=" .. tok))
  end

  it("res:close() does, and the next request on the session works", function()
    local s <close> = http.session()
    local tok = token("close")
    local res = must(s:get(purl(tok, { size = BIG }), { stream = true }))
    same_bytes(pattern(0, 10), res:read(10))
    assert.equal(res, res:close())
    res:close() -- idempotent
    check_released(tok, s)
  end)

  it("a <close> variable does", function()
    local s <close> = http.session()
    local tok = token("closevar")
    do
      local res <close> = must(s:get(purl(tok, { size = BIG }), { stream = true }))
      same_bytes(pattern(0, 10), res:read(10))
    end
    check_released(tok, s)
  end)

  it("garbage collection does", function()
    local s <close> = http.session()
    local tok = token("gc")
    do
      local res = must(s:get(purl(tok, { size = BIG }), { stream = true }))
      same_bytes(pattern(0, 10), res:read(10))
    end
    collectgarbage()
    collectgarbage()
    check_released(tok, s)
  end)

  it("a stream read to the end leaves its connection for the next request (control)", function()
    local s <close> = http.session()
    local tok = token("reuse")
    local res = must(s:get(purl(tok, { size = 100000 }), { stream = true }))
    assert.equal(100000, #res.body)
    must(s:get(FAULT .. "/ok?after=" .. tok))
    assert.equal(conn_of("token=" .. tok), conn_of("/ok?after=" .. tok))
  end)
end)

describe("memory", function()
  local SIZE = 200 * MiB
  local LIMIT_KB = 64 * 1024
  -- Streams SIZE bytes through chunks() and through save(), checking every
  -- byte against the pattern, and prints the peak RSS (VmHWM) after each.
  local CHILD = [[
local http = require "http"
local url, small, path = arg[1], arg[2], arg[3]
local function hwm()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmHWM:%s*(%d+)"))
end
local function pattern(offset, len)
  local first, last = offset // 64, (offset + len - 1) // 64
  local parts = {}
  for k = first, last do parts[#parts + 1] = ("%063d\n"):format(k) end
  local start = offset - first * 64
  return table.concat(parts):sub(start + 1, start + len)
end
assert(http.get(small)) -- libcurl and its caches are set up
io.write("BASE ", hwm(), "\n")
local res = assert(http.stream(url))
local n, good = 0, true
for c in res:chunks(65536) do
  if good and c ~= pattern(n, #c) then good = false end
  n = n + #c
end
io.write("CHUNKS ", n, " ", tostring(good), " ", hwm(), "\n")
res = assert(http.stream(url))
local saved = res:save(path)
local peak = hwm()
local f = assert(io.open(path, "rb"))
local pos = 0
good = true
while true do
  local b = f:read(1048576)
  if not b then break end
  if good and b ~= pattern(pos, #b) then good = false end
  pos = pos + #b
end
f:close()
os.remove(path)
io.write("SAVE ", saved, " ", pos, " ", tostring(good), " ", peak, "\n")
]]

  it(("a %d MiB body through chunks() and save() keeps the peak RSS under %d MiB"):format(
    SIZE // MiB, LIMIT_KB // 1024), function()
    local tok = token("memory")
    local path = fresh_path("big.bin")
    local out, ok, _, err = run_child("memory", CHILD, { purl(tok, { size = SIZE }), FAULT .. "/ok", path })
    assert.is_true(ok, "child failed: " .. out .. (err or ""))
    local base = tonumber(out:match("BASE (%d+)"))
    local n, good, peak1 = out:match("CHUNKS (%d+) (%a+) (%d+)")
    assert.equal(SIZE, tonumber(n))
    assert.equal("true", good)
    local saved, size, good2, peak2 = out:match("SAVE (%d+) (%d+) (%a+) (%d+)")
    assert.equal(SIZE, tonumber(saved))
    assert.equal(SIZE, tonumber(size))
    assert.equal("true", good2)
    assert.is_true(tonumber(peak1) < LIMIT_KB, ("chunks: peak RSS %s kB (base %d kB)"):format(peak1, base))
    assert.is_true(tonumber(peak2) < LIMIT_KB, ("save: peak RSS %s kB (base %d kB)"):format(peak2, base))
    -- the server sent it all, twice
    local s = stats(tok)
    assert.equal(2, s.requests)
    assert.same({ SIZE, SIZE }, { s.sent[1], s.sent[2] })
    assert.is_nil(io.open(path .. ".part"))
  end)
end)

describe("res:save(path)", function()
  it("writes the body, returns its size and leaves no .part", function()
    local tok = token("save")
    local path = fresh_path("save.bin")
    local res = must(http.stream(purl(tok, { size = 3 * MiB + 17 })))
    assert.equal(3 * MiB + 17, res:save(path))
    same_bytes(pattern(0, 3 * MiB + 17), read_file(path))
    assert.is_nil(read_file(path .. ".part"))
    assert.is_true(settled(tok, 1).done[1])
  end)

  it("writes to path .. '.part' while downloading; the final name appears only at the end", function()
    local tok = token("atomic")
    local path = fresh_path("atomic.bin")
    write_file(path, "old content")
    local seen, saving = {}, false
    local res = must(http.stream(purl(tok, { size = 2 * MiB, block = 131072, pace = 0.05 }), {
      on_progress = function()
        if saving then
          seen[#seen + 1] = { final = read_file(path), part = read_file(path .. ".part") ~= nil }
        end
      end,
    }))
    saving = true
    assert.equal(2 * MiB, res:save(path))
    assert.is_true(#seen > 0, "on_progress was never called during the download")
    for _, v in ipairs(seen) do
      assert.equal("old content", v.final)
      assert.is_true(v.part)
    end
    same_bytes(pattern(0, 2 * MiB), read_file(path))
  end)

  it("a failed download raises, leaves the final name untouched and keeps the .part", function()
    local tok = token("savefail")
    local path, fresh = fresh_path("fail.bin"), fresh_path("fail-new.bin")
    write_file(path, "previous version")
    local K = 300000
    for _, p in ipairs { path, fresh } do
      local res = must(http.stream(purl(tok, { size = MiB, cut = K })))
      local err = raised(res.save, res, p)
      assert.equal("ChunkedEncodingError", err.kind)
      same_bytes(pattern(0, K), read_file(p .. ".part"))
    end
    assert.equal("previous version", read_file(path))
    assert.is_nil(read_file(fresh))
    assert.same({ K, K }, stats(tok).sent)
  end)

  it("resume = true continues the .part with a Range request after an interruption", function()
    local tok = token("resume")
    local path = fresh_path("resume.bin")
    local K, N = 700000, 2 * MiB + 5
    local url = purl(tok, { size = N, cut = K, cuts = 1 })
    local res = must(http.stream(url))
    assert.equal("ChunkedEncodingError", raised(res.save, res, path, { resume = true }).kind)
    assert.equal(K, #read_file(path .. ".part"))
    res = must(http.stream(url))
    assert.equal(N, res:save(path, { resume = true }))
    same_bytes(pattern(0, N), read_file(path))
    assert.is_nil(read_file(path .. ".part"))
    local s = stats(tok)
    assert.equal(3, s.requests) -- cut; the plain GET save() gave up; the Range request
    assert.equal(cjson.null, s.ranges[1])
    assert.equal(("bytes=%d-"):format(K), s.ranges[3])
    assert.equal(N - K, s.sent[3])
  end)

  it("resume = true starts over when the server ignores Range (200)", function()
    local tok = token("norange")
    local path = fresh_path("norange.bin")
    local url = purl(tok, { size = MiB, cut = 200000, cuts = 1, norange = 1 })
    local res = must(http.stream(url))
    raised(res.save, res, path, { resume = true })
    assert.equal(200000, #read_file(path .. ".part"))
    res = must(http.stream(url))
    assert.equal(MiB, res:save(path, { resume = true }))
    same_bytes(pattern(0, MiB), read_file(path)) -- not the .part plus the whole body
    local s = stats(tok)
    assert.equal("bytes=200000-", s.ranges[#s.ranges])
  end)

  it("resume = true without a .part downloads normally, with no Range request", function()
    local tok = token("nopart")
    local path = fresh_path("nopart.bin")
    local res = must(http.stream(purl(tok, { size = 100000 })))
    assert.equal(100000, res:save(path, { resume = true }))
    same_bytes(pattern(0, 100000), read_file(path))
    local s = stats(tok)
    assert.equal(1, s.requests)
    assert.equal(cjson.null, s.ranges[1])
  end)

  it("resume = true sends the Range request to the same URL, query parameters included", function()
    local tok = token("resparams")
    local path = fresh_path("params.bin")
    write_file(path .. ".part", pattern(0, 5000))
    local res = must(http.stream(FAULT .. "/pattern", { params = { size = 20000, token = tok } }))
    assert.equal(20000, res:save(path, { resume = true }))
    same_bytes(pattern(0, 20000), read_file(path))
    local s = stats(tok)
    assert.equal(2, s.requests)
    assert.equal("bytes=5000-", s.ranges[2])
  end)

  it("an error answer to the Range request raises and leaves the .part as it was", function()
    local tok = token("resfail")
    local path = fresh_path("resfail.bin")
    write_file(path .. ".part", pattern(0, 5000))
    local res = must(http.stream(purl(tok, { size = 20000, rangefail = 503 })))
    local err = raised(res.save, res, path, { resume = true })
    assert.matches("503", tostring(err))
    same_bytes(pattern(0, 5000), read_file(path .. ".part"))
    assert.is_nil(read_file(path))
    assert.equal("bytes=5000-", stats(tok).ranges[2])
  end)

  it("saves a buffered response too, and returns the bytes it wrote", function()
    local path = fresh_path("buffered.bin")
    write_file(path .. ".part", "stale")
    local res = must(http.get(purl(token("savebuf"), { size = 1000 })))
    assert.equal(1000, res:save(path, { resume = true }))
    same_bytes(pattern(0, 1000), read_file(path))
  end)

  it("writes what was already read past, then the rest, after a partial read", function()
    local tok = token("saverest")
    local path = fresh_path("rest.bin")
    local N = 2 * MiB + 5
    local res = must(http.stream(purl(tok, { size = N, block = 65536 })))
    local head = res:read(100)
    same_bytes(pattern(0, 100), head)
    assert.equal(N - 100, res:save(path))
    same_bytes(pattern(100, N - 100), read_file(path))
    assert.is_true(settled(tok, 1).done[1])
    -- the session's connection is fine afterwards
    assert.equal(200, must(http.get(purl(token("after"), { size = 10 }))).status)
  end)

  it("a device that fills up raises 'cannot save' with the system's reason", function()
    local f = io.open("/dev/full", "wb")
    if not f then return pending("no /dev/full here") end
    f:close()
    local tok = token("savefull")
    local res = must(http.stream(purl(tok, { size = 4 * MiB, block = 65536 })))
    local err = raised(res.save, res, "/dev/full")
    assert.matches("cannot save: No space left on device", tostring(err))
    assert.is_nil(rawget(res, "_t"))
    -- the stream was let go: the next request works
    assert.equal(200, must(http.get(purl(token("afterfull"), { size = 10 }))).status)
  end)

  it("a task cancelled in the middle of save() releases the transfer and the file", function()
    local tok = token("savecancel")
    local path = fresh_path("cancel.bin")
    local t = http.spawn(function()
      local res = must(http.stream(purl(tok, { size = 4 * MiB, block = 65536, pace = 0.05 })))
      return res:save(path)
    end)
    http.sleep(0.3)
    t:cancel()
    local part = read_file(path .. ".part")
    assert.is_true(part ~= nil and #part > 0 and #part < 4 * MiB, "a partial .part is kept")
    assert.is_nil(read_file(path))
    assert.equal(200, must(http.get(purl(token("aftercancel"), { size = 10 }))).status)
  end)

  it("raises when the file cannot be written, and refuses bad arguments", function()
    local res = must(http.stream(purl(token("savebad"), { size = 10 })))
    assert.matches("cannot save", tostring(raised(res.save, res, DIR .. "/no/such/dir/x")))
    assert.matches("bad argument #1 to 'save'", tostring(raised(res.save, res, 42)))
    assert.matches("bad argument #2 to 'save'", tostring(raised(res.save, res, "x", "y")))
    res:close()
  end)
end)

describe("on_progress and progress", function()
  it("on_progress sees growing download numbers with the total, at most every 100 ms", function()
    local tok = token("progress")
    local N = MiB
    local calls = {}
    local res = must(http.get(purl(tok, { size = N, block = 65536, pace = 0.05 }), {
      on_progress = function(dn, dt, un, ut) calls[#calls + 1] = { dn, dt, un, ut } end,
    }))
    assert.equal(N, #res.body)
    assert.is_true(#calls >= 2, "on_progress called " .. #calls .. " times")
    assert.is_true(#calls <= res.elapsed / 0.1 + 3, ("%d calls in %.2f s"):format(#calls, res.elapsed))
    local prev = 0
    for _, c in ipairs(calls) do
      assert.is_true(c[1] >= prev and c[1] <= N)
      assert.is_true(c[2] == 0 or c[2] == N)
      assert.same({ 0, 0 }, { c[3], c[4] })
      prev = c[1]
    end
    assert.is_true(prev > 0)
    assert.is_true(settled(tok, 1).done[1])
  end)

  it("on_progress follows httpbin's /drip, whose total comes from its Content-Length", function()
    local calls = {}
    local res = must(http.get(HTTPBIN .. "/drip?numbytes=10&duration=1&delay=0", {
      on_progress = function(dn, dt) calls[#calls + 1] = { dn, dt } end,
    }))
    assert.equal(("*"):rep(10), res.body)
    assert.is_true(#calls >= 2, "on_progress called " .. #calls .. " times")
    for _, c in ipairs(calls) do
      assert.is_true(c[1] <= 10 and (c[2] == 0 or c[2] == 10))
    end
    assert.equal(10, calls[#calls][2])
  end)

  it("on_progress keeps being called while a stream is read", function()
    local tok = token("progstream")
    local last = 0
    local res = must(http.stream(purl(tok, { size = MiB, block = 65536, pace = 0.05 }), {
      on_progress = function(dn) last = dn end,
    }))
    local at_headers = last
    assert.equal(MiB, #res.body)
    assert.is_true(last > at_headers and last > MiB / 2)
  end)

  it("returning false aborts: nil, err; the server sees the client go; the next request works", function()
    local tok = token("abort")
    local res, err = http.get(purl(tok, { size = 4 * MiB, block = 65536, pace = 0.05 }), {
      on_progress = function(dn) if dn > 100000 then return false end end,
    })
    assert.is_nil(res)
    assert.equal("transfer aborted by on_progress", err.message)
    assert.is_true(err:is("RequestException"))
    local s = settled(tok, 1)
    assert.is_true(s.gone[1] and not s.done[1])
    assert.equal("ok", must(http.get(FAULT .. "/ok")).body)
  end)

  it("returning false while a stream is read raises at the read", function()
    local tok = token("abortstream")
    local res = must(http.stream(purl(tok, { size = 4 * MiB, block = 65536, pace = 0.05 }), {
      on_progress = function(dn) if dn > 100000 then return false end end,
    }))
    local err = raised(function() for _ in res:chunks() do end end)
    assert.matches("transfer aborted by on_progress", tostring(err))
    assert.is_true(settled(tok, 1).gone[1])
  end)

  it("an error in on_progress propagates, and the next request works", function()
    local err = raised(http.get, purl(token("progerr"), { size = MiB, block = 65536, pace = 0.05 }), {
      on_progress = function() error("progress exploded") end,
    })
    assert.matches("progress exploded", tostring(err))
    assert.equal("ok", must(http.get(FAULT .. "/ok")).body)
  end)

  local PROGRESS_CHILD = [[
local http = require "http"
local url, path = arg[1], arg[2]
local res = assert(http.get(url, { progress = true }))
local s = assert(http.stream(url, { progress = true }))
local n = s:save(path, { progress = true })
io.write("OK ", #res.body, " ", n, "\n")
]]

  it("progress = true writes nothing when stderr is not a terminal", function()
    local tok = token("bar-notty")
    local path = fresh_path("bar.bin")
    local errf = DIR .. "/bar-notty.err"
    local out, ok, _, err = run_child("bar", PROGRESS_CHILD,
      { purl(tok, { size = MiB, block = 65536, pace = 0.02 }), path }, errf)
    assert.is_true(ok, out .. err)
    assert.equal(("OK %d %d\n"):format(MiB, MiB), out)
    assert.equal("", read_file(errf))
    assert.equal(2, stats(tok).requests)
  end)

  it("progress = true draws a bar when stderr is a terminal", function()
    local script = "/usr/bin/script"
    if not io.open(script) then pending("no " .. script .. " to make a terminal") return end
    local tok = token("bar-tty")
    local path = fresh_path("bartty.bin")
    local src = DIR .. "/child-bartty.lua"
    write_file(src, PROGRESS_CHILD)
    local asan = os.getenv("ASAN_OPTIONS")
    local inner = table.concat({ "env", shq("LUA_CPATH=" .. package.cpath), shq("LUA_PATH=" .. package.path),
      shq("ASAN_OPTIONS=" .. (asan and asan ~= "" and asan .. ":" or "") .. "quarantine_size_mb=1"),
      shq(os.getenv("LURL_BIN") or "lua5.4"), shq(src),
      shq(purl(tok, { size = MiB, block = 65536, pace = 0.02 })), shq(path) }, " ")
    local p = assert(io.popen(script .. " -qefc " .. shq(inner) .. " /dev/null </dev/null", "r"))
    local out = p:read("a")
    p:close()
    assert.matches(("OK %d %d"):format(MiB, MiB), out, 1, true)
    assert.matches("100.0%", out, 1, true)
    assert.matches("1.0 MiB", out, 1, true)
  end)
end)
