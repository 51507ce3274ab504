"""Ground truth and scoring: what the workload knows happened, matched against what
`ddb-audit scan` reported.

An anomaly is one lost or broken write, as the workload saw it (its own reads, the database's
acknowledgements, and the item each write replaced, from ReturnValues=ALL_OLD). It names the
rules that can expose it:

- `builtin`: built-in per-record rules, and whether this particular anomaly left the evidence they
  need in the stream (`evidence`): a lost write is only visible to them when the overwriting
  record's version did not advance by exactly one step;
- `future`: rules that see across records (issue 5: duplicate-request, unbalanced-transfer,
  ledger-mismatch). They count only once `ddb-audit` knows them (probed, see `available_rules`).

A built-in finding is matched to an anomaly by its record (key, OldImage, NewImage); a finding of
a cross-record rule by key and rule id. Findings that match no anomaly, and sit on no anomaly's
record, are false alarms.
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

BUILTIN_RULES = {
    "lost-update", "version-regression", "version-gap", "missing-version", "history-gap",
    "negative-balance", "malformed-record",
}
# Rules that expose a write lost to a blind overwrite, on the overwriting record.
LOST_WRITE_RULES = ("lost-update", "version-regression", "version-gap")


def canonical_value(value: dict) -> object:
    """An attribute value in a form where equal values compare equal (numbers as decimals)."""
    (tag, inner), = value.items()
    if tag == "N":
        return ["N", str(Decimal(inner).normalize())]
    if tag == "NS":
        return ["NS", sorted(str(Decimal(n).normalize()) for n in inner)]
    if tag == "B":
        return ["B", base64.b64encode(inner).decode() if isinstance(inner, bytes) else inner]
    if tag in ("SS", "BS"):
        return [tag, sorted(inner)]
    if tag == "M":
        return ["M", canonical_image(inner)]
    if tag == "L":
        return ["L", [canonical_value(v) for v in inner]]
    return [tag, inner]


def canonical_image(image: dict | None) -> str | None:
    if image is None:
        return None
    return json.dumps({k: canonical_value(v) for k, v in sorted(image.items())}, sort_keys=True)


def item_key(key: dict) -> str:
    """`{"id": {"S": "acct-1"}}` -> `acct-1` (the lab's tables have one string key, `id`)."""
    return key["id"]["S"]


@dataclass
class Anomaly:
    kind: str                    # lost-write, broken-transfer, duplicate-request
    key: str
    record: tuple | None         # (key, old image, new image) of the record that carries it
    builtin_evidence: bool       # the built-in rules can see it on `record`
    future: tuple = ()           # cross-record rules that could see it
    why_hidden: str = ""         # when nothing the lab can run sees it: why
    amount: Decimal | None = None  # money it took out of the balance (lost writes)
    matched: bool = False


@dataclass
class Run:
    """One variant of one pattern, after its workload ran."""
    pattern: str
    variant: str                 # unsafe | safe
    table: str
    requests: int = 0
    anomalies: list = field(default_factory=list)
    checks: list = field(default_factory=list)   # (description, ok) sanity checks of the workload
    notes: list = field(default_factory=list)


def available_rules(ddb_audit: str, candidates) -> set[str]:
    """The rule ids this `ddb-audit` knows: it rejects a config disabling an unknown rule."""
    known = set()
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp, "empty.json")
        empty.write_text('{"Records": []}')
        for rule in sorted(set(candidates)):
            config = Path(tmp, "probe.json")
            config.write_text(json.dumps({"defaults": {"disabled_rules": [rule]}}))
            done = subprocess.run([ddb_audit, "replay", "--config", str(config), str(empty)],
                                  capture_output=True)
            if done.returncode == 0:
                known.add(rule)
    return known


@dataclass
class Score:
    anomalies: int = 0
    reported: int = 0
    missed: int = 0
    hidden: int = 0              # left no evidence any available rule can use
    not_yet: int = 0             # evidence only for rules ddb-audit does not have yet
    false_alarms: int = 0
    findings: int = 0
    missed_detail: list = field(default_factory=list)
    false_detail: list = field(default_factory=list)
    hidden_reasons: dict = field(default_factory=dict)


def score(run: Run, findings: list[dict], records: dict[str, tuple], known: set[str]) -> Score:
    """Matches findings (JSON objects) to the run's anomalies. `records` maps a sequence number
    to the (key, old, new) triple of its stream record."""
    s = Score(anomalies=len(run.anomalies), findings=len(findings))
    anchored = {}
    for a in run.anomalies:
        if a.record is not None:
            anchored.setdefault(a.record, []).append(a)
    anomaly_records = set(anchored)
    unmatched = []
    # `ledger-mismatch` reports an account's difference, not each write: its findings for an
    # account report that account's lost writes when their discarded money adds up to exactly the
    # differences found (a lost withdrawal of a leaves the ledger a below the balance).
    ledger = [f for f in findings if f["rule"] == "ledger-mismatch"]
    findings = [f for f in findings if f["rule"] != "ledger-mismatch"]
    by_account: dict[str, list] = {}
    for f in ledger:
        by_account.setdefault(f["evidence"]["account"]["key"].get("id"), []).append(f)
    for account, found in by_account.items():
        losses = [a for a in run.anomalies
                  if a.key == account and "ledger-mismatch" in a.future and a.amount is not None]
        difference = sum(Decimal(f["evidence"]["difference"]) for f in found)
        if losses and sum(a.amount for a in losses) == -difference:
            for a in losses:
                a.matched = True
        else:
            unmatched.extend(found)
    for f in findings:
        triple = records.get(f["sequence_number"])
        if f["rule"] in BUILTIN_RULES:
            candidates = [a for a in anchored.get(triple, []) if not a.matched]
        else:
            key = f.get("key", {}).get("id")
            candidates = [a for a in run.anomalies
                          if not a.matched and a.key == key and f["rule"] in a.future]
        if candidates:
            candidates[0].matched = True
        elif triple in anomaly_records:
            pass  # a second finding on a record already counted (e.g. two rules on one write)
        elif f["rule"] not in BUILTIN_RULES and any(
                a.key == f.get("key", {}).get("id") and f["rule"] in a.future
                for a in run.anomalies):
            pass  # a cross-record rule seeing a loss a built-in rule already reported
        else:
            unmatched.append(f)
    s.false_alarms = len(unmatched)
    s.false_detail = unmatched[:5]
    for a in run.anomalies:
        usable_future = [r for r in a.future if r in known]
        if a.matched:
            s.reported += 1
        elif (a.builtin_evidence and a.record is not None) or usable_future:
            s.missed += 1
            s.missed_detail.append(a)
        elif a.future:
            s.not_yet += 1
            reason = (f"{a.why_hidden}; " if a.why_hidden else "") + \
                f"needs {'/'.join(a.future)} (not in ddb-audit yet)"
            s.hidden_reasons[reason] = s.hidden_reasons.get(reason, 0) + 1
        else:
            s.hidden += 1
            s.hidden_reasons[a.why_hidden] = s.hidden_reasons.get(a.why_hidden, 0) + 1
    return s
