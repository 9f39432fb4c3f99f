-- bench/html/lurl_html.lua PAGE SELECTORS REPS: parse the page and run
-- each selector (counting its matches), REPS times; prints the median
-- seconds of one round and the match counts (checked against the peers').
local http = require "http"
local page = assert(io.open(arg[1], "rb")):read("a")
local sels = {}
for line in io.lines(arg[2]) do sels[#sels + 1] = line end
local reps = tonumber(arg[3]) or 5
local times, counts = {}, nil
for r = 1, reps do
  collectgarbage()
  local t0 = http.now()
  local doc = http.html(page)
  local c = {}
  for k, css in ipairs(sels) do
    local n = 0
    for _ in doc:select(css) do n = n + 1 end
    c[k] = n
  end
  times[r] = http.now() - t0
  counts = c
end
table.sort(times)
print(("%.6f %s"):format(times[(reps + 1) // 2], table.concat(counts, ",")))
