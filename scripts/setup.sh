#!/usr/bin/env bash
# Create .venv, install the package (with EXTRAS, default none) and the Weaviate server binary.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${EXTRAS:-}"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if [ -n "$EXTRAS" ]; then
  .venv/bin/python -m pip install --quiet -e ".[$EXTRAS]"
else
  .venv/bin/python -m pip install --quiet -e .
fi
# Official release download where GitHub is reachable, otherwise a Go build (cached in ~/.cache).
.venv/bin/memos-integrations weaviate install
