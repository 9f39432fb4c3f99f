-- download.lua: download a URL to a file with a progress bar, and resume
-- after an interruption instead of starting over.
--
-- Shows http.stream (it returns once the headers are in; the body is pulled
-- piece by piece, so memory stays at about one chunk whatever the size),
-- res:save (the body goes to PATH.part and is renamed to PATH only once it
-- is complete, so PATH never holds a truncated file), resume = true (a
-- Range request continues an existing PATH.part; a server that ignores
-- Range sends the whole body and the download starts over), and retrying a
-- transfer that broke in the middle.  The bar is drawn on stderr only when
-- stderr is a terminal.
--
--   lurl scripts/download.lua URL PATH
--   scripts/with-httpbin sh -c 'build/lurl scripts/download.lua "$HTTPBIN_URL/range/102400" /tmp/range.bin'
--
-- Stop it (Ctrl-C, a dropped connection) and run it again: it continues
-- from PATH.part.  Exit status: 0 saved, 1 failed, 2 bad usage.
local http = require "http"

local ATTEMPTS = 5

local url, path = arg[1], arg[2]
if not url or not path or arg[3] then
  io.stderr:write("usage: lurl download.lua URL PATH\n")
  os.exit(2)
end

local function say(fmt, ...) io.stderr:write(("download: " .. fmt .. "\n"):format(...)) end

-- bytes already in PATH.part (left by an earlier, interrupted attempt or run)
local function partial_size()
  local f = io.open(path .. ".part", "rb")
  if not f then return 0 end
  local n = f:seek("end") or 0
  f:close()
  return n
end

-- One attempt.  Returns the number of bytes saved; or nil, err when the
-- transfer failed and is worth another try.  An HTTP error status or a
-- local problem (cannot write PATH) ends the script at once: retrying
-- would not change them.
local function attempt()
  local res, err = http.stream(url, { timeout = { connect = 10, read = 30 } })
  if not res then return nil, err end
  if not res.ok then
    res:close()
    say("%s answered %d %s", url, res.status, res.reason)
    os.exit(1)
  end
  local have = partial_size()
  if have > 0 then say("resuming after %d bytes already in %s.part", have, path) end
  local ok, n = pcall(res.save, res, path, { resume = true, progress = true })
  if ok then return n end
  res:close()
  if type(n) ~= "table" then -- not a transfer error: a file problem, a refused resume
    say("%s", tostring(n))
    os.exit(1)
  end
  return nil, n
end

for i = 1, ATTEMPTS do
  local n, err = attempt()
  if n then
    print(("saved %s (%d bytes)"):format(path, n))
    os.exit(0)
  end
  say("attempt %d of %d failed: %s", i, ATTEMPTS, tostring(err))
  if i < ATTEMPTS then http.sleep(0.5 * i) end
end
say("giving up; run it again to continue from %s.part", path)
os.exit(1)
