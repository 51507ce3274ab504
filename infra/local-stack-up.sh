#!/usr/bin/env bash
# Starts the local stack (moto in server mode + the resources template.yaml creates) and prints
# the environment a local run needs as `export NAME=value` lines (also in .tools/local-stack.env):
#
#   eval "$(bash infra/local-stack-up.sh)"            # threaded moto, like moto_server
#   eval "$(bash infra/local-stack-up.sh --serial)"   # one request at a time (race tests)
#   LOCAL_STACK_SERIAL=1 bash infra/local-stack-up.sh # the same
#
# Needs the tools venv (tests/tools/install.sh): it is used directly, sourced or not.
# LOCAL_STACK_DIR moves the pid/env/log files (default .tools/), e.g. for a second stack.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$repo/.tools/venv/bin/python"
if [[ ! -x "$python" ]]; then
  echo "local-stack: error: $python is missing; run: source tests/tools/install.sh" >&2
  exit 1
fi
exec "$python" "$repo/infra/local_stack.py" up "$@"
