#!/usr/bin/env bash
# Runs the quiz service: installs it into .venv, migrates the database, makes sure the demo
# course exists, prints the address and the demo logins, then serves with gunicorn.
#
#   scripts/run.sh                      # http://127.0.0.1:5000, SQLite in ./instance
#   HOST=0.0.0.0 PORT=8000 scripts/run.sh
#   DATABASE_URL=postgresql://user@host/db REDIS_URL=redis://127.0.0.1:6379/0 scripts/run.sh
#   DEMO_PASSWORD=... scripts/run.sh    # otherwise one random password per install
#   SEED_DEMO=0 scripts/run.sh          # no demo course
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v python3 >/dev/null 2>&1; then
  echo "run.sh: python3 is required (3.11 or newer)" >&2
  exit 1
fi
scripts/setup.sh

host="${HOST:-127.0.0.1}"
port="${PORT:-5000}"
export GRADER_INSTANCE="${GRADER_INSTANCE:-$PWD/instance}"
mkdir -p "$GRADER_INSTANCE"
export BASE_URL="${BASE_URL:-http://${host}:${port}}"
# Commands run beside the server (flask --app wsgi lti-tool-urls, ...) read it from here.
printf '%s\n' "$BASE_URL" > "$GRADER_INSTANCE/base_url"
flask=(.venv/bin/flask --app wsgi)

echo "==> migrating the database (${DATABASE_URL:-SQLite in $GRADER_INSTANCE/grader.sqlite3})"
"${flask[@]}" db-upgrade

demo=""
if [ "${SEED_DEMO:-1}" != "0" ]; then
  echo "==> making sure the demo course exists"
  demo="$("${flask[@]}" seed-demo)"
fi

if [ -z "${REDIS_URL:-}" ]; then
  echo "note: no REDIS_URL, so rate limits are counted per worker (set REDIS_URL in production)" >&2
fi

shown_host="$host"
[ "$host" = "0.0.0.0" ] && shown_host="127.0.0.1"
cat <<EOT

============================================================
 CNN Quiz is starting at  http://${shown_host}:${port}/
 Sign in at              http://${shown_host}:${port}/login
EOT
if [ -n "$demo" ]; then
  echo "------------------------------------------------------------"
  echo "$demo" | sed 's/^/ /'
fi
cat <<EOT
------------------------------------------------------------
 Stop with Ctrl-C.
============================================================

EOT

# The LTI grade-passback worker retries scores an LMS did not take at once (it idles when
# no LMS is registered). It stops with the server, however the server stops: Ctrl-C, a
# SIGTERM to this script, or one to gunicorn alone.
outbox=""
if [ "${LTI_OUTBOX_WORKER:-1}" != "0" ]; then
  "${flask[@]}" lti-outbox --interval 10 &
  outbox=$!
fi

# --limit-request-line: gunicorn's maximum, so that long but reasonable URLs reach the app
# (its default, 4094, answers a 414 in HTML before the app sees the request).
# --timeout: a sync worker (THREADS=1) busy longer is killed; the longest request the app
# allows itself is an LTI roster import (grader.lti.roster.MAX_SECONDS, 120 s), so more.
.venv/bin/gunicorn wsgi:app \
  --workers "${WORKERS:-2}" --threads "${THREADS:-4}" \
  --bind "${host}:${port}" \
  --limit-request-line 8190 --timeout 150 \
  --access-logfile - --graceful-timeout 20 &
server=$!
trap 'kill -TERM "$server" ${outbox:+"$outbox"} 2>/dev/null || true' INT TERM
trap 'kill -TERM ${outbox:+"$outbox"} 2>/dev/null || true' EXIT
status=0
wait "$server" || status=$?
while kill -0 "$server" 2>/dev/null; do  # a signal ended the wait: let gunicorn finish
  wait "$server" || status=$?
done
exit "$status"
