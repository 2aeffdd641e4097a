#!/usr/bin/env bash
# The whole suite in two pytest runs: sync Playwright keeps an event loop running for as long as its browser
# lives, which breaks async tests collected after it, so browser tests get a process of their own.
# Arguments go to both runs; "no tests collected" (exit 5) in one of them is not a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
status=0
for marker in 'not e2e' 'e2e'; do
  "$PY" -m pytest -q -m "$marker" "$@"
  rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 5 ]; then status=$rc; fi
done
exit $status
