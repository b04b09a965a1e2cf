#!/usr/bin/env bash
# `promtool check metrics` (Debian package `prometheus`: a checker we did not write) against the
# /metrics of a real `canopy serve` after real traffic: changes, checks that allow and deny, a
# failed and a successful login, a path that matches no route. Reads /metrics on the metrics
# listener (no credentials) and on the API's address (as the instance administrator); each must
# parse and pass promtool's lint, and show the traffic. Exits non-zero, saying why, on any
# failure. Called by .ci/run after the tests; runs alone too.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET="${CARGO_TARGET_DIR:-$PWD/target}"

echo "== promtool"
if ! command -v promtool >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  # Only the promtool binary is wanted: keep the package's Prometheus service from starting.
  POLICY=/usr/sbin/policy-rc.d
  ADDED_POLICY=
  if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY"
    chmod +x "$POLICY"
    ADDED_POLICY=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  [ -n "$ADDED_POLICY" ] && rm -f "$POLICY"
fi
promtool --version | head -n 1

# The debug build: `cargo test` has just built its dependencies, so it is the faster one overall.
cargo build --locked -q -p canopy-cli
CANOPY="$TARGET/debug/canopy"

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAILED: $*" >&2
  echo "== canopy's log (last 30 lines)" >&2
  tail -n 30 "$WORK/server.log" >&2 || true
  exit 1
}

PASSWORD=metrics-root-password-1
printf '%s\n' "$PASSWORD" >"$WORK/password"
"$CANOPY" init --data "$WORK/data" --admin-user root --admin-password-file "$WORK/password" >/dev/null
"$CANOPY" serve --data "$WORK/data" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
  >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
BASE=
METRICS=
for _ in $(seq 1 100); do
  BASE=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$WORK/server.out")
  METRICS=$(sed -n 's/^metrics on \(http:[^ ]*\).*/\1/p' "$WORK/server.out")
  [ -n "$BASE" ] && [ -n "$METRICS" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || fail "the server stopped: $(cat "$WORK/server.out")"
  sleep 0.1
done
[ -n "$BASE" ] && [ -n "$METRICS" ] || fail "the server did not start"
echo "server at $BASE, metrics at $METRICS"

# call METHOD PATH [BODY]: the answer's body; fails unless 2xx.
TOKEN=
call() {
  local status
  local args=(-sS -o "$WORK/answer" -w '%{http_code}' -X "$1" -H 'content-type: application/json')
  [ -n "$TOKEN" ] && args+=(-H "Authorization: Bearer $TOKEN")
  [ $# -ge 3 ] && args+=(--data "$3")
  status=$(curl "${args[@]}" "$BASE$2")
  [ "${status:0:1}" = 2 ] || fail "$1 $2 answered $status: $(cat "$WORK/answer")"
  cat "$WORK/answer"
}
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

echo "== traffic"
ROOT=$(call POST /v1/auth/login "{\"username\": \"root\", \"password\": \"$PASSWORD\"}" | field token)
TOKEN=$ROOT
call POST /v1/orgs '{"name": "acme", "admin": {"username": "alice", "password": "alice-password-1"}}' >/dev/null
TOKEN=$(call POST /v1/auth/login '{"org": "acme", "username": "alice", "password": "alice-password-1"}' | field token)
call POST /v1/orgs/acme/nodes '{"kind": "folder", "name": "eng", "parent": "acme"}' >/dev/null
call POST /v1/orgs/acme/users '{"username": "bob", "password": "bob-password-1"}' >/dev/null
ALLOWED=$(call POST /v1/orgs/acme/check '{"principal": "user:alice", "action": "iam.node.read", "target": "acme/eng"}' | field allowed)
DENIED=$(call POST /v1/orgs/acme/check '{"principal": "user:bob", "action": "iam.node.read", "target": "acme/eng"}' | field allowed)
[ "$ALLOWED/$DENIED" = "True/False" ] || fail "expected one check allowed and one denied, got $ALLOWED/$DENIED"
BAD=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
  --data '{"org": "acme", "username": "bob", "password": "not-bobs-password"}' "$BASE/v1/auth/login")
[ "$BAD" = 401 ] || fail "a wrong password answered $BAD"
NOWHERE=$(curl -sS -o /dev/null -w '%{http_code}' "$BASE/v1/no/such/route")
[ "$NOWHERE" = 404 ] || fail "an unknown route answered $NOWHERE"

# check_scrape FILE: promtool accepts it (exit 0: no parse error, no lint problem) and it shows
# the traffic above.
check_scrape() {
  promtool check metrics <"$1" || fail "promtool refused $1: $(head -n 40 "$1")"
  for wanted in \
    'canopy_decisions_total{result="allow"} 1' \
    'canopy_decisions_total{result="deny"} 1' \
    'canopy_decision_duration_seconds_count{endpoint="check"} 2' \
    'canopy_logins_total{method="password",result="failure",reason="bad_credentials"} 1' \
    'canopy_http_requests_total{method="POST",route="/v1/orgs/{org}/check",status="200"} 2' \
    'canopy_http_requests_total{method="GET",route="unmatched",status="404"} 1' \
    'canopy_replica_lag_revisions 0' \
    'canopy_store_up 1' \
    'canopy_last_backup_age_seconds inf'; do
    grep -qxF "$wanted" "$1" || fail "$1 lacks the line: $wanted"
  done
}

echo "== /metrics on the metrics listener, without credentials"
curl -sSf -o "$WORK/open.txt" "$METRICS" || fail "GET $METRICS failed"
check_scrape "$WORK/open.txt"
echo "== /metrics on the API's address, as the instance administrator"
ANON=$(curl -sS -o /dev/null -w '%{http_code}' "$BASE/metrics")
[ "$ANON" = 401 ] || fail "/metrics on the API's address answered $ANON without credentials"
curl -sSf -o "$WORK/admin.txt" -H "Authorization: Bearer $ROOT" "$BASE/metrics" || fail "GET $BASE/metrics failed"
check_scrape "$WORK/admin.txt"

echo "metrics: promtool accepts /metrics, and it shows the traffic"
