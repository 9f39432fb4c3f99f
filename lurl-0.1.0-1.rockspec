-- LuaRocks build of the `http` module (http.so and its Lua files) from a
-- checkout, against the system's libcurl and Lua 5.4:
--   luarocks --lua-version=5.4 make [--tree DIR]
-- Offline: CMake does the build and finds libcurl (libcurl4-openssl-dev)
-- itself; nothing is downloaded.  lua-cjson (for
-- `json` and response:json()) comes from the system too: Debian's lua-cjson.
rockspec_format = "3.0"
package = "lurl"
version = "0.1.0-1"
source = {
  -- placeholder until the project has a public home: build with `luarocks make`
  url = "git+https://example.invalid/lurl.git",
  tag = "v0.1.0",
}
description = {
  summary = "Scriptable HTTP for Lua 5.4 over libcurl: requests-like API, tasks, HTTP/2",
  detailed = [[
The `http` module of lurl: requests, sessions, retries, redirects,
pagination and concurrency on coroutines over one libcurl multi loop.]],
}
dependencies = { "lua >= 5.4, < 5.5" }
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    LURL_MODULE_ONLY = "ON",
    LURL_BUILD_TESTS = "OFF",
    LURL_WERROR = "OFF",
    LURL_LUA_CMOD_DIR = "$(LIBDIR)",
    LURL_LUA_LMOD_DIR = "$(LUADIR)",
  },
}
