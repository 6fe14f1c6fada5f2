#!/usr/bin/env bash
# Set up Restora with its test tools and run the whole test suite (CPU only).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
.venv/bin/python -m pip install -q -e ".[cluster]"  # Ray, for the --engine ray tests
QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q "$@"
