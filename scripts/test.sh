#!/usr/bin/env bash
# Set up (package + test extras + Weaviate binary) and run the whole test suite against a real
# embedded Weaviate. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=dev bash scripts/setup.sh
# The official MemOS client (MemOSClient); its package pins would downgrade fastapi/openai, so no deps.
.venv/bin/python -m pip install --quiet --no-deps MemoryOS==2.0.33
# The previously pinned server too: tests/test_weaviate_upgrade.py opens its data under the pinned one.
.venv/bin/memos-integrations weaviate install --version 1.35.22
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest -p no:cacheprovider -q "$@"
