#!/usr/bin/env bash
# Set up and run the main job on the embedded default: Weaviate Embedded + the local embedding model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/memos-integrations demo "$@"
