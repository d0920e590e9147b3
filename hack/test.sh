#!/usr/bin/env bash
# The README's test command: install what is missing, then run every test (unit, programs,
# Ray, torchrun, the real local cluster end to end). Extra arguments go to pytest.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$("$ROOT/hack/install.sh")
cd "$ROOT"
export PYTHONUNBUFFERED=1
exec "$VENV/bin/python" -m pytest -q --timeout=900 "$@"
