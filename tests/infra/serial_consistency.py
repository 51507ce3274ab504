"""Concurrent conditional writers against the local stack: does the emulator keep DynamoDB's
per-item atomicity? (Run with the local stack's environment exported.)

Each of THREADS writers repeats: read the item's version v, then UpdateItem version = v + 1 on
the condition version = v. DynamoDB applies each conditional write atomically, so the final
version equals the start plus the number of writes that succeeded, and in the item's stream every
MODIFY's OldImage is the previous record's NewImage. Exit 0 when both hold, 1 otherwise; the
counts go to stdout either way.
"""

import os
import sys
import threading
import uuid

import boto3
from botocore.config import Config

THREADS = int(os.environ.get("RACE_THREADS", "8"))
ROUNDS = int(os.environ.get("RACE_ROUNDS", "25"))
# "conditional": read, then write version+1 on condition; "add": unconditional ADD version 1.
MODE = os.environ.get("RACE_MODE", "conditional")


def main() -> int:
    cfg = Config(max_pool_connections=THREADS * 2, retries={"max_attempts": 1})
    ddb = boto3.client("dynamodb", config=cfg)
    streams = boto3.client("dynamodbstreams", config=cfg)
    table = f"race-{uuid.uuid4().hex[:8]}"  # a fresh table: never reuse a stream's table name
    desc = ddb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    key = {"id": {"S": "acct-1"}}
    ddb.put_item(TableName=table, Item={**key, "version": {"N": "0"}})

    wins = [0] * THREADS
    barrier = threading.Barrier(THREADS)

    def writer(n: int) -> None:
        barrier.wait()
        for _ in range(ROUNDS):
            if MODE == "add":
                ddb.update_item(TableName=table, Key=key, UpdateExpression="ADD version :one",
                                ExpressionAttributeValues={":one": {"N": "1"}})
                wins[n] += 1
                continue
            v = int(ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]["version"]["N"])
            try:
                ddb.update_item(
                    TableName=table, Key=key,
                    UpdateExpression="SET version = :new, writer = :w",
                    ConditionExpression="version = :old",
                    ExpressionAttributeValues={":new": {"N": str(v + 1)}, ":old": {"N": str(v)},
                                               ":w": {"S": f"w{n}"}},
                )
                wins[n] += 1
            except ddb.exceptions.ConditionalCheckFailedException:
                pass

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    final = int(ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]["version"]["N"])
    succeeded = sum(wins)

    stream_arn = desc["LatestStreamArn"]
    shards = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    records = []
    for shard in shards:
        it = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            page = streams.get_records(ShardIterator=it, Limit=1000)
            records += page["Records"]
            if not page["Records"]:
                break
            it = page.get("NextShardIterator")
    broken = 0
    previous = None
    for r in records:
        d = r["dynamodb"]
        if previous is not None and d.get("OldImage") != previous:
            broken += 1
        previous = d.get("NewImage")

    ok = final == succeeded and broken == 0
    print(f"writers={THREADS}x{ROUNDS} succeeded={succeeded} final_version={final} "
          f"stream_records={len(records)} broken_links={broken} -> "
          f"{'consistent' if ok else 'INCONSISTENT (lost updates inside the emulator)'}")
    ddb.delete_table(TableName=table)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
