-- Progress (issue 17, item 18): on_progress's last call reports the full
-- sizes (downloads with a Content-Length or chunked, streamed, uploads from
-- a string and from a function), and the bar of progress = true, drawn in
-- a pseudo-terminal (util-linux's `script`), survives a slow download (a
-- rate under 1 B/s was a float given to %d) and always ends its line:
-- after the last byte, an unknown length, an error, a closed stream, a
-- save, and Ctrl-C; a redirect chain draws one bar.
--
-- Servers: the fault server's /pattern (paced, Content-Length or chunked),
-- /digest (the size of an upload as received), /slowbody and /stall.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"

local FAULT = helper.fault
local DIR = helper.tmpdir
local must, q = support.must, support.q

-- Interpreters to run the terminal's children with: lurl (LURL_BIN) or
-- lua5.4, plus the one running this spec when that is another one.
local function interpreters()
  local list = { os.getenv("LURL_BIN") or "lua5.4" }
  local i = -1
  while arg and arg[i - 1] do i = i - 1 end
  local me = arg and arg[i]
  if me and me ~= list[1] then list[#list + 1] = me end
  return list
end

local function pattern_url(size, extra)
  return ("%s/pattern?size=%d&block=65536&pace=0.02%s"):format(FAULT, size, extra or "")
end

-- the calls on_progress got, and the function that records them
local function recorder()
  local calls = {}
  return calls, function(dn, dt, un, ut) calls[#calls + 1] = { dn, dt, un, ut } end
end

-- every call's numbers within the final ones, growing
local function check_growing(calls)
  for i = 2, #calls do
    assert.is_true(calls[i][1] >= calls[i - 1][1], "download count went back")
    assert.is_true(calls[i][3] >= calls[i - 1][3], "upload count went back")
  end
end

describe("on_progress's last call", function()
  local N = 300000

  it("reports the whole body of a download with a Content-Length", function()
    local calls, fn = recorder()
    local res = must(http.get(pattern_url(N), { on_progress = fn }))
    assert.equal(N, #res.body)
    assert.same({ N, N, 0, 0 }, calls[#calls])
    check_growing(calls)
    -- only the last call has it: no report is made twice
    assert.is_false(#calls > 1 and calls[#calls - 1][1] == N and calls[#calls - 1][2] == N)
  end)

  it("reports the whole body of a chunked download, its total known at the end", function()
    local calls, fn = recorder()
    local res = must(http.get(pattern_url(N, "&chunked=1"), { on_progress = fn }))
    assert.equal("chunked", res.headers["transfer-encoding"])
    assert.equal(N, #res.body)
    assert.same({ N, N, 0, 0 }, calls[#calls])
    for i = 1, #calls - 1 do assert.equal(0, calls[i][2]) end -- unknown until then
    check_growing(calls)
  end)

  it("reports the whole body of a streamed download once it is read", function()
    local calls, fn = recorder()
    local res = must(http.stream(pattern_url(N, "&chunked=1"), { on_progress = fn }))
    local n = 0
    for c in res:chunks() do n = n + #c end
    assert.equal(N, n)
    assert.same({ N, N, 0, 0 }, calls[#calls])
    check_growing(calls)
  end)

  it("reports the whole body a streamed download saves to a file", function()
    local calls, fn = recorder()
    local res = must(http.stream(pattern_url(N), { on_progress = fn }))
    local path = DIR .. "/progress-save.bin"
    assert.equal(N, res:save(path))
    assert.same({ N, N, 0, 0 }, calls[#calls])
    os.remove(path)
  end)

  it("reports the whole 200000-byte upload of a string body", function()
    local calls, fn = recorder()
    local res = must(http.post(FAULT .. "/digest", { body = ("u"):rep(200000), on_progress = fn }))
    local got = res:json()
    assert.equal(200000, got.size)
    local last = calls[#calls]
    assert.same({ 200000, 200000 }, { last[3], last[4] })
    assert.same({ #res.body, #res.body }, { last[1], last[2] })
    check_growing(calls)
  end)

  it("reports the whole upload of a function body (chunked), its total known at the end", function()
    local calls, fn = recorder()
    local piece, left = ("f"):rep(10000), 20
    local res = must(http.post(FAULT .. "/digest", { on_progress = fn, body = function()
      if left == 0 then return nil end
      left = left - 1
      return piece
    end }))
    local got = res:json()
    assert.equal(200000, got.size)
    assert.is_true(got.chunked)
    local last = calls[#calls]
    assert.same({ 200000, 200000 }, { last[3], last[4] })
    check_growing(calls)
  end)

  it("comes even for a response too quick for any other call", function()
    local calls, fn = recorder()
    local res = must(http.get(FAULT .. "/ok", { on_progress = fn }))
    assert.equal("ok", res.body)
    assert.same({ 2, 2, 0, 0 }, calls[#calls])
  end)

  it("is not made with full sizes for a transfer that failed", function()
    local calls, fn = recorder()
    local res, err = http.get(FAULT .. "/stall?after=3&secs=5", { on_progress = fn,
      timeout = { read = 0.5 } })
    assert.is_nil(res)
    assert.equal("ReadTimeout", err.kind)
    for _, c in ipairs(calls) do assert.is_true(c[1] <= 3) end
  end)
end)

-- ---- the bar, in a pseudo-terminal ---------------------------------------

local SCRIPT = "/usr/bin/script"

local CHILD = [[
local http = require "http"
local base, case, path = arg[1], arg[2], arg[3]
if case == "slow" then
  local res, err = http.get(base .. "/slowbody?bytes=4&every=0.4", { progress = true })
  print("DONE", res and res.status, res and #res.body, err)
elseif case == "chunked" then
  local res, err = http.get(base .. "/pattern?size=200000&chunked=1&block=50000&pace=0.15",
    { progress = true })
  print("DONE", res and res.status, res and #res.body, err)
elseif case == "error" then
  local res, err = http.get(base .. "/stall?after=3&secs=5", { progress = true,
    timeout = { read = 0.8 } })
  print("DONE", res, err and err.kind)
elseif case == "close" then
  local res = assert(http.stream(base .. "/slowbody?bytes=10&every=0.3", { progress = true }))
  local got = res:read(3)
  res:close()
  print("DONE", got)
elseif case == "streamed" then
  local res = assert(http.stream(base .. "/pattern?size=200000&chunked=1&block=50000&pace=0.15",
    { progress = true }))
  print("DONE", #res.body)
elseif case == "save" then
  local res = assert(http.stream(base .. "/pattern?size=200000&chunked=1&block=50000&pace=0.15"))
  print("DONE", res:save(path, { progress = true }))
elseif case == "redirect" then
  local res = assert(http.get(base .. "/predir/goto?loc=" ..
    "%2Fpattern%3Fsize%3D200000%26block%3D50000%26pace%3D0.1", { progress = true }))
  print("DONE", #res.history, #res.body)
elseif case == "interrupt" then
  local res, err = http.get(base .. "/slowbody?bytes=100&every=0.2", { progress = true })
  print("DONE", res, err)
end
]]

-- Runs the child under interp in a pseudo-terminal (stdin, stdout and
-- stderr), feeding it `input` (a shell command writing to its terminal, as
-- a key press would); returns what the terminal showed.
local function in_terminal(interp, case, input)
  local src = DIR .. "/progress-child.lua"
  support.write_file(src, CHILD)
  local asan = os.getenv("ASAN_OPTIONS")
  local inner = table.concat({ "env", q("LUA_CPATH=" .. package.cpath), q("LUA_PATH=" .. package.path),
    q("ASAN_OPTIONS=" .. (asan and asan ~= "" and asan .. ":" or "") .. "quarantine_size_mb=1"),
    q(interp), q(src), q(FAULT), q(case), q(DIR .. "/progress-saved.bin") }, " ")
  local cmd = ("%s | timeout 60 %s -qfc %s /dev/null"):format(input or "true", SCRIPT, q(inner))
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  p:close()
  return out
end

-- the terminal's lines, without the CR the terminal adds before each LF
local function lines(out)
  local t = {}
  for l in (out .. "\n"):gmatch("([^\n]*)\n") do t[#t + 1] = l:gsub("\r$", "") end
  return t
end

-- The line holding `what`: it must start with it (after a CR at most),
-- the bar's line ended before it.
local function message_line(out, what)
  for _, l in ipairs(lines(out)) do
    if l:find(what, 1, true) then
      assert.is_nil(l:find("\27[K", 1, true), "the bar's line was not ended:\n" .. out)
      -- a rate ("5 B/s", "1.2 KiB/s"), not a path's "/s" (lua/lurl/stream.lua)
      assert.is_nil(l:find("B/s", 1, true), "the bar's line was not ended:\n" .. out)
      return l
    end
  end
  error("no line with " .. what .. " in:\n" .. out, 2)
end

-- the last state the bar drew before the line ended
local function last_bar(out)
  local last
  for _, l in ipairs(lines(out)) do
    if l:find("\27[K", 1, true) then
      local seg = l
      for s in l:gmatch("\r([^\r]*)") do seg = s end
      last = seg:gsub("\27%[K$", "")
    end
  end
  return last
end

describe("progress = true in a terminal", function()
  if not io.open(SCRIPT) then
    it("needs " .. SCRIPT, function() pending("no " .. SCRIPT .. " to make a terminal") end)
    return
  end
  for _, interp in ipairs(interpreters()) do
    local label = " (" .. interp:match("[^/]*$") .. ")"

    it("draws a slow download (a rate under 1 KiB/s) to 100% and ends its line" .. label, function()
      local out = in_terminal(interp, "slow")
      assert.is_nil(out:find("integer representation", 1, true), out)
      assert.equal("DONE\t200\t4\tnil", message_line(out, "DONE"))
      assert.matches("^100%.0%%  4 B / 4 B  %d+ B/s  ETA 0s$", last_bar(out))
    end)

    it("ends the line of a download of unknown length, at its whole size" .. label, function()
      local out = in_terminal(interp, "chunked")
      assert.equal("DONE\t200\t200000\tnil", message_line(out, "DONE"))
      assert.matches("195.3 KiB  ", out, 1, true) -- drawn without a total first
      assert.matches("^100%.0%%  195%.3 KiB / 195%.3 KiB", last_bar(out))
    end)

    it("ends its line when the transfer fails" .. label, function()
      local out = in_terminal(interp, "error")
      assert.equal("DONE\tnil\tReadTimeout", message_line(out, "DONE"))
      assert.matches("3 B / 1003 B", last_bar(out), 1, true)
    end)

    it("ends its line when a stream is closed half read" .. label, function()
      local out = in_terminal(interp, "close")
      assert.equal("DONE\t012", message_line(out, "DONE"))
      assert.truthy(last_bar(out))
    end)

    it("ends the line of a stream of unknown length read to its end" .. label, function()
      local out = in_terminal(interp, "streamed")
      assert.equal("DONE\t200000", message_line(out, "DONE"))
      assert.matches("^100%.0%%  195%.3 KiB / 195%.3 KiB", last_bar(out))
    end)

    it("res:save's bar ends its line at the whole size of an unknown length" .. label, function()
      local out = in_terminal(interp, "save")
      assert.equal("DONE\t200000", message_line(out, "DONE"))
      assert.matches("^100%.0%%  195%.3 KiB / 195%.3 KiB", last_bar(out))
      os.remove(DIR .. "/progress-saved.bin")
    end)

    it("draws one bar for a redirect chain, none for the empty redirect" .. label, function()
      local out = in_terminal(interp, "redirect")
      assert.equal("DONE\t1\t200000", message_line(out, "DONE"))
      assert.matches("^100%.0%%  195%.3 KiB / 195%.3 KiB", last_bar(out))
      local bars = 0
      for _, l in ipairs(lines(out)) do if l:find("\27[K", 1, true) then bars = bars + 1 end end
      assert.equal(1, bars, out)
    end)

    it("ends its line on Ctrl-C, before the error is shown" .. label, function()
      -- ^C typed 2.5 s in, while the 20 s body arrives
      local out = in_terminal(interp, "interrupt", "(sleep 2.5; printf '\\003'; sleep 1)")
      assert.truthy(last_bar(out), "no bar was drawn before Ctrl-C:\n" .. out)
      local l = message_line(out, "interrupted")
      assert.is_nil(l:find("DONE", 1, true)) -- raised, not returned
    end)
  end
end)
