#!/usr/bin/env bash
# `ddb-audit scan` against the local stack infra/ starts (threaded moto, its `Accounts` table),
# configured only through the environment infra/local-stack-up.sh exports, as on-call would.
#
#   bash tests/race_lab/scan_local_stack.sh PATH/TO/ddb-audit
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
audit="${1:?usage: scan_local_stack.sh PATH/TO/ddb-audit}"
state="$(mktemp -d)"
export LOCAL_STACK_DIR="$state"
cleanup() { bash infra/local-stack-down.sh >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT
eval "$(LOCAL_STACK_SERIAL=0 bash infra/local-stack-up.sh 2>/dev/null)"
fail() { echo "scan against the local stack: FAILED: $*" >&2; exit 1; }

# An empty stream: nothing to find.
"$audit" scan --table "$DEMO_TABLE_NAME" >"$state/empty.out" 2>"$state/empty.err" \
  || fail "empty stream: exit $? ($(cat "$state/empty.err"))"
[[ ! -s "$state/empty.out" ]] || fail "empty stream printed findings"

# A blind read-modify-write race on the demo table, written with boto3.
.tools/venv/bin/python - <<'PY'
import boto3, os
ddb = boto3.client("dynamodb")
table = os.environ["DEMO_TABLE_NAME"]
for version, balance in [(1, 100), (2, 70), (2, 80)]:
    ddb.put_item(TableName=table, Item={"id": {"S": "acct-1"}, "version": {"N": str(version)},
                                        "balance": {"N": str(balance)}})
PY
set +e
"$audit" scan --table "$DEMO_TABLE_NAME" >"$state/race.out" 2>"$state/race.err"
status=$?
set -e
[[ $status == 1 ]] || fail "expected exit 1 (findings), got $status: $(cat "$state/race.err")"
grep -q '"rule":"lost-update"' "$state/race.out" || fail "no lost-update in: $(cat "$state/race.out")"
[[ $(wc -l <"$state/race.out") == 1 ]] || fail "expected one finding: $(cat "$state/race.out")"
grep -q "audited 3 records" "$state/race.err" || fail "summary: $(cat "$state/race.err")"

# The flags override the environment.
set +e
AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_REGION=eu-west-3 \
  "$audit" scan --table "$DEMO_TABLE_NAME" --endpoint-url "$AWS_ENDPOINT_URL" --region us-east-1 \
  --format text >"$state/text.out" 2>"$state/text.err"
status=$?
set -e
[[ $status == 1 ]] || fail "flags: exit $status: $(cat "$state/text.err")"
grep -q "^lost-update" "$state/text.out" || fail "text listing: $(cat "$state/text.out")"
echo "scan against the local stack: ok (empty stream, a lost update found, flags over the environment)"
