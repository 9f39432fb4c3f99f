-- scripts/download.lua and scripts/upload.lua, run as a user runs them
-- (the lurl binary when LURL_BIN is set, as under ctest, else lua5.4)
-- against the local servers: exit status, what they print, the file they
-- leave, and what the server received.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"

local FAULT, HTTPBIN = helper.fault, helper.httpbin
local MiB = 1048576

local must = support.must

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local read_file = support.read_file

local write_file = support.write_file

local DIR = helper.tmpdir .. "/scripts_stream_spec"
os.execute("mkdir -p " .. shq(DIR))

-- the repository root: this file is spec/scripts_stream_spec.lua
local SRC = debug.getinfo(1, "S").source:sub(2)
local ROOT = SRC:match("^(.*)/spec/[^/]*$") or "."

-- Runs scripts/<name> with args; returns exit code, stdout, stderr.
local function run_script(name, ...)
  local errf = DIR .. "/" .. name .. ".stderr"
  local cmd = { "env", shq("LUA_CPATH=" .. package.cpath), shq("LUA_PATH=" .. package.path),
    shq(os.getenv("LURL_BIN") or "lua5.4"), shq(ROOT .. "/scripts/" .. name) }
  for _, a in ipairs { ... } do cmd[#cmd + 1] = shq(a) end
  local p = assert(io.popen(table.concat(cmd, " ") .. " 2>" .. shq(errf) .. " </dev/null", "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  return code, out, read_file(errf) or ""
end

-- /pattern's body (see spec/servers/fault_server.py): 64-byte records
local function pattern(offset, len)
  if len <= 0 then return "" end
  local first, last = offset // 64, (offset + len - 1) // 64
  local parts = {}
  for k = first, last do parts[#parts + 1] = ("%063d\n"):format(k) end
  local start = offset - first * 64
  return table.concat(parts):sub(start + 1, start + len)
end

local function stats(tok)
  return cjson.decode(must(http.get(FAULT .. "/pattern-stats?token=" .. tok)).body)
end

local ntok = 0
local function token(name)
  ntok = ntok + 1
  return ("scripts-%s-%d"):format(name, ntok)
end

local function fresh_path(name)
  local p = DIR .. "/" .. name
  os.remove(p)
  os.remove(p .. ".part")
  return p
end

-- the file holds exactly want (without printing megabytes when it does not)
local function holds(path, want)
  local got = read_file(path)
  assert.is_string(got, "no file " .. path)
  assert.equal(#want, #got, "size of " .. path)
  assert.is_true(got == want, "content of " .. path .. " differs")
end

describe("scripts/download.lua", function()
  it("downloads, and resumes with a Range request when the connection drops mid-body", function()
    local tok = token("dl")
    local N, K = 3 * MiB + 11, MiB + 7
    local path = fresh_path("dl.bin")
    local code, out, err = run_script("download.lua",
      ("%s/pattern?size=%d&cut=%d&cuts=1&token=%s"):format(FAULT, N, K, tok), path)
    assert.equal(0, code, out .. err)
    assert.equal(("saved %s (%d bytes)\n"):format(path, N), out)
    assert.matches("attempt 1 of 5 failed: ChunkedEncodingError", err, 1, true)
    assert.matches(("resuming after %d bytes"):format(K), err, 1, true)
    assert.is_nil(err:find("\r"), "a progress bar was drawn on a stderr that is not a terminal")
    holds(path, pattern(0, N))
    assert.is_nil(read_file(path .. ".part"))
    local s = stats(tok)
    assert.equal(3, s.requests) -- cut; the next plain GET; its Range continuation
    assert.equal(cjson.null, s.ranges[1])
    assert.equal(("bytes=%d-"):format(K), s.ranges[3])
    assert.equal(N - K, s.sent[3])
  end)

  it("continues the .part an interrupted earlier run left", function()
    local tok = token("dlpart")
    local N = MiB
    local path = fresh_path("dlpart.bin")
    write_file(path .. ".part", pattern(0, 300000))
    local code, out, err = run_script("download.lua",
      ("%s/pattern?size=%d&token=%s"):format(FAULT, N, tok), path)
    assert.equal(0, code, out .. err)
    assert.equal(("saved %s (%d bytes)\n"):format(path, N), out)
    holds(path, pattern(0, N))
    local s = stats(tok)
    assert.equal("bytes=300000-", s.ranges[#s.ranges])
    assert.equal(N - 300000, s.sent[#s.sent])
  end)

  it("downloads httpbin's /range/N, the same bytes a GET gives", function()
    local path = fresh_path("range.bin")
    local url = HTTPBIN .. "/range/102400"
    local code, out, err = run_script("download.lua", url, path)
    assert.equal(0, code, out .. err)
    holds(path, must(http.get(url)).body)
  end)

  it("fails on an HTTP error without leaving a file, and explains its usage", function()
    local path = fresh_path("missing.bin")
    local code, _, err = run_script("download.lua", HTTPBIN .. "/status/404", path)
    assert.equal(1, code)
    assert.matches("404", err, 1, true)
    assert.is_nil(read_file(path))
    assert.is_nil(read_file(path .. ".part"))
    code, _, err = run_script("download.lua")
    assert.equal(2, code)
    assert.matches("usage: lurl download.lua URL PATH", err, 1, true)
  end)
end)

describe("scripts/upload.lua", function()
  local FILE = DIR .. "/upload-me.csv"
  local CONTENT = "name,count\nwidgets,3\ngadgets,5\n"
  write_file(FILE, CONTENT)

  it("sends the file and the fields in one multipart request and prints httpbin's echo", function()
    local code, out, err = run_script("upload.lua", HTTPBIN .. "/post", FILE, "note=hello world", "n=1")
    assert.equal(0, code, out .. err)
    assert.matches("-> 200 OK", out, 1, true)
    assert.matches("form  n = 1\n", out, 1, true)
    assert.matches("form  note = hello world\n", out, 1, true)
    assert.matches(("form  size = %d\n"):format(#CONTENT), out, 1, true)
    assert.matches(('file  file: %d characters (text), starting "%s"\n'):format(#CONTENT,
      (CONTENT:gsub("\n", "\\n"))), out, 1, true)
    assert.equal("", err)
  end)

  it("what the server received: one multipart body with the file byte for byte", function()
    must(http.get(FAULT .. "/reset-log"))
    local code, out, err = run_script("upload.lua", FAULT .. "/ok?case=script-upload", FILE, "note=hi")
    assert.equal(0, code, out .. err)
    assert.matches("-> 200 OK", out, 1, true)
    assert.matches("\nok\n$", out)
    local log = cjson.decode(must(http.get(FAULT .. "/requests")).body)
    assert.equal(1, #log)
    local rec = log[1]
    assert.equal("POST", rec.method)
    local ctype
    for _, h in ipairs(rec.headers) do
      if h[1]:lower() == "content-type" then ctype = h[2] end
    end
    local boundary = assert(ctype:match("^multipart/form%-data; boundary=(.+)$"), ctype)
    local body = rec.body
    assert.matches('name="note"\r\n\r\nhi\r\n', body, 1, true)
    assert.matches(('name="size"\r\n\r\n%d\r\n'):format(#CONTENT), body, 1, true)
    assert.matches('name="file"; filename="upload-me.csv"\r\nContent-Type: application/octet-stream\r\n\r\n'
      .. CONTENT .. "\r\n--" .. boundary, body, 1, true)
    assert.equal("\r\n--" .. boundary .. "--\r\n", body:sub(-(#boundary + 8)))
  end)

  it("refuses a missing file and a malformed field, sending nothing", function()
    must(http.get(FAULT .. "/reset-log"))
    local code, _, err = run_script("upload.lua", FAULT .. "/ok", DIR .. "/no-such-file")
    assert.equal(1, code)
    assert.matches("no-such-file", err, 1, true)
    code, _, err = run_script("upload.lua", FAULT .. "/ok", FILE, "not-a-field")
    assert.equal(2, code)
    assert.matches("name=value", err, 1, true)
    code, _, err = run_script("upload.lua")
    assert.equal(2, code)
    assert.matches("usage: lurl upload.lua URL FILE", err, 1, true)
    assert.equal(0, #cjson.decode(must(http.get(FAULT .. "/requests")).body))
  end)
end)
