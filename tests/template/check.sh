#!/usr/bin/env bash
# Checks the SAM template (issue 4): cfn-lint clean with the pinned cfn-lint, a deliberately broken
# copy rejected by both cfn-lint and the safety test, the safety test itself, `sam validate --lint`
# and samconfig.toml. Installs nothing: source tests/tools/install.sh first.
# Ends with "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail

if [[ "${DDB_AUDIT_TOOLS_READY:-}" != 1 ]]; then
  echo "tests/template/check.sh: error: the test tools are not set up; run: source tests/tools/install.sh" >&2
  exit 2
fi
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
tools="$repo/.tools"
py="$tools/venv/bin/python"
cfn_lint="$tools/venv/bin/cfn-lint"
sam="${SAM_CLI_BIN:-$tools/sam-venv/bin/sam}"
broken=tests/template/broken-template.yaml
CFN_LINT_VERSION=1.51.0 # newer releases were seen to miss errors in SAM templates that 1.51 catches

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $1"; }
not_ok() { failed=$((failed + 1)); echo "FAIL - $1"; [[ -n "${2:-}" ]] && sed 's/^/       /' <<<"$2"; return 0; }

# (a) the pinned cfn-lint, and the template clean under it.
version="$("$cfn_lint" --version 2>&1 | awk '{print $NF}')"
if [[ "$version" == "$CFN_LINT_VERSION" ]]; then ok "cfn-lint is the pinned $CFN_LINT_VERSION"
else not_ok "cfn-lint is $version, not the pinned $CFN_LINT_VERSION"; fi

if out="$("$cfn_lint" template.yaml 2>&1)" && [[ -z "$out" ]]; then ok "cfn-lint template.yaml: clean"
else not_ok "cfn-lint template.yaml" "$out"; fi

# (b) the broken copy must fail cfn-lint, for the reasons it was broken.
out="$("$cfn_lint" "$broken" 2>&1)"; rc=$?
missing=""
grep -q "E3030 'provided.al2024' is not one of" <<<"$out" || missing+=" wrong-runtime"
grep -q "E3030 'ReportBatchItemFailure' is not one of \['ReportBatchItemFailures'\]" <<<"$out" || missing+=" misspelt-ReportBatchItemFailures"
if [[ $rc != 0 && -z "$missing" ]]; then ok "cfn-lint rejects $broken (wrong runtime, misspelt ReportBatchItemFailures)"
else not_ok "cfn-lint on $broken: rc=$rc, not reported:${missing:- none}" "$out"; fi

# (c) the safety properties, on the real template and on the broken copy.
if out="$("$py" tests/template/test_template_safety.py template.yaml 2>&1)"; then
  ok "safety test passes on template.yaml ($(tail -n1 <<<"$out"))"
else not_ok "safety test on template.yaml" "$out"; fi

out="$("$py" tests/template/test_template_safety.py "$broken" 2>&1)"; rc=$?
missing=""
for expected in "FAIL - runtime provided.al2023" "FAIL - arm64" "FAIL - ReportBatchItemFailures" \
  "FAIL - BisectBatchOnFunctionError" "FAIL - finite MaximumRetryAttempts" "FAIL - finite MaximumRecordAgeInSeconds" \
  "FAIL - OnFailure destination" "FAIL - no FilterCriteria" "FAIL - no '\*' Resource on sns:Publish or DynamoDB write" \
  "FAIL - alarms:"; do
  grep -q "^$expected" <<<"$out" || missing+=" [$expected]"
done
if [[ $rc != 0 && -z "$missing" ]]; then ok "safety test rejects $broken on every planted break ($(tail -n1 <<<"$out"))"
else not_ok "safety test on $broken: rc=$rc, not reported:${missing:- none}" "$out"; fi

# (d) the SAM CLI's own validation (translator + its bundled cfn-lint); runs offline.
if out="$(SAM_CLI_TELEMETRY=0 "$sam" validate --lint --template template.yaml --region us-east-1 2>&1)"; then
  ok "sam validate --lint ($("$sam" --version 2>/dev/null | awk '{print $NF}'))"
else not_ok "sam validate --lint" "$out"; fi

# samconfig.toml: the beta rust-cargolambda build method needs beta_features for build and sync.
if out="$("$py" - 2>&1 <<'PY'
import tomllib
c = tomllib.load(open("samconfig.toml", "rb"))["default"]
for cmd in ("build", "sync"):
    assert c[cmd]["parameters"].get("beta_features") is True, f"{cmd}: beta_features is not true"
PY
)"; then ok "samconfig.toml: beta_features = true for build and sync"
else not_ok "samconfig.toml" "$out"; fi

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
