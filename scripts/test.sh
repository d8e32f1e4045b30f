#!/usr/bin/env bash
# Installs everything the tests need (into .venv) and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
# PyTorch is an optional cross-check, never a runtime dependency; a local CPU build is
# installed in CI (and whenever WITH_TORCH=1) so the torch comparisons run there.
if [ "${CI:-}" = "true" ] || [ "${WITH_TORCH:-}" = "1" ]; then
  .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install --quiet torch==2.13.0 || echo "torch not installable here: torch cross-checks will be skipped"
fi
.venv/bin/ruff check .
# One pytest worker per core (pytest-xdist; PYTEST_WORKERS=0 runs in one process): each
# worker has its own SQLite files and its own PostgreSQL database.
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-auto}" "$@"
