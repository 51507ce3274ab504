#!/usr/bin/env bash
# The race lab from a fresh clone: builds ddb-audit, installs the pinned tools (moto, boto3), and
# checks `ddb-audit scan` against infra's local stack, then runs the lab against its own
# serial-mode local stack. See docs/RACE_LAB.md.
#
#   bash tests/race_lab/run.sh                 # CI size, asserts (the tests/run.sh stage)
#   bash tests/race_lab/run.sh --size big      # thousands of requests, asserts too
#   bash tests/race_lab/run.sh --requests 300 --threads 16 --seed 7
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [[ "${DDB_AUDIT_TOOLS_READY:-}" != 1 ]]; then
  # shellcheck source=tests/tools/install.sh
  source tests/tools/install.sh
fi
cargo build --locked --quiet --bin ddb-audit
# The target dir may be shared with other builds: audit with a private copy of this build.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp target/debug/ddb-audit "$work/ddb-audit"
bash tests/race_lab/scan_local_stack.sh "$work/ddb-audit"
.tools/venv/bin/python tests/race_lab/lab.py --ddb-audit "$work/ddb-audit" --check "$@"
