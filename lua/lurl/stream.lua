-- lurl.stream: moving bodies piece by piece, both ways.
--
-- The C side pauses a transfer when a chunk of a streamed body is waiting,
-- or when an upload function has nothing buffered, and wakes Lua; this file
-- is the Lua half: it feeds upload chunks, calls on_progress, and pulls the
-- body for res:chunks(), res:lines(), res:read(), res:save() and res.body.
-- Memory stays bounded by the chunk size whatever the body's size.
local core = require "http.core"
local task = require "lurl.task"

local M = {}

local done_c, io_state, feed, pull, cancel, sink = core.done, core.io_state, core.feed, core.pull,
  core.cancel, core.sink

-- The stream of r (on transfer t) ends: res.bytes counts its whole body
-- from now on (core.result counted what had come with the headers).
local function ended(r, t)
  r._t = nil
  local tm = rawget(r, "_tm")
  if tm then
    core.stream_bytes(t, tm)
    rawset(r, "bytes", nil) -- made again when read
  end
end
local wait = task.wait

-- One wait on t, then whatever woke it: an upload chunk wanted, a progress
-- report due.  Returns an error object when on_progress aborted, else
-- headers_done.
local function step(t, ctx)
  local done, woken = done_c(t)
  if not (done or woken) then wait(t) end
  local need, hdone, due, dn, dt, un, ut = io_state(t)
  if need and ctx.body_fn then
    local ok, chunk = pcall(ctx.body_fn)
    if not ok or (chunk ~= nil and type(chunk) ~= "string") then
      cancel(t)
      if ok then chunk = ("body function returned a %s (string or nil expected)"):format(type(chunk)) end
      error(chunk, 0)
    end
    feed(t, chunk)
  end
  if due and ctx.on_progress then
    local ok, r = pcall(ctx.on_progress, dn, dt, un, ut)
    if not ok then
      cancel(t)
      error(r, 0)
    end
    if r == false then
      cancel(t)
      return nil, core.error("RequestException", "transfer aborted by on_progress", ctx.method,
        ctx.url)
    end
  end
  return hdone
end

-- on_progress's last call, with the final sizes of a transfer that ended
-- well (runtime/transfer.c, lurl_transfer_progress_end): due unless the
-- last call had them.  Nothing is left to abort: its answer is not asked.
local function last_call(t, ctx)
  local _, _, due, dn, dt, un, ut = io_state(t)
  if due and ctx.on_progress then
    local ok, r = pcall(ctx.on_progress, dn, dt, un, ut)
    if not ok then
      cancel(t)
      error(r, 0)
    end
  end
end

-- A to-be-closed value that ends the progress bar's line (ctx.bar_end)
-- when its scope is left, or only when it is left by an error (a failed or
-- aborted transfer, Ctrl-C's "interrupted"), so that the next message
-- starts on a line of its own.
local function bar_guard(ctx, on_error_only)
  local fin = ctx and ctx.bar_end
  if not fin then return nil end
  return setmetatable({}, { __close = function(_, e)
    if e ~= nil or not on_error_only then fin() end
  end })
end

-- Drives t until it is done (or, when streaming, until its headers are in),
-- serving uploads and progress meanwhile.  Returns nil, err when aborted.
function M.drive(t, ctx)
  local _ <close> = bar_guard(ctx, ctx.stream)
  while true do
    if done_c(t) then
      last_call(t, ctx)
      return true
    end
    local hdone, err = step(t, ctx)
    if err then return nil, err end
    if ctx.stream and hdone then return true end
  end
end

-- The progress bar of progress = true: bytes, rate and ETA on stderr, only
-- when stderr is a terminal.  Returns the function that draws it (an
-- on_progress) and the one that ends its line if one is open; nil when
-- there is no terminal.
function M.bar()
  -- not in a limited state: its host's stderr is not the script's
  if core.limited() or not core.isatty(2) then return nil end
  local t0 = core.now()
  local open = false -- a line is drawn and not ended
  local function size(n)
    if n >= 1048576 then return ("%.1f MiB"):format(n / 1048576) end
    if n >= 1024 then return ("%.1f KiB"):format(n / 1024) end
    return ("%d B"):format(math.floor(n)) -- a rate is a float
  end
  local function draw(dn, dt, un, ut)
    local now_, total = dn, dt
    if ut > 0 and dn == 0 then now_, total = un, ut end
    -- nothing to show (an empty body: a redirect being followed, a 204):
    -- no line, so a redirect chain draws one bar, not one per hop
    if now_ == 0 and total == 0 then return end
    local el = core.now() - t0
    local rate = el > 0 and now_ / el or 0
    local line
    if total > 0 then
      local eta = rate > 0 and (total - now_) / rate or 0
      line = ("%5.1f%%  %s / %s  %s/s  ETA %ds"):format(100 * now_ / total, size(now_), size(total),
        size(rate), math.floor(eta + 0.5))
    else
      line = ("%s  %s/s"):format(size(now_), size(rate))
    end
    io.stderr:write("\r", line, "\27[K")
    open = true
    if total > 0 and now_ >= total then
      io.stderr:write("\n")
      open = false
    end
  end
  local function finish()
    if open then
      io.stderr:write("\n")
      open = false
    end
  end
  return draw, finish
end

-- One step of a streamed response's transfer (step above); an abort by
-- on_progress ends the stream and is raised.
local function advance(r, t, ctx)
  local _, aerr = step(t, ctx)
  if aerr then
    ended(r, t)
    error(aerr, 0)
  end
end

-- Next chunk of a streamed response (at most about `want` bytes), nil at
-- the end; raises the transfer's error (a truncated body, a read timeout)
-- at the read that meets it.
function M.next_chunk(r, want)
  local t = rawget(r, "_t")
  if not t then return nil end
  local ctx = rawget(r, "_ctx")
  -- nil unless progress = true draws a bar (no call per chunk otherwise)
  local _ <close> = ctx and ctx.bar_end and bar_guard(ctx, true)
  while true do
    local chunk, err = pull(t, want)
    if chunk then return chunk end
    if chunk == nil then
      ended(r, t)
      if err then error(err, 0) end
      if ctx then
        last_call(t, ctx)
        if ctx.bar_end then ctx.bar_end() end
      end
      return nil
    end
    advance(r, t, ctx)
  end
end

local next_chunk = M.next_chunk

-- res:save's fast path: libcurl's write callback writes the rest of the
-- body straight to the open file f (no Lua string per chunk).  Returns the
-- bytes written; raises what next_chunk would, or "cannot save: ...".
function M.sink(r, f)
  local t, ctx = rawget(r, "_t"), rawget(r, "_ctx")
  local n, pending = 0, rawget(r, "_rbuf")
  r._rbuf = nil
  if pending and pending ~= "" then
    assert(f:write(pending))
    n = #pending
  end
  -- the file is detached however this ends (an error, a cancelled task)
  -- before the caller closes it
  local _ <close> = setmetatable({}, { __close = function() sink(t) end })
  local _b <close> = bar_guard(ctx, true)
  local ok, werr = sink(t, f)
  while ok and not done_c(t) do advance(r, t, ctx) end
  local wrote
  wrote, werr = sink(t)
  ended(r, t)
  if not wrote then
    cancel(t)
    error("cannot save: " .. werr, 0)
  end
  local _, err = pull(t) -- the end: nil, or nil and how the transfer failed
  if err then error(err, 0) end
  if ctx then
    last_call(t, ctx)
    if ctx.bar_end then ctx.bar_end() end
  end
  return n + wrote
end

-- The streaming methods of a response (lurl.response lists every method
-- and calls these, so this file is compiled only when a script streams):
-- res:chunks(), res:read(), res:lines(), res:save() and the lazy res.body
-- of a streamed response.
local function check_size(fname, n, dflt)
  if n == nil then return dflt end
  if math.type(n) ~= "integer" or n < 1 then
    error(("bad argument #1 to '%s' (positive integer expected)"):format(fname), 3)
  end
  return n
end

-- res:chunks([size]) -> iterator over chunks of the body.
function M.chunks(r, size)
  size = check_size("chunks", size, 65536)
  if not rawget(r, "_t") then -- a buffered body: hand it out in slices
    local body, pos = r.body, 1
    return function()
      if pos > #body then return nil end
      local c = body:sub(pos, pos + size - 1)
      pos = pos + size
      return c
    end
  end
  -- chunks hold at most `size` bytes: what arrived beyond is kept for
  -- the next one
  local pending = rawget(r, "_rbuf")
  r._rbuf = nil
  return function()
    if not pending or pending == "" then
      pending = next_chunk(r, size)
      if not pending then return nil end
    end
    if #pending <= size then
      local c = pending
      pending = nil
      return c
    end
    local c = pending:sub(1, size)
    pending = pending:sub(size + 1)
    return c
  end
end

-- res:read(n) -> up to n bytes (fewer only at the end), nil at the end.
function M.read(r, n)
  n = check_size("read", n, nil)
  if not n then error("bad argument #1 to 'read' (positive integer expected)", 2) end
  if not rawget(r, "_t") and not rawget(r, "_rbuf") and rawget(r, "_rpos") == nil then
    r._rbuf = r.body -- buffered: read from the body
  end
  local buf = rawget(r, "_rbuf") or ""
  local parts, have = { buf }, #buf
  while have < n do
    local c = next_chunk(r, math.max(n - have, 16384))
    if not c then break end
    parts[#parts + 1] = c
    have = have + #c
  end
  buf = table.concat(parts)
  r._rpos = true
  if buf == "" then
    r._rbuf = nil
    return nil
  end
  r._rbuf = buf:sub(n + 1)
  return buf:sub(1, n)
end

-- res:lines() -> iterator over lines without their LF or CRLF; a last
-- line without a newline is returned too.  A line is handed out as soon
-- as its LF has arrived; a long line is gathered in pieces (no quadratic
-- re-copying).
function M.lines(r)
  local buf, eof = rawget(r, "_rbuf") or "", false
  r._rbuf = nil
  if not rawget(r, "_t") and not rawget(r, "_rpos") then buf, eof = r.body, true end
  local pos = 1
  local function finish(line)
    if line:sub(-1) == "\r" then line = line:sub(1, -2) end
    return line
  end
  return function()
    local nl = buf:find("\n", pos, true)
    if nl then
      local line = buf:sub(pos, nl - 1)
      pos = nl + 1
      return finish(line)
    end
    local parts = { buf:sub(pos) } -- the start of a line still arriving
    buf, pos = "", 1
    while not eof do
      local c = next_chunk(r, 65536)
      if not c then
        eof = true
      else
        nl = c:find("\n", 1, true)
        if nl then
          parts[#parts + 1] = c:sub(1, nl - 1)
          buf, pos = c, nl + 1
          return finish(table.concat(parts))
        end
        parts[#parts + 1] = c
      end
    end
    local line = table.concat(parts)
    if line == "" then return nil end
    return line
  end
end

-- res.body of a streamed response reads the rest of it.
function M.body(r)
  local parts = { rawget(r, "_rbuf") }
  r._rbuf = nil
  while true do
    local c = next_chunk(r, 1048576)
    if not c then break end
    parts[#parts + 1] = c
  end
  return table.concat(parts)
end

-- res:save(path [, {resume=, progress=}]): writes the body to a temporary
-- file beside path (path .. ".part") and renames it over path only once
-- the whole body is in, so a failed download never leaves a truncated file
-- under the final name.  resume = true continues a .part left by an
-- earlier failure with a Range request (starting over when the server
-- does not honour it).  Returns the number of bytes written.
function M.save(r, path, o)
  if type(path) ~= "string" then
    error(("bad argument #1 to 'save' (string expected, got %s)"):format(type(path)), 2)
  end
  if o ~= nil and type(o) ~= "table" then
    error(("bad argument #2 to 'save' (table expected, got %s)"):format(type(o)), 2)
  end
  o = o or {}
  -- a device or a FIFO (/dev/null, /dev/stdout) is written in place: a
  -- rename would replace it with a regular file
  local part = core.filekind(path) == "other" and path or path .. ".part"
  local src, mode, offset = r, "wb", 0
  if o.resume and rawget(r, "_resend") then
    local f = core.open(part, "rb")
    local have = 0
    if f then
      have = f:seek("end") or 0
      f:close()
    end
    if have > 0 then
      r:close()
      local res, err = r._resend({ Range = ("bytes=%d-"):format(have) })
      if not res then error(err, 2) end
      local cr = res.headers["content-range"] or ""
      if res.status == 206 and cr:match("^bytes%s+(%d+)%-") == tostring(have) then
        mode, offset = "ab", have
      elseif res.status == 416 and tonumber(cr:match("^bytes%s+%*/(%d+)")) == have then
        res:close() -- the .part is already whole
        local moved, merr = core.rename(part, path)
        if not moved then error("cannot save: " .. merr, 2) end
        return have
      elseif res.status ~= 200 then
        res:close() -- an error answer: keep the .part for another try
        error(("cannot resume %s: %d %s"):format(path, res.status, res.reason), 2)
      end
      src = res
    end
  end
  local f, err = core.open(part, mode)
  if not f then error("cannot save: " .. err, 2) end
  local bar, bar_end
  if o.progress then bar, bar_end = M.bar() end
  local total = tonumber(src.headers["content-length"])
  local written = offset
  local ok, perr = pcall(function()
    if not bar and rawget(src, "_t") then -- no bar to draw: no Lua per chunk
      written = written + M.sink(src, f)
      return
    end
    -- 256 KiB pieces: big enough for throughput, small enough for RSS
    for chunk in M.chunks(src, 262144) do
      assert(f:write(chunk))
      written = written + #chunk
      if bar then bar(written, total and total + offset or 0, 0, 0) end
    end
  end)
  if bar then
    -- the whole size, known now (unless the last line showed it)
    if ok and not (total and written >= total + offset) then bar(written, written, 0, 0) end
    bar_end() -- a failure (Ctrl-C's "interrupted" too) ends the line as well
  end
  local closed, cerr = f:close()
  if not ok then error(perr, 2) end
  if not closed then error("cannot save: " .. tostring(cerr), 2) end
  if part ~= path then
    local moved, merr = core.rename(part, path)
    if not moved then error("cannot save: " .. merr, 2) end
  end
  return written
end

return M
