#!/usr/bin/env bash
# The whole test suite, as the README's quick start and CI (.ci/run) run it. It installs the
# pinned tools it needs into .tools/ (tests/tools/install.sh), and every stage that needs a
# service starts and stops its own. A missing tool is a failure, never a skip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== installing pinned test tools"
# shellcheck source=tests/tools/install.sh
source tests/tools/install.sh

passed=0
failed=0
failures=()
stage() {
    local name="$1"
    shift
    echo
    echo "== ${name}"
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("${name}")
    fi
}

# Unit tests, golden replays of events/, CLI and garbled-input tests, and the Lambda's tests
# against moto (each test binary starts and stops its own moto_server on a free port).
stage "cargo test" cargo test --locked
stage "SAM template checks" bash tests/template/check.sh
stage "local stack (infra/)" bash tests/infra/check.sh
stage "arm64 Lambda build" bash tests/lambda-build.sh
stage "live scan and race lab" bash tests/race_lab/run.sh

echo
if ((failed > 0)); then
    echo "failed stages: ${failures[*]}"
fi
echo "stages: ${passed} passed, ${failed} failed"
((failed == 0))
