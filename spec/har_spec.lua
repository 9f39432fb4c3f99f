-- HAR recording: `har = path | {path=, max_body=}` on a session writes HAR
-- 1.2 when the session closes.  The file is checked field by field against
-- what the servers saw (httpbin echoes requests; the fault server records
-- the raw header lines it received) and against the responses the script
-- got, and searched for secrets that must not be in it.  spec/har_chromium.sh
-- checks that a real browser can read the files.
local helper = require "spec.helper"
local http = require "http"
local cjson = require "cjson"

local HTTPBIN, FAULT = helper.httpbin, helper.fault
local TOKEN = "har-token-0a1b2c"
local COOKIE = "har-cookie-3d4e5f"
local PASSWORD = "har-pass-6a7b"

local n_files = 0
local function har_path()
  n_files = n_files + 1
  return ("%s/rec_%d.har"):format(helper.tmpdir, n_files)
end

local read = require("spec.support").read_file

local function load(path)
  local text = assert(read(path), "no HAR file at " .. path)
  return cjson.decode(text), text
end

local function lacks(text, piece)
  assert(not text:find(piece, 1, true), ("%q must not appear in the HAR"):format(piece))
end

local function header(list, name)
  for _, h in ipairs(list) do
    if h.name:lower() == name:lower() then return h.value end
  end
end

local function b64decode(s)
  local tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  local out, acc, bits = {}, 0, 0
  for c in s:gsub("=", ""):gmatch(".") do
    acc = (acc << 6) | (tab:find(c, 1, true) - 1)
    bits = bits + 6
    if bits >= 8 then
      bits = bits - 8
      out[#out + 1] = string.char((acc >> bits) & 0xFF)
    end
  end
  return table.concat(out)
end

local ISO = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"
local PHASES = { "blocked", "dns", "connect", "ssl", "send", "wait", "receive" }

-- The shape every entry must have (HAR 1.2: required fields and types).
local function check_entry(e)
  assert.truthy(e.startedDateTime:match(ISO), e.startedDateTime)
  assert.are.equal("number", type(e.time))
  assert.is_true(e.time >= 0)
  local rq, rs = e.request, e.response
  for _, k in ipairs { "method", "url", "httpVersion" } do assert.are.equal("string", type(rq[k]), k) end
  for _, k in ipairs { "headers", "queryString", "cookies" } do assert.are.equal("table", type(rq[k]), k) end
  assert.are.equal(-1, rq.headersSize)
  assert.are.equal("number", type(rq.bodySize))
  assert.are.equal("number", type(rs.status))
  for _, k in ipairs { "statusText", "httpVersion", "redirectURL" } do assert.are.equal("string", type(rs[k]), k) end
  for _, k in ipairs { "headers", "cookies" } do assert.are.equal("table", type(rs[k]), k) end
  assert.are.equal("number", type(rs.content.size))
  assert.are.equal("string", type(rs.content.mimeType))
  assert.are.equal("number", type(rs.headersSize))
  assert.are.equal("number", type(rs.bodySize))
  assert.are.same({}, e.cache)
  local sum = 0
  for _, p in ipairs(PHASES) do
    local v = e.timings[p]
    assert.are.equal("number", type(v), p)
    assert.is_true(v >= 0 or v == -1, p)
    if v > 0 and p ~= "ssl" then sum = sum + v end
  end
  assert.is_true(e.timings.send >= 0 and e.timings.wait >= 0 and e.timings.receive >= 0)
  assert.is_true(math.abs(e.time - sum) < 0.01, ("time %s, timings sum %s"):format(e.time, sum))
  for _, h in ipairs(rq.headers) do assert.are.equal("string", type(h.name)); assert.are.equal("string", type(h.value)) end
  for _, h in ipairs(rs.headers) do assert.are.equal("string", type(h.name)); assert.are.equal("string", type(h.value)) end
end

describe("har = path", function()
  local har, text, got = nil, nil, {}
  local before

  setup(function()
    before = os.time()
    local path = har_path()
    do
      local s <close> = http.session { har = path, auth = http.bearer(TOKEN), cookies = { sid = COOKIE } }
      got.get = assert(s:get(HTTPBIN .. "/get", { params = { q = "a b", tag = { "x", "y" } } }))
      got.chain = assert(s:get(HTTPBIN .. "/redirect/2"))
      got.png = assert(s:get(HTTPBIN .. "/image/png"))
      got.post = assert(s:post(HTTPBIN .. "/post", { json = { name = "lurl" } }))
      got.head = assert(s:head(HTTPBIN .. "/get"))
      local authed = HTTPBIN:gsub("^http://", "http://ada:" .. PASSWORD .. "@")
      got.basic = assert(s:get(authed .. "/anything", { auth = false }))
      got.err = select(2, s:get("http://127.0.0.1:" .. helper.dead_port .. "/gone"))
      -- no file before the session closes
      assert.is_nil(read(path))
    end
    har, text = load(path)
  end)

  it("is HAR 1.2 from lurl with one entry per hop and per failure", function()
    assert.are.equal("1.2", har.log.version)
    assert.are.same({ name = "lurl", version = http.VERSION }, har.log.creator)
    assert.are.same({}, har.log.pages)
    -- get, 3 hops of the chain, png, post, head, basic, error
    assert.are.equal(9, #har.log.entries)
    for _, e in ipairs(har.log.entries) do check_entry(e) end
  end)

  it("records requests as the server received them", function()
    local e = har.log.entries[1]
    local echo = got.get:json()
    assert.are.equal("GET", e.request.method)
    assert.are.equal(echo.url, e.request.url)
    assert.are.equal("HTTP/1.1", e.request.httpVersion)
    for _, h in ipairs(e.request.headers) do
      if h.name == "Authorization" then
        assert.are.equal("Bearer ***", h.value)
        assert.are.equal("Bearer " .. TOKEN, echo.headers.Authorization)
      elseif h.name == "Cookie" then
        assert.are.equal("sid=***", h.value)
        assert.are.equal("sid=" .. COOKIE, echo.headers.Cookie)
      else
        assert.are.equal(echo.headers[h.name], h.value, h.name)
      end
    end
    assert.are.equal(5, #e.request.headers)
    -- queryString decoded, in URL order, equal to what httpbin parsed
    assert.are.same({ { name = "q", value = "a b" }, { name = "tag", value = "x" }, { name = "tag", value = "y" } },
      e.request.queryString)
    assert.are.same({ q = "a b", tag = { "x", "y" } }, echo.args)
    assert.are.same({ { name = "sid", value = "***" } }, e.request.cookies)
    -- no request body was sent and none is claimed
    assert.is_nil(e.request.postData)
  end)

  it("records responses as the script got them", function()
    local e, res = har.log.entries[1], got.get
    assert.are.equal(200, e.response.status)
    assert.are.equal("OK", e.response.statusText)
    assert.are.equal("HTTP/1.1", e.response.httpVersion)
    assert.are.equal(#res.header_list, #e.response.headers)
    for i, f in ipairs(res.header_list) do
      assert.are.same({ name = f[1], value = f[2] }, e.response.headers[i])
    end
    assert.are.equal("application/json", e.response.content.mimeType)
    assert.are.equal(#res.body, e.response.content.size)
    assert.are.equal(#res.body, e.response.bodySize)
    -- the body, with the echoed credentials scrubbed
    local expected = res.body:gsub(TOKEN:gsub("%p", "%%%0"), "***"):gsub(COOKIE:gsub("%p", "%%%0"), "***")
    assert.truthy(expected:find('"Authorization":"Bearer ***"', 1, true), expected)
    assert.are.equal(expected, e.response.content.text)
    assert.is_nil(e.response.content.encoding)
    assert.are.equal("", e.response.redirectURL)
    assert.is_true(e.response.headersSize > 100)
  end)

  it("gives each redirect hop its own entry and timings", function()
    local hops = { har.log.entries[2], har.log.entries[3], har.log.entries[4] }
    assert.are.same({ 302, 302, 200 }, { hops[1].response.status, hops[2].response.status, hops[3].response.status })
    assert.are.equal(HTTPBIN .. "/redirect/2", hops[1].request.url)
    assert.are.equal(HTTPBIN .. "/relative-redirect/1", hops[2].request.url)
    assert.are.equal(HTTPBIN .. "/get", hops[3].request.url)
    assert.are.equal("/relative-redirect/1", hops[1].response.redirectURL)
    assert.are.equal("/get", hops[2].response.redirectURL)
    assert.are.same({ 1, 2, 3 }, { hops[1]._hop, hops[2]._hop, hops[3]._hop })
    assert.are.equal(got.chain:json().url, hops[3].request.url)
    -- the last hop's own time, not the chain's total
    local own = (got.chain.timings.total - got.chain.timings.redirect) * 1000
    assert.is_true(math.abs(hops[3].time - own) < 0.01, ("%s vs %s"):format(hops[3].time, own))
    assert.is_true(math.abs(hops[3].timings.wait - got.chain.timings.ttfb * 1000) < 0.01)
    -- in start order
    for i = 2, #har.log.entries do
      assert.is_true(har.log.entries[i].startedDateTime >= har.log.entries[i - 1].startedDateTime)
    end
    local first = har.log.entries[1].startedDateTime
    local t = os.time { year = tonumber(first:sub(1, 4)), month = tonumber(first:sub(6, 7)),
      day = tonumber(first:sub(9, 10)), hour = tonumber(first:sub(12, 13)),
      min = tonumber(first:sub(15, 16)), sec = tonumber(first:sub(18, 19)), isdst = false }
    local utc_offset = os.time(os.date("!*t", before)) - before
    assert.is_true(math.abs(t - utc_offset - before) <= 2, first)
  end)

  it("keeps binary bodies as base64 and HEAD bodies at 0", function()
    local e, res = har.log.entries[5], got.png
    assert.are.equal("image/png", e.response.content.mimeType)
    assert.are.equal("base64", e.response.content.encoding)
    assert.are.equal(res.body, b64decode(e.response.content.text))
    assert.are.equal(#res.body, e.response.content.size)
    local head = har.log.entries[7]
    assert.are.equal("HEAD", head.request.method)
    assert.are.equal(0, head.response.bodySize)
    assert.are.equal(0, head.response.content.size)
  end)

  it("records a POST; its body only when the response carries it", function()
    local e = har.log.entries[6]
    assert.are.equal("POST", e.request.method)
    assert.are.equal("application/json", header(e.request.headers, "content-type"))
    assert.are.equal('{"name":"lurl"}', got.post:json().data)
    local sent = got.post.request.body
    if sent then
      assert.are.equal(#sent, e.request.bodySize)
      assert.are.equal(sent, e.request.postData.text)
    else
      assert.are.equal(-1, e.request.bodySize)
      assert.is_nil(e.request.postData)
    end
  end)

  it("records a failed request with status 0 and the error", function()
    local e = har.log.entries[9]
    assert.are.equal(0, e.response.status)
    assert.are.equal("http://127.0.0.1:" .. helper.dead_port .. "/gone", e.request.url)
    assert.are.equal(tostring(got.err), e.response._error)
    assert.truthy(e.response._error:find("^ConnectionError"))
  end)

  it("holds no secret anywhere", function()
    local e = har.log.entries[8]
    assert.are.equal("http://ada:***@" .. HTTPBIN:sub(8) .. "/anything", e.request.url)
    -- libcurl sent Basic credentials built from the URL; httpbin echoed them
    assert.are.equal("Basic YWRhOmhhci1wYXNzLTZhN2I=", got.basic:json().headers.Authorization)
    for _, secret in ipairs { TOKEN, COOKIE, PASSWORD, "YWRhOmhhci1wYXNzLTZhN2I=" } do lacks(text, secret) end
  end)
end)

describe("har options", function()
  it("max_body cuts recorded bodies, 0 keeps none", function()
    local p1, p2 = har_path(), har_path()
    local s1 = http.session { har = { path = p1, max_body = 100 } }
    local s2 = http.session { har = { path = p2, max_body = 0 } }
    local r1 = assert(s1:get(HTTPBIN .. "/html"))
    assert(s2:get(HTTPBIN .. "/html"))
    s1:close(); s2:close()
    local c1 = load(p1).log.entries[1].response.content
    assert.are.equal(r1.body:sub(1, 100), c1.text)
    assert.are.equal(#r1.body, c1.size)
    assert.truthy(c1.comment:find("truncated to 100 of " .. #r1.body))
    local c2 = load(p2).log.entries[1].response.content
    assert.is_nil(c2.text)
    assert.are.equal(#r1.body, c2.size)
  end)

  it("records headers in the order the server received them", function()
    local path = har_path()
    assert(http.get(FAULT .. "/reset-log"))
    local s = http.session { har = path, headers = { ["X-One"] = "1", ["X-Two"] = "2" } }
    assert(s:get(FAULT .. "/ok"))
    s:close()
    local rec = cjson.decode(assert(http.get(FAULT .. "/requests")).body)
    local raw = rec[#rec].headers
    local e = load(path).log.entries[1]
    -- every recorded header was on the wire with that value, in that order
    local pos = 0
    for _, h in ipairs(e.request.headers) do
      local found
      for i = pos + 1, #raw do
        if raw[i][1] == h.name then found = i break end
      end
      assert(found, h.name .. " not received in this order")
      assert.are.equal(raw[found][2], h.value)
      pos = found
    end
    assert.are.equal("1", header(e.request.headers, "X-One"))
    -- Host and Content-Length are libcurl's: not in res.request, so not here
    assert.is_nil(header(e.request.headers, "Host"))
  end)

  it("writes at <close>, at s:close() once, and when a forgotten session is collected", function()
    local p1 = har_path()
    local s = http.session { har = p1 }
    assert(s:get(HTTPBIN .. "/get"))
    s:close()
    s:close()
    assert.are.equal(1, #load(p1).log.entries)
    local p2 = har_path()
    do
      local lost = http.session { har = p2 }
      assert(lost:get(HTTPBIN .. "/get"))
    end
    collectgarbage(); collectgarbage()
    assert.are.equal(1, #load(p2).log.entries)
  end)

  it("orders concurrent exchanges by start", function()
    local path = har_path()
    local s = http.session { har = path }
    -- /delay/1 starts first and ends last; /get starts 0.3 s later
    local slow = http.spawn(function() return assert(s:get(HTTPBIN .. "/delay/1")) end)
    local quick = http.spawn(function()
      http.sleep(0.3)
      return assert(s:get(HTTPBIN .. "/get"))
    end)
    http.join { slow, quick }
    s:close()
    local entries = load(path).log.entries
    assert.are.equal(2, #entries)
    assert.are.equal(HTTPBIN .. "/delay/1", entries[1].request.url)
    assert.are.equal(HTTPBIN .. "/get", entries[2].request.url)
    assert.is_true(entries[2].startedDateTime > entries[1].startedDateTime)
  end)

  it("refuses bad options", function()
    for _, case in ipairs {
      { 42, "path string or {path=, max_body=} expected, got number" },
      { {}, "path string or {path=, max_body=} expected, got nil" },
      { { path = "x", max_body = -1 }, "max_body: non-negative integer expected" },
      { { path = "x", size = 1 }, "unknown key 'size'" },
    } do
      local ok, e = pcall(http.session, { har = case[1] })
      assert.is_false(ok)
      assert.truthy(tostring(e):find("bad argument #1 to 'session' (field 'har': " .. case[2], 1, true), tostring(e))
    end
  end)

  it("raises at close when the file cannot be written", function()
    local s = http.session { har = helper.tmpdir .. "/no/such/dir/x.har" }
    assert(s:get(HTTPBIN .. "/get"))
    local ok, e = pcall(s.close, s)
    assert.is_false(ok)
    assert.truthy(tostring(e):find("cannot write HAR file", 1, true))
  end)
end)
