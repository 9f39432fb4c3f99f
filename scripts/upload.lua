-- upload.lua: send a file and form fields in one multipart/form-data
-- request, and print what the server echoed.
--
-- Shows files = {field = http.file(path)} (the file is streamed from disk,
-- never read into memory, so its size does not matter), data = {...}
-- entries sent as plain form fields beside it, a progress bar on stderr
-- (only when stderr is a terminal), and reading the server's answer.
-- Besides the fields given on the command line, a field `size` carries the
-- file's length so that the receiver can check it got everything.
--
--   lurl scripts/upload.lua URL FILE [name=value ...]
--   scripts/with-httpbin sh -c 'build/lurl scripts/upload.lua "$HTTPBIN_URL/post" README.md note=hello'
--
-- httpbin's /post answers with the form fields and files it parsed; they
-- are listed one per line.  Any other answer is printed as it came.
-- Exit status: 0 when the server answered 2xx/3xx, 1 otherwise, 2 bad usage.
local http = require "http"

local url, path = arg[1], arg[2]
if not url or not path then
  io.stderr:write("usage: lurl upload.lua URL FILE [name=value ...]\n")
  os.exit(2)
end

local f, why = io.open(path, "rb")
if not f then
  io.stderr:write("upload: ", why, "\n")
  os.exit(1)
end
local size = f:seek("end")
f:close()

local fields = { size = tostring(size) }
for i = 3, #arg do
  local k, v = arg[i]:match("^([^=]+)=(.*)$")
  if not k then
    io.stderr:write("upload: expected name=value, got '", arg[i], "'\n")
    os.exit(2)
  end
  fields[k] = v
end

local res, err = http.post(url, {
  files = { file = http.file(path) }, -- filename: the file's own name
  data = fields,
  progress = true,
  timeout = { connect = 10, read = 60 },
})
if not res then
  io.stderr:write("upload: ", tostring(err), "\n")
  os.exit(1)
end

print(("POST %s -> %d %s (%d bytes of file, %.3f s)"):format(res.url, res.status, res.reason,
  size, res.elapsed))

-- httpbin's echo: {form = {name = value}, files = {field = content}, ...}
local ok, echo = pcall(res.json, res)
if ok and type(echo) == "table" and type(echo.form) == "table" and type(echo.files) == "table" then
  local names = {}
  for k in pairs(echo.form) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do print(("form  %s = %s"):format(k, tostring(echo.form[k]))) end
  names = {}
  for k in pairs(echo.files) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    local content = tostring(echo.files[k])
    -- binary content comes back as a data: URL; text as it was
    local kind = content:match("^data:[^,]*;base64,") and "base64 data URL" or "text"
    local start = content:sub(1, 40):gsub("\r", "\\r"):gsub("\n", "\\n"):gsub("%c", "?")
    print(("file  %s: %d characters (%s), starting \"%s\""):format(k, #content, kind, start))
  end
else
  io.write(res.body)
  if res.body:sub(-1) ~= "\n" then io.write("\n") end
end
os.exit(res.ok and 0 or 1)
