#!/usr/bin/env bash
# Creates .venv (once) and installs the project with the given extras into it.
# Usage: scripts/setup.sh [extras]   e.g. scripts/setup.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
stamp=".venv/.installed-$(echo "$extras" | tr ',' '-')"
# Reinstall only when pyproject.toml changed since the last install with these extras.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet -e "$spec"
  touch "$stamp"
fi
