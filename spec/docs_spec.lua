-- Docs that run: every ```lua block of README.md and docs/*.md runs in
-- its own child process (LURL_BIN when set, as under ctest; otherwise
-- lua5.4 with the caller's LUA_CPATH; and also lua5.4 with
-- LURL_BUILD_DIR's http.so when that loads) against the local servers,
-- and the output a doc shows for it is compared with what it printed.
-- The rules writers follow are in docs/testing.md, "Docs that run":
--
--   * a block starts with the globals `http` (require "http"), `base`
--     (httpbin's URL) and `url` (base .. "/anything"), and the
--     environment variables HTTPBIN_URL, APP_URL and API_URL (the
--     fixture app, spec/servers/app.py); its working directory is a
--     fresh temporary one;
--   * a bare ``` (or ```text / ```output) block right after it, blank
--     lines allowed between, is its output: compared line by line after
--     127.0.0.1 ports, decimal numbers, hex addresses, "after N ms" and
--     runs of spaces are made neutral and JSON objects get sorted keys;
--     `...` in a shown line matches anything;
--   * `<!-- fragment: KIND -->` on the line before the fence marks a
--     block that cannot run alone (KIND says why, one word: excerpt,
--     shape, spec, external...); it is counted, not run.
--
-- Blocks run in parallel, one shell per doc file and interpreter, blocks
-- of a file one after the other.  A failing block is named by file:line of its fence,
-- its first line, and the error (whose line numbers are the doc's own:
-- the child runs a copy of the doc file padded so that they match).
--
-- Alone, from the top of the tree:
--   LURL_BIN=$PWD/build/lurl LURL_BUILD_DIR=$PWD/build busted --lua=$PWD/build/lurl spec/docs_spec.lua
local helper = require "spec.helper"
local support = require "spec.support"
local cjson = require "cjson"

local BIN = os.getenv("LURL_BIN") or "lua5.4"
local TIMEOUT = 40          -- seconds, one block
local q = support.q

-- The interpreters each block runs under: BIN, and stock lua5.4 loading
-- the build's http.so when BIN is lurl and lua5.4 can load it (not in a
-- sanitizer build, whose http.so needs the sanitizer runtimes preloaded).
local INTERPS = { { name = BIN:match("[^/]*$"), cmd = q(BIN) } }
do
  local build = os.getenv("LURL_BUILD_DIR")
  if BIN ~= "lua5.4" and build then
    local env = "LUA_CPATH=" .. q(build .. "/?.so;" .. (os.getenv("LUA_CPATH") or ";"))
    if os.execute(env .. " lua5.4 -e 'require \"http\"' >/dev/null 2>&1") then
      INTERPS[2] = { name = "lua5.4", cmd = "env " .. env .. " lua5.4" }
    end
  end
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function doc_files()
  local files = { "README.md" }
  local p = assert(io.popen("ls docs/*.md"))
  for name in p:lines() do files[#files + 1] = name end
  p:close()
  return files
end

-- blocks of one file: {file, line (of the fence), code, first, output
-- (string or nil), fragment (kind or nil)}
local function extract(file)
  local lines = {}
  for l in (assert(read(file), file) .. "\n"):gmatch("(.-)\r?\n") do lines[#lines + 1] = l end
  local blocks, i = {}, 1
  while i <= #lines do
    -- a fence may be indented (inside a list item): its lines lose that indent
    local indent, fence = lines[i]:match("^( *)(```+)lua%s*$")
    if fence then
      local b = { file = file, line = i }
      b.fragment = i > 1 and lines[i - 1]:match("^%s*<!%-%-%s*fragment:?%s*([%w_-]*)%s*%-%->%s*$")
      if b.fragment == "" then b.fragment = "fragment" end
      local body = {}
      i = i + 1
      local close = "^" .. indent .. fence .. "%s*$"
      while i <= #lines and not lines[i]:find(close) do
        body[#body + 1] = lines[i]:sub(1, #indent):match("^ *$") and lines[i]:sub(#indent + 1) or lines[i]
        i = i + 1
      end
      b.code = table.concat(body, "\n")
      b.first = (b.code:match("^%s*([^\n]*%S)") or ""):sub(1, 72)
      -- the output block: the next fence, if only blank lines come between
      local j = i + 1
      while j <= #lines and lines[j]:match("^%s*$") do j = j + 1 end
      local oind, ofence, info = (lines[j] or ""):match("^( *)(```+)(%a*)%s*$")
      if ofence and (info == "" or info == "text" or info == "output") then
        local out, oclose, ostart = {}, "^" .. oind .. ofence .. "%s*$", j
        j = j + 1
        while j <= #lines and not lines[j]:find(oclose) do
          out[#out + 1] = lines[j]:sub(1, #oind):match("^ *$") and lines[j]:sub(#oind + 1) or lines[j]
          j = j + 1
        end
        b.output, b.output_line = table.concat(out, "\n"), ostart
        i = j
      end
      blocks[#blocks + 1] = b
    end
    i = i + 1
  end
  return blocks
end

-- a JSON object or array with its keys sorted (cjson's order varies)
local function canonical(v)
  if type(v) == "number" then return ("%.17g"):format(v) end
  if type(v) ~= "table" then return cjson.encode(v) end
  local keys, n = {}, #v
  for k in pairs(v) do keys[#keys + 1] = k end
  local parts = {}
  if n == #keys and (n > 0 or getmetatable(v) == cjson.array_mt) then
    for i = 1, n do parts[i] = canonical(v[i]) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for i, k in ipairs(keys) do parts[i] = cjson.encode(tostring(k)) .. ":" .. canonical(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- what varies from run to run, made neutral on both sides
local function neutral(line)
  line = line:gsub("%s+$", "")
  line = line:gsub("{.*}", function(j)
    local ok, v = pcall(cjson.decode, j)
    return ok and type(v) == "table" and canonical(v) or nil
  end)
  line = line:gsub("(127%.0%.0%.1):(%d+)", function(h, p) return p == "1" and nil or h .. ":PORT" end)
  line = line:gsub("127%.0%.0%.1%%3A%d+", "127.0.0.1%%3APORT")
  line = line:gsub("localhost:%d+", "localhost:PORT")
  line = line:gsub("0x%x+", "0xADDR")
  line = line:gsub("after %d+ ms", "after N ms")
  line = line:gsub("%d+%.%d+e[-+]%d+", "N.N")
  line = line:gsub("%d+%.%d+", "N.N")
  line = line:gsub(" +", " ")
  return line
end

local function split(s)
  local t = {}
  for l in (s .. "\n"):gmatch("(.-)\n") do t[#t + 1] = l end
  while #t > 0 and t[#t]:match("^%s*$") do t[#t] = nil end
  return t
end

-- nil when the output matches, else the first difference
local function compare(shown, got)
  local want, have = split(shown), split(got)
  for k = 1, math.max(#want, #have) do
    local w, h = want[k], have[k]
    if not w or not h then
      return ("line %d: shown %s, printed %s"):format(k, w and ("%q"):format(w) or "nothing",
                                                      h and ("%q"):format(h) or "nothing")
    end
    local nw, nh = neutral(w), neutral(h)
    local pat = "^" .. nw:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"):gsub("%%%.%%%.%%%.", ".-") .. "$"
    if nw ~= nh and not nh:find(pat) then
      return ("line %d: shown %q, printed %q"):format(k, w, h)
    end
  end
end

local PRELUDE = 'http = require "http"; base = os.getenv "HTTPBIN_URL"; url = base .. "/anything"'

-- runs every block that is not a fragment under each interpreter; fills
-- b.runs[i] = {out =, err =, rc =} (i indexes INTERPS)
local function run_all(blocks, root)
  local per_file, order = {}, {}
  for n, b in ipairs(blocks) do
    if not b.fragment then
      b.dirs = {}
      for i, interp in ipairs(INTERPS) do
        local dir = ("%s/%d.%d"):format(root, n, i)
        b.dirs[i] = dir
        local path = dir .. "/" .. b.file
        assert(os.execute("mkdir -p " .. q(path:match("^(.*)/"))))
        local f = assert(io.open(path, "w"))
        f:write(("\n"):rep(b.line), b.code, "\n")   -- line numbers as in the doc
        f:close()
        local key = b.file .. "\0" .. i     -- a file's blocks in order, per interpreter
        if not per_file[key] then per_file[key] = {}; order[#order + 1] = key end
        local cmd = ("(cd %s && timeout %d %s -e %s %s >out 2>err; echo $? >rc)"):format(
          q(dir), TIMEOUT, interp.cmd, q(PRELUDE), q(b.file))
        table.insert(per_file[key], cmd)
      end
    end
  end
  local script = { "export HTTPBIN_URL=" .. q(helper.httpbin), "export APP_URL=" .. q(helper.app),
                   "export API_URL=" .. q(helper.app) }
  for _, file in ipairs(order) do
    script[#script + 1] = "(" .. table.concat(per_file[file], "; ") .. ") &"
  end
  script[#script + 1] = "wait"
  local f = assert(io.open(root .. "/run.sh", "w"))
  f:write(table.concat(script, "\n"), "\n")
  f:close()
  os.execute("sh " .. q(root .. "/run.sh"))
  for _, b in ipairs(blocks) do
    if b.dirs then
      b.runs = {}
      for i, dir in ipairs(b.dirs) do
        b.runs[i] = { out = read(dir .. "/out") or "", err = read(dir .. "/err") or "",
                      rc = tonumber(read(dir .. "/rc") or "") }
      end
    end
  end
end

describe("docs that run", function()
  local blocks = {}
  for _, file in ipairs(doc_files()) do
    for _, b in ipairs(extract(file)) do blocks[#blocks + 1] = b end
  end
  local ran = false
  local function ensure_ran()
    if ran then return end
    ran = true
    local root = helper.tmpdir .. "/docs_spec"
    os.execute("rm -rf " .. q(root))
    run_all(blocks, root)
  end

  for _, b in ipairs(blocks) do
    if not b.fragment then
      it(("%s:%d %s"):format(b.file, b.line, b.first), function()
        ensure_ran()
        for i, r in ipairs(b.runs) do
          local where = ("%s:%d (%s) under %s"):format(b.file, b.line, b.first, INTERPS[i].name)
          if r.rc ~= 0 then
            local why = r.rc == 124 and ("timed out after %d s"):format(TIMEOUT) or ("exit " .. tostring(r.rc))
            error(("%s: %s\n%s"):format(where, why, r.err), 0)
          end
          if b.output then
            local diff = compare(b.output, r.out)
            if diff then
              error(("%s: output differs from %s:%d, %s\n--- printed:\n%s"):format(
                where, b.file, b.output_line, diff, r.out), 0)
            end
          end
        end
      end)
    end
  end

  it("keeps fragments a minority", function()
    local kinds, nfrag, names, nout = {}, 0, {}, 0
    for _, b in ipairs(blocks) do
      if b.output and not b.fragment then nout = nout + 1 end
      if b.fragment then
        nfrag = nfrag + 1
        if not kinds[b.fragment] then kinds[b.fragment] = 0; names[#names + 1] = b.fragment end
        kinds[b.fragment] = kinds[b.fragment] + 1
      end
    end
    table.sort(names)
    local parts = {}
    for _, k in ipairs(names) do parts[#parts + 1] = ("%d %s"):format(kinds[k], k) end
    local names_i = {}
    for i, interp in ipairs(INTERPS) do names_i[i] = interp.name end
    io.stderr:write(("\ndocs: %d Lua blocks, %d run under %s (%d with their output compared), %d fragments (%s)\n"):format(
      #blocks, #blocks - nfrag, table.concat(names_i, " and "), nout, nfrag, table.concat(parts, ", ")))
    assert.is_true(#blocks > 0)
    assert.is_true(nfrag * 3 < #blocks, ("%d fragments of %d blocks"):format(nfrag, #blocks))
  end)
end)
