#!/usr/bin/env bash
# Login notifications (DESIGN §5) against a real SMTP server we did not write: aiosmtpd (PyPI)
# stores every message it receives in a maildir; `canopy serve --demo` e-mails through it.
#   1. aiko, the demo organisation's administrator, logs in: a privileged-login mail reaches her
#      address, naming the user, the source address and the organisation.
#   2. A second administrator is added, taro is made a break-glass account and logs in: every
#      administrator of the organisation (asked of the API: who may write the policy at the
#      root) gets a break-glass alert naming taro.
# Exits non-zero, saying what was expected and what arrived, on any failure. Called by .ci/run
# after the tests; runs alone too.
set -euo pipefail
cd "$(dirname "$0")/.."

AIOSMTPD_VERSION=1.4.6
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
VENV="$TARGET/notifications/venv"

echo "== aiosmtpd $AIOSMTPD_VERSION"
if ! "$VENV/bin/aiosmtpd" --version 2>/dev/null | grep -qF "$AIOSMTPD_VERSION"; then
  # Debian's python3 needs python3-venv for `-m venv` (ensurepip).
  if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
fi

# The debug build: `cargo test` has just built its dependencies, so it is the faster one overall.
cargo build --locked -q -p canopy-cli
CANOPY="$TARGET/debug/canopy"

WORK=$(mktemp -d)
SMTP_PID=
SERVER_PID=
cleanup() {
  for pid in "$SERVER_PID" "$SMTP_PID"; do
    if [ -n "$pid" ]; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# fail MESSAGE: says why, with the logs of both servers, and stops.
fail() {
  echo "FAILED: $*" >&2
  echo "== canopy's log (last 30 lines)" >&2
  tail -n 30 "$WORK/server.log" >&2 || true
  echo "== aiosmtpd's log" >&2
  tail -n 30 "$WORK/smtp.log" >&2 || true
  exit 1
}

echo "== aiosmtpd on a free port, storing mail in a maildir"
SMTP_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/mail/cur" "$WORK/mail/new" "$WORK/mail/tmp"
"$VENV/bin/aiosmtpd" -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$WORK/mail" \
  >"$WORK/smtp.log" 2>&1 &
SMTP_PID=$!
for _ in $(seq 1 100); do
  python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()' \
    "$SMTP_PORT" 2>/dev/null && break
  kill -0 "$SMTP_PID" 2>/dev/null || fail "aiosmtpd did not start"
  sleep 0.1
done
echo "aiosmtpd at 127.0.0.1:$SMTP_PORT"

echo "== canopy serve --demo, e-mailing through it"
cat >"$WORK/canopy.yaml" <<EOF
data: $WORK/data
listen: 127.0.0.1:0
smtp:
  host: 127.0.0.1
  port: $SMTP_PORT
  security: none
  from: Canopy <canopy@example.jp>
EOF
"$CANOPY" serve --demo --config "$WORK/canopy.yaml" >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
BASE=
for _ in $(seq 1 150); do
  BASE=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$WORK/server.out")
  [ -n "$BASE" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || fail "the server stopped: $(cat "$WORK/server.out")"
  sleep 0.1
done
[ -n "$BASE" ] || fail "the server did not start"
echo "server at $BASE"

# call METHOD PATH [BODY]: the answer's body; fails unless 2xx.
TOKEN=
call() {
  local status
  local args=(-sS -o "$WORK/answer" -w '%{http_code}' -X "$1" -H 'content-type: application/json'
    -A 'canopy-notifications-ci/1')
  [ -n "$TOKEN" ] && args+=(-H "Authorization: Bearer $TOKEN")
  [ $# -ge 3 ] && args+=(--data "$3")
  status=$(curl "${args[@]}" "$BASE$2")
  [ "${status:0:1}" = 2 ] || fail "$1 $2 answered $status: $(cat "$WORK/answer")"
  cat "$WORK/answer"
}
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# totp SECRET OFFSET: the RFC 6238 code (SHA-1, 6 digits, 30 s) of the base32 SECRET, OFFSET
# seconds from now.
totp() {
  python3 - "$1" "$2" <<'PY'
import base64, hashlib, hmac, struct, sys, time
secret, offset = sys.argv[1], int(sys.argv[2])
key = base64.b32decode(secret + "=" * (-len(secret) % 8))
digest = hmac.new(key, struct.pack(">Q", int((time.time() + offset) // 30)), hashlib.sha1).digest()
at = digest[19] & 15
print("%06d" % ((struct.unpack(">I", digest[at:at + 4])[0] & 0x7FFFFFFF) % 1000000))
PY
}
login() {
  TOKEN=
  call POST /v1/auth/login "{\"org\": \"acme\", \"username\": \"$1\", \"password\": \"canopy-demo\"}" |
    field token
}

# expect_mail KIND USER TO…: waits (up to 15 s) until the maildir holds, for each address TO, a
# login notice of KIND (privileged, break_glass) about USER whose body names the user, the
# source address 127.0.0.1 and the organisation acme; otherwise says what arrived and fails.
expect_mail() {
  python3 - "$WORK/mail" "$@" <<'PY' || fail "the expected mail did not arrive"
import email.policy, mailbox, sys, time

maildir, kind, user, recipients = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
# The organisation's language is Japanese by default: the subjects of DESIGN §5's notices.
subjects = {"privileged": "特権ユーザーのログイン", "break_glass": "緊急用アカウントのログイン"}
wanted_subject = subjects[kind]
wanted_body = [user, "127.0.0.1", "組織: acme"]

def messages():
    box = mailbox.Maildir(maildir, factory=None, create=False)
    out = []
    for key in box.keys():
        with box.get_file(key) as f:
            m = email.message_from_binary_file(f, policy=email.policy.default)
        body = m.get_body(preferencelist=("plain",))
        out.append((str(m["To"]), str(m["Subject"]), body.get_content() if body else ""))
    return out

def found(to, got):
    return any(
        to in t and wanted_subject in s and user in s and all(w in b for w in wanted_body)
        for t, s, b in got
    )

deadline = time.time() + 15
while True:
    got = messages()
    missing = [to for to in recipients if not found(to, got)]
    if not missing:
        for to in recipients:
            print(f"ok: {kind} notice about {user} e-mailed to {to}")
        sys.exit(0)
    if time.time() > deadline:
        break
    time.sleep(0.2)
print(f"expected a {kind} login notice about {user} (subject with {wanted_subject!r} and "
      f"{user!r}; body naming {wanted_body}) for each of {recipients}; missing for {missing}.",
      file=sys.stderr)
print(f"the maildir holds {len(got)} message(s):", file=sys.stderr)
for t, s, b in got:
    print(f"--- To: {t}\n    Subject: {s}\n    " + b.strip().replace("\n", "\n    "), file=sys.stderr)
sys.exit(1)
PY
}

echo "== 1. aiko logs in: a privileged-login mail to aiko"
AIKO=$(login aiko)
TOKEN=$AIKO
AIKO_MAIL=$(call GET /v1/orgs/acme/users/aiko | field email)
[ "$AIKO_MAIL" = aiko@acme.example.jp ] || fail "the demo gives aiko the address aiko@acme.example.jp, not $AIKO_MAIL"
expect_mail privileged aiko "$AIKO_MAIL"

echo "== 2. taro, made a break-glass account, logs in: a break-glass alert to every org admin"
# A second administrator at the root, so that "every" means more than one.
call POST /v1/orgs/acme/users \
  '{"username": "hanako", "display_name": "Hanako (administrator)", "email": "hanako@acme.example.jp", "password": "canopy-demo"}' >/dev/null
call POST /v1/orgs/acme/bindings '{"subject": "user:hanako", "role": "admin", "scope": "acme"}' >/dev/null
# A break-glass account is MFA-protected: taro enrols TOTP first, from a session of his own.
ADMIN_TOKEN=$TOKEN
TOKEN=$(login taro)
SECRET=$(call POST /v1/orgs/acme/users/taro/totp | field secret)
call POST /v1/orgs/acme/users/taro/totp/confirm "{\"code\": \"$(totp "$SECRET" 0)\"}" >/dev/null
TOKEN=$ADMIN_TOKEN
call PATCH /v1/orgs/acme/users/taro '{"break_glass": true}' >/dev/null
# The organisation's administrators as the API tells them: who may write the policy at the root.
ADMINS=$(call GET "/v1/orgs/acme/targets/acme/principals?action=iam.policy.write" |
  python3 -c 'import json, sys; print(" ".join(i["subject_ref"][5:] for i in json.load(sys.stdin)["items"] if i["subject_ref"].startswith("user:")))')
RECIPIENTS=()
for admin in $ADMINS; do
  RECIPIENTS+=("$(call GET "/v1/orgs/acme/users/$admin" | field email)")
done
[ "${#RECIPIENTS[@]}" -ge 2 ] || fail "expected at least two org admins (aiko, hanako); the API names: $ADMINS"
echo "org admins: $ADMINS (${RECIPIENTS[*]})"
# The enrolment spent the current code: the next one logs in.
TOKEN=
call POST /v1/auth/login "{\"org\": \"acme\", \"username\": \"taro\", \"password\": \"canopy-demo\", \"totp\": \"$(totp "$SECRET" 30)\"}" >/dev/null
expect_mail break_glass taro "${RECIPIENTS[@]}"

echo "notifications: all checks passed"
