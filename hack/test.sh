#!/usr/bin/env bash
# The README's test command: install what is missing, then run every test (unit, integration,
# the simulated cluster end to end, the real node), tier by tier (tests/conftest.py). Extra
# arguments go to pytest (`make test-fast` passes -m "not e2e and not slow": the unit tier).
# Prints the 25 slowest tests, and at the end the suite's total wall time (from this script's
# start: the install check included).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
started=$(date +%s.%N)
VENV=$("$ROOT/hack/install.sh")
cd "$ROOT"
export PYTHONUNBUFFERED=1
# pytest in this process (exec), as `python -m pytest` would run, so that signals reach it; the
# total is printed after its own summary.
exec "$VENV/bin/python" -c '
import sys, time
import pytest
status = int(pytest.main(sys.argv[2:]))
elapsed = time.time() - float(sys.argv[1])
print(f"hack/test.sh: total wall time {int(elapsed // 60)}m{int(elapsed % 60):02d}s ({elapsed:.0f} s), exit status {status}")
sys.exit(status)
' "$started" -q --timeout=900 --durations=25 "$@"
