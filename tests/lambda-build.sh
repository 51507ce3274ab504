#!/usr/bin/env bash
# Builds the Lambda function exactly as `sam build` does (BuildMethod rust-cargolambda):
#   cargo lambda build --release --arm64 --bin ddb-audit-lambda
# and prints the size of the bootstrap it made. Cross-compiles for Graviton with the zig that
# cargo-lambda's PyPI package brings; no system packages, no network beyond crates.io.
# Installs nothing: source tests/tools/install.sh first (cargo-lambda on PATH, the rustup
# target aarch64-unknown-linux-gnu). Uses the shared target dir; a cold release build of the AWS
# SDK takes 5 to 7 minutes on 2 cores, and waits for any other cargo build holding the lock.
set -euo pipefail

if [[ "${DDB_AUDIT_TOOLS_READY:-}" != 1 ]]; then
  echo "tests/lambda-build.sh: error: the test tools are not set up; run: source tests/tools/install.sh" >&2
  exit 2
fi
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bin=ddb-audit-lambda

command -v cargo-lambda >/dev/null || { echo "tests/lambda-build.sh: error: cargo-lambda is not on PATH" >&2; exit 1; }
[[ -f "src/bin/$bin.rs" ]] || { echo "tests/lambda-build.sh: error: src/bin/$bin.rs does not exist" >&2; exit 1; }

start=$(date +%s)
cargo lambda build --release --arm64 --bin "$bin"
elapsed=$(( $(date +%s) - start ))

target="${CARGO_TARGET_DIR:-target}"
bootstrap="$target/lambda/$bin/bootstrap"
[[ -f "$bootstrap" ]] || { echo "tests/lambda-build.sh: error: $bootstrap was not produced" >&2; exit 1; }
# An ELF file whose e_machine (bytes 18-19, little-endian) is 0xb7: AArch64, what arm64 Lambda runs.
magic="$(od -An -tx1 -N4 "$bootstrap" | tr -d ' \n')"
machine="$(od -An -tx1 -j18 -N2 "$bootstrap" | tr -d ' \n')"
if [[ "$magic" != 7f454c46 || "$machine" != b700 ]]; then
  echo "tests/lambda-build.sh: error: $bootstrap is not an AArch64 ELF (magic $magic, e_machine $machine)" >&2
  exit 1
fi
bytes=$(stat -c %s "$bootstrap")
shown="${bootstrap#"$repo"/}"
echo "lambda bootstrap: $shown $bytes bytes ($(awk -v b="$bytes" 'BEGIN { printf "%.1f MiB", b / 1048576 }'), aarch64 ELF, built in ${elapsed}s)"
