"""The racing workloads: each pattern in an unsafe and a safe variant, many client threads on a
few hot accounts, against a DynamoDB endpoint that applies one request at a time (so the races
happen in the clients, as in production). Each returns a `truth.Run`: requests made, anomalies
as the workload itself saw them, and sanity checks of its own bookkeeping.

Items: accounts `{id: acct-N, version, balance, lastRequestId?, transferId?}` and, for the ledger
pattern, ledger entries `{id: ledger#<request>, account, amount, version: 1}` in the same table.
Every item is created with PutItem (moto's UpdateItem on a missing key emits two INSERTs).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from botocore.exceptions import ClientError

from truth import LOST_WRITE_RULES, Anomaly, Run, canonical_image

START_BALANCE = 1_000_000  # large: the unsafe patterns here lose money, they do not run dry


def n(value) -> dict:
    return {"N": str(value)}


def num(item: dict, name: str) -> Decimal:
    return Decimal(item[name]["N"])


def conditional_failed(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")


class Lab:
    """Shared settings and helpers for one moto run."""

    def __init__(self, clients, prefix: str, threads: int, accounts: int, requests: int,
                 seed: int, think_ms: float):
        self.clients = clients        # one boto3 DynamoDB client per thread (made up front)
        self.prefix = prefix
        self.threads = threads
        self.accounts = accounts
        self.requests = requests
        self.rng = random.Random(seed)
        self.think_ms = think_ms
        self.local = threading.local()

    def table(self, name: str) -> str:
        table = f"{self.prefix}-{name}"
        ddb = self.clients[0]
        ddb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        return table

    def seed_accounts(self, table: str) -> list[str]:
        ids = [f"acct-{i}" for i in range(self.accounts)]
        for account in ids:
            self.clients[0].put_item(TableName=table, Item={
                "id": {"S": account}, "version": n(1), "balance": n(START_BALANCE)})
        return ids

    def parallel(self, jobs: list) -> list:
        """Runs `job(ddb, rng)` callables on the thread pool, each thread with its own client."""
        counter = iter(range(len(self.clients)))
        lock = threading.Lock()

        def client():
            if not hasattr(self.local, "ddb"):
                with lock:
                    i = next(counter)
                self.local.ddb = self.clients[i]
                self.local.rng = random.Random(self.rng.random() + i)
            return self.local.ddb, self.local.rng

        def run(job):
            ddb, rng = client()
            return job(ddb, rng)

        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            return list(pool.map(run, jobs))

    def think(self, rng):
        """The application computing between its read and its write: the race window."""
        if self.think_ms > 0:
            time.sleep(rng.uniform(0, self.think_ms) / 1000)

    def amounts(self, choices=None):
        return [self.rng.choice(choices) if choices else self.rng.randint(1, 500)
                for _ in range(self.requests)]


def lost_writes(writes, table_key=None, future=(), hidden_why=""):
    """Anomalies from blind overwrites. `writes`: (key, read image, replaced image, new image)
    per acknowledged write. A write that replaced something other than what it read overwrote
    the write before it, which is lost (each write is replaced once: by the next write)."""
    anomalies = []
    for key, read, old, new in writes:
        if canonical_image(old) == canonical_image(read):
            continue
        identical = canonical_image(old) == canonical_image(new)
        step_ok = num(new, "version") == num(old, "version") + 1
        builtin = not identical and not step_ok
        why = ("identical overwrite: AWS writes no stream record; moto writes an unchanged MODIFY"
               if identical else
               "the overwrite advanced the version by exactly one: an ordinary increment")
        anomalies.append(Anomaly(
            kind="lost-write", key=key, record=(key, canonical_image(old), canonical_image(new)),
            builtin_evidence=builtin, future=tuple(future), why_hidden=why,
            # The money the overwriter discarded: the lost write's withdrawal.
            amount=num(read, "balance") - num(old, "balance")))
    return anomalies


# ---- (a)/(b) withdrawal: blind read-modify-write vs ConditionExpression ---------------------------


def withdrawal(lab: Lab, variant: str) -> Run:
    table = lab.table(f"withdraw-{variant}")
    accounts = lab.seed_accounts(table)
    amounts = lab.amounts()
    run = Run("withdrawal read-modify-write", variant, table, requests=len(amounts))

    def request(amount):
        def job(ddb, rng):
            account = rng.choice(accounts)
            rid = uuid.uuid4().hex
            for _attempt in range(50):
                read = ddb.get_item(TableName=table, Key={"id": {"S": account}},
                                    ConsistentRead=True)["Item"]
                lab.think(rng)
                if num(read, "balance") < amount:
                    return ("rejected", account, amount, None)
                new = {"id": {"S": account}, "version": n(num(read, "version") + 1),
                       "balance": n(num(read, "balance") - amount),
                       "lastRequestId": {"S": rid}}
                if variant == "unsafe":
                    old = ddb.put_item(TableName=table, Item=new, ReturnValues="ALL_OLD")
                    return ("ok", account, amount, (account, read, old["Attributes"], new))
                try:
                    ddb.put_item(
                        TableName=table, Item=new,
                        ConditionExpression="version = :v AND balance >= :amount",
                        ExpressionAttributeValues={":v": read["version"], ":amount": n(amount)})
                    return ("ok", account, amount, (account, read, read, new))
                except ClientError as e:
                    if not conditional_failed(e):
                        raise
            return ("gave-up", account, amount, None)
        return job

    results = lab.parallel([request(a) for a in amounts])
    writes = [r[3] for r in results if r[0] == "ok"]
    run.anomalies = lost_writes(writes)
    check_balances(lab, run, table, accounts, results)
    return run


def check_balances(lab, run, table, accounts, results, expect_exact=None):
    """Money accounting: the safe variant must match its acknowledged requests exactly; the
    unsafe one shows how much the lost writes cost."""
    final = {a: num(lab.clients[0].get_item(TableName=table, Key={"id": {"S": a}},
                                            ConsistentRead=True)["Item"], "balance")
             for a in accounts}
    expected = {a: Decimal(START_BALANCE) for a in accounts}
    for status, account, amount, _ in results:
        if status == "ok":
            expected[account] -= amount
    drift = sum(final[a] - expected[a] for a in accounts)
    if run.variant == "safe" or expect_exact:
        run.checks.append(("balances equal the acknowledged requests", drift == 0))
    # Each write changed the balance by (new - replaced) = (read - amount - replaced): the money
    # that vanished is what the overwriters discarded, sum(read - replaced). An independent
    # cross-check of the ground truth's lost writes against the final balances.
    discarded = sum(num(read, "balance") - num(old, "balance")
                    for _, _, _, w in results if w is not None
                    for (_, read, old, _new) in [w])
    run.checks.append(("balance drift equals the money the lost writes discarded",
                       drift == discarded))
    run.notes.append(f"balance drift {drift}")


# ---- (c) transfers: two separate updates (some runs killed between) vs TransactWriteItems --------


def transfer(lab: Lab, variant: str, kill_rate: float) -> Run:
    table = lab.table(f"transfer-{variant}")
    accounts = lab.seed_accounts(table)
    amounts = lab.amounts()
    run = Run("transfer", variant, table, requests=len(amounts))

    def leg(account, delta, tid, guard):
        update = {"TableName": table, "Key": {"id": {"S": account}},
                  "UpdateExpression": "SET balance = balance + :d, version = version + :one, "
                                      "transferId = :t",
                  "ExpressionAttributeValues": {":d": n(delta), ":one": n(1), ":t": {"S": tid}}}
        if guard:
            update["ConditionExpression"] = "balance >= :need"
            update["ExpressionAttributeValues"][":need"] = n(-delta)
        return update

    def request(amount):
        def job(ddb, rng):
            source, target = rng.sample(accounts, 2)
            tid = uuid.uuid4().hex
            killed = rng.random() < kill_rate
            debit, credit = leg(source, -amount, tid, True), leg(target, amount, tid, False)
            try:
                if variant == "unsafe":
                    ddb.update_item(**debit)
                    lab.think(rng)
                    if killed:
                        return ("killed", source, amount)   # the process died here
                    ddb.update_item(**credit)
                else:
                    if killed:
                        return ("killed-before-commit", source, amount)
                    ddb.transact_write_items(TransactItems=[{"Update": debit}, {"Update": credit}])
                return ("ok", source, amount)
            except ClientError as e:
                if conditional_failed(e):
                    return ("rejected", source, amount)
                raise
        return job

    results = lab.parallel([request(a) for a in amounts])
    for status, source, _amount in results:
        if status == "killed":
            run.anomalies.append(Anomaly(
                kind="broken-transfer", key=source, record=None, builtin_evidence=False,
                future=("unbalanced-transfer",)))
    total = sum(num(lab.clients[0].get_item(TableName=table, Key={"id": {"S": a}},
                                            ConsistentRead=True)["Item"], "balance")
                for a in accounts)
    lost = sum(a for s, _, a in results if s == "killed")
    run.checks.append(("money lost = debits of killed transfers",
                       total == START_BALANCE * len(accounts) - lost))
    run.notes.append(f"{sum(1 for r in results if r[0].startswith('killed'))} runs killed")
    return run


# ---- (d) a retried request, with and without an idempotency check --------------------------------


def retried(lab: Lab, variant: str, retry_rate: float) -> Run:
    table = lab.table(f"retry-{variant}")
    accounts = lab.seed_accounts(table)
    amounts = lab.amounts()
    run = Run("retried request", variant, table, requests=len(amounts))

    def request(amount):
        def job(ddb, rng):
            account = rng.choice(accounts)
            rid = uuid.uuid4().hex
            update = {"TableName": table, "Key": {"id": {"S": account}},
                      "UpdateExpression": "SET balance = balance - :a, version = version + :one, "
                                          "lastRequestId = :rid",
                      "ConditionExpression": "balance >= :a",
                      "ExpressionAttributeValues": {":a": n(amount), ":one": n(1),
                                                    ":rid": {"S": rid}}}
            if variant == "safe":
                # The idempotency check: a set of the request ids already applied.
                update["UpdateExpression"] += " ADD appliedRequests :rids"
                update["ConditionExpression"] += (
                    " AND (attribute_not_exists(appliedRequests) OR NOT contains(appliedRequests, :rid))")
                update["ExpressionAttributeValues"][":rids"] = {"SS": [rid]}
            applied = 0
            # The response "times out" for some requests: the client sends the same request again.
            sends = 2 if rng.random() < retry_rate else 1
            for _ in range(sends):
                try:
                    ddb.update_item(**update)
                    applied += 1
                except ClientError as e:
                    if not conditional_failed(e):
                        raise
                lab.think(rng)
            return (applied, account, amount, sends)
        return job

    results = lab.parallel([request(a) for a in amounts])
    for applied, account, _amount, _sends in results:
        for _ in range(max(0, applied - 1)):
            run.anomalies.append(Anomaly(
                kind="duplicate-request", key=account, record=None, builtin_evidence=False,
                future=("duplicate-request",)))
    retries = sum(1 for r in results if r[3] == 2)
    run.notes.append(f"{retries} requests retried")
    if variant == "safe":
        run.checks.append(("no request applied twice", all(r[0] <= 1 for r in results)))
    return run


# ---- (e) withdrawals with a ledger entry, some overwrites identical -----------------------------


def ledger(lab: Lab, variant: str) -> Run:
    table = lab.table(f"ledger-{variant}")
    accounts = lab.seed_accounts(table)
    # Few distinct amounts: two requests that read the same state and withdraw the same amount
    # write identical items, and the second overwrite changes nothing.
    amounts = lab.amounts(choices=[10, 20])
    run = Run("withdrawal + ledger entry", variant, table, requests=len(amounts))

    def request(amount):
        def job(ddb, rng):
            account = rng.choice(accounts)
            rid = uuid.uuid4().hex
            entry = {"id": {"S": f"ledger#{rid}"}, "account": {"S": account},
                     "amount": n(-amount), "version": n(1)}
            for _attempt in range(50):
                read = ddb.get_item(TableName=table, Key={"id": {"S": account}},
                                    ConsistentRead=True)["Item"]
                lab.think(rng)
                new = {"id": {"S": account}, "version": n(num(read, "version") + 1),
                       "balance": n(num(read, "balance") - amount)}
                if variant == "unsafe":
                    old = ddb.put_item(TableName=table, Item=new, ReturnValues="ALL_OLD")
                    ddb.put_item(TableName=table, Item=entry)
                    return ("ok", account, amount, (account, read, old["Attributes"], new))
                try:
                    ddb.transact_write_items(TransactItems=[
                        {"Put": {"TableName": table, "Item": new,
                                 "ConditionExpression": "version = :v",
                                 "ExpressionAttributeValues": {":v": read["version"]}}},
                        {"Put": {"TableName": table, "Item": entry}},
                    ])
                    return ("ok", account, amount, (account, read, read, new))
                except ClientError as e:
                    if not conditional_failed(e):
                        raise
            return ("gave-up", account, amount, None)
        return job

    results = lab.parallel([request(a) for a in amounts])
    writes = [r[3] for r in results if r[0] == "ok"]
    run.anomalies = lost_writes(writes, future=("ledger-mismatch",))
    identical = sum(1 for a in run.anomalies if a.why_hidden.startswith("identical"))
    run.notes.append(f"{identical} identical overwrites")
    check_balances(lab, run, table, accounts, results)
    return run


PATTERNS = [
    ("a/b", withdrawal, {}),
    ("c", transfer, {"kill_rate": 0.1}),
    ("d", retried, {"retry_rate": 0.3}),
    ("e", ledger, {}),
]
