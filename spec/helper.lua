-- spec/helper.lua: local test servers for lurl's busted specs.
--
--   local helper = require "spec.helper"
--
-- The first load (busted's `helper` option in .busted, or the first
-- require) starts every server once for the whole process; later loads
-- return the same table, even across busted's per-file insulation (the
-- table is kept in the Lua registry).  Everything runs on 127.0.0.1 on
-- ports picked by the kernel; all state lives in one temporary directory
-- (helper.tmpdir).  A server that does not answer within 15 s makes the
-- load fail with an error naming it and showing the tail of its logs.
--
-- Servers (all installed from Debian packages, nothing from the network):
--   helper.httpbin         "http://127.0.0.1:P"  httpbin under gunicorn
--   helper.fault           "http://127.0.0.1:P"  spec/servers/fault_server.py
--   helper.app             "http://127.0.0.1:P"  spec/servers/app.py (Flask) under
--                          gunicorn gthread, 1 worker x 128 threads: /api/...
--                          (pagination, slow endpoint, request recorder)
--   helper.tls.url         "https://localhost:P" nginx, cert for localhost
--   helper.tls.ca          CA certificate (PEM) that signed every cert
--   helper.tls.ca_dir      directory with the CA in OpenSSL hashed form
--   helper.tls.wrong_host_url  cert for wrong.example only
--   helper.tls.expired_url     expired cert (localhost, same CA)
--   helper.tls.h2_url          TLS with HTTP/2 (ALPN h2)
--   helper.tls.client_cert_url requires a client certificate (same CA)
--   helper.tls.client_cert / client_key  a client cert/key it accepts
--   helper.h2c_url         "http://127.0.0.1:P"  nginx, HTTP/2 prior knowledge
--   helper.unix_socket     path of an nginx Unix socket ("/" -> "unix ok")
--   helper.proxy           "http://127.0.0.1:P"  tinyproxy (CONNECT allowed
--                          to every port of these servers)
--   helper.proxy_deny      "http://127.0.0.1:P"  tinyproxy refusing CONNECT
--   helper.dead_port       a port on 127.0.0.1 that refuses connections
--   helper.tmpdir          the state directory
--   helper.logs            paths of the log files
-- Functions:
--   helper.nginx_log([pattern])       access-log lines (array of strings)
--   helper.nginx_requests([pattern])  the same lines parsed into tables
--   helper.proxy_log([which[, pattern]])  tinyproxy log text (which =
--                                     "deny" for proxy_deny's log)
--     With `pattern` (plain substring) these first wait up to 3 s for it to
--     show up in the log: nginx logs a request just after answering it.
--   helper.stop()            stop everything now (idempotent)
--
-- Each nginx access-log line is tab separated key=value fields:
--   srv method uri proto auth authorization ua host status ssl alpn h2
--   client_dn conn conn_req req_len ctype clen accept_encoding bytes
-- (srv is tls, wrong_host, expired, h2, client_cert, h2c or unix; auth is
-- "yes" when an Authorization header was sent, else "no"; nginx writes
-- "-" for empty values and \xHH for unusual bytes.)
--
-- Cleanup: helper.stop() runs spec/servers/stop.sh.  It is also called from
-- a __gc sentinel when the Lua state closes (normal end of busted, or
-- os.exit(code, true) as busted does on failures).  If the process dies
-- without closing the state (SIGKILL, crash, plain os.exit), every server's
-- supervise.sh notices within 0.25 s that the parent pid is gone and kills
-- its server, and janitor.sh removes the directory.  Set
-- LURL_SPEC_KEEP_TMP=1 to keep the directory for debugging.

local REGISTRY_KEY = "lurl.spec.helper"
local registry = debug.getregistry()
if registry[REGISTRY_KEY] then
  package.loaded["spec.helper"] = registry[REGISTRY_KEY]
  return registry[REGISTRY_KEY]
end

-- LURL_GC_STRESS=1: the collector runs a step of 1000 units of work at
-- every 16 bytes allocated, with no pause between cycles, so a value C
-- code leaves unanchored is likely collected before it is read (the
-- ASan build then reports the use after free).  Child lurl processes get
-- the same setting from LUA_INIT (see the busted_gcstress test in
-- CMakeLists.txt and docs/testing.md).
if os.getenv("LURL_GC_STRESS") == "1" then
  collectgarbage("incremental", 1, 1000, 4)
end

local PYTHON = "/usr/bin/python3"
local GUNICORN = "/usr/bin/gunicorn"
local NGINX = "/usr/sbin/nginx"
local TINYPROXY = "/usr/bin/tinyproxy"
local OPENSSL = "/usr/bin/openssl"
local READY_TIMEOUT = 15
-- Debian's python3 must not see a PYTHONHOME/PYTHONPATH meant for another one
local PYENV = "/usr/bin/env -u PYTHONHOME -u PYTHONPATH PYTHONDONTWRITEBYTECODE=1 "

---------------------------------------------------------------------------
-- small utilities

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write_file(path, text)
  local f = assert(io.open(path, "wb"))
  assert(f:write(text))
  assert(f:close())
end

-- run a shell command, return ok, combined output
local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1", "r"))
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

local function fill(template, vars)
  return (template:gsub("{{([%w_]+)}}", function(k)
    local v = vars[k]
    if v == nil then error("spec/helper.lua: template variable " .. k .. " unset") end
    return tostring(v)
  end))
end

local function abspath(p)
  if p:sub(1, 1) == "/" then return p end
  local cwd
  local ok, lfs = pcall(require, "lfs")
  if ok and lfs.currentdir then cwd = lfs.currentdir() end
  if not cwd then
    local pp = io.popen("pwd")
    cwd = pp:read("l")
    pp:close()
  end
  p = p:gsub("^%./", "")
  return cwd .. "/" .. p
end

local function self_pid()
  -- /proc/self is the process that opens it: this Lua process
  local stat = assert(read_file("/proc/self/stat"), "cannot read /proc/self/stat")
  return assert(tonumber(stat:match("^(%d+)")))
end

local function is_root()
  local status = read_file("/proc/self/status") or ""
  return status:match("\nUid:%s+0%s") ~= nil
end

local SOURCE = debug.getinfo(1, "S").source
local SPEC_DIR = abspath((SOURCE:sub(1, 1) == "@" and SOURCE:sub(2) or "spec/helper.lua"):match("^(.*)/[^/]*$") or ".")
local SERVERS = SPEC_DIR .. "/servers"

---------------------------------------------------------------------------
-- state

local helper = {}
local state = { stopped = false }

local function stop()
  if state.stopped or not state.dir then return end
  state.stopped = true
  os.execute("/bin/sh " .. q(SERVERS .. "/stop.sh") .. " " .. q(state.dir) .. " >/dev/null 2>&1")
end
helper.stop = stop

-- stops the servers when the Lua state is closed
state.sentinel = setmetatable({}, { __gc = function() stop() end })

local function fail(msg)
  stop()
  error("spec/helper.lua: " .. msg, 0)
end

---------------------------------------------------------------------------
-- temp dir, ports

do
  local ok, out = run("mktemp -d --tmpdir lurl-spec.XXXXXXXX")
  local dir = ok and out:match("^(%S+)\n?$")
  -- Unix socket paths are limited to 107 bytes
  if dir and #dir > 80 then
    os.execute("rm -rf " .. q(dir))
    ok, out = run("mktemp -d /tmp/lurl-spec.XXXXXXXX")
    dir = ok and out:match("^(%S+)\n?$")
  end
  if not dir then error("spec/helper.lua: mktemp -d failed: " .. tostring(out), 0) end
  state.dir = dir
end
local DIR = state.dir
local RUN = DIR .. "/run"
do
  local dirs = {}
  for _, sub in ipairs { "run", "pki", "ca_dir", "nginx/tmp", "httpbin", "tinyproxy", "fault", "app" } do
    dirs[#dirs + 1] = q(DIR .. "/" .. sub)
  end
  if not os.execute("mkdir -p " .. table.concat(dirs, " ")) then fail("mkdir in " .. DIR .. " failed") end
end

local PORT_NAMES = {
  "httpbin", "fault", "dead", "tls", "wrong_host", "expired", "h2",
  "client_cert", "h2c", "proxy", "proxy_deny", "app",
}
local port = {}
do
  local ok, out = run(PYENV .. PYTHON .. " -c " .. q([[
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
]]) .. " " .. #PORT_NAMES)
  local i = 0
  for p in (out or ""):gmatch("%d+") do
    i = i + 1
    if PORT_NAMES[i] then port[PORT_NAMES[i]] = tonumber(p) end
  end
  if not ok or i ~= #PORT_NAMES then
    fail("could not get free ports from " .. PYTHON .. ": " .. tostring(out))
  end
end

---------------------------------------------------------------------------
-- launching

local PARENT = self_pid()
local LOG = {
  httpbin = DIR .. "/httpbin/server.log",
  httpbin_access = DIR .. "/httpbin/access.log",
  fault = DIR .. "/fault/server.log",
  app = DIR .. "/app/server.log",
  proxy = DIR .. "/tinyproxy/proxy.log",
  proxy_stderr = DIR .. "/tinyproxy/proxy.stderr.log",
  proxy_deny = DIR .. "/tinyproxy/proxy_deny.log",
  proxy_deny_stderr = DIR .. "/tinyproxy/proxy_deny.stderr.log",
  nginx = DIR .. "/nginx/stderr.log",
  nginx_error = DIR .. "/nginx/error.log",
  nginx_access = DIR .. "/nginx/access.log",
  pki = DIR .. "/pki/openssl.log",
}

-- command line that starts `cmd` (a shell word list) under supervise.sh
local function supervised(name, log, cmd, stop_signal)
  return "setsid /bin/sh " .. q(SERVERS .. "/supervise.sh") .. " " .. PARENT .. " " .. q(name) .. " "
    .. q(RUN) .. " " .. q(log) .. " " .. (stop_signal or "TERM") .. " -- " .. cmd .. " </dev/null >>" .. q(log) .. " 2>&1 &"
end

local function launch(cmds)
  local ok = os.execute(table.concat(cmds, "\n"))
  if not ok then fail("could not launch servers") end
end

-- tinyproxy configs
local function tinyproxy_conf(name, p, connect_ports, log)
  local lines = {
    "Port " .. p,
    "Listen 127.0.0.1",
    "Timeout 60",
    "MaxClients 100",
    "Allow 127.0.0.1",
    'LogFile "' .. log .. '"',
    "LogLevel Info",
    'PidFile "' .. DIR .. "/tinyproxy/" .. name .. '.pid"',
  }
  for _, cp in ipairs(connect_ports) do lines[#lines + 1] = "ConnectPort " .. cp end
  local path = DIR .. "/tinyproxy/" .. name .. ".conf"
  write_file(path, table.concat(lines, "\n") .. "\n")
  return path
end

local proxy_conf = tinyproxy_conf("proxy", port.proxy, {
  port.tls, port.wrong_host, port.expired, port.h2, port.client_cert,
  port.h2c, port.httpbin, port.fault, port.dead, port.app,
}, LOG.proxy)
-- only port 1 may be CONNECTed to: every real CONNECT gets 403
local proxy_deny_conf = tinyproxy_conf("proxy_deny", port.proxy_deny, { 1 }, LOG.proxy_deny)

local janitor = "setsid /bin/sh " .. q(SERVERS .. "/janitor.sh") .. " " .. PARENT .. " " .. q(DIR)
  .. " </dev/null >/dev/null 2>&1 &"

launch {
  janitor,
  supervised("httpbin", LOG.httpbin, PYENV .. PYTHON .. " " .. GUNICORN
    .. " --chdir " .. q(DIR .. "/httpbin")
    .. " -b 127.0.0.1:" .. port.httpbin
    .. " -w 2 --threads 4 --timeout 120 --graceful-timeout 2"
    .. " --worker-tmp-dir " .. q(DIR .. "/httpbin")
    .. " --access-logfile " .. q(LOG.httpbin_access)
    .. " --error-logfile - httpbin:app", "QUIT"),   -- QUIT: quick shutdown
  supervised("fault", LOG.fault, PYENV .. PYTHON .. " -u " .. q(SERVERS .. "/fault_server.py")
    .. " " .. port.fault .. " --hold-port " .. port.dead),
  -- one worker so that the app's request recorder sees every request; many
  -- threads so that it can hold many requests at once
  supervised("app", LOG.app, PYENV .. PYTHON .. " " .. GUNICORN
    .. " --chdir " .. q(SERVERS)
    .. " -b 127.0.0.1:" .. port.app
    .. " -k gthread -w 1 --threads 128 --keep-alive 30 --timeout 120 --graceful-timeout 2"
    .. " --worker-tmp-dir " .. q(DIR .. "/app")
    .. " --error-logfile - app:app", "QUIT"),
  supervised("proxy", LOG.proxy_stderr, TINYPROXY .. " -d -c " .. q(proxy_conf)),
  supervised("proxy_deny", LOG.proxy_deny_stderr, TINYPROXY .. " -d -c " .. q(proxy_deny_conf)),
}

---------------------------------------------------------------------------
-- certificates (while the servers above boot)

local PKI = DIR .. "/pki"
write_file(PKI .. "/openssl.cnf", fill([[
[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]
CN = unused

[ ca ]
default_ca = test_ca
[ test_ca ]
dir            = {{pki}}
database       = {{pki}}/index.txt
new_certs_dir  = {{pki}}/newcerts
serial         = {{pki}}/serial
certificate    = {{pki}}/ca.pem
private_key    = {{pki}}/ca.key
default_md     = sha256
default_days   = 825
policy         = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied

[ v3_ca ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ server_localhost ]
basicConstraints       = CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ server_wrong ]
basicConstraints       = CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:wrong.example
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ client ]
basicConstraints       = CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
]], { pki = PKI }))

write_file(PKI .. "/make.sh", fill([[
set -e
cd {{pki}}
O={{openssl}}
C=openssl.cnf
mkdir -p newcerts
: > index.txt
echo 1000 > serial
key() { $O req -config $C -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2"; }
sign() { n=$1; shift; $O ca -config $C -batch -notext -in "$n.csr" -out "$n.pem" "$@"; }
$O req -config $C -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout ca.key -out ca.pem -days 3650 -subj "/CN=lurl test CA" -extensions v3_ca
key localhost "/CN=localhost"
key wrong "/CN=wrong.example"
key expired "/CN=localhost"
key client "/CN=lurl test client"
sign localhost -extensions server_localhost
sign wrong -extensions server_wrong
sign expired -extensions server_localhost -startdate 20200101000000Z -enddate 20200201000000Z
sign client -extensions client
cp ca.pem {{ca_dir}}/ca.pem
ln -s ca.pem {{ca_dir}}/$($O x509 -hash -noout -in ca.pem).0
]], { pki = PKI, openssl = OPENSSL, ca_dir = DIR .. "/ca_dir" }))

if not os.execute("/bin/sh " .. q(PKI .. "/make.sh") .. " >" .. q(LOG.pki) .. " 2>&1") then
  local log = read_file(LOG.pki) or ""
  fail("creating the test certificates with openssl failed:\n" .. log)
end

---------------------------------------------------------------------------
-- nginx

local NGX = DIR .. "/nginx"
local UNIX_SOCKET = NGX .. "/nginx.sock"

local ROUTES = [[
        location = / { return 200 "{{root_body}}"; }
        location = /json {
            default_type application/json;
            return 200 '{"ok":true,"server":"{{name}}"}';
        }
        location = /__ready { access_log off; return 200 "ready"; }
        location / { return 404 "not found\n"; }
]]

local function server_block(name, listen, extra, root_body)
  return "    server {\n        listen " .. listen .. ";\n        server_name localhost;\n"
    .. (extra or "") .. fill(ROUTES, { name = name, root_body = root_body or "ok" }) .. "    }\n"
end

local function tls_extra(cert, key, more)
  return "        ssl_certificate " .. PKI .. "/" .. cert .. ";\n"
    .. "        ssl_certificate_key " .. PKI .. "/" .. key .. ";\n" .. (more or "")
end

local nginx_conf = fill([[
{{user}}
daemon off;
master_process on;
worker_processes 1;
pid {{ngx}}/nginx.pid;
error_log {{ngx}}/error.log info;
events { worker_connections 1024; }
http {
    default_type text/plain;
    client_body_temp_path {{ngx}}/tmp/body;
    proxy_temp_path {{ngx}}/tmp/proxy;
    fastcgi_temp_path {{ngx}}/tmp/fastcgi;
    uwsgi_temp_path {{ngx}}/tmp/uwsgi;
    scgi_temp_path {{ngx}}/tmp/scgi;
    keepalive_timeout 60s;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:lurl_tls:1m;

    map $server_port $lurl_srv {
        default unix;
        {{tls}} tls;
        {{wrong_host}} wrong_host;
        {{expired}} expired;
        {{h2}} h2;
        {{client_cert}} client_cert;
        {{h2c}} h2c;
    }
    map $http_authorization $lurl_auth { "" no; default yes; }
    map $uri $lurl_loggable { /__ready 0; default 1; }
    log_format lurl 'srv=$lurl_srv\tmethod=$request_method\turi=$request_uri\tproto=$server_protocol\tauth=$lurl_auth\tauthorization=$http_authorization\tua=$http_user_agent\thost=$host\tstatus=$status\tssl=$ssl_protocol\talpn=$ssl_alpn_protocol\th2=$http2\tclient_dn=$ssl_client_s_dn\tconn=$connection\tconn_req=$connection_requests\treq_len=$request_length\tctype=$http_content_type\tclen=$http_content_length\taccept_encoding=$http_accept_encoding\tbytes=$body_bytes_sent';
    access_log {{ngx}}/access.log lurl if=$lurl_loggable;

]], {
  user = is_root() and "user root root;" or "",
  ngx = NGX, tls = port.tls, wrong_host = port.wrong_host, expired = port.expired,
  h2 = port.h2, client_cert = port.client_cert, h2c = port.h2c,
})
  .. server_block("tls", "127.0.0.1:" .. port.tls .. " ssl", tls_extra("localhost.pem", "localhost.key"))
  .. server_block("wrong_host", "127.0.0.1:" .. port.wrong_host .. " ssl", tls_extra("wrong.pem", "wrong.key"))
  .. server_block("expired", "127.0.0.1:" .. port.expired .. " ssl", tls_extra("expired.pem", "expired.key"))
  .. server_block("h2", "127.0.0.1:" .. port.h2 .. " ssl http2", tls_extra("localhost.pem", "localhost.key"))
  .. server_block("client_cert", "127.0.0.1:" .. port.client_cert .. " ssl",
       tls_extra("localhost.pem", "localhost.key",
         "        ssl_client_certificate " .. PKI .. "/ca.pem;\n"
         .. "        ssl_verify_client on;\n        ssl_verify_depth 2;\n"))
  .. server_block("h2c", "127.0.0.1:" .. port.h2c .. " http2")
  .. server_block("unix", "unix:" .. UNIX_SOCKET, nil, "unix ok")
  .. "}\n"
write_file(NGX .. "/nginx.conf", nginx_conf)

launch {
  supervised("nginx", LOG.nginx, NGINX .. " -p " .. q(NGX .. "/") .. " -e " .. q(LOG.nginx_error)
    .. " -c " .. q(NGX .. "/nginx.conf")),
}

---------------------------------------------------------------------------
-- wait until everything answers

do
  local function check(name, kind, target, logs)
    return q(name .. "|" .. kind .. "|" .. target .. "|" .. table.concat(logs, ","))
  end
  local ngx_logs = { LOG.nginx, LOG.nginx_error }
  local checks = {
    check("httpbin", "http", "127.0.0.1:" .. port.httpbin .. "/get", { LOG.httpbin }),
    check("fault", "http", "127.0.0.1:" .. port.fault .. "/requests", { LOG.fault }),
    check("app", "http", "127.0.0.1:" .. port.app .. "/api/stats", { LOG.app }),
    check("proxy", "tcp", "127.0.0.1:" .. port.proxy, { LOG.proxy_stderr, LOG.proxy }),
    check("proxy_deny", "tcp", "127.0.0.1:" .. port.proxy_deny, { LOG.proxy_deny_stderr, LOG.proxy_deny }),
    check("nginx", "https", "127.0.0.1:" .. port.tls, ngx_logs),
    check("nginx", "https", "127.0.0.1:" .. port.wrong_host, ngx_logs),
    check("nginx", "https", "127.0.0.1:" .. port.expired, ngx_logs),
    check("nginx", "https", "127.0.0.1:" .. port.h2, ngx_logs),
    check("nginx", "https", "127.0.0.1:" .. port.client_cert, ngx_logs),
    check("nginx", "h2c", "127.0.0.1:" .. port.h2c, ngx_logs),
    check("nginx", "unix", UNIX_SOCKET, ngx_logs),
  }
  local ok, out = run(PYENV .. PYTHON .. " " .. q(SERVERS .. "/wait_ready.py") .. " --timeout " .. READY_TIMEOUT
    .. " --run " .. q(RUN) .. " " .. table.concat(checks, " "))
  if not ok then
    fail("test servers failed to start (state dir " .. DIR .. ", removed unless LURL_SPEC_KEEP_TMP=1)\n" .. out)
  end
end

---------------------------------------------------------------------------
-- the public table

helper.tmpdir = DIR
helper.httpbin = "http://127.0.0.1:" .. port.httpbin
helper.fault = "http://127.0.0.1:" .. port.fault
helper.app = "http://127.0.0.1:" .. port.app
helper.tls = {
  url = "https://localhost:" .. port.tls,
  ca = PKI .. "/ca.pem",
  ca_dir = DIR .. "/ca_dir",
  wrong_host_url = "https://localhost:" .. port.wrong_host,
  expired_url = "https://localhost:" .. port.expired,
  h2_url = "https://localhost:" .. port.h2,
  client_cert_url = "https://localhost:" .. port.client_cert,
  client_cert = PKI .. "/client.pem",
  client_key = PKI .. "/client.key",
}
helper.h2c_url = "http://127.0.0.1:" .. port.h2c
helper.unix_socket = UNIX_SOCKET
helper.proxy = "http://127.0.0.1:" .. port.proxy
helper.proxy_deny = "http://127.0.0.1:" .. port.proxy_deny
helper.dead_port = port.dead
helper.logs = {
  nginx_access = LOG.nginx_access,
  nginx_error = LOG.nginx_error,
  proxy = LOG.proxy,
  proxy_deny = LOG.proxy_deny,
  httpbin = LOG.httpbin,
  httpbin_access = LOG.httpbin_access,
  fault = LOG.fault,
  app = LOG.app,
}

local function sleep(secs)
  os.execute("sleep " .. secs)
end

-- read a log file; with `pattern` (a plain substring), first wait up to 3 s
-- for it to appear (nginx writes its access-log line just after sending the
-- response, so a client can finish before the line is there)
local function read_log(path, pattern)
  local text = read_file(path) or ""
  if pattern then
    for _ = 1, 60 do
      if text:find(pattern, 1, true) then break end
      sleep(0.05)
      text = read_file(path) or ""
    end
  end
  return text
end

-- nginx access log as an array of lines; see read_log for `pattern`
function helper.nginx_log(pattern)
  local lines = {}
  for line in read_log(LOG.nginx_access, pattern):gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines
end

-- nginx access log parsed: array of { srv=, method=, uri=, proto=, auth=, ... }
-- (values "-" and "" become nil)
function helper.nginx_requests(pattern)
  local out = {}
  for _, line in ipairs(helper.nginx_log(pattern)) do
    local rec = {}
    for field in (line .. "\t"):gmatch("([^\t]*)\t") do
      local k, v = field:match("^([%w_]+)=(.*)$")
      if k and v ~= "-" and v ~= "" then rec[k] = v end
    end
    out[#out + 1] = rec
  end
  return out
end

-- tinyproxy log text; which = "deny" for helper.proxy_deny, nil for
-- helper.proxy; see read_log for `pattern`
function helper.proxy_log(which, pattern)
  return read_log(which == "deny" and LOG.proxy_deny or LOG.proxy, pattern)
end

registry[REGISTRY_KEY] = helper
registry[REGISTRY_KEY .. ".state"] = state
package.loaded["spec.helper"] = helper
return helper
