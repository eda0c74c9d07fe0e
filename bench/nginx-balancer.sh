#!/usr/bin/env bash
# Prints the config of an nginx load balancer for the bench scripts: 1 worker, listening on
# 127.0.0.1:LISTEN_PORT, spreading requests round-robin over lienthong processes on
# 127.0.0.1:PORT..., with a keep-alive pool of 64 connections to each (as bench/nginx-proxy.conf
# keeps to its upstream).
# Run what it prints: nginx -p <dir>/ -e <dir>/error.log -c <dir>/balancer.conf (with <dir>/tmp
# existing); relative paths resolve against the -p prefix, so no system file is touched.
#
# Usage: bench/nginx-balancer.sh LISTEN_PORT PORT [PORT...]
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 LISTEN_PORT PORT [PORT...]" >&2; exit 2; }
listen=$1
shift
cat <<EOT
worker_processes 1;
daemon off;
master_process on;
pid balancer.pid;
error_log balancer-error.log warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    server_tokens off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 75s;

    upstream lienthong {
$(for port in "$@"; do echo "        server 127.0.0.1:$port;"; done)
        keepalive $((64 * $#));
        keepalive_requests 100000000;
    }

    server {
        listen 127.0.0.1:$listen backlog=4096;
        location / {
            proxy_pass http://lienthong;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOT
