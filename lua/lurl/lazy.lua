-- lurl.lazy: a module loaded on first use.  lazy "lurl.retry" is a table
-- that requires lurl.retry the first time one of its fields is read and
-- then reads through to it, so `require "http"` compiles only what every
-- script needs (retries, jars, streams, redaction are not in every script).
return function(name)
  return setmetatable({}, { __index = function(t, k)
    local m = require(name)
    setmetatable(t, { __index = m })
    return m[k]
  end })
end
