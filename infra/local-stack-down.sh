#!/usr/bin/env bash
# Stops the local stack started by infra/local-stack-up.sh (same LOCAL_STACK_DIR).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$repo/.tools/venv/bin/python"
if [[ ! -x "$python" ]]; then
  echo "local-stack: error: $python is missing; run: source tests/tools/install.sh" >&2
  exit 1
fi
exec "$python" "$repo/infra/local_stack.py" down "$@"
