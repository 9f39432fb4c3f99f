-- Streamed uploads: a request body read from an open file or produced by a
-- function, multipart/form-data built from `files` (and `data` fields),
-- upload progress, what redirects do with a body that cannot be replayed,
-- and the memory a large upload costs.
--
-- What the server received is checked byte for byte: the fault server
-- records every request (body_base64 at /requests) and its /digest route
-- answers the size and SHA-256 of a body too large to echo; httpbin's
-- /post shows how a real form parser splits a multipart body.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"

local FAULT, HTTPBIN = helper.fault, helper.httpbin
local MiB = 1048576

local must = support.must

local function raised(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error to be raised")
  return e
end

local ntag = 0
local function tag(name)
  ntag = ntag + 1
  return ("upload-%s-%d"):format(name, ntag)
end

local function fault_log()
  return cjson.decode(must(http.get(FAULT .. "/requests")).body)
end

-- the fault server's records whose target contains `case=t`
local function received(t)
  local out = {}
  for _, e in ipairs(fault_log()) do
    if e.target:find("case=" .. t, 1, true) then out[#out + 1] = e end
  end
  return out
end

local function received_one(t)
  local recs = received(t)
  assert.equal(1, #recs, "the fault server got " .. #recs .. " requests for " .. t)
  return recs[1]
end

local function raw_header(rec, name)
  for _, h in ipairs(rec.headers) do
    if h[1]:lower() == name:lower() then return h[2] end
  end
  return nil
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local B64_INDEX = {}
for i = 1, 64 do B64_INDEX[B64:byte(i)] = i - 1 end

local function unbase64(s)
  local out, bits, nbits = {}, 0, 0
  for i = 1, #s do
    local v = B64_INDEX[s:byte(i)]
    if v then
      bits, nbits = (bits << 6) | v, nbits + 6
      if nbits >= 8 then
        nbits = nbits - 8
        out[#out + 1] = string.char((bits >> nbits) & 255)
      end
    end
  end
  return table.concat(out)
end

-- the exact request body a fault server record holds
local function body_of(rec) return unbase64(rec.body_base64) end

local read_file = support.read_file

local write_file = support.write_file

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function sha256_file(...)
  local names = {}
  for _, p in ipairs { ... } do names[#names + 1] = shq(p) end
  local p = assert(io.popen("cat " .. table.concat(names, " ") .. " | sha256sum", "r"))
  local out = p:read("a")
  p:close()
  return out:match("^(%x+)")
end

local DIR = helper.tmpdir .. "/upload_spec"
os.execute("mkdir -p " .. shq(DIR))

-- every byte value, CRLFs and lines that look like boundaries: what a
-- multipart encoder or a text-mode read would get wrong
local BINARY = {}
for i = 0, 255 do BINARY[#BINARY + 1] = string.char(i) end
BINARY = table.concat(BINARY) .. "\r\n--\r\n--boundary\r\n\r\n\0tail"
local BIN_PATH = DIR .. "/binary.dat"
write_file(BIN_PATH, BINARY)
local TEXT = "name,count\nwidgets,3\n"
local TEXT_PATH = DIR .. "/report.txt"
write_file(TEXT_PATH, TEXT)

-- Child processes: the lurl binary under ctest (LURL_BIN), else lua5.4;
-- ASan's quarantine (kept small) would otherwise hold freed memory.
local function run_child(name, src, args)
  local script = DIR .. "/child-" .. name .. ".lua"
  write_file(script, src)
  local asan = os.getenv("ASAN_OPTIONS")
  local cmd = { "env", shq("LUA_CPATH=" .. package.cpath), shq("LUA_PATH=" .. package.path),
    shq("ASAN_OPTIONS=" .. (asan and asan ~= "" and asan .. ":" or "") .. "quarantine_size_mb=1"),
    shq(os.getenv("LURL_BIN") or "lua5.4"), shq(script) }
  for _, a in ipairs(args or {}) do cmd[#cmd + 1] = shq(a) end
  local p = assert(io.popen(table.concat(cmd, " ") .. " 2>&1", "r"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

-- Splits a multipart body on its boundary, checking the framing exactly:
-- returns the parts as {name=, headers={lines...}, content=}.
local function multipart(body, content_type)
  local boundary = content_type:match("^multipart/form%-data; boundary=(.+)$")
  assert.is_string(boundary, "Content-Type " .. content_type)
  local first, last = "--" .. boundary .. "\r\n", "\r\n--" .. boundary .. "--\r\n"
  assert.equal(first, body:sub(1, #first), "the body starts with the boundary")
  assert.equal(last, body:sub(-#last), "the body ends with the closing boundary")
  local inner = body:sub(#first + 1, -#last - 1)
  local sep = "\r\n--" .. boundary .. "\r\n"
  local parts, pos = {}, 1
  while true do
    local s, e = inner:find(sep, pos, true)
    local chunk = inner:sub(pos, s and s - 1 or -1)
    local hend = assert(chunk:find("\r\n\r\n", 1, true), "a part without a blank line")
    local headers = {}
    for line in (chunk:sub(1, hend - 1) .. "\r\n"):gmatch("(.-)\r\n") do headers[#headers + 1] = line end
    local name = headers[1]:match('^Content%-Disposition: form%-data; name="([^"]*)"')
    parts[#parts + 1] = { name = name, headers = headers, content = chunk:sub(hend + 4) }
    if not s then break end
    pos = e + 1
  end
  return parts, boundary
end

local function by_name(parts)
  local t = {}
  for _, p in ipairs(parts) do
    assert.is_nil(t[p.name], "two parts named " .. tostring(p.name))
    t[p.name] = p
  end
  return t
end

---------------------------------------------------------------------------

describe("a body from an open file", function()
  it("is sent from the file's current position, with its Content-Length", function()
    local t = tag("file")
    local f = assert(io.open(BIN_PATH, "rb"))
    f:seek("set", 100)
    local res = must(http.put(FAULT .. "/ok?case=" .. t, { body = f }))
    f:close()
    assert.equal(200, res.status)
    local rec = received_one(t)
    assert.equal("PUT", rec.method)
    assert.equal(BINARY:sub(101), body_of(rec))
    assert.equal(tostring(#BINARY - 100), raw_header(rec, "Content-Length"))
    assert.is_false(rec.chunked)
  end)

  it("sends an empty file as an empty body", function()
    local t = tag("emptyfile")
    local path = DIR .. "/empty.dat"
    write_file(path, "")
    local f = assert(io.open(path, "rb"))
    must(http.post(FAULT .. "/ok?case=" .. t, { body = f }))
    f:close()
    local rec = received_one(t)
    assert.equal("POST", rec.method)
    assert.equal(0, rec.body_size)
    assert.equal("0", raw_header(rec, "Content-Length"))
  end)
end)

describe("a body from a function", function()
  it("is sent chunked, the chunks in order; empty strings are skipped, nil ends it", function()
    local t = tag("fn")
    local pieces = { "first,", "", "second,", ("x"):rep(100000), "", "last" }
    local i = 0
    local res = must(http.post(FAULT .. "/ok?case=" .. t, {
      body = function()
        i = i + 1
        return pieces[i]
      end,
    }))
    assert.equal(200, res.status)
    assert.equal(#pieces + 1, i) -- called until it returned nil, not after
    local rec = received_one(t)
    assert.is_true(rec.chunked)
    assert.equal(table.concat(pieces), body_of(rec))
    assert.is_nil(raw_header(rec, "Content-Length"))
    assert.is_nil(raw_header(rec, "Content-Type")) -- as requests: no type for a raw body
  end)

  it("that returns nil at once sends an empty body", function()
    local t = tag("fnempty")
    must(http.put(FAULT .. "/ok?case=" .. t, { body = function() return nil end }))
    local rec = received_one(t)
    assert.equal("PUT", rec.method)
    assert.equal(0, rec.body_size)
  end)

  it("that raises: the error propagates, the server never gets a complete body, the next request works", function()
    local t = tag("fnerr")
    local n = 0
    local err = raised(http.post, FAULT .. "/ok?case=" .. t, {
      body = function()
        n = n + 1
        if n == 3 then error("source exploded") end
        return ("a"):rep(1000)
      end,
    })
    assert.matches("source exploded", tostring(err))
    assert.equal("ok", must(http.get(FAULT .. "/ok")).body)
    assert.equal(0, #received(t))
  end)

  it("that returns something other than a string or nil raises", function()
    local t = tag("fnbad")
    local err = raised(http.post, FAULT .. "/ok?case=" .. t, { body = function() return 42 end })
    assert.matches("string or nil expected", tostring(err))
    assert.equal(0, #received(t))
    assert.equal("ok", must(http.get(FAULT .. "/ok")).body)
  end)

  it("may yield inside tasks: three uploads run side by side", function()
    local tasks, tags = {}, {}
    for k = 1, 3 do
      tags[k] = tag("task" .. k)
      tasks[k] = http.spawn(function()
        local i = 0
        return must(http.post(FAULT .. "/digest?case=" .. tags[k], {
          body = function()
            i = i + 1
            if i > 5 then return nil end
            http.sleep(0.05)
            return ("%d"):format(k):rep(1000)
          end,
        })):json()
      end)
    end
    local results = http.join(tasks)
    for k = 1, 3 do
      assert.equal(5000, results[k].size)
      assert.is_true(results[k].chunked)
      assert.equal(("%d"):format(k):rep(5000), body_of(received_one(tags[k])))
    end
  end)
end)

describe("a redirect after a streamed body", function()
  -- httpbin answers POST /redirect-to with the status asked for
  local function redirect(t, status)
    return HTTPBIN .. "/redirect-to?status_code=" .. status .. "&url="
      .. (FAULT .. "/ok?case=" .. t):gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end)
  end

  local function counting_body()
    local i = 0
    return function()
      i = i + 1
      if i <= 3 then return "chunk" .. i end
    end
  end

  for _, status in ipairs { 307, 308 } do
    it(status .. " after a function body is returned, not followed: the body cannot be replayed", function()
      local t = tag("fn" .. status)
      local res = must(http.post(redirect(t, status), { body = counting_body() }))
      assert.equal(status, res.status)
      assert.matches("case=" .. t, res.headers["location"], 1, true)
      assert.equal(0, #received(t))
    end)
  end

  it("303 after a function body is followed with a GET and no body", function()
    local t = tag("fn303")
    local res = must(http.post(redirect(t, 303), { body = counting_body() }))
    assert.equal(200, res.status)
    local rec = received_one(t)
    assert.equal("GET", rec.method)
    assert.equal(0, rec.body_size)
  end)

  it("307 after a string body is followed with the same body (control)", function()
    local t = tag("str307")
    local res = must(http.post(redirect(t, 307), { body = "the body" }))
    assert.equal(200, res.status)
    local rec = received_one(t)
    assert.equal("POST", rec.method)
    assert.equal("the body", body_of(rec))
  end)

  it("307 after a file body never sends a short body: returned, or followed with the whole file", function()
    local t = tag("file307")
    local f = assert(io.open(BIN_PATH, "rb"))
    local res = must(http.post(redirect(t, 307), { body = f }))
    f:close()
    local recs = received(t)
    if res.status == 307 then
      assert.equal(0, #recs)
    else
      assert.equal(1, #recs)
      assert.equal(BINARY, body_of(recs[1]))
    end
  end)
end)

describe("files = (multipart/form-data)", function()
  for _, method in ipairs { "post", "put" } do
    it("httpbin's form parser finds each file and each data field (" .. method:upper() .. ")", function()
      local res = must(http[method](HTTPBIN .. "/" .. method, {
        files = {
          report = http.file(TEXT_PATH),
          blob = http.file(BIN_PATH),
          note = { content = "hello there", filename = "note.txt", content_type = "text/plain" },
        },
        data = { a = "1", b = "two words", c = "caf\xc3\xa9", d = { "x", "y" } }, -- a list: a part each
      }))
      local echo = res:json()
      assert.equal(TEXT, echo.files.report)
      assert.equal("hello there", echo.files.note)
      local b64 = echo.files.blob:match("^data:application/octet%-stream;base64,(.*)$")
      assert.is_string(b64, "binary file part: " .. echo.files.blob:sub(1, 60))
      assert.equal(BINARY, unbase64(b64))
      assert.same({ a = "1", b = "two words", c = "caf\xc3\xa9", d = { "x", "y" } }, echo.form)
      assert.matches("^multipart/form%-data; boundary=", echo.headers["Content-Type"])
    end)
  end

  it("sends every part byte for byte as built (fault server's raw record)", function()
    local t = tag("mime")
    must(http.post(FAULT .. "/ok?case=" .. t, {
      files = {
        blob = http.file(BIN_PATH),
        custom = http.file(TEXT_PATH, { filename = "renamed.csv", content_type = "text/csv" }),
        note = { content = "hi\r\nthere", filename = "n.txt", content_type = "text/plain; charset=utf-8" },
        raw = { content = "R" },
      },
      data = { field = "value with spaces", empty = "" },
    }))
    local rec = received_one(t)
    local body = body_of(rec)
    assert.equal(tostring(#body), raw_header(rec, "Content-Length")) -- sizes known: no chunking
    assert.is_false(rec.chunked)
    local parts = multipart(body, raw_header(rec, "Content-Type"))
    assert.equal(6, #parts)
    local p = by_name(parts)
    local function check(name, headers, content)
      assert.is_table(p[name], "no part " .. name)
      assert.same(headers, p[name].headers, name)
      assert.equal(content, p[name].content, name)
    end
    check("field", { 'Content-Disposition: form-data; name="field"' }, "value with spaces")
    check("empty", { 'Content-Disposition: form-data; name="empty"' }, "")
    check("blob", { 'Content-Disposition: form-data; name="blob"; filename="binary.dat"',
      "Content-Type: application/octet-stream" }, BINARY)
    check("custom", { 'Content-Disposition: form-data; name="custom"; filename="renamed.csv"',
      "Content-Type: text/csv" }, TEXT)
    check("note", { 'Content-Disposition: form-data; name="note"; filename="n.txt"',
      "Content-Type: text/plain; charset=utf-8" }, "hi\r\nthere")
    check("raw", { 'Content-Disposition: form-data; name="raw"; filename="raw"',
      "Content-Type: application/octet-stream" }, "R")
  end)

  it("sends an empty file as an empty part, and works with PUT", function()
    local t = tag("mimeput")
    local path = DIR .. "/empty-part.dat"
    write_file(path, "")
    must(http.put(FAULT .. "/ok?case=" .. t, { files = { f = http.file(path) } }))
    local rec = received_one(t)
    assert.equal("PUT", rec.method)
    local parts = multipart(body_of(rec), raw_header(rec, "Content-Type"))
    assert.equal(1, #parts)
    assert.equal("", parts[1].content)
  end)

  it("cannot be used to inject header lines through names or file names", function()
    local t = tag("mimeinject")
    must(http.post(FAULT .. "/ok?case=" .. t, {
      files = { ['f"\r\nX-Evil: 1'] = { content = "c", filename = 'a"\r\nX-Evil: 2' } },
      data = { ['d\r\nX-Evil: 3'] = "v" },
    }))
    local rec = received_one(t)
    local parts = multipart(body_of(rec), raw_header(rec, "Content-Type"))
    assert.equal(2, #parts)
    for _, part in ipairs(parts) do
      for _, h in ipairs(part.headers) do
        assert.is_nil(h:find("^X%-Evil"), "injected header line: " .. h)
        assert.is_nil(h:find("[\r\n]"))
      end
    end
  end)

  it("refuses a content_type with CR or LF, and sends nothing", function()
    local t = tag("mimebadtype")
    local ok, res, err = pcall(http.post, FAULT .. "/ok?case=" .. t, {
      files = { f = { content = "c", content_type = "text/plain\r\nX-Evil: 1" } },
    })
    if ok then
      assert.is_nil(res, "the request was sent")
      assert.equal("InvalidHeader", err.kind)
    end
    assert.equal(0, #received(t))
  end)

  it("raises for a file that cannot be opened, naming the field and the path, and sends nothing", function()
    local t = tag("mimemissing")
    local err = raised(http.post, FAULT .. "/ok?case=" .. t, {
      files = { upload = http.file(DIR .. "/does-not-exist.bin") },
    })
    assert.matches("files.upload", tostring(err), 1, true)
    assert.matches("does-not-exist.bin", tostring(err), 1, true)
    assert.equal(0, #received(t))
  end)

  it("refuses malformed values", function()
    local t = tag("mimebad")
    local url = FAULT .. "/ok?case=" .. t
    assert.matches("files.f", tostring(raised(http.post, url, { files = { f = "text" } })), 1, true)
    assert.matches("files.f", tostring(raised(http.post, url, { files = { f = {} } })), 1, true)
    assert.matches("'data'", tostring(raised(http.post, url, { files = { f = { content = "x" } }, data = "a=b" })))
    assert.matches("'files'", tostring(raised(http.post, url, { files = "x" })))
    assert.matches("field 'data.d': list of strings expected", tostring(raised(http.post, url,
      { files = { f = { content = "x" } }, data = { d = { "x", {} } } })), 1, true)
    assert.equal(0, #received(t))
  end)

  it("http.file names the part after the file unless told otherwise", function()
    local f = http.file(TEXT_PATH)
    assert.equal("report.txt", f.filename)
    assert.equal(TEXT_PATH, f.path)
    assert.equal("x.csv", http.file(TEXT_PATH, { filename = "x.csv" }).filename)
    assert.matches("report.txt", tostring(f), 1, true)
    assert.matches("bad argument #1 to 'file'", tostring(raised(http.file, 42)))
  end)
end)

describe("upload progress", function()
  it("on_progress sees the upload total of a file body and growing counts", function()
    local path = DIR .. "/progress.bin"
    write_file(path, ("p"):rep(8 * MiB))
    local calls = {}
    local f = assert(io.open(path, "rb"))
    local res = must(http.post(FAULT .. "/digest", {
      body = f,
      on_progress = function(dn, dt, un, ut) calls[#calls + 1] = { dn, dt, un, ut } end,
    }))
    f:close()
    assert.equal(8 * MiB, res:json().size)
    assert.is_true(#calls >= 1)
    local prev, saw_total = 0, false
    for _, c in ipairs(calls) do
      assert.is_true(c[3] >= prev and c[3] <= 8 * MiB)
      assert.is_true(c[4] == 0 or c[4] == 8 * MiB)
      saw_total = saw_total or c[4] == 8 * MiB
      prev = c[3]
    end
    assert.is_true(saw_total, "no call reported the upload's size")
  end)

  it("on_progress sees a function body's bytes go out", function()
    local i, ups = 0, {}
    local res = must(http.post(FAULT .. "/digest", {
      body = function()
        i = i + 1
        if i > 10 then return nil end
        http.sleep(0.03)
        return ("f"):rep(65536)
      end,
      on_progress = function(_, _, un) ups[#ups + 1] = un end,
    }))
    assert.equal(10 * 65536, res:json().size)
    assert.is_true(#ups >= 2, "on_progress called " .. #ups .. " times")
    for k = 2, #ups do assert.is_true(ups[k] >= ups[k - 1]) end
    assert.is_true(ups[#ups] > 0)
  end)

  it("returning false aborts an upload: nil, err, and the server gets no complete request", function()
    local t = tag("upabort")
    local res, err = http.post(FAULT .. "/ok?case=" .. t, {
      body = function()
        http.sleep(0.01)
        return ("z"):rep(65536) -- endless
      end,
      on_progress = function(_, _, un) if un > MiB then return false end end,
    })
    assert.is_nil(res)
    assert.equal("transfer aborted by on_progress", err.message)
    assert.equal(0, #received(t))
    assert.equal("ok", must(http.get(FAULT .. "/ok")).body)
  end)
end)

describe("a large upload", function()
  local SIZE = 40 * MiB
  local LIMIT_KB = 36 * 1024 -- below the body's size: the body is never held whole
  -- Uploads the file as a file body, as a function body and as a multipart
  -- part; prints the server's digest and the peak RSS (VmHWM) after each.
  local CHILD = [[
local http = require "http"
local cjson = require "cjson"
local url, path = arg[1], arg[2]
local function hwm()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmHWM:%s*(%d+)"))
end
local function report(name, res)
  local d = cjson.decode(assert(res).body)
  io.write(name, " ", d.size, " ", d.sha256, " ", tostring(d.chunked), " ", hwm(), " ",
    type(d.content_type) == "string" and d.content_type or "-", "\n")
end
assert(http.get(url)) -- libcurl and its caches are set up
io.write("BASE ", hwm(), "\n")
local f = assert(io.open(path, "rb"))
report("FILE", http.post(url, { body = f }))
f:close()
f = assert(io.open(path, "rb"))
report("FUNC", http.post(url, { body = function() return f:read(65536) end }))
f:close()
report("MIME", http.post(url, { files = { upload = http.file(path) }, data = { k = "v" } }))
]]

  it(("of %d MiB from a file, a function and a multipart file keeps the peak RSS under %d MiB"):format(
    SIZE // MiB, LIMIT_KB // 1024), function()
    local path = DIR .. "/big.bin"
    do -- 40 MiB whose every 64 KiB block differs
      local f = assert(io.open(path, "wb"))
      local block = {}
      for i = 0, 65535 - 8 do block[#block + 1] = string.char((i * 7 + (i >> 8)) & 255) end
      block = table.concat(block)
      for i = 0, SIZE // 65536 - 1 do assert(f:write(("%08d"):format(i), block)) end
      assert(f:close())
    end
    local want = sha256_file(path)
    local out, ok = run_child("bigupload", CHILD, { FAULT .. "/digest", path })
    local cleanup = must(http.get(FAULT .. "/reset-log")) -- the server recorded 120 MiB
    assert.equal("ok", cleanup.body)
    assert.is_true(ok, "child failed: " .. out)
    local base = tonumber(out:match("BASE (%d+)"))
    local seen = {}
    for name, size, sha, chunked, peak, ctype in out:gmatch("(%u+) (%d+) (%x+) (%a+) (%d+) ([^\n]*)\n") do
      seen[name] = { size = tonumber(size), sha = sha, chunked = chunked, peak = tonumber(peak), ctype = ctype }
    end
    assert.same({ size = SIZE, sha = want, chunked = "false" },
      { size = seen.FILE.size, sha = seen.FILE.sha, chunked = seen.FILE.chunked })
    assert.same({ size = SIZE, sha = want, chunked = "true" },
      { size = seen.FUNC.size, sha = seen.FUNC.sha, chunked = seen.FUNC.chunked })
    -- the multipart body, rebuilt around the file with the boundary it used
    local boundary = seen.MIME.ctype:match("boundary=(.+)$")
    assert.is_string(boundary, seen.MIME.ctype)
    -- (the parts may come in either order)
    local field = "--" .. boundary .. "\r\n" .. 'Content-Disposition: form-data; name="k"\r\n\r\nv\r\n'
    local file_head = "--" .. boundary .. "\r\n"
      .. 'Content-Disposition: form-data; name="upload"; filename="big.bin"\r\n'
      .. "Content-Type: application/octet-stream\r\n\r\n"
    local close = "--" .. boundary .. "--\r\n"
    write_file(DIR .. "/mime-a", field .. file_head)
    write_file(DIR .. "/mime-b", "\r\n" .. close)
    write_file(DIR .. "/mime-c", file_head)
    write_file(DIR .. "/mime-d", "\r\n" .. field .. close)
    local orders = {
      [sha256_file(DIR .. "/mime-a", path, DIR .. "/mime-b")] = true,
      [sha256_file(DIR .. "/mime-c", path, DIR .. "/mime-d")] = true,
    }
    assert.equal(SIZE + #field + #file_head + #close + 2, seen.MIME.size)
    assert.is_true(orders[seen.MIME.sha], "the multipart body is not the file framed by its parts")
    for _, name in ipairs { "FILE", "FUNC", "MIME" } do
      assert.is_true(seen[name].peak < LIMIT_KB,
        ("%s: peak RSS %d kB (base %d kB) for a %d kB upload"):format(name, seen[name].peak, base, SIZE // 1024))
    end
    os.remove(path)
  end)
end)
