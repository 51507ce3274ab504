#!/usr/bin/env bash
# Checks the local stack (infra/): start, resources, SNS -> SQS delivery, reuse, stop, and the
# serial mode the race tests depend on. Installs nothing: source tests/tools/install.sh first.
# Uses its own LOCAL_STACK_DIR, so it never touches a stack someone else started.
# Ends with "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail

if [[ "${DDB_AUDIT_TOOLS_READY:-}" != 1 ]]; then
  echo "tests/infra/check.sh: error: the test tools are not set up; run: source tests/tools/install.sh" >&2
  exit 2
fi
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
py="$repo/.tools/venv/bin/python"

LOCAL_STACK_DIR="$(mktemp -d)"
export LOCAL_STACK_DIR
trap 'bash infra/local-stack-down.sh >/dev/null 2>&1; rm -rf "$LOCAL_STACK_DIR"' EXIT

passed=0 failed=0
# Alive and not a zombie (an orphaned server is reaped by pid 1, which may take its time).
running() { local st; st="$(ps -o stat= -p "$1" 2>/dev/null)" && [[ -n "$st" && "$st" != Z* ]]; }
now_ms() { date +%s%3N; }
ok() { passed=$((passed + 1)); echo "ok   - $1"; }
not_ok() { failed=$((failed + 1)); echo "FAIL - $1"; [[ -n "${2:-}" ]] && sed 's/^/       /' <<<"$2"; return 0; }

# 1. up prints every variable a local run needs, and writes the env and pid files.
start=$(now_ms)
out="$(bash infra/local-stack-up.sh 2>"$LOCAL_STACK_DIR/up.err")"; rc=$?
elapsed_ms=$(( $(now_ms) - start ))
missing=""
for name in AWS_ENDPOINT_URL AWS_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY FINDINGS_TOPIC_ARN \
  FINDINGS_FIFO_TOPIC_ARN FINDINGS_QUEUE_URL FINDINGS_FIFO_QUEUE_URL STATE_TABLE_NAME DEMO_TABLE_NAME DEMO_STREAM_ARN; do
  grep -q "^export $name=." <<<"$out" || missing+=" $name"
done
if [[ $rc == 0 && -z "$missing" && -s "$LOCAL_STACK_DIR/local-stack.env" && -s "$LOCAL_STACK_DIR/local-stack.pid" ]] \
  && diff -q <(echo "$out") "$LOCAL_STACK_DIR/local-stack.env" >/dev/null; then
  ok "up prints the environment and writes local-stack.env/.pid (${elapsed_ms} ms incl. resources)"
else
  not_ok "up (rc=$rc, missing:${missing:- none})" "$(cat "$LOCAL_STACK_DIR/up.err")"
fi
eval "$out"
pid="$(awk '{print $1}' "$LOCAL_STACK_DIR/local-stack.pid" 2>/dev/null)"

# 2. the resources are what template.yaml creates in AWS.
if msg="$("$py" - 2>&1 <<'PY'
import os, boto3
ddb = boto3.client("dynamodb")
t = ddb.describe_table(TableName=os.environ["STATE_TABLE_NAME"])["Table"]
assert t["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}], t["KeySchema"]
assert t["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}], t["AttributeDefinitions"]
assert t["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST", t.get("BillingModeSummary")
ttl = ddb.describe_time_to_live(TableName=os.environ["STATE_TABLE_NAME"])["TimeToLiveDescription"]
assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}, ttl
d = ddb.describe_table(TableName=os.environ["DEMO_TABLE_NAME"])["Table"]
assert d["TableName"] == "Accounts"
assert d["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}], d["KeySchema"]
assert d["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES", d["StreamSpecification"]
assert d["LatestStreamArn"] == os.environ["DEMO_STREAM_ARN"]
sns = boto3.client("sns")
attrs = sns.get_topic_attributes(TopicArn=os.environ["FINDINGS_FIFO_TOPIC_ARN"])["Attributes"]
assert attrs.get("FifoTopic") == "true", attrs
for topic in (os.environ["FINDINGS_TOPIC_ARN"], os.environ["FINDINGS_FIFO_TOPIC_ARN"]):
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert len(subs) == 1 and subs[0]["Protocol"] == "sqs", subs
    a = sns.get_subscription_attributes(SubscriptionArn=subs[0]["SubscriptionArn"])["Attributes"]
    assert a["RawMessageDelivery"] == "true", a
PY
)"; then ok "state table (pk S, on-demand, TTL expires_at), Accounts stream, topics and raw sqs subscriptions"
else not_ok "resources" "$msg"; fi

# 3. a message published to each topic arrives in its queue, raw, with its severity attribute.
if msg="$("$py" infra/local_stack.py smoke 2>&1)"; then ok "SNS -> SQS delivery (standard and FIFO)"
else not_ok "SNS -> SQS delivery" "$msg"; fi

# 4. up again reuses the running emulator and prints the same environment.
if out2="$(bash infra/local-stack-up.sh 2>/dev/null)" && [[ "$out2" == "$out" ]]; then ok "up is idempotent (reuses the running stack)"
else not_ok "second up did not reuse the stack" "$out2"; fi

# 5. asking for serial mode while a threaded emulator runs is refused, not silently ignored.
if msg="$(LOCAL_STACK_SERIAL=1 bash infra/local-stack-up.sh 2>&1)"; then not_ok "serial up over a threaded stack succeeded" "$msg"
else ok "serial up over a running threaded stack is refused"; fi

# 6. down stops the process and removes the files; the port no longer answers.
bash infra/local-stack-down.sh 2>/dev/null
if [[ -n "$pid" ]] && ! running "$pid" && [[ ! -e "$LOCAL_STACK_DIR/local-stack.pid" ]] \
  && ! curl -s -o /dev/null --max-time 1 "$AWS_ENDPOINT_URL/moto-api/data.json"; then ok "down stops moto (pid $pid)"
else not_ok "down left something running (pid ${pid:-?})"; fi

# 7. the serial wrapper really applies one request at a time (and the plain app does not).
if msg="$("$py" - 2>&1 <<'PY'
import sys, threading, time
sys.path.insert(0, "infra")
from local_stack import serialized
def probe():
    state = {"now": 0, "max": 0}
    lock = threading.Lock()
    def app(environ, start_response):
        with lock:
            state["now"] += 1; state["max"] = max(state["max"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        start_response("200 OK", [])
        return [b"ok"]
    return app, state
for wrap, expect in ((serialized, 1), (lambda a: a, None)):
    app, state = probe(); wsgi = wrap(app)
    ts = [threading.Thread(target=lambda: wsgi({}, lambda *a: None)) for _ in range(8)]
    [t.start() for t in ts]; [t.join() for t in ts]
    if expect is not None:
        assert state["max"] == 1, f"serialized app ran {state['max']} requests at once"
    else:
        assert state["max"] > 1, "the probe cannot see concurrency: the check proves nothing"
PY
)"; then ok "serialized(): at most one request inside moto at a time"
else not_ok "serialized()" "$msg"; fi

# 8. with --serial, concurrent conditional writers see DynamoDB's per-item atomicity.
if out="$(bash infra/local-stack-up.sh --serial 2>"$LOCAL_STACK_DIR/up.err")"; then
  eval "$out"
  if msg="$("$py" tests/infra/serial_consistency.py 2>&1)"; then ok "serial mode: $msg"
  else not_ok "serial mode consistency" "$msg"; fi
  bash infra/local-stack-down.sh 2>/dev/null
else
  not_ok "up --serial" "$(cat "$LOCAL_STACK_DIR/up.err")"
fi

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
