"""Safety properties of the SAM template that cfn-lint cannot know are required.

    python tests/template/test_template_safety.py [TEMPLATE]     (default: template.yaml)

Prints one line per check ("ok - ..." / "FAIL - ...: why"), then "N passed, M failed"; exits 1
when any check fails. tests/template/check.sh also runs it on broken-template.yaml and expects
the failures named there.

Why each property matters (issue 4): the DynamoDB event source mapping defaults are dangerous for
an auditor (infinite retries block a shard for 24 hours; no on-failure destination loses records
silently); FilterCriteria would leave holes in item histories (false history-gap findings, missed
races); an auditor with broad write rights is itself a risk.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

DDB_WRITE_ACTIONS = {
    "dynamodb:putitem", "dynamodb:updateitem", "dynamodb:deleteitem", "dynamodb:batchwriteitem",
    "dynamodb:transactwriteitems", "dynamodb:partiqlinsert", "dynamodb:partiqlupdate",
    "dynamodb:partiqldelete",
}
REQUIRED_ENV = ("FINDINGS_TOPIC_ARN", "STATE_TABLE_NAME", "AUDIT_CONFIG")
MAX_RECORD_AGE_S = 604800  # the largest finite value AWS accepts


# ---- a YAML loader for CloudFormation short tags (!Ref, !GetAtt, !Sub, ...) -------------------


class CfnLoader(yaml.SafeLoader):
    pass


def _short_tag(loader: CfnLoader, tag_suffix: str, node: yaml.Node):
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Condition":
        return {"Condition": value}
    return {name: value}


CfnLoader.add_multi_constructor("!", _short_tag)


def load(path: Path) -> dict:
    with open(path) as f:
        return yaml.load(f, Loader=CfnLoader)


# ---- helpers ---------------------------------------------------------------------------------


def as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def leaves(value):
    """Every plain value an expression can produce (both branches of Fn::If, list members)."""
    if isinstance(value, dict) and len(value) == 1 and "Fn::If" in value:
        _cond, a, b = value["Fn::If"]
        yield from leaves(a)
        yield from leaves(b)
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v)
    else:
        yield value


def has_wildcard(resource) -> bool:
    """A Resource that is, or anywhere contains, '*' (in any branch of an Fn::If, any Sub/Join)."""
    return any("*" in str(leaf) for leaf in leaves(resource))


def statements(template: dict):
    """(resource name, statement) for every IAM policy statement in the template."""
    for name, res in template.get("Resources", {}).items():
        props = res.get("Properties", {}) or {}
        kind = res.get("Type")
        docs = []
        if kind == "AWS::IAM::Role":
            docs += [p.get("PolicyDocument", {}) for p in as_list(props.get("Policies"))]
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            docs.append(props.get("PolicyDocument", {}))
        elif kind == "AWS::Serverless::Function":
            for p in as_list(props.get("Policies")):
                if isinstance(p, dict) and "Statement" in p:
                    docs.append(p)
        for doc in docs:
            for st in as_list(doc.get("Statement")):
                yield name, st


def parameter_bounds(template: dict, value):
    """(min, max) a property can take: a literal, or a Ref to a parameter with bounds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value, value
    if isinstance(value, str):
        try:
            n = float(value)
            return n, n
        except ValueError:
            return None, None
    if isinstance(value, dict) and "Ref" in value:
        p = template.get("Parameters", {}).get(value["Ref"], {})
        lo, hi = p.get("MinValue"), p.get("MaxValue")
        allowed = p.get("AllowedValues")
        if allowed:
            nums = [float(a) for a in allowed]
            return min(nums), max(nums)
        return (float(lo) if lo is not None else None), (float(hi) if hi is not None else None)
    return None, None


# ---- the checks ------------------------------------------------------------------------------


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, problems: list[str]) -> None:
        if problems:
            self.failed += 1
            print(f"FAIL - {name}: " + "; ".join(problems))
        else:
            self.passed += 1
            print(f"ok - {name}")


def run(template: dict) -> Checks:
    c = Checks()
    resources = template.get("Resources", {}) or {}
    functions = {n: r for n, r in resources.items() if r.get("Type") == "AWS::Serverless::Function"}

    auditor = [
        (n, r) for n, r in functions.items()
        if (r.get("Metadata") or {}).get("BuildProperties", {}).get("Binary") == "ddb-audit-lambda"
    ]
    c.check("one function builds the ddb-audit-lambda binary", [] if len(auditor) == 1 else [f"found {len(auditor)}"])
    name, fn = auditor[0] if auditor else ("?", {"Properties": {}, "Metadata": {}})
    props = fn.get("Properties", {}) or {}
    meta = fn.get("Metadata", {}) or {}

    c.check("runtime provided.al2023, handler bootstrap, BuildMethod rust-cargolambda", [
        p for p in (
            None if props.get("Runtime") == "provided.al2023" else f"Runtime is {props.get('Runtime')!r}",
            None if props.get("Handler") == "bootstrap" else f"Handler is {props.get('Handler')!r}",
            None if meta.get("BuildMethod") == "rust-cargolambda" else f"BuildMethod is {meta.get('BuildMethod')!r}",
        ) if p
    ])
    c.check("arm64", [] if props.get("Architectures") == ["arm64"] else [f"Architectures is {props.get('Architectures')!r}"])

    env = ((props.get("Environment") or {}).get("Variables") or {})
    c.check("environment FINDINGS_TOPIC_ARN, STATE_TABLE_NAME, AUDIT_CONFIG",
            [f"{v} missing" for v in REQUIRED_ENV if v not in env])

    # Stream event source mappings: SAM events and any plain mapping resource.
    mappings = []
    for fname, f in functions.items():
        for ename, ev in ((f.get("Properties") or {}).get("Events") or {}).items():
            if ev.get("Type") == "DynamoDB":
                mappings.append((f"{fname}.{ename}", ev.get("Properties") or {}))
    for rname, r in resources.items():
        if r.get("Type") == "AWS::Lambda::EventSourceMapping":
            mappings.append((rname, r.get("Properties") or {}))
    c.check("a DynamoDB stream event feeds the auditor", [] if mappings else ["no DynamoDB event"])

    def each_mapping(test):
        problems = []
        for mname, m in mappings:
            problem = test(m)
            if problem:
                problems.append(f"{mname}: {problem}")
        return problems

    c.check("ReportBatchItemFailures (partial batch response)", each_mapping(
        lambda m: None if "ReportBatchItemFailures" in as_list(m.get("FunctionResponseTypes"))
        else f"FunctionResponseTypes is {m.get('FunctionResponseTypes')!r}"))
    c.check("BisectBatchOnFunctionError on", each_mapping(
        lambda m: None if m.get("BisectBatchOnFunctionError") is True
        else f"BisectBatchOnFunctionError is {m.get('BisectBatchOnFunctionError')!r}"))

    def finite_retries(m):
        lo, hi = parameter_bounds(template, m.get("MaximumRetryAttempts"))
        if lo is None or hi is None:
            return f"MaximumRetryAttempts {m.get('MaximumRetryAttempts')!r} is not bounded (default is infinite)"
        if lo < 0:
            return f"MaximumRetryAttempts can be {lo:g} (infinite)"
        return None

    def finite_age(m):
        lo, hi = parameter_bounds(template, m.get("MaximumRecordAgeInSeconds"))
        if lo is None or hi is None:
            return f"MaximumRecordAgeInSeconds {m.get('MaximumRecordAgeInSeconds')!r} is not bounded (default is infinite)"
        if lo < 60 or hi > MAX_RECORD_AGE_S:
            return f"MaximumRecordAgeInSeconds can be {lo:g}..{hi:g} (-1 is infinite)"
        return None

    c.check("finite MaximumRetryAttempts", each_mapping(finite_retries))
    c.check("finite MaximumRecordAgeInSeconds", each_mapping(finite_age))
    c.check("OnFailure destination", each_mapping(
        lambda m: None if ((m.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        else "no DestinationConfig.OnFailure.Destination"))
    c.check("no FilterCriteria (filtered records leave holes in histories)", each_mapping(
        lambda m: "FilterCriteria present" if "FilterCriteria" in m else None))
    c.check("StartingPosition, BatchSize, MaximumBatchingWindowInSeconds, ParallelizationFactor are parameters",
            each_mapping(lambda m: ", ".join(
                k for k in ("StartingPosition", "BatchSize", "MaximumBatchingWindowInSeconds", "ParallelizationFactor")
                if not (isinstance(m.get(k), dict) and "Ref" in m[k])) or None))

    # IAM: an explicit role (SAM would otherwise attach AWSLambdaDynamoDBExecutionRole, which
    # reads every stream: Resource "*"), and no wildcard on publish or table writes.
    role_problems = []
    if "Role" not in props:
        role_problems.append(f"{name} has no explicit Role: SAM adds managed policies with Resource '*'")
    for p in as_list(props.get("Policies")):
        if isinstance(p, str):
            role_problems.append(f"managed/template policy {p!r}")
    for rname, r in resources.items():
        if r.get("Type") == "AWS::IAM::Role":
            for arn in as_list((r.get("Properties") or {}).get("ManagedPolicyArns")):
                role_problems.append(f"{rname} attaches managed policy {arn!r}")
    c.check("explicit least-privilege role (no managed policies)", role_problems)

    wildcard = []
    for rname, st in statements(template):
        if st.get("Effect") != "Allow":
            continue
        actions = {a.lower() for a in as_list(st.get("Action")) if isinstance(a, str)}
        risky = {a for a in actions if a in DDB_WRITE_ACTIONS or a == "sns:publish"
                 or a in ("*", "sns:*", "dynamodb:*") or (a.endswith("*") and a.split(":")[0] in ("sns", "dynamodb"))}
        if risky and ("dynamodb:*" in actions or "sns:*" in actions or "*" in actions):
            wildcard.append(f"{rname} {st.get('Sid', '')}: wildcard action {sorted(actions)}")
        elif risky and has_wildcard(st.get("Resource")):
            wildcard.append(f"{rname} {st.get('Sid', '')}: {sorted(risky)} on {st.get('Resource')!r}")
    c.check("no '*' Resource on sns:Publish or DynamoDB write actions", wildcard)

    # Everything the function is allowed to do (the brief's list; a new action is a deliberate change).
    allowed = {
        "dynamodb:describestream", "dynamodb:getrecords", "dynamodb:getsharditerator",
        "dynamodb:liststreams", "dynamodb:batchgetitem", "dynamodb:putitem", "sns:publish",
        "kms:generatedatakey", "kms:decrypt", "sqs:sendmessage",
        "logs:createlogstream", "logs:putlogevents",
    }
    role_name = (props.get("Role") or {}).get("Fn::GetAtt", [None])[0] if isinstance(props.get("Role"), dict) else None
    extra = []
    for rname, st in statements(template):
        if rname != role_name or st.get("Effect") != "Allow":
            continue
        extra += [a for a in as_list(st.get("Action")) if isinstance(a, str) and a.lower() not in allowed]
    c.check("the function's role grants only the actions it uses", [f"unexpected {a}" for a in extra])

    # Findings topic: KMS-encrypted; critical-only subscription filters on severity.
    topic_ref = env.get("FINDINGS_TOPIC_ARN")
    topic_name = topic_ref.get("Ref") if isinstance(topic_ref, dict) else None
    topic = resources.get(topic_name or "", {})
    c.check("findings topic encrypted with KMS", [] if topic.get("Type") == "AWS::SNS::Topic"
            and (topic.get("Properties") or {}).get("KmsMasterKeyId") else [f"topic {topic_name!r} has no KmsMasterKeyId"])
    critical_subs = [
        r for r in resources.values()
        if r.get("Type") == "AWS::SNS::Subscription"
        and (r.get("Properties") or {}).get("FilterPolicy") == {"severity": ["critical"]}
        and (r.get("Properties") or {}).get("FilterPolicyScope", "MessageAttributes") == "MessageAttributes"
    ]
    c.check("a critical-only subscription (FilterPolicy severity: [critical])",
            [] if critical_subs else ["none found"])

    # State table.
    state_ref = env.get("STATE_TABLE_NAME")
    state_name = state_ref.get("Ref") if isinstance(state_ref, dict) else None
    st_props = (resources.get(state_name or "", {}).get("Properties") or {})
    problems = []
    if st_props.get("BillingMode") != "PAY_PER_REQUEST":
        problems.append("not on-demand")
    if st_props.get("KeySchema") != [{"AttributeName": "pk", "KeyType": "HASH"}]:
        problems.append(f"KeySchema {st_props.get('KeySchema')!r}")
    if st_props.get("AttributeDefinitions") != [{"AttributeName": "pk", "AttributeType": "S"}]:
        problems.append(f"AttributeDefinitions {st_props.get('AttributeDefinitions')!r}")
    if st_props.get("TimeToLiveSpecification") != {"AttributeName": "expires_at", "Enabled": True}:
        problems.append("TTL on expires_at not enabled")
    if (st_props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled") is not True:
        problems.append("no point-in-time recovery")
    if (st_props.get("SSESpecification") or {}).get("SSEEnabled") is not True:
        problems.append("no SSE")
    c.check("state table: pk S, on-demand, TTL expires_at, PITR, SSE", problems)

    # Alarms, each notifying someone.
    alarms = [r.get("Properties") or {} for r in resources.values() if r.get("Type") == "AWS::CloudWatch::Alarm"]

    def alarm(namespace, metric, dims=None):
        for a in alarms:
            if a.get("Namespace") == namespace and a.get("MetricName") == metric:
                if dims and not all({"Name": k, "Value": v} in as_list(a.get("Dimensions")) for k, v in dims.items()):
                    continue
                return a
        return None

    problems = []
    for label, args in (
        ("IteratorAge", ("AWS/Lambda", "IteratorAge")),
        ("Errors", ("AWS/Lambda", "Errors")),
        ("DLQ visible messages", ("AWS/SQS", "ApproximateNumberOfMessagesVisible")),
        ("critical findings", ("DdbStreamAudit", "Findings", {"Severity": "critical"})),
    ):
        a = alarm(*args)
        if a is None:
            problems.append(f"no {label} alarm")
        elif not as_list(a.get("AlarmActions")):
            problems.append(f"{label} alarm notifies nobody")
    c.check("alarms: IteratorAge, Errors, DLQ, critical findings (with actions)", problems)
    return c


def main() -> int:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
    try:
        template = load(path)
    except (OSError, yaml.YAMLError) as e:
        print(f"FAIL - load {path}: {e}")
        print("0 passed, 1 failed")
        return 1
    c = run(template)
    print(f"{c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
