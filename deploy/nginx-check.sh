#!/bin/bash
# nginx-check.sh: run deploy/nginx.conf with Debian's nginx on loopback, in front of two stand-in
# instances (python -m http.server-like echo servers, not the service), and check what the
# config promises: round-robin over both, X-Forwarded-For/-Proto and Host passed on, a 15 MB
# upload accepted, and the other instance answering when one is stopped.
#
#   bash deploy/nginx-check.sh      (needs nginx and python3; no root; ports 18100-18102)
#
# The upstream names of compose.yaml (face-login-1:8000, face-login-2:8000) are rewritten to
# 127.0.0.1:18101/18102 and "listen 80" to 127.0.0.1:18100; nothing else of the file changes.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/nginx-check.XXXXXX)
chmod 755 "$WORK"  # nginx workers (nobody, when run as root) write request bodies below it
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    sleep 0.3
    rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/echo.py" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
name, port = sys.argv[1], int(sys.argv[2])
class Echo(BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps({"instance": name, "body": length,
                           "xff": self.headers.get("X-Forwarded-For"),
                           "proto": self.headers.get("X-Forwarded-Proto"),
                           "host": self.headers.get("Host")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = answer
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", port), Echo).serve_forever()
PY
python3 "$WORK/echo.py" one 18101 & PIDS+=($!)
python3 "$WORK/echo.py" two 18102 & PIDS+=($!)

sed -e 's/face-login-1:8000/127.0.0.1:18101/; s/face-login-2:8000/127.0.0.1:18102/' \
    -e 's/listen 80;/listen 127.0.0.1:18100;/' "$HERE/nginx.conf" >"$WORK/site.conf"
cat >"$WORK/nginx.conf" <<CONF
daemon on;
pid $WORK/nginx.pid;
error_log $WORK/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $WORK/body; proxy_temp_path $WORK/proxy;
    fastcgi_temp_path $WORK/f; uwsgi_temp_path $WORK/u; scgi_temp_path $WORK/s;
    include $WORK/site.conf;
}
CONF
nginx -t -q -c "$WORK/nginx.conf" -e "$WORK/error.log"
echo "nginx -t: ok ($(nginx -v 2>&1))"
nginx -c "$WORK/nginx.conf" -e "$WORK/error.log"
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18101/ && curl -s -o /dev/null http://127.0.0.1:18102/ && break; sleep 0.1; done

get() { curl -s -m 5 -H 'X-Forwarded-For: 203.0.113.7' http://127.0.0.1:18100/healthz; }
seen=$(for _ in $(seq 10); do get | python3 -c 'import json,sys; print(json.load(sys.stdin)["instance"])'; done | sort | uniq -c | tr -s ' ' | tr '\n' ';')
echo "10 GETs: $seen"
case $seen in *one*two*) ;; *) echo "FAIL: not balanced over both"; exit 1 ;; esac
one=$(get)
echo "headers seen by an instance: $one"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["xff"]=="203.0.113.7, 127.0.0.1" and d["proto"]=="http" and d["host"]=="127.0.0.1:18100", d' "$one"
head -c 15000000 /dev/zero >"$WORK/big"
code=$(curl -s -o "$WORK/up" -w '%{http_code}' -m 20 --data-binary @"$WORK/big" http://127.0.0.1:18100/api/login)
echo "15 MB POST: $code $(cat "$WORK/up")"
[ "$code" = 200 ] || { cat "$WORK/error.log"; exit 1; }
kill "${PIDS[1]}"; wait "${PIDS[1]}" 2>/dev/null || true
after=$(for _ in $(seq 10); do curl -s -o /dev/null -w '%{http_code}\n' -m 5 http://127.0.0.1:18100/healthz; done | sort | uniq -c | tr -s ' ' | tr '\n' ';')
echo "10 GETs with instance two stopped: $after"
[ "$after" = " 10 200;" ] || { echo "FAIL: requests failed with one instance stopped"; exit 1; }
echo "nginx-check: OK"
