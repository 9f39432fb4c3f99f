-- Record and replay: `http.session{cassette = path, record = mode}` (SPEC,
-- Transports and test doubles; docs/testing.md, "Cassettes: record and
-- replay").  Exchanges are recorded against the local httpbin and the fault
-- server, then replayed; the fault server's request log shows whether a
-- replay touched the network, and the files are searched for the secrets
-- the requests carried.
local helper = require "spec.helper"
local http = require "http"
local cjson = require "cjson"

local HTTPBIN, FAULT = helper.httpbin, helper.fault
local TOKEN = "cas-token-7f3a9c"
local PASSWORD = "cas-pass-41be"
local API_KEY = "cas-apikey-9d0e"
local QTOKEN = "cas-qtoken-55c1"

local read = require("spec.support").read_file

local n_files = 0
local function cas_path()
  n_files = n_files + 1
  local p = ("%s/cassette_%d.har"):format(helper.tmpdir, n_files)
  os.remove(p)
  return p
end

local function load(path)
  local text = assert(read(path), "no cassette at " .. path)
  return cjson.decode(text), text
end

local function lacks(text, piece)
  assert(not text:find(piece, 1, true), ("%q must not appear in the cassette"):format(piece))
end

local function header(list, name)
  for _, h in ipairs(list) do
    if h.name:lower() == name:lower() then return h.value end
  end
end

-- The fault server's log of requests whose query holds tag.
local function fault_seen(tag)
  local res = assert(http.get(FAULT .. "/requests"))
  local n = 0
  for _, r in ipairs(res:json()) do
    if (r.target or ""):find(tag, 1, true) then n = n + 1 end
  end
  return n
end

local tags = 0
local function new_tag()
  tags = tags + 1
  return ("castag%d_%d"):format(tags, os.time())
end

-- The HAR 1.2 fields a browser's network panel reads.
local function check_har(doc)
  assert.equal("1.2", doc.log.version)
  assert.equal("lurl", doc.log.creator.name)
  assert.equal("table", type(doc.log.pages))
  for _, e in ipairs(doc.log.entries) do
    assert.truthy(e.startedDateTime:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"))
    assert.equal("number", type(e.time))
    for _, k in ipairs { "method", "url", "httpVersion", "cookies", "headers", "queryString",
      "headersSize", "bodySize" } do
      assert.is_not_nil(e.request[k], "request." .. k)
    end
    for _, k in ipairs { "status", "statusText", "httpVersion", "cookies", "headers", "content",
      "redirectURL", "headersSize", "bodySize" } do
      assert.is_not_nil(e.response[k], "response." .. k)
    end
    assert.equal("number", type(e.response.content.size))
    assert.equal("string", type(e.response.content.mimeType))
    assert.equal("table", type(e.cache))
    for _, k in ipairs { "send", "wait", "receive" } do assert.equal("number", type(e.timings[k])) end
  end
end

describe("cassette recorded against httpbin", function()
  local path, got, doc, text = nil, {}, nil, nil

  setup(function()
    path = cas_path()
    do
      local s <close> = http.session { cassette = path, record = "once" }
      got.gzip = assert(s:get(HTTPBIN .. "/gzip"))
      got.bytes = assert(s:get(HTTPBIN .. "/bytes/4096", { params = { seed = 7 } }))
      got.png = assert(s:get(HTTPBIN .. "/image/png"))
      got.utf8 = assert(s:get(HTTPBIN .. "/encoding/utf8"))
      got.form = assert(s:post(HTTPBIN .. "/post", { data = { a = "1 2", b = "x" } }))
      got.json = assert(s:post(HTTPBIN .. "/anything", { json = { name = "lurl", list = { 1, 2 } } }))
      got.chain = assert(s:get(HTTPBIN .. "/redirect/2"))
      got.cookie = assert(s:get(HTTPBIN .. "/cookies/set", { params = { flavour = "oat" } }))
      got.teapot = assert(s:get(HTTPBIN .. "/status/418"))
      got.head = assert(s:head(HTTPBIN .. "/get"))
      assert.is_nil(read(path)) -- written when the session closes
    end
    doc, text = load(path)
  end)

  it("is a HAR 1.2 file with one entry per hop", function()
    check_har(doc)
    -- gzip, bytes, png, utf8, form, json, 3 hops, 2 hops, teapot, head
    assert.equal(13, #doc.log.entries)
    local e = doc.log.entries[1]
    assert.equal("GET", e.request.method)
    assert.equal(HTTPBIN .. "/gzip", e.request.url)
    -- the response as it arrived: Content-Encoding kept in the file, the
    -- body stored decoded
    assert.equal("gzip", header(e.response.headers, "content-encoding"))
    assert.equal(got.gzip.body, e.response.content.text)
    assert.is_nil(e.response.content.encoding)
  end)

  it("stores binary bodies as base64", function()
    local e = doc.log.entries[2]
    assert.equal("base64", e.response.content.encoding)
    assert.equal(4096, e.response.content.size)
    assert.equal("base64", doc.log.entries[3].response.content.encoding)
  end)

  it("replays byte-identical bodies under \"none\", Content-Encoding dropped", function()
    local s <close> = http.session { cassette = path, record = "none" }
    local gzip = assert(s:get(HTTPBIN .. "/gzip"))
    assert.equal(got.gzip.body, gzip.body)
    assert.is_true(gzip:json().gzipped)
    assert.is_nil(gzip.headers["content-encoding"])
    assert.equal(tostring(#gzip.body), gzip.headers["content-length"])
    assert.equal("application/json", gzip.headers["content-type"])
    local bytes = assert(s:get(HTTPBIN .. "/bytes/4096", { params = { seed = 7 } }))
    assert.equal(4096, #bytes.body)
    assert.equal(got.bytes.body, bytes.body)
    local png = assert(s:get(HTTPBIN .. "/image/png"))
    assert.equal(got.png.body, png.body)
    assert.equal("\137PNG", png.body:sub(1, 4))
    local utf8 = assert(s:get(HTTPBIN .. "/encoding/utf8"))
    assert.equal(got.utf8.body, utf8.body)
    assert.equal(got.utf8.text, utf8.text)
  end)

  it("replays request bodies matched by what they mean (form escapes, JSON key order)", function()
    local s <close> = http.session { cassette = path, record = "none" }
    local form = assert(s:post(HTTPBIN .. "/post", { data = { b = "x", a = "1 2" } }))
    assert.equal(got.form.body, form.body)
    assert.same({ a = "1 2", b = "x" }, form:json().form)
    local js = assert(s:post(HTTPBIN .. "/anything", { json = { list = { 1, 2 }, name = "lurl" } }))
    assert.equal(got.json.body, js.body)
    assert.same({ name = "lurl", list = { 1, 2 } }, js:json().json)
  end)

  it("replays redirect chains hop by hop, with history", function()
    local s <close> = http.session { cassette = path, record = "none" }
    local res = assert(s:get(HTTPBIN .. "/redirect/2"))
    assert.equal(200, res.status)
    assert.equal(HTTPBIN .. "/get", res.url)
    assert.equal(2, #res.history)
    assert.equal(302, res.history[1].status)
    assert.equal(HTTPBIN .. "/redirect/2", res.history[1].url)
    assert.equal(got.chain.body, res.body)
  end)

  it("puts replayed Set-Cookie fields into the jar and sends them back", function()
    local s <close> = http.session { cassette = path, record = "none" }
    local res = assert(s:get(HTTPBIN .. "/cookies/set", { params = { flavour = "oat" } }))
    assert.equal("oat", s.cookies:get("flavour"))
    assert.same({ flavour = "oat" }, res:json().cookies)
    assert.same(got.cookie:json(), res:json())
    assert.equal(1, #res.history)
  end)

  it("keeps statuses: raise_for_status raises the recorded 418, HEAD has no body", function()
    local s <close> = http.session { cassette = path, record = "none" }
    local res = assert(s:get(HTTPBIN .. "/status/418"))
    assert.equal(418, res.status)
    assert.equal(got.teapot.body, res.body)
    local ok, err = pcall(res.raise_for_status, res)
    assert.is_false(ok)
    assert.equal("HTTPError", err.kind)
    assert.equal(418, err.response.status)
    local head = assert(s:head(HTTPBIN .. "/get"))
    assert.equal(200, head.status)
    assert.equal("", head.body)
    assert.equal(got.head.headers["content-length"], head.headers["content-length"])
  end)

  it("replays under http.assert like a real response", function()
    require "http.assert"
    local s <close> = http.session { cassette = path, record = "none" }
    local res = assert(s:get(HTTPBIN .. "/gzip"))
    assert.status(res, 200)
    assert.header(res, "content-type", "application/json")
    assert.json_field(res, "gzipped", true)
  end)
end)

describe("record = \"none\"", function()
  local path, tag

  setup(function()
    path, tag = cas_path(), new_tag()
    local s <close> = http.session { cassette = path, record = "all" }
    assert(s:get(FAULT .. "/ok", { params = { t = tag } }))
  end)

  it("never touches the network", function()
    assert.equal(1, fault_seen(tag)) -- the recording
    assert(http.get(FAULT .. "/reset-log"))
    local s <close> = http.session { cassette = path, record = "none" }
    local res = assert(s:get(FAULT .. "/ok", { params = { t = tag } }))
    assert.equal(200, res.status)
    assert.equal("ok", res.body)
    assert.equal(0, fault_seen(tag))
  end)

  it("fails a request the cassette lacks with a ConnectionError naming it, no secret, no network", function()
    local s <close> = http.session { cassette = path, record = "none", auth = http.bearer(TOKEN) }
    local url = FAULT .. "/ok?t=" .. tag .. "&other=1&access_token=" .. QTOKEN
    local res, err = s:get(url)
    assert.is_nil(res)
    assert.equal("ConnectionError", err.kind)
    assert.is_false(err.retryable)
    local msg = tostring(err)
    assert.truthy(msg:find("GET " .. FAULT .. "/ok?t=" .. tag .. "&other=1&access_token=***", 1, true), msg)
    assert.truthy(msg:find("no exchange in cassette " .. path, 1, true), msg)
    assert.truthy(msg:find('record = "none"', 1, true), msg)
    lacks(msg, QTOKEN)
    lacks(msg, TOKEN)
    -- a POST to the recorded URL is another request
    local _, err2 = s:post(FAULT .. "/ok?t=" .. tag)
    assert.equal("ConnectionError", err2.kind)
    assert.truthy(tostring(err2):find("POST ", 1, true))
    assert.equal(0, fault_seen(tag .. "&other"))
  end)

  it("answers each recorded exchange once, in order", function()
    local p = cas_path()
    local first, second
    do
      local s <close> = http.session { cassette = p }
      first = assert(s:get(HTTPBIN .. "/uuid")).body
      second = assert(s:get(HTTPBIN .. "/uuid")).body
    end
    assert.are_not.equal(first, second)
    local s <close> = http.session { cassette = p, record = "none" }
    assert.equal(first, assert(s:get(HTTPBIN .. "/uuid")).body)
    assert.equal(second, assert(s:get(HTTPBIN .. "/uuid")).body)
    local res, err = s:get(HTTPBIN .. "/uuid")
    assert.is_nil(res)
    assert.equal("ConnectionError", err.kind)
  end)

  it("refuses a cassette file that does not exist, naming the field", function()
    local p = cas_path()
    local ok, err = pcall(function()
      local s = http.session { cassette = p, record = "none" }
      return s
    end)
    assert.is_false(ok)
    assert.truthy(err:find("field 'cassette'", 1, true), err)
    assert.truthy(err:find(p, 1, true), err)
    assert.truthy(err:find("cassette_spec.lua", 1, true), err) -- at the caller's line
  end)

  it("replays a recorded failure as the same kind of error", function()
    local p = cas_path()
    local dead = "http://127.0.0.1:" .. helper.dead_port .. "/gone"
    do
      local s <close> = http.session { cassette = p }
      local _, err = s:get(dead)
      assert.equal("ConnectionError", err.kind)
    end
    local doc = load(p)
    assert.equal(0, doc.log.entries[1].response.status)
    assert.equal("ConnectionError", doc.log.entries[1].response._error.kind)
    local s <close> = http.session { cassette = p, record = "none" }
    local res, err = s:get(dead)
    assert.is_nil(res)
    assert.equal("ConnectionError", err.kind)
    assert.equal(dead, err.url)
  end)
end)

describe("secrets", function()
  -- The fault server answers "ok" without echoing anything, and logs what
  -- it received: the credentials went out, the cassette holds none.
  local function received(tag)
    local out = {}
    for _, r in ipairs(assert(http.get(FAULT .. "/requests")):json()) do
      if (r.target or ""):find(tag, 1, true) then out[#out + 1] = r end
    end
    return out
  end
  local function got_header(r, name)
    for _, h in ipairs(r.headers) do
      if h[1]:lower() == name then return h[2] end
    end
  end

  it("never reach the cassette file, and are ignored when matching", function()
    local p, tag = cas_path(), new_tag()
    local authed = FAULT:gsub("^http://", "http://ada:" .. PASSWORD .. "@")
    do
      local s <close> = http.session { cassette = p, headers = { ["X-Api-Key"] = API_KEY,
        ["X-Custom"] = "cas-custom-secret" }, redact = { "X-Custom", "sessionid" } }
      assert(s:get(FAULT .. "/ok", { auth = http.basic("ada", PASSWORD), params = { t = tag, n = 1 } }))
      assert(s:get(authed .. "/ok", { params = { t = tag, n = 2 } }))
      assert(s:get(FAULT .. "/ok", { auth = http.bearer(TOKEN),
        params = { t = tag, token = QTOKEN, api_key = API_KEY, sessionid = "cas-sid-0c0c", page = 2 } }))
      assert(s:post(FAULT .. "/ok", { auth = http.bearer(TOKEN), params = { t = tag, n = 4 },
        body = "the body quotes " .. TOKEN }))
    end
    local seen = received(tag)
    assert.equal(4, #seen)
    local basic = "Basic " .. require("lurl.redact").base64("ada:" .. PASSWORD)
    assert.equal(basic, got_header(seen[1], "authorization"))
    assert.equal(basic, got_header(seen[2], "authorization"))
    assert.equal(API_KEY, got_header(seen[1], "x-api-key"))
    assert.equal("Bearer " .. TOKEN, got_header(seen[3], "authorization"))
    assert.truthy(seen[3].target:find("token=" .. QTOKEN, 1, true))
    assert.equal("the body quotes " .. TOKEN, seen[4].body)

    local doc, text = load(p)
    check_har(doc)
    assert.equal(4, #doc.log.entries)
    for _, secret in ipairs { TOKEN, PASSWORD, API_KEY, QTOKEN, "cas-custom-secret", "cas-sid-0c0c",
      require("lurl.redact").base64("ada:" .. PASSWORD) } do
      lacks(text, secret)
    end
    local e = doc.log.entries
    assert.equal("Basic ***", header(e[1].request.headers, "authorization"))
    assert.equal("***", header(e[1].request.headers, "x-api-key"))
    assert.equal("***", header(e[1].request.headers, "x-custom"))
    assert.truthy(e[2].request.url:find("ada:***@", 1, true), e[2].request.url)
    assert.equal("Bearer ***", header(e[3].request.headers, "authorization"))
    assert.truthy(e[3].request.url:find("token=***", 1, true))
    assert.truthy(e[3].request.url:find("sessionid=***", 1, true))
    assert.truthy(e[3].request.url:find("page=2", 1, true))
    assert.equal("the body quotes ***", e[4].request.postData.text)

    -- other credentials at replay time match the redacted requests
    local s <close> = http.session { cassette = p, record = "none", headers = { ["X-Api-Key"] = "k2",
      ["X-Custom"] = "c2" }, redact = { "X-Custom", "sessionid" } }
    local other = FAULT:gsub("^http://", "http://ada:other@")
    assert.equal("ok", assert(s:get(FAULT .. "/ok", { auth = http.basic("ada", "x"),
      params = { t = tag, n = 1 } })).body)
    assert.equal("ok", assert(s:get(other .. "/ok", { params = { t = tag, n = 2 } })).body)
    assert.equal("ok", assert(s:get(FAULT .. "/ok", { auth = http.bearer("t2"),
      params = { t = tag, token = "q2", api_key = "a2", sessionid = "s2", page = 2 } })).body)
    assert.equal("ok", assert(s:post(FAULT .. "/ok", { auth = http.bearer("t2-other-token"), params = { t = tag, n = 4 },
      body = "the body quotes t2-other-token" })).body)
    -- a parameter that is not secret still counts
    local _, err = s:get(FAULT .. "/ok", { params = { t = tag, token = "q2", api_key = "a2",
      sessionid = "s2", page = 3 } })
    assert.equal("ConnectionError", err.kind)
    assert.equal(4, #received(tag)) -- the replay sent nothing
  end)
end)

describe("record modes", function()
  it("\"once\" records when the file is missing, then only replays", function()
    local p, tag = cas_path(), new_tag()
    do
      local s <close> = http.session { cassette = p } -- "once" is the default
      assert.equal("ok", assert(s:get(FAULT .. "/ok", { params = { t = tag } })).body)
    end
    assert.equal(1, fault_seen(tag))
    assert.equal(1, #load(p).log.entries)
    do
      local s <close> = http.session { cassette = p, record = "once" }
      assert.equal("ok", assert(s:get(FAULT .. "/ok", { params = { t = tag } })).body)
      local res, err = s:get(FAULT .. "/ok", { params = { t = tag .. "b" } })
      assert.is_nil(res)
      assert.equal("ConnectionError", err.kind)
      assert.truthy(tostring(err):find('record = "once"', 1, true))
    end
    assert.equal(1, fault_seen(tag)) -- nothing more reached the server
    assert.equal(1, #load(p).log.entries)
  end)

  it("\"new_episodes\" replays what it has and records what it lacks", function()
    local p, tag, tag2 = cas_path(), new_tag(), new_tag()
    do
      local s <close> = http.session { cassette = p }
      assert(s:get(FAULT .. "/ok", { params = { t = tag } }))
    end
    do
      local s <close> = http.session { cassette = p, record = "new_episodes" }
      assert.equal("ok", assert(s:get(FAULT .. "/ok", { params = { t = tag } })).body)
      assert.equal(404, assert(s:get(FAULT .. "/missing", { params = { t = tag2 } })).status)
    end
    assert.equal(1, fault_seen(tag))
    assert.equal(1, fault_seen(tag2))
    local doc = load(p)
    assert.equal(2, #doc.log.entries)
    check_har(doc)
    local s <close> = http.session { cassette = p, record = "none" }
    assert.equal(200, assert(s:get(FAULT .. "/ok", { params = { t = tag } })).status)
    assert.equal(404, assert(s:get(FAULT .. "/missing", { params = { t = tag2 } })).status)
  end)

  it("\"all\" always records and makes the file anew", function()
    local p, tag = cas_path(), new_tag()
    local first
    do
      local s <close> = http.session { cassette = p }
      first = assert(s:get(HTTPBIN .. "/uuid")).body
      assert(s:get(FAULT .. "/ok", { params = { t = tag } }))
    end
    do
      local s <close> = http.session { cassette = p, record = "all" }
      assert.are_not.equal(first, assert(s:get(HTTPBIN .. "/uuid")).body)
    end
    local doc = load(p)
    assert.equal(1, #doc.log.entries)
    assert.equal(HTTPBIN .. "/uuid", doc.log.entries[1].request.url)
    assert.are_not.equal(first, doc.log.entries[1].response.content.text)
  end)

  it("checks the options, naming the field", function()
    local p = cas_path()
    local function fails(cfg, field)
      local ok, err = pcall(http.session, cfg)
      assert.is_false(ok)
      assert.truthy(err:find("field '" .. field .. "'", 1, true), err)
    end
    fails({ cassette = p, record = "sometimes" }, "record")
    fails({ record = "none" }, "record")
    fails({ cassette = 42 }, "cassette")
    fails({ cassette = p, match_on = { "method", "colour" } }, "match_on")
    fails({ cassette = p, match_on = {} }, "match_on")
    fails({ cassette = p, before_record = "scrub" }, "before_record")
    fails({ cassette = p, transport = function() end }, "cassette")
    -- a recording that could not be written fails when the session is made
    fails({ cassette = helper.tmpdir .. "/no/such/dir/x.har" }, "cassette")
    local f = assert(io.open(p, "wb"))
    f:write("not json")
    f:close()
    fails({ cassette = p }, "cassette")
  end)
end)

describe("match_on", function()
  local p
  setup(function()
    p = cas_path()
    local s <close> = http.session { cassette = p }
    assert(s:post(HTTPBIN .. "/anything/items", { params = { a = 1, b = 2 }, json = { n = 1 } }))
  end)

  it("defaults to method, URL and body", function()
    local s <close> = http.session { cassette = p, record = "none" }
    local _, err = s:post(HTTPBIN .. "/anything/items?a=1&b=2", { json = { n = 2 } })
    assert.equal("ConnectionError", err.kind)
    _, err = s:put(HTTPBIN .. "/anything/items?a=1&b=2", { json = { n = 1 } })
    assert.equal("ConnectionError", err.kind)
    _, err = s:post(HTTPBIN .. "/anything/items?b=2&a=1", { json = { n = 1 } }) -- url: exact
    assert.equal("ConnectionError", err.kind)
    local res = assert(s:post(HTTPBIN .. "/anything/items?a=1&b=2", { json = { n = 1 } }))
    assert.same({ n = 1 }, res:json().json)
  end)

  it("reads a URL's query the way the server does (a space is + or %20)", function()
    local q = cas_path()
    local sent
    do
      local s <close> = http.session { cassette = q }
      sent = assert(s:get(HTTPBIN .. "/get", { params = { q = "a b", tag = "é&x" } })):json()
    end
    local doc = load(q)
    -- the URL as it was sent (libcurl writes a space "+")
    assert.equal(HTTPBIN .. "/get?q=a+b&tag=%C3%A9%26x", doc.log.entries[1].request.url)
    assert.truthy(sent.url:find("q=a+b", 1, true))
    local s <close> = http.session { cassette = q, record = "none" }
    local res = assert(s:get(HTTPBIN .. "/get?q=a%20b&tag=%C3%A9%26x"))
    assert.same({ q = "a b", tag = "é&x" }, res:json().args)
  end)

  it("compares only what it lists", function()
    do
      local s <close> = http.session { cassette = p, record = "none", match_on = { "method", "path" } }
      local res = assert(s:post(HTTPBIN .. "/anything/items?z=9", { json = { n = 2 } }))
      assert.same({ n = 1 }, res:json().json) -- the recorded answer
    end
    do
      local s <close> = http.session { cassette = p, record = "none",
        match_on = { "method", "host", "port", "query", "body" } }
      -- query: the same parameters in another order
      assert(s:post(HTTPBIN .. "/anything/other?b=2&a=1", { json = { n = 1 } }))
    end
    local s <close> = http.session { cassette = p, record = "none", match_on = { "host", "path" } }
    local _, err = s:post(HTTPBIN .. "/anything/other", { json = { n = 1 } })
    assert.equal("ConnectionError", err.kind)
    assert.truthy(tostring(err):find("match_on = host, path", 1, true))
  end)
end)

describe("before_record", function()
  it("scrubs an entry before it is written; false leaves it out", function()
    local p = cas_path()
    local seen = 0
    do
      local s <close> = http.session { cassette = p, auth = http.bearer(TOKEN),
        before_record = function(entry)
          seen = seen + 1
          if entry.request.url:find("/status/", 1, true) then return false end
          -- httpbin's /bearer echoes the token in its body
          local text = entry.response.content.text
          local i, j = text:find(TOKEN, 1, true)
          entry.response.content.text = text:sub(1, i - 1) .. "SCRUBBED" .. text:sub(j + 1)
        end }
      local res = assert(s:get(HTTPBIN .. "/bearer"))
      assert.equal(TOKEN, res:json().token) -- the script got the real answer
      assert(s:get(HTTPBIN .. "/status/204"))
    end
    assert.equal(2, seen)
    local doc, text = load(p)
    lacks(text, TOKEN)
    assert.equal(1, #doc.log.entries)
    local body = doc.log.entries[1].response.content.text
    assert.same({ authenticated = true, token = "SCRUBBED" }, cjson.decode(body))
    assert.equal(#body, doc.log.entries[1].response.content.size)
    local s <close> = http.session { cassette = p, record = "none", auth = http.bearer("other") }
    assert.equal("SCRUBBED", assert(s:get(HTTPBIN .. "/bearer")):json().token)
  end)

  it("is needed: without it a cassette holds response bodies as they were", function()
    local p = cas_path()
    do
      local s <close> = http.session { cassette = p, auth = http.bearer(TOKEN) }
      assert(s:get(HTTPBIN .. "/bearer"))
    end
    local doc, text = load(p)
    assert.equal("Bearer ***", header(doc.log.entries[1].request.headers, "authorization"))
    assert.truthy(text:find(TOKEN, 1, true)) -- in the echoed body only
    assert.truthy(doc.log.entries[1].response.content.text:find(TOKEN, 1, true))
  end)
end)

describe("cassette with other options", function()
  it("reads a stream whole when recording and replaying it", function()
    local p = cas_path()
    local function read_all(res)
      local parts = {}
      for chunk in res:chunks() do parts[#parts + 1] = chunk end
      return table.concat(parts)
    end
    local recorded
    do
      local s <close> = http.session { cassette = p }
      recorded = read_all(assert(s:get(HTTPBIN .. "/stream-bytes/3000", { params = { seed = 3 },
        stream = true })))
      assert.equal(3000, #recorded)
    end
    local s <close> = http.session { cassette = p, record = "none" }
    local res = assert(s:get(HTTPBIN .. "/stream-bytes/3000", { params = { seed = 3 }, stream = true }))
    assert.equal(recorded, read_all(res))
  end)

  it("reads a body function once, for matching and sending", function()
    local p = cas_path()
    local function body()
      local parts, i = { "one,", "two,", "three" }, 0
      return function() i = i + 1; return parts[i] end
    end
    do
      local s <close> = http.session { cassette = p }
      local res = assert(s:post(HTTPBIN .. "/post", { body = body() }))
      assert.equal("one,two,three", res:json().data) -- what httpbin received
    end
    local s <close> = http.session { cassette = p, record = "none" }
    local res = assert(s:post(HTTPBIN .. "/post", { body = body() }))
    assert.equal("one,two,three", res:json().data)
  end)

  it("replays a written cassette under a retry policy, attempt by attempt", function()
    -- a minimal HAR, as a person or another tool may write one
    local p = cas_path()
    local f = assert(io.open(p, "wb"))
    f:write(cjson.encode { log = { version = "1.2", creator = { name = "hand", version = "1" },
      entries = {
        { request = { method = "GET", url = "http://api.test/flaky" },
          response = { status = 503, statusText = "Service Unavailable", headers = {},
            content = { size = 0, mimeType = "text/plain" } } },
        { request = { method = "GET", url = "http://api.test/flaky" },
          response = { status = 200, statusText = "OK",
            headers = { { name = "Content-Type", value = "application/json" } },
            content = { size = 8, mimeType = "application/json", text = '{"a": 1}' } } },
      } } })
    f:close()
    local s <close> = http.session { cassette = p, record = "none", retry = { attempts = 3, backoff = 0 } }
    local res = assert(s:get("http://api.test/flaky"))
    assert.equal(200, res.status)
    assert.equal(2, res.attempts)
    assert.same({ a = 1 }, res:json())
    assert.equal("8", res.headers["content-length"])
  end)
end)

describe("cassette and observers", function()
  it("lets a har recording and a trace see replayed exchanges", function()
    local p, h = cas_path(), cas_path()
    do
      local s <close> = http.session { cassette = p }
      assert(s:get(HTTPBIN .. "/redirect/1"))
    end
    local events = {}
    do
      local s <close> = http.session { cassette = p, record = "none", har = h,
        trace = function(ev) events[#events + 1] = ev end }
      assert.equal(200, assert(s:get(HTTPBIN .. "/redirect/1")).status)
    end
    local doc = load(h)
    assert.equal(2, #doc.log.entries)
    assert.equal(302, doc.log.entries[1].response.status)
    assert.equal(200, doc.log.entries[2].response.status)
    assert.is_true(#events > 0)
  end)
end)
