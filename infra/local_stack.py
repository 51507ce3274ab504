"""The local stack: moto in server mode with the resources template.yaml creates in AWS.

    python infra/local_stack.py up [--serial]     start moto, create resources, print exports
    python infra/local_stack.py down              stop it
    python infra/local_stack.py status            exit 0 when it is running and answering
    python infra/local_stack.py smoke             publish to both topics, read both queues
    python infra/local_stack.py serve --port P [--serial]   (internal) run the emulator

Run it with the venv of tests/tools/install.sh (boto3, moto[server]); infra/local-stack-up.sh
and infra/local-stack-down.sh are the usual entry points. State lives in LOCAL_STACK_DIR
(default: .tools/ in the repository): local-stack.pid, local-stack.env, local-stack.log.

--serial (or LOCAL_STACK_SERIAL=1) applies one request at a time. moto_server runs requests on
parallel threads and its DynamoDB backend has no item lock, so two conditional writes to one
item can both succeed and stream records can show an OldImage that was never the previous
NewImage. DynamoDB never does that; a race test against the default server would find races
inside the emulator instead of in the clients. Serial mode keeps the threaded HTTP server (slow
clients do not block each other's connections) but runs the moto application behind one lock.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import NoReturn

REGION = "us-east-1"
ACCOUNT = "123456789012"
TOPIC = "ddb-audit-findings"
FIFO_TOPIC = "ddb-audit-findings.fifo"
QUEUE = "ddb-audit-findings"
FIFO_QUEUE = "ddb-audit-findings.fifo"
STATE_TABLE = "ddb-audit-state"
DEMO_TABLE = "Accounts"
START_TIMEOUT_S = 30.0

REPO = Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    return Path(os.environ.get("LOCAL_STACK_DIR") or REPO / ".tools").resolve()


def pid_file() -> Path:
    return state_dir() / "local-stack.pid"


def env_file() -> Path:
    return state_dir() / "local-stack.env"


def log_file() -> Path:
    return state_dir() / "local-stack.log"


def say(message: str) -> None:
    """Progress goes to stderr: stdout carries only the export lines (for eval)."""
    print(f"local-stack: {message}", file=sys.stderr, flush=True)


def fail(message: str) -> NoReturn:
    print(f"local-stack: error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


# ---- the emulator process -----------------------------------------------------------------------


def serialized(app):
    """`app` behind one lock: one request is applied at a time, as DynamoDB applies each write
    to an item atomically. The whole request, producing the body included, runs under the lock,
    so its backend changes are complete before the next request reads anything."""
    lock = threading.Lock()

    def serial_app(environ, start_response):
        with lock:
            body = app(environ, start_response)
            try:
                return [b"".join(body)]
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()

    return serial_app


def serve(port: int, serial: bool) -> None:
    """Run moto's WSGI application, optionally behind one lock (see the module docs)."""
    from werkzeug.serving import run_simple
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # same as moto_server: errors come back with their traceback

    wsgi = serialized(app) if serial else app

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(
        "127.0.0.1", port, wsgi, threaded=True, request_handler=MotoRequestHandler
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_pid() -> int | None:
    try:
        return int(pid_file().read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); it is not serving.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1) as r:
            return r.status == 200
    except Exception:
        return False


def start_emulator(serial: bool) -> tuple[subprocess.Popen, str, float]:
    log = open(log_file(), "ab")
    for _attempt in range(3):
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        env = dict(os.environ, MOTO_PORT=str(port))
        if serial:
            cmd = [sys.executable, str(Path(__file__).resolve()), "serve", "--port", str(port), "--serial"]
        else:
            moto_server = os.environ.get("MOTO_SERVER_BIN") or str(Path(sys.executable).parent / "moto_server")
            if not os.access(moto_server, os.X_OK):
                fail(f"moto_server not found at {moto_server} (source tests/tools/install.sh first)")
            cmd = [moto_server, "-H", "127.0.0.1", "-p", str(port)]
        started = time.monotonic()
        # Own session and no inherited stdout: `eval "$(...)"` must not wait for the server.
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True, close_fds=True,
        )
        while time.monotonic() - started < START_TIMEOUT_S:
            if proc.poll() is not None:
                break  # port taken in between, or a real error: see the log
            if answers(endpoint):
                return proc, endpoint, time.monotonic() - started
            time.sleep(0.05)
        if proc.poll() is None:
            proc.terminate()
            fail(f"moto did not answer on {endpoint} within {START_TIMEOUT_S:.0f}s (log: {log_file()})")
        say(f"moto exited with {proc.returncode} on port {port}; retrying (log: {log_file()})")
    fail(f"moto would not start (log: {log_file()})")


# ---- resources ----------------------------------------------------------------------------------


def clients(endpoint: str):
    import boto3

    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
    )
    return {name: session.client(name, endpoint_url=endpoint) for name in ("sns", "sqs", "dynamodb")}


def subscribe_queue(sns, sqs, topic_arn: str, queue_url: str) -> None:
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    # The same policy AWS needs for SNS to deliver to the queue (moto does not enforce it).
    policy = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
        }],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    # Raw delivery: the queue holds the finding JSON itself, with the message attributes
    # (String only: a Binary attribute with raw delivery breaks SQS receive in moto).
    sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )


def create_resources(endpoint: str) -> dict[str, str]:
    c = clients(endpoint)
    sns, sqs, ddb = c["sns"], c["sqs"], c["dynamodb"]

    topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]
    fifo_topic_arn = sns.create_topic(
        Name=FIFO_TOPIC,
        Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "false"},
    )["TopicArn"]
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    fifo_queue_url = sqs.create_queue(
        QueueName=FIFO_QUEUE,
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"},
    )["QueueUrl"]
    subscribe_queue(sns, sqs, topic_arn, queue_url)
    subscribe_queue(sns, sqs, fifo_topic_arn, fifo_queue_url)

    ddb.create_table(
        TableName=STATE_TABLE,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(
        TableName=STATE_TABLE,
        TimeToLiveSpecification={"AttributeName": "expires_at", "Enabled": True},
    )
    demo = ddb.create_table(
        TableName=DEMO_TABLE,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    stream_arn = demo["TableDescription"]["LatestStreamArn"]

    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "FINDINGS_TOPIC_ARN": topic_arn,
        "FINDINGS_FIFO_TOPIC_ARN": fifo_topic_arn,
        "FINDINGS_QUEUE_URL": queue_url,
        "FINDINGS_FIFO_QUEUE_URL": fifo_queue_url,
        "STATE_TABLE_NAME": STATE_TABLE,
        "DEMO_TABLE_NAME": DEMO_TABLE,
        "DEMO_STREAM_ARN": stream_arn,
    }


def exports(values: dict[str, str]) -> str:
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in values.items())


def load_env() -> dict[str, str]:
    values = {}
    for line in env_file().read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            parsed = shlex.split(value)
            values[name] = parsed[0] if parsed else ""
    return values


# ---- commands -----------------------------------------------------------------------------------


def cmd_up(serial: bool) -> None:
    state_dir().mkdir(parents=True, exist_ok=True)
    mode = "serial" if serial else "threaded"
    pid = read_pid()
    if pid is not None and alive(pid) and env_file().exists():
        running_mode = (pid_file().read_text().split() + ["?", "?"])[1]
        endpoint = load_env().get("AWS_ENDPOINT_URL", "")
        if running_mode != mode:
            fail(f"already running in {running_mode} mode (pid {pid}); run infra/local-stack-down.sh first")
        if answers(endpoint):
            say(f"already running (pid {pid}, {mode}) at {endpoint}: reusing it "
                "(run infra/local-stack-down.sh first for a fresh emulator)")
            sys.stdout.write(env_file().read_text())
            return
        fail(f"pid {pid} is alive but {endpoint} does not answer; run infra/local-stack-down.sh")

    proc, endpoint, startup_s = start_emulator(serial)
    pid_file().write_text(f"{proc.pid} {mode}\n")
    try:
        values = create_resources(endpoint)
    except Exception as e:  # leave nothing half-started behind
        stop(proc.pid)
        fail(f"creating the resources failed: {e!r}")
    text = f"# ddb-stream-audit local stack: moto pid {proc.pid}, {mode} mode\n" + exports(values)
    env_file().write_text(text)
    say(f"moto ({mode}) answered after {startup_s:.2f}s at {endpoint}, pid {proc.pid}; "
        f"environment in {env_file()}")
    sys.stdout.write(text)


def stop(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)  # the server runs in its own session/process group
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)
    if alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def cmd_down() -> None:
    pid = read_pid()
    if pid is None:
        say("not running (no pid file)")
    elif not alive(pid):
        say(f"pid {pid} had already exited")
    else:
        stop(pid)
        if alive(pid):
            fail(f"pid {pid} would not stop")
        say(f"stopped moto (pid {pid})")
    for f in (pid_file(), env_file()):
        f.unlink(missing_ok=True)


def cmd_status() -> None:
    pid = read_pid()
    if pid is None or not alive(pid) or not env_file().exists():
        fail("not running")
    endpoint = load_env()["AWS_ENDPOINT_URL"]
    if not answers(endpoint):
        fail(f"pid {pid} does not answer at {endpoint}")
    say(f"running: pid {pid} at {endpoint}")


def cmd_smoke() -> None:
    """Publish to both topics and read the copies back from the subscribed queues."""
    values = load_env()
    c = clients(values["AWS_ENDPOINT_URL"])
    sns, sqs = c["sns"], c["sqs"]
    attrs = {"severity": {"DataType": "String", "StringValue": "critical"}}
    checks = [
        (values["FINDINGS_TOPIC_ARN"], values["FINDINGS_QUEUE_URL"], {}),
        (values["FINDINGS_FIFO_TOPIC_ARN"], values["FINDINGS_FIFO_QUEUE_URL"],
         {"MessageGroupId": "Accounts", "MessageDeduplicationId": f"smoke-{time.time_ns()}"}),
    ]
    for topic, queue, extra in checks:
        body = json.dumps({"id": f"smoke-{time.time_ns()}", "rule": "smoke", "severity": "critical"})
        sns.publish(TopicArn=topic, Message=body, MessageAttributes=attrs, **extra)
        got = sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        match = [m for m in got if m["Body"] == body]
        if not match:
            fail(f"published to {topic} but {queue} did not receive it raw (got {got!r})")
        severity = match[0].get("MessageAttributes", {}).get("severity", {}).get("StringValue")
        if severity != "critical":
            fail(f"{queue} received the message without its severity attribute: {match[0]!r}")
        for m in got:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
        say(f"ok: {topic.rsplit(':', 1)[-1]} -> {queue.rsplit('/', 1)[-1]} (raw, severity attribute kept)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("--serial", action="store_true", default=truthy(os.environ.get("LOCAL_STACK_SERIAL")))
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("smoke")
    srv = sub.add_parser("serve")
    srv.add_argument("--port", type=int, required=True)
    srv.add_argument("--serial", action="store_true")
    args = parser.parse_args()
    if args.command == "up":
        cmd_up(args.serial)
    elif args.command == "down":
        cmd_down()
    elif args.command == "status":
        cmd_status()
    elif args.command == "smoke":
        cmd_smoke()
    elif args.command == "serve":
        serve(args.port, args.serial)


if __name__ == "__main__":
    main()
