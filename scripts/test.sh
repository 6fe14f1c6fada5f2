#!/usr/bin/env bash
# Set up Restora with its test tools and run the whole test suite (CPU only), including the build of the
# Linux app bundle from a clean clone and a run of it (tests/test_packaging.py; about 3 minutes, reusing the
# models set-up fetched). RESTORA_TEST_BUNDLE=0 leaves the bundle out.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
.venv/bin/python -m pip install -q -e ".[cluster]"  # Ray, for the --engine ray tests
export RESTORA_TEST_BUNDLE="${RESTORA_TEST_BUNDLE:-1}"
RESTORA_MODELS_FROM="${RESTORA_MODELS_FROM:-$(.venv/bin/python -c 'from restora.models import store; print(store.model_root())')}"
export RESTORA_MODELS_FROM
QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q "$@"
