"""The race lab: racing workloads against moto applying one request at a time, each table's
stream audited with `ddb-audit scan`, and the findings scored against the workload's own ground
truth. See docs/RACE_LAB.md.

    python tests/race_lab/lab.py --ddb-audit target/debug/ddb-audit [--size ci|big] [--check]

--check exits non-zero unless every safe variant has zero findings, every evidence-leaving
anomaly of the unsafe variants is reported, there are no false alarms, and the workloads' own
bookkeeping checks hold.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

import boto3  # noqa: E402
from botocore.config import Config as BotoConfig  # noqa: E402

import truth  # noqa: E402
import workloads  # noqa: E402

SIZES = {
    # CI: a few seconds of load per variant, enough for tens of anomalies.
    "ci": {"threads": 8, "accounts": 2, "requests": 60, "think_ms": 3.0},
    # Big: thousands of requests in all. More per variant is possible (--requests) but slow:
    # moto deep-copies a table, stream records included, for every TransactWriteItems, so the
    # transactional variants cost time quadratic in their table's history.
    "big": {"threads": 32, "accounts": 4, "requests": 400, "think_ms": 3.0},
}
FUTURE_RULES = ("duplicate-request", "unbalanced-transfer", "ledger-mismatch")
# The settings each cross-record rule needs, for the lab's attributes (see workloads.py), applied
# to every table once ddb-audit knows the rule. A rule that exists without an entry here is
# unconfigured and reports nothing: the lab then fails with its anomalies missed, on purpose.
RULE_SETTINGS = {
    "duplicate-request": {"duplicate_request": {
        "request_attribute": "lastRequestId", "watched_attributes": ["balance"],
        "remember": 1000}},
    # Entries `ledger#<request>` beside the accounts; amounts are signed like the balance moves.
    # The default grace period (300 s) is longer than any variant's run, so the end of the scan
    # settles each account once, with every write done.
    "ledger-mismatch": {"ledger": {
        "entry_key_attribute": "id", "entry_key_prefix": "ledger#",
        "account_attribute": "account", "account_key_attribute": "id",
        "amount_attribute": "amount"}},
    # Each leg of a transfer stamps its id on the account it moves; the end of the scan settles
    # every transfer still open (the grace period outlasts the run).
    "unbalanced-transfer": {"transfer": {
        "transfer_attribute": "transferId", "conserved_attribute": "balance"}},
}
# Rules whose settings apply only to the tables whose name contains this text: a ledger rule on
# the patterns without a ledger would call every balance move a mismatch, rightly.
RULE_TABLES = {"ledger-mismatch": "-ledger-", "unbalanced-transfer": "-transfer-"}


def say(message: str) -> None:
    print(f"race-lab: {message}", file=sys.stderr, flush=True)


def start_stack(state_dir: Path) -> dict[str, str]:
    """The local stack from infra/, in serial mode (one request applied at a time)."""
    env = dict(os.environ, LOCAL_STACK_DIR=str(state_dir), LOCAL_STACK_SERIAL="1")
    out = subprocess.run([sys.executable, str(REPO / "infra/local_stack.py"), "up", "--serial"],
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"race-lab: the local stack did not start:\n{out.stderr}")
    values = {}
    for line in out.stdout.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            values[name] = value.strip("'")
    return values


def stop_stack(state_dir: Path) -> None:
    env = dict(os.environ, LOCAL_STACK_DIR=str(state_dir))
    subprocess.run([sys.executable, str(REPO / "infra/local_stack.py"), "down"], env=env,
                   capture_output=True)


def stream_records(ddb_streams, ddb, table: str) -> dict[str, tuple]:
    """Sequence number -> (key, old image, new image) for every record of the table's stream:
    only to place findings on the workload's writes, never to decide what happened."""
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    out = {}
    for shard in ddb_streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        it = ddb_streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                            ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            page = ddb_streams.get_records(ShardIterator=it, Limit=1000)
            if not page["Records"]:
                break
            for r in page["Records"]:
                d = r["dynamodb"]
                key = truth.item_key(d["Keys"])
                out[d["SequenceNumber"]] = (key, truth.canonical_image(d.get("OldImage")),
                                            truth.canonical_image(d.get("NewImage")))
            it = page.get("NextShardIterator")
    return out


def scan(ddb_audit: str, env: dict[str, str], table: str,
         config: Path | None) -> tuple[list[dict], str]:
    options = ["--config", str(config)] if config else []
    done = subprocess.run([ddb_audit, "scan", "--table", table, "--format", "json", *options],
                          env=dict(os.environ, **env), capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"race-lab: ddb-audit scan --table {table} failed "
                         f"({done.returncode}):\n{done.stderr}")
    findings = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    if (done.returncode == 1) != bool(findings):
        raise SystemExit(f"race-lab: exit code {done.returncode} with {len(findings)} findings")
    return findings, done.stderr.strip()


def table_text(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ddb-audit", required=True, help="the ddb-audit binary")
    parser.add_argument("--size", choices=sorted(SIZES), default="ci")
    parser.add_argument("--requests", type=int, help="requests per variant (overrides --size)")
    parser.add_argument("--threads", type=int, help="concurrent clients (overrides --size)")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--check", action="store_true", help="fail unless the lab's claims hold")
    parser.add_argument("--json", type=Path, help="also write the scores here")
    args = parser.parse_args()
    size = dict(SIZES[args.size])
    if args.requests:
        size["requests"] = args.requests
    if args.threads:
        size["threads"] = args.threads

    known = truth.available_rules(args.ddb_audit, truth.BUILTIN_RULES | set(FUTURE_RULES))
    missing_builtin = truth.BUILTIN_RULES - known
    if missing_builtin:
        raise SystemExit(f"race-lab: ddb-audit does not know built-in rules {missing_builtin}")
    say(f"rules for cross-record anomalies available: "
        f"{sorted(set(FUTURE_RULES) & known) or 'none yet'}")

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="race-lab-") as tmp:
        def config_for(table: str) -> Path | None:
            defaults = {}
            for rule in sorted(set(RULE_SETTINGS) & known):
                if RULE_TABLES.get(rule, "") in table:
                    defaults.update(RULE_SETTINGS[rule])
            if not defaults:
                return None
            path = Path(tmp, f"audit-config-{table}.json")
            path.write_text(json.dumps({"defaults": defaults}))
            say(f"scanning {table} with: {json.dumps(defaults)}")
            return path
        env = start_stack(Path(tmp, "stack"))
        try:
            endpoint = env["AWS_ENDPOINT_URL"]
            session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                            region_name="us-east-1")
            boto_config = BotoConfig(max_pool_connections=4, retries={"max_attempts": 1})
            clients = [session.client("dynamodb", endpoint_url=endpoint, config=boto_config)
                       for _ in range(size["threads"])]
            streams = session.client("dynamodbstreams", endpoint_url=endpoint)
            # Fresh table names for every run: a new stream in moto restarts its sequence numbers.
            prefix = f"lab{int(time.time() * 1000) % 10**8}"
            lab = workloads.Lab(clients, prefix, size["threads"], size["accounts"],
                                size["requests"], args.seed, size["think_ms"])
            runs = []
            for _letter, pattern, options in workloads.PATTERNS:
                for variant in ("unsafe", "safe"):
                    t0 = time.monotonic()
                    run = pattern(lab, variant, **options)
                    findings, summary = scan(args.ddb_audit, env, run.table,
                                             config_for(run.table))
                    records = stream_records(streams, clients[0], run.table)
                    result = truth.score(run, findings, records, known)
                    runs.append((run, result))
                    say(f"{run.pattern} ({variant}): {run.requests} requests, "
                        f"{time.monotonic() - t0:.1f}s; scan: {summary}")
        finally:
            stop_stack(Path(tmp, "stack"))

    rows = [["pattern", "variant", "requests", "lost/broken writes", "evidence-leaving",
             "reported", "missed", "no evidence (built-in rules)", "not yet (issue 5 rules)",
             "false alarms"]]
    failures = []
    for run, s in runs:
        evidence = s.reported + s.missed
        rows.append([run.pattern, run.variant, str(run.requests), str(s.anomalies), str(evidence),
                     str(s.reported), str(s.missed), str(s.hidden), str(s.not_yet),
                     str(s.false_alarms)])
        if run.variant == "safe" and (s.findings or s.anomalies):
            failures.append(f"{run.pattern} (safe): {s.findings} findings, "
                            f"{s.anomalies} anomalies; expected none: {s.false_detail}")
        if s.missed:
            failures.append(f"{run.pattern} ({run.variant}): missed {s.missed} evidence-leaving "
                            f"anomalies, e.g. {s.missed_detail[:3]}")
        if s.false_alarms:
            failures.append(f"{run.pattern} ({run.variant}): {s.false_alarms} false alarms, "
                            f"e.g. {s.false_detail[:3]}")
        for description, ok in run.checks:
            if not ok:
                failures.append(f"{run.pattern} ({run.variant}): workload check failed: "
                                f"{description} ({'; '.join(run.notes)})")
    print(table_text(rows))
    print()
    for run, s in runs:
        reasons = "; ".join(f"{count} {why}" for why, count in s.hidden_reasons.items())
        print(f"- {run.pattern} ({run.variant}): {', '.join(run.notes) or '-'}"
              + (f"; not reported because: {reasons}" if reasons else ""))
    total = sum(r.requests for r, _ in runs)
    print(f"\n{total} requests, {size['threads']} clients, {size['accounts']} hot accounts, "
          f"{time.monotonic() - started:.0f}s")
    if args.json:
        args.json.write_text(json.dumps([{
            "pattern": r.pattern, "variant": r.variant, "requests": r.requests,
            "anomalies": s.anomalies, "reported": s.reported, "missed": s.missed,
            "no_evidence": s.hidden, "not_yet": s.not_yet, "false_alarms": s.false_alarms,
            "findings": s.findings, "notes": r.notes} for r, s in runs], indent=2))
    if failures:
        print("\nrace lab FAILED:", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        return 1 if args.check else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
