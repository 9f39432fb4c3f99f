-- LuaRocks build of the `http` module (http.so and its Lua files) from a
-- checkout, against the system's libcurl and Lua 5.4:
--   luarocks --lua-version=5.4 make [--tree DIR]
-- Offline: CMake does the build; libcurl (libcurl4-openssl-dev), libcrypto
-- (libssl-dev) and libgumbo (libgumbo-dev) are external dependencies found
-- on the system, and lua-cjson (for `json` and response:json()) is Debian's
-- lua-cjson, so build with
--   luarocks --lua-version=5.4 make --deps-mode=none [--tree DIR]
-- to have luarocks download nothing (the rock-only user without Debian's
-- lua-cjson installs it with `luarocks install lua-cjson`).
rockspec_format = "3.0"
package = "lurl"
version = "0.1.0-1"
source = {
  -- placeholder until the project has a public home: build with `luarocks make`
  url = "git+https://example.invalid/lurl.git",
  tag = "v0.1.0",
}
description = {
  license = "MIT",
  -- placeholder, as source.url above
  homepage = "https://example.invalid/lurl",
  maintainer = "the lurl authors",
  summary = "Scriptable HTTP for Lua 5.4 over libcurl: requests-like API, tasks, HTTP/2",
  detailed = [[
The `http` module of lurl: requests, sessions, retries, redirects,
pagination and concurrency on coroutines over one libcurl multi loop.]],
}
dependencies = {
  "lua >= 5.4, < 5.5",
  "lua-cjson",
}
external_dependencies = {
  -- the library only: Debian keeps curl/curl.h under the multiarch include
  -- directory, where luarocks does not look (CMake's FindCURL does)
  CURL = { library = "curl" },
  GUMBO = { header = "gumbo.h", library = "gumbo" },
  -- libcrypto (libssl-dev), for request signing (runtime/crypto.c)
  CRYPTO = { header = "openssl/evp.h", library = "crypto" },
  IDN2 = { header = "idn2.h", library = "idn2" }, -- IDN hosts (libidn2-dev)
}
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
