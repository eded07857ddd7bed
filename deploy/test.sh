#!/usr/bin/env bash
# Run the test suite: sets up everything it needs first (system packages, .venv, test extras).
set -euo pipefail
cd "$(dirname "$0")/.."
VOICED_EXTRA_APT="sox espeak-ng openssl" bash deploy/setup-dev.sh "test,export,mic"
# Type-check the pipeline's spine first (the files in pyproject.toml [tool.mypy]); a failure fails the run.
.venv/bin/python -m mypy
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$rc"
