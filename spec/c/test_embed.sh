#!/usr/bin/env bash
# test_embed.sh -- ctest driver for what a C host or a Lua user installs:
#
#   test_embed.sh poll-host POLL_HOST_BIN
#       examples/poll_host.c: its timer ticks while 3 requests are in flight
#   test_embed.sh install BUILD_DIR SOURCE_DIR
#       cmake --install into a temporary prefix, move the prefix (it must be
#       relocatable), build examples/embed once with pkg-config alone and once
#       with find_package, run both; stock lua5.4 requires http from the
#       prefix; then, when a private mount namespace is available, the same
#       into a real /usr/local with no path set at all
#   test_embed.sh xfsz LURL_BIN
#       the binary under `ulimit -f` saving a body bigger than the limit:
#       exit status 1 and a clear message, no SIGXFSZ death, target untouched
#   test_embed.sh rock SOURCE_DIR
#       luarocks make --tree <tmp> with the rockspec, then require from it
#
# Every run starts spec/c/host_server.py on a free port and checks what it
# received as well as what the programs printed.  Prints "N passed, N failed".
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/lurl-embed.XXXXXX)
passed=0
failed=0
server_pid=""

cleanup() {
  if [ -n "$server_pid" ]; then
    exec 3>&-
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { # description command...
  local what=$1; shift
  if "$@" >"$tmp/check.out" 2>&1; then ok "$what"; else fail "$what"; cat "$tmp/check.out"; fi
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

# The server lives as long as fd 3 (its stdin) stays open.
start_server() {
  mkfifo "$tmp/server.in"
  /usr/bin/python3 "$here/host_server.py" <"$tmp/server.in" >"$tmp/server.out" &
  server_pid=$!
  exec 3>"$tmp/server.in"
  for _ in $(seq 100); do
    grep -q '^PORT ' "$tmp/server.out" 2>/dev/null && break
    sleep 0.05
  done
  port=$(awk '/^PORT/ {print $2}' "$tmp/server.out")
  [ -n "$port" ] || { echo "host_server.py did not start"; exit 1; }
  base="http://127.0.0.1:$port"
}

# How many requests the server logged whose query contains $1.
server_count() {
  /usr/bin/python3 - "$base" "$1" <<'EOF'
import json, sys, urllib.request
log = json.load(urllib.request.urlopen(sys.argv[1] + "/requests"))
print(sum(1 for e in log if sys.argv[2] in e["query"]))
EOF
}
expect_count() { # token n
  local got
  got=$(server_count "$1")
  if [ "$got" = "$2" ]; then ok "server received $2 x $1"; else fail "server received $got x $1, wanted $2"; fi
}
expect_output() { # description file pattern (grep -E)
  if grep -Eq "$3" "$2"; then ok "$1"; else fail "$1: no /$3/ in:"; cat "$2"; fi
}

# ---------------------------------------------------------------- poll-host
poll_host() {
  local bin=$1
  start_server
  check "poll_host runs" "$bin" "$base/slow?ms=400&t=poll" 3
  cp "$tmp/check.out" "$tmp/poll.out"
  expect_output "all three answered" "$tmp/poll.out" '^statuses: 200,200,200$'
  # the host's own timer ticked while lurl had all three sockets open
  local busy
  busy=$(grep -c '^tick [0-9]*: 3 lurl sockets open$' "$tmp/poll.out")
  if [ "$busy" -ge 3 ]; then ok "host ticked $busy times with 3 transfers in flight"
  else fail "host ticked $busy times with 3 transfers in flight"; cat "$tmp/poll.out"; fi
  expect_count "t=poll&n=" 3
}

# ----------------------------------------------------------------- install
build_and_run_examples() { # prefix label
  local prefix=$1 label=$2 src=$3
  local pcdir
  pcdir=$(dirname "$(find "$prefix" -name lurl.pc | head -1)")
  local libdir
  libdir=$(dirname "$pcdir")
  # 1. pkg-config alone
  check "$label: pkg-config build" env PKG_CONFIG_PATH="$pcdir" sh -c \
    "cc -Wall -Wextra -Werror '$src/examples/embed/host.c' \$(pkg-config --cflags --libs lurl) -o '$tmp/host_pc'"
  check "$label: pkg-config host runs" env LD_LIBRARY_PATH="$libdir" \
    "$tmp/host_pc" "$src/examples/embed/fetch.lua" "$base" "$label-pc"
  expect_output "$label: pkg-config host output" "$tmp/check.out" '^200 ok, 200 ok$'
  expect_output "$label: limits refused the other host" "$tmp/check.out" '^InvalidURL$'
  expect_count "from=$label-pc-a" 1
  expect_count "from=$label-pc-b" 1
  expect_count "from=$label-pc-refused" 0
  # 2. find_package
  check "$label: find_package configure" cmake -S "$src/examples/embed" -B "$tmp/cm-$label" \
    -DCMAKE_PREFIX_PATH="$prefix"
  check "$label: find_package build" cmake --build "$tmp/cm-$label"
  check "$label: find_package host runs" \
    "$tmp/cm-$label/embed_host" "$src/examples/embed/fetch.lua" "$base" "$label-cmake"
  expect_output "$label: find_package host output" "$tmp/check.out" '^200 ok, 200 ok$'
  expect_output "$label: limits refused the other host" "$tmp/check.out" '^InvalidURL$'
  expect_count "from=$label-cmake-a" 1
  expect_count "from=$label-cmake-refused" 0
}

install() {
  local build=$1 src=$2
  start_server
  check "cmake --install" cmake --install "$build" --prefix "$tmp/first"
  mv "$tmp/first" "$tmp/prefix" # relocatable: nothing may remember the first place
  local prefix=$tmp/prefix
  local pc
  pc=$(find "$prefix" -name lurl.pc | head -1)
  local libdir
  libdir=$(dirname "$(dirname "$pc")")
  for f in bin/lurl include/lurl.h; do
    check "installed $f" test -f "$prefix/$f"
  done
  for f in liblurl.a liblurl.so liblurl.so.0 lua/5.4/http.so cmake/lurl/lurlConfig.cmake \
           cmake/lurl/lurlTargets.cmake pkgconfig/lurl.pc; do
    check "installed ${libdir#"$prefix"/}/$f" test -e "$libdir/$f"
  done
  check "installed share/lua/5.4/lurl/client.lua" test -f "$prefix/share/lua/5.4/lurl/client.lua"
  check "SONAME liblurl.so.0" sh -c "readelf -d '$libdir/liblurl.so' | grep -q 'SONAME.*\\[liblurl.so.0\\]'"
  # only the LURL_API functions are exported
  nm -D --defined-only "$libdir/liblurl.so" | awk '$2 ~ /^[TDB]$/ {print $3}' >"$tmp/exports"
  if grep -qvE '^(lurl_[a-z_]+|luaopen_http)$' "$tmp/exports"; then
    fail "liblurl.so exports only lurl_* and luaopen_http"; grep -vE '^(lurl_|luaopen_http)' "$tmp/exports"
  else ok "liblurl.so exports only lurl_* and luaopen_http ($(wc -l <"$tmp/exports") symbols)"; fi
  check "pkg-config --cflags points into the moved prefix" env PKG_CONFIG_PATH="$(dirname "$pc")" \
    sh -c "pkg-config --cflags lurl | grep -q -- '-I$prefix/lib/pkgconfig/../../include\\|-I$prefix/include'"

  build_and_run_examples "$prefix" moved "$src"

  # stock lua5.4 with the prefix's standard directories
  check "lua5.4 requires http from the prefix" env \
    LUA_CPATH="$libdir/lua/5.4/?.so;;" LUA_PATH="$prefix/share/lua/5.4/?.lua;;" \
    lua5.4 -e "
      local http = require 'http'
      assert(package.searchpath('http', package.cpath) == '$libdir/lua/5.4/http.so')
      assert(package.searchpath('lurl.client', package.path) == '$prefix/share/lua/5.4/lurl/client.lua')
      local r = assert(http.get('$base/ok?from=lua54'))
      assert(r.status == 200 and r.body == 'ok')"
  expect_count "from=lua54" 1
  check "installed lurl runs a request" "$prefix/bin/lurl" -e \
    "assert(require('http').get('$base/ok?from=lurlbin').status == 200)"
  expect_count "from=lurlbin" 1

  # A real /usr/local install, seen only inside a private mount namespace
  # (a tmpfs over /usr/local): nothing set, no LUA_PATH, no PKG_CONFIG_PATH,
  # no CMAKE_PREFIX_PATH.
  if unshare -m true 2>/dev/null && [ "$(id -u)" = 0 ]; then
    check "/usr/local: install and use with no path set" unshare -m env -u LUA_PATH -u LUA_CPATH \
      -u LUA_PATH_5_4 -u LUA_CPATH_5_4 -u PKG_CONFIG_PATH -u CMAKE_PREFIX_PATH bash -euc "
      mount -t tmpfs tmpfs /usr/local
      cmake --install '$build' --prefix /usr/local >/dev/null
      lua5.4 -e \"
        local http = require 'http'
        assert(package.searchpath('http', package.cpath) == '/usr/local/lib/lua/5.4/http.so',
               package.searchpath('http', package.cpath))
        assert(http.get('$base/ok?from=usrlocal-lua').status == 200)\"
      pkg-config --cflags --libs lurl | grep -q -- '-llurl'
      cmake -S '$src/examples/embed' -B '$tmp/cm-usrlocal' >/dev/null
      cmake --build '$tmp/cm-usrlocal' >/dev/null
      '$tmp/cm-usrlocal/embed_host' '$src/examples/embed/fetch.lua' '$base' usrlocal-cmake"
    expect_count "from=usrlocal-lua" 1
    expect_count "from=usrlocal-cmake-a" 1
  else
    echo "skip: no private mount namespace here, /usr/local install not tried"
  fi
}

# -------------------------------------------------------------------- xfsz
xfsz() {
  local bin=$1
  start_server
  echo "before" >"$tmp/target.bin"
  # 1024 blocks of 1 KiB (bash's unit for -f): 1 MiB, the body is 4 MiB
  bash -c "ulimit -f 1024; exec '$bin' -e \"
    local http = require 'http'
    local r = assert(http.get('$base/big?n=4194304&t=xfsz', {stream = true}))
    r:save('$tmp/target.bin')\"" >"$tmp/xfsz.out" 2>&1
  local rc=$?
  if [ "$rc" -eq 1 ]; then ok "exit status 1 over ulimit -f"
  else fail "exit status $rc over ulimit -f (153 = killed by SIGXFSZ), wanted 1"; cat "$tmp/xfsz.out"; fi
  expect_output "the write error is reported" "$tmp/xfsz.out" 'cannot save: File too large'
  check "the target is untouched" grep -qx before "$tmp/target.bin"
  expect_count "t=xfsz" 1
}

# -------------------------------------------------------------------- rock
rock() {
  local src=$1
  start_server
  # Build from a copy: luarocks builds inside the source tree.
  mkdir -p "$tmp/src"
  cp -r "$src/CMakeLists.txt" "$src/cmake" "$src/include" "$src/runtime" "$src/lua" \
        "$src"/lurl-*.rockspec "$tmp/src/"
  # --deps-mode=none: lua-cjson is Debian's, so luarocks must not try to fetch it
  (cd "$tmp/src" && luarocks --lua-version=5.4 make --deps-mode=none --tree "$tmp/tree" lurl-*.rockspec) \
    >"$tmp/rock.log" 2>&1 && ok "luarocks make" || { fail "luarocks make"; cat "$tmp/rock.log"; }
  check "luarocks lists lurl" sh -c "luarocks --lua-version=5.4 --tree '$tmp/tree' list | grep -q '^lurl'"
  local lpath lcpath
  lpath=$(luarocks --lua-version=5.4 --tree "$tmp/tree" path --lr-path)
  lcpath=$(luarocks --lua-version=5.4 --tree "$tmp/tree" path --lr-cpath)
  check "lua5.4 requires http from the rock tree" env LUA_PATH="$lpath;;" LUA_CPATH="$lcpath;;" \
    lua5.4 -e "
      local http = require 'http'
      local so = package.searchpath('http', package.cpath)
      assert(so and so:find('$tmp/tree', 1, true) == 1, so)
      assert(package.searchpath('lurl.client', package.path):find('$tmp/tree', 1, true) == 1)
      assert(http.get('$base/ok?from=rock').status == 200)"
  expect_count "from=rock" 1
}

case "${1:-}" in
  poll-host) poll_host "$2" ;;
  install) install "$2" "$3" ;;
  rock) rock "$2" ;;
  xfsz) xfsz "$2" ;;
  *) echo "usage: $0 poll-host BIN | install BUILD SRC | rock SRC | xfsz BIN"; exit 2 ;;
esac
finish
