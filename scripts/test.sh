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
# tests/test_ui_browser.py drives Debian's Chromium with its chromedriver (Selenium): install them once.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver
fi
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest -p no:cacheprovider -q "$@"
