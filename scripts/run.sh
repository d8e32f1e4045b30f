#!/usr/bin/env bash
# The main job: install what is needed, then solve the seed model and print its summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m problems solve --table examples/seed-model.json
