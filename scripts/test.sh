#!/usr/bin/env bash
# Set up (package + test extras + Weaviate binary) and run the whole test suite against a real
# embedded Weaviate. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=dev bash scripts/setup.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest -p no:cacheprovider -q "$@"
