# shellcheck shell=bash
# Installs the pinned test tools into .tools/ (gitignored) and exports where they are.
#
#   source tests/tools/install.sh      # from tests/run.sh (bash, set -euo pipefail is fine)
#   bash tests/tools/install.sh        # install only (exports nothing)
#
# What it sets up, every step idempotent and non-interactive:
#   .tools/venv       moto[server], cfn-lint, cargo-lambda (+ zig), boto3, PyYAML
#                     pinned by tests/tools/requirements.txt
#   .tools/sam-venv   aws-sam-cli pinned by tests/tools/requirements-sam.txt (its own venv:
#                     it needs a newer cfn-lint and boto3 than the pins above)
#   rustup target     aarch64-unknown-linux-gnu (for cargo lambda build --arm64)
# A venv whose stored hash matches its requirements file is not touched again, so a warm run
# costs well under a second. Any missing piece is an error (non-zero), never a silent skip.
#
# Exports when sourced: PATH (.tools/venv/bin and .tools/bin first), MOTO_SERVER_BIN,
# SAM_CLI_BIN, SAM_CLI_TELEMETRY=0, DDB_AUDIT_TOOLS_DIR, DDB_AUDIT_TOOLS_READY=1.
#
# The real work runs in a child bash with its own `set -euo pipefail`: a function called from
# a sourced file under `||` would run with errexit silently off.

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  # ---- executed: do the installation -------------------------------------------------------
  set -euo pipefail

  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  tools="$repo/.tools"
  reqs="$repo/tests/tools/requirements.txt"
  sam_reqs="$repo/tests/tools/requirements-sam.txt"

  die() { echo "tests/tools/install.sh: error: $*" >&2; exit 1; }
  note() { echo "tools: $*" >&2; }

  mkdir -p "$tools" "$tools/bin"

  # Two test runs on one machine (e.g. two engineers' suites) must not pip into one venv at once.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$tools/install.lock"
    flock 9
  else
    note "flock not found: installing without a lock (do not run two installs at once)"
  fi

  python="${DDB_AUDIT_PYTHON:-}"
  if [[ -z "$python" ]]; then
    for candidate in python3 python; do
      if command -v "$candidate" >/dev/null 2>&1; then python="$(command -v "$candidate")"; break; fi
    done
  fi
  [[ -n "$python" ]] || die "no python3 found (install Debian's python3 python3-venv)"
  command -v "$python" >/dev/null 2>&1 || die "python '$python' not found"
  "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
    || die "$python is older than 3.9: the pinned tools need 3.9+"

  # make_venv DIR REQUIREMENTS LABEL
  make_venv() {
    local dir="$1" req="$2" label="$3"
    [[ -f "$req" ]] || die "$req is missing"
    local want have=""
    # The hash covers the requirements file and the interpreter: a new python means a new venv.
    want="$( { cat "$req"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
    if [[ -x "$dir/bin/python" ]] && "$dir/bin/python" -c 'import sys' >/dev/null 2>&1; then
      have="$(cat "$dir/.requirements.sha256" 2>/dev/null || true)"
    else
      rm -rf "$dir"
      note "creating $label venv (.tools/$(basename "$dir"))"
      if ! "$python" -m venv "$dir" >/dev/null 2>&1; then
        rm -rf "$dir"
        # Debian splits venv/ensurepip out of python3.
        if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
          note "python -m venv failed: installing Debian's python3-venv"
          apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
            || die "apt-get install python3-venv failed"
        fi
        "$python" -m venv "$dir" || die "cannot create a venv with $python"
      fi
    fi
    if [[ "$have" == "$want" ]]; then
      return 0
    fi
    note "installing $label from tests/tools/$(basename "$req") (pinned)"
    rm -f "$dir/.requirements.sha256"
    "$dir/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" \
      || die "pip install -r $req failed"
    "$dir/bin/python" -m pip check >/dev/null || die "pip check found broken requirements in $dir"
    echo "$want" > "$dir/.requirements.sha256"
  }

  make_venv "$tools/venv" "$reqs" "test tools"
  make_venv "$tools/sam-venv" "$sam_reqs" "AWS SAM CLI"
  ln -sfn ../sam-venv/bin/sam "$tools/bin/sam"

  venv_bin="$tools/venv/bin"
  for exe in moto_server cfn-lint cargo-lambda python; do
    [[ -x "$venv_bin/$exe" ]] || die "$venv_bin/$exe is missing after install"
  done
  [[ -x "$tools/sam-venv/bin/sam" ]] || die ".tools/sam-venv/bin/sam is missing after install"

  # cargo lambda build --arm64 cross-compiles with zig; rustup must know the target.
  command -v rustup >/dev/null 2>&1 || die "rustup not found: install Rust with rustup"
  # (Output captured first: `grep -q` closing the pipe early would fail it under pipefail.)
  targets="$(rustup target list --installed)" || die "rustup target list failed"
  if ! grep -qx aarch64-unknown-linux-gnu <<<"$targets"; then
    note "adding rustup target aarch64-unknown-linux-gnu"
    rustup target add aarch64-unknown-linux-gnu >&2 || die "rustup target add aarch64-unknown-linux-gnu failed"
    targets="$(rustup target list --installed)" || die "rustup target list failed"
  fi
  grep -qx aarch64-unknown-linux-gnu <<<"$targets" \
    || die "rustup target aarch64-unknown-linux-gnu is still not installed"

  # One line per tool: the versions this run will use.
  py="$venv_bin/python"
  echo "tools: python $("$py" -c 'import platform; print(platform.python_version())')"
  echo "tools: moto $("$py" -c 'import moto; print(moto.__version__)')"
  echo "tools: boto3 $("$py" -c 'import boto3; print(boto3.__version__)')"
  echo "tools: pyyaml $("$py" -c 'import yaml; print(yaml.__version__)')"
  echo "tools: cfn-lint $("$venv_bin/cfn-lint" --version | awk '{print $NF}')"
  echo "tools: cargo-lambda $("$venv_bin/cargo-lambda" lambda --version 2>/dev/null | awk '{print $2}')"
  echo "tools: zig $("$py" -m ziglang version)"
  echo "tools: sam $(SAM_CLI_TELEMETRY=0 "$tools/sam-venv/bin/sam" --version | awk '{print $NF}')"
  echo "tools: rust target aarch64-unknown-linux-gnu installed ($(rustc --version | awk '{print $2}'))"
  exit 0
fi

# ---- sourced: install in a child, then export ------------------------------------------------
if ! bash "${BASH_SOURCE[0]}"; then
  echo "tests/tools/install.sh: tool installation failed (see above)" >&2
  return 1
fi
DDB_AUDIT_TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.tools"
case ":$PATH:" in
  "$DDB_AUDIT_TOOLS_DIR/venv/bin:$DDB_AUDIT_TOOLS_DIR/bin:"*) ;;
  *) PATH="$DDB_AUDIT_TOOLS_DIR/venv/bin:$DDB_AUDIT_TOOLS_DIR/bin:$PATH" ;;
esac
MOTO_SERVER_BIN="$DDB_AUDIT_TOOLS_DIR/venv/bin/moto_server"
SAM_CLI_BIN="$DDB_AUDIT_TOOLS_DIR/sam-venv/bin/sam"
SAM_CLI_TELEMETRY=0
DDB_AUDIT_TOOLS_READY=1
export PATH MOTO_SERVER_BIN SAM_CLI_BIN SAM_CLI_TELEMETRY DDB_AUDIT_TOOLS_DIR DDB_AUDIT_TOOLS_READY
