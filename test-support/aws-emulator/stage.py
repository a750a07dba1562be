#!/usr/bin/env python3
"""The emulated-AWS stage (scripts/aws-emulator-test.sh runs it): REQ-IA-007,
and on AWS's own engines REQ-IA-003 (PostsKey), REQ-IA-004 (404 not 403),
REQ-IA-006 (the scheduler's input and execution names), REQ-SC-007 (answers
within the state payload limit), REQ-LA-006 (cargo-lambda's deadline).

A moto server on 127.0.0.1, started here with layer.py filling its gaps:
the template deployed through moto's CloudFormation API three ways (ScaleOut
false; ScaleOut true; every optional parameter, a parts PostsKey included),
every resource created and the outputs read back; then the function's
environment read back from the deployed function and the release binary run
under the Lambda runtime emulator with it (endpoint and path style the only
changes) against moto's S3 holding a sample export:

- the single-run stack invoked as its schedule's stored target and input say;
- the scale-out stack's state machine executed to SUCCEEDED for a nightly, a
  backfill in several shards, and a run with thousands of problem authors;
- the every-parameter stack invoked on an export in parts;

the charts and reports/latest.json checked in moto's S3 each time, and every
S3 request the function made held against its role's statements
(iam_check.py). Exits non-zero on the first thing that does not hold.

Environment: AUTHOR_STATS_BIN (the release binary), AWS_LAMBDA_RIE (the
runtime emulator), AUTHOR_STATS_EMULATOR_LOG (where the function's output
goes; default: dropped).
"""

import ast
import atexit
import datetime
import gzip
import io
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("AUTHOR_STATS_BIN", str(REPO / "target/release/author-stats"))
RIE = os.environ.get("AWS_LAMBDA_RIE", str(REPO / ".tools/bin/aws-lambda-rie"))
CARGO_LAMBDA = os.environ.get("CARGO_LAMBDA", str(Path(sys.executable).parent / "cargo-lambda"))
TEMPLATE = (REPO / "cloudformation/author-stats-batch.yaml").read_text()
REGION = "us-east-1"
ACCOUNT = "123456789012"
# The function's own key, so its S3 requests can be told from this driver's.
FUNCTION_KEY = "AKIAFUNCTIONEMULATED"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = free_port()
ENDPOINT = f"http://127.0.0.1:{PORT}"
os.environ.update(
    {
        "MOTO_PORT": str(PORT),
        "AWS_ACCESS_KEY_ID": "AKIADRIVEREMULATED00",
        "AWS_SECRET_ACCESS_KEY": "driver-secret",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
)
# A resource moto cannot model fails the deploy instead of being skipped.
warnings.filterwarnings("error", message="Tried to parse .* not supported")

import logging  # noqa: E402

import boto3  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

import layer  # noqa: E402
import iam_check  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

logging.getLogger("werkzeug").setLevel(logging.WARNING)

# Every S3 request the function made: (method, path, query, status).
S3_REQUESTS = []
STARTED = time.monotonic()


def say(text):
    print(f"[{time.monotonic() - STARTED:6.1f}s] {text}", flush=True)


def fail(text):
    say(f"FAILED: {text}")
    sys.exit(1)


def expect(condition, text):
    if not condition:
        fail(text)


def start_moto():
    app = DomainDispatcherApplication(create_backend_app)

    def logged(environ, start_response):
        auth = environ.get("HTTP_AUTHORIZATION", "")
        mine = FUNCTION_KEY in auth and "/s3/aws4_request" in auth
        status = {}

        def recording(code, headers, exc_info=None):
            status["code"] = int(code.split()[0])
            return start_response(code, headers, exc_info)

        body = app(environ, recording)
        if mine:
            raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"]
            path = raw.split("?", 1)[0]
            S3_REQUESTS.append((environ["REQUEST_METHOD"], path, environ.get("QUERY_STRING", ""), status.get("code")))
        return body

    server = make_server("127.0.0.1", PORT, logged, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def client(service):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name=REGION)


def gz(data):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as f:
        f.write(data)
    return out.getvalue()


def wait_for_port(port, what):
    """Waits (about 10 s at most) until something listens on 127.0.0.1:`port`."""
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    fail(f"{what} did not listen on {port}")


class Emulator:
    """The runtime emulator with the release binary as its bootstrap."""

    def __init__(self, function_name, env):
        self.port = free_port()
        log = os.environ.get("AUTHOR_STATS_EMULATOR_LOG")
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        full = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
        full.update(env)
        self.proc = subprocess.Popen(
            [RIE, "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}", BIN],
            env=full,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
        wait_for_port(self.port, "the runtime emulator")
        url = f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations"
        layer.RIE_URLS[function_name] = url
        RUNNING.append(self)

    def stop(self):
        if self in RUNNING:
            RUNNING.remove(self)
        os.killpg(self.proc.pid, 15)
        self.proc.wait(timeout=10)


# The emulators still running: stopped however the stage ends (the emulator
# holds a fixed port, 9001, so a leftover one would stop the next).
RUNNING = []
atexit.register(lambda: [e.stop() for e in list(RUNNING)])


def function_env(stack):
    """The deployed function's environment, as Lambda would run it: only the
    endpoint, path style and the credentials Lambda would give differ."""
    lam = client("lambda")
    name = stack["outputs"]["FunctionName"]
    config = lam.get_function_configuration(FunctionName=name)
    env = dict(config["Environment"]["Variables"])
    env.update(
        {
            "AWS_ENDPOINT_URL": ENDPOINT,
            "S3_FORCE_PATH_STYLE": "true",
            "AWS_ACCESS_KEY_ID": FUNCTION_KEY,
            "AWS_SECRET_ACCESS_KEY": "function-secret",
            "AWS_SESSION_TOKEN": "function-session",
            "AWS_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(config["Timeout"]),
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config["MemorySize"]),
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
        }
    )
    return name, env, config


def template_resources():
    """The template's logical ids with their condition (None: always)."""
    ids = {}
    section = TEMPLATE.split("\nResources:\n", 1)[1].split("\nOutputs:\n", 1)[0]
    current = None
    for line in section.splitlines():
        m = re.match(r"^  ([A-Za-z0-9]+):\s*$", line)
        if m:
            current = m.group(1)
            ids[current] = None
        elif current and (c := re.match(r"^    Condition: (\w+)", line)):
            ids[current] = c.group(1)
    return ids


def parameter_rules():
    """Each parameter's AllowedPattern and AllowedValues, from the template."""
    section = TEMPLATE.split("\nParameters:\n", 1)[1].split("\nConditions:\n", 1)[0]
    rules, current = {}, None
    for line in section.splitlines():
        if m := re.match(r"^  ([A-Za-z0-9]+):\s*$", line):
            current = m.group(1)
            rules[current] = {}
        elif current and (m := re.match(r'^    AllowedPattern: "(.*)"\s*$', line)):
            rules[current]["pattern"] = json.loads(f'"{m.group(1)}"')
        elif current and (m := re.match(r"^    AllowedValues: \[(.*)\]\s*$", line)):
            rules[current]["values"] = [v.strip().strip('"') for v in m.group(1).split(",")]
    return rules


def check_parameters(name, parameters):
    """CloudFormation refuses a value its parameter's AllowedPattern (the
    whole value) or AllowedValues does not admit; moto does not check."""
    rules = parameter_rules()
    for key, value in parameters.items():
        expect(key in rules, f"{name}: the template has no parameter {key}")
        rule = rules[key]
        if "pattern" in rule:
            expect(re.fullmatch(rule["pattern"], str(value)) is not None,
                   f"{name}: CloudFormation would refuse {key}={value!r}: AllowedPattern {rule['pattern']}")
        if "values" in rule:
            expect(str(value) in rule["values"], f"{name}: {key}={value!r} is not one of {rule['values']}")


def deploy(name, parameters):
    cfn = client("cloudformation")
    say(f"deploy {name}: {', '.join(f'{k}={v}' for k, v in parameters.items())}")
    check_parameters(name, parameters)
    cfn.create_stack(
        StackName=name,
        TemplateBody=TEMPLATE,
        Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    for _ in range(600):
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS"):
            break
        time.sleep(0.1)
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    expect(
        stack["StackStatus"] == "CREATE_COMPLETE",
        f"{name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')} "
        + "; ".join(f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in events if "FAILED" in e["ResourceStatus"]),
    )
    listed = cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    # moto also lists a few entries with no logical id (none of the template's).
    created = {r["LogicalResourceId"]: r["ResourceType"] for r in listed if r["LogicalResourceId"]}
    # Which of the template's resources this deploy's conditions keep.
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[ACCOUNT][REGION]
    moto_stack = next(s for s in backend.stacks.values() if s.name == name)
    conditions = moto_stack.resource_map.lazy_condition_map
    wanted = {lid for lid, cond in template_resources().items() if cond is None or conditions[cond]}
    missing = wanted - set(created)
    expect(not missing, f"{name}: resources not created: {sorted(missing)}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    say(f"  {len(created)} resources created, {len(outputs)} outputs")
    return {"name": name, "resources": created, "outputs": outputs, "parameters": parameters}


def objects(bucket, prefix=""):
    s3 = client("s3")
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


# An author's objects under the charts prefix (src/chart_keys.rs): the data,
# the light chart, and the dark and compact images in their folders.
OBJECTS = [("", "json"), ("", "png"), ("dark/", "png"), ("compact/", "png"), ("compact-dark/", "png")]


# A real site's palettes (GitHub's Primer light and dark), as docs/embedding.md
# shows them.
LIGHT_THEME = {"background": "#ffffff", "bar": "#0969da", "current_bar": "#54aeff", "title": "#1f2328",
               "text": "#59636e", "grid": "#d1d9e0", "axis": "#818b98"}
DARK_THEME = {"background": "#0d1117", "bar": "#4493f8", "current_bar": "#1f6feb", "title": "#f0f6fc",
              "text": "#9198a1", "grid": "#3d444d", "axis": "#656c76"}


def light_charts(bucket):
    """The light charts, `<slug>.png` at the charts prefix (one per author)."""
    prefix = "author-monthly-stats/"
    return [k for k in objects(bucket, prefix) if k.endswith(".png") and "/" not in k[len(prefix):]]


def palette(png):
    """The colours of a palette PNG's PLTE chunk, as #rrggbb."""
    at, colours = 8, set()
    while at < len(png):
        length = int.from_bytes(png[at:at + 4], "big")
        kind = png[at + 4:at + 8]
        if kind == b"PLTE":
            data = png[at + 8:at + 8 + length]
            colours = {"#" + data[i:i + 3].hex() for i in range(0, length, 3)}
        at += 12 + length
    return colours


def latest(bucket):
    body = client("s3").get_object(Bucket=bucket, Key="reports/latest.json")["Body"].read()
    return json.loads(body)


def scheduled_input(schedule, at):
    """The schedule's stored input as the scheduler delivers it at `at`."""
    text = schedule["Target"]["Input"]
    # EventBridge Scheduler puts the scheduled time as ISO 8601 in UTC,
    # seconds precision, with a Z (docs/operations.md cites the docs).
    return text.replace("<aws.scheduler.scheduled-time>", at.strftime("%Y-%m-%dT%H:%M:%SZ"))


def check_requests(stack, since):
    """Every S3 request the function made since `since` against its role."""
    iam = client("iam")
    role = stack["function_role"]
    statements = []
    for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        if isinstance(doc, str):
            # moto answers a role's inline policy from CloudFormation as
            # Python's repr of the document, an API-put one as JSON.
            try:
                doc = json.loads(urllib.parse.unquote(doc))
            except json.JSONDecodeError:
                doc = ast.literal_eval(doc)
        statements.extend(_list(doc["Statement"]))
    requests = S3_REQUESTS[since:]
    expect(requests, f"{stack['name']}: the function made no S3 request")
    refused = iam_check.check(requests, statements)
    expect(not refused, f"{stack['name']}: requests the role does not allow:\n  " + "\n  ".join(refused[:20]))
    kinds = sorted({f"{m} {s}" for m, _, _, s in requests})
    say(f"  {len(requests)} S3 requests of the function, each allowed by its role ({', '.join(kinds)})")


def _list(value):
    return value if isinstance(value, list) else [value]


def invoke(function, payload):
    reply = client("lambda").invoke(FunctionName=function, Payload=payload.encode())
    body = json.loads(reply["Payload"].read())
    expect("FunctionError" not in reply and "errorType" not in body, f"invoke failed: {body}")
    return body


def full_report(reply):
    """A run answers with its bounded summary; the whole report is at its
    report_location (s3://bucket/key)."""
    location = reply.get("report_location") or ""
    expect(location.startswith("s3://"), f"the summary names no report: {reply}")
    bucket, key = location[len("s3://"):].split("/", 1)
    return json.loads(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def run_execution(machine, name, payload):
    sfn = client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine, name=name, input=payload)["executionArn"]
    for _ in range(3000):
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            break
        time.sleep(0.1)
    if described["status"] != "SUCCEEDED":
        history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        failures = [e for e in history if "Failed" in e["type"] or "Aborted" in e["type"]]
        fail(f"execution {name}: {described['status']}: {described.get('error')} {described.get('cause', '')[:2000]}\n{json.dumps(failures[-3:], default=str)[:3000]}")
    return json.loads(described.get("output") or "null")


def cargo_lambda_loop(env):
    """The local loop docs/operations.md shows: `cargo lambda watch` serving
    the runtime API, the release binary on it, `cargo lambda invoke` with
    the nightly event. cargo-lambda sends Lambda-Runtime-Deadline-Ms as a
    duration (a date in 1970): the function must run it without a deadline."""
    port = free_port()
    watch = subprocess.Popen(
        [CARGO_LAMBDA, "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(port)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    log = tempfile.NamedTemporaryFile(suffix=".log", delete=False)  # noqa: SIM115
    function = None
    try:
        wait_for_port(port, "cargo lambda watch")
        # A bucket of its own: the event's as_of (2025-11-25) is older than
        # the runs above, which a published bucket refuses as a rewind.
        client("s3").create_bucket(Bucket="cargo-lambda-charts")
        fn_env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
        fn_env.update(env)
        fn_env["CHARTS_BUCKET"] = "cargo-lambda-charts"
        # What `cargo lambda watch` prints to start a function against it.
        fn_env.update({"AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{port}/.rt", "AWS_LAMBDA_FUNCTION_NAME": "_",
                       "AWS_LAMBDA_FUNCTION_VERSION": "1", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "4096"})
        function = subprocess.Popen([BIN], env=fn_env, stdout=log, stderr=log, start_new_session=True)
        out = subprocess.run(
            [CARGO_LAMBDA, "lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port", str(port),
             "--data-file", "events/nightly.json", "_"],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )
        expect(out.returncode == 0, f"cargo lambda invoke: {out.stdout[-2000:]} {out.stderr[-2000:]}")
        reply = json.loads(out.stdout)
        expect("errorType" not in reply and reply["authors"]["active"] > 0, f"cargo lambda invoke: {reply}")
        text = Path(log.name).read_text()
        expect("already past at its start" in text, "no warning that the deadline was not a real one")
        say(f"cargo lambda watch + invoke --data-file events/nightly.json: drew {reply['authors']['active']}, the past deadline warned about")
    finally:
        for proc in (function, watch):
            if proc is not None:
                os.killpg(proc.pid, 15)
                proc.wait(timeout=10)


def sample(dir_, posts, authors, end):
    subprocess.run(
        [BIN, "sample-data", str(dir_), "--posts", str(posts), "--authors", str(authors), "--end", end, "--parts", "3", "--log", "warn"],
        check=True,
    )
    root = Path(dir_) / "contentful"
    parts = sorted((root / "all-blog-posts").iterdir())
    return root, parts


def main():
    iam_check.self_test()
    for path, what in [(BIN, "the release binary (cargo build --release --locked)"), (RIE, "the Lambda runtime emulator"), (CARGO_LAMBDA, "cargo-lambda (PyPI)")]:
        expect(os.access(path, os.X_OK), f"no {what} at {path}")
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    server = start_moto()
    say(f"moto {__import__('moto').__version__} on {ENDPOINT}")

    # What a first deploy needs: the image in ECR, the export in its bucket.
    ecr = client("ecr")
    ecr.create_repository(repositoryName="author-stats-batch")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "config": {}, "layers": []})
    for arch in ("arm64", "x86_64"):
        ecr.put_image(repositoryName="author-stats-batch", imageManifest=manifest, imageTag=f"emulated-{arch}")
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/author-stats-batch:emulated-"
    s3 = client("s3")
    source = "author-stats-source"
    s3.create_bucket(Bucket=source)
    work = Path(tempfile.mkdtemp())
    root, parts = sample(work, 4000, 450, (now - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    posts = (root / "all-blog-posts.jsonl.gz").read_bytes()
    authors = (root / "authorProfile.jsonl.gz").read_bytes()
    s3.put_object(Bucket=source, Key="contentful/all-blog-posts.jsonl.gz", Body=posts)
    s3.put_object(Bucket=source, Key="contentful/authorProfile.jsonl.gz", Body=authors)
    for part in parts:
        s3.put_object(Bucket=source, Key=f"contentful/parts/{part.name}", Body=part.read_bytes())
    say(f"sample export: 4,000 posts by 450 authors, and the same in {len(parts)} parts")

    base = {"ImageUri": image + "arm64", "SourceBucketName": source}
    stacks = [
        deploy("single", {**base, "ScaleOut": "false"}),
        deploy("scaled", {**base, "ScaleOut": "true", "ShardAuthors": "60", "MapConcurrency": "1"}),
        deploy(
            "every-parameter",
            {
                "ImageUri": image + "x86_64",
                "SourceBucketName": source,
                "PostsKey": "contentful/parts/",
                "AuthorsKey": "contentful/authorProfile.jsonl.gz",
                "SourceBucketRegion": REGION,
                "SourceKmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555",
                "Architecture": "x86_64",
                "MemorySize": "2048",
                "ReserveConcurrency": "false",
                "MonthTimezone": "Asia/Tokyo",
                "CacheControl": "public, max-age=600",
                "ChartTheme": json.dumps(LIGHT_THEME),
                "ChartThemeDark": json.dumps(DARK_THEME),
                "LogRetentionDays": "30",
                "AllowedOrigin": "https://blog.example.com",
                "DomainName": "charts.example.com",
                "CertificateArn": f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/66666666-7777-8888-9999-000000000000",
                "ScheduleExpression": "cron(30 2 * * ? *)",
                "ScheduleTimezone": "Asia/Tokyo",
                "LookbackDays": "7",
                "AlarmEmail": "ops@example.com",
                "ScaleOut": "false",
            },
        ),
    ]
    for stack in stacks:
        lam = client("lambda")
        config = lam.get_function_configuration(FunctionName=stack["outputs"]["FunctionName"])
        stack["function_role"] = config["Role"].rsplit("/", 1)[1]
        stack["bucket"] = stack["outputs"]["ChartsBucketName"]
        print(f"  resources of {stack['name']}: " + ", ".join(f"{k} ({v})" for k, v in sorted(stack["resources"].items())))
    say(f"the layer made {len(layer.MADE)} resources through moto's APIs (or recorded them): {len(layer.GAPS)} gaps, each in docs/reliability.md")

    scheduler = client("scheduler")

    # The single-run stack, invoked as its schedule's target and input say.
    single = stacks[0]
    name, env, _ = function_env(single)
    schedule = scheduler.get_schedule(Name=single["outputs"]["ScheduleName"])
    expect(schedule["Target"]["Arn"] == single["outputs"]["FunctionArn"], f"the schedule targets {schedule['Target']['Arn']}")
    emulator = Emulator(name, env)
    since = len(S3_REQUESTS)
    payload = scheduled_input(schedule, now)
    say(f"single: the schedule's input at {now:%Y-%m-%dT%H:%M:%SZ}: {payload}")
    first = invoke(schedule["Target"]["Arn"], json.dumps({**json.loads(payload), "lookback_days": 5475}))
    expect(first["authors"]["published"] > 0, f"nothing published: {first}")
    charts = light_charts(single["bucket"])
    expect(len(charts) == first["authors"]["published"], f"{len(charts)} charts for {first['authors']}")
    nightly = invoke(schedule["Target"]["Arn"], payload)
    expect(latest(single["bucket"])["as_of"].startswith(now.strftime("%Y-%m-%dT%H:%M:%S")), "latest.json is not the nightly's")
    say(f"single: backfill published {first['authors']['published']} charts; the nightly drew {nightly['authors']['active']} ({nightly['authors']['unchanged']} unchanged)")
    # An author erased (the row removed, then "erase"): the charts go at once
    # and CloudFront is asked to forget them, on this distribution only.
    rows = gzip.decompress(authors).decode().splitlines(keepends=True)
    gone = json.loads(rows[0])["slug"]
    s3.put_object(Bucket=source, Key="contentful/authorProfile.jsonl.gz", Body=gz("".join(rows[1:]).encode()))
    erase = {**json.loads(payload), "erase": [gone], "allow_orphans": True}
    erased = invoke(schedule["Target"]["Arn"], json.dumps(erase))
    expect(erased["deleted"] == 1, f"the erase deleted {erased['deleted']}: {erased}")
    report = full_report(erased)
    distribution = env["CLOUDFRONT_DISTRIBUTION_ID"]
    cloudfront = client("cloudfront")
    listed = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"].get("Items", [])
    expect(len(listed) == 1 and report["invalidation"]["id"] == listed[0]["Id"], f"invalidations {listed}, the report's {report.get('invalidation')}")
    made = cloudfront.get_invalidation(DistributionId=distribution, Id=listed[0]["Id"])["Invalidation"]
    paths = sorted(made["InvalidationBatch"]["Paths"]["Items"])
    want = sorted(f"/author-monthly-stats/{folder}{gone}.{ext}" for folder, ext in OBJECTS)
    expect(paths == want, f"invalidated {paths}, not {want}")
    s3.put_object(Bucket=source, Key="contentful/authorProfile.jsonl.gz", Body=authors)
    say(f"single: erasing {gone} deleted its chart and invalidated {paths} on {distribution}")
    emulator.stop()
    check_requests(single, since)
    cargo_lambda_loop(env)

    # The scale-out stack: its state machine, executed.
    scaled = stacks[1]
    name, env, _ = function_env(scaled)
    machine = scaled["outputs"]["ScaleOutStateMachineArn"]
    schedule = scheduler.get_schedule(Name=scaled["outputs"]["ScheduleName"])
    expect(schedule["Target"]["Arn"] == machine, f"the schedule targets {schedule['Target']['Arn']}")
    emulator = Emulator(name, env)
    since = len(S3_REQUESTS)
    backfill_at = now - datetime.timedelta(minutes=2)
    backfill = json.dumps({"lookback_days": 5475, "as_of": backfill_at.strftime("%Y-%m-%dT%H:%M:%SZ")})
    # The scheduler names an execution with a UUID-like id; the run id is that name.
    out = run_execution(machine, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", backfill)
    shards = {k.split("/")[2] for k in objects(scaled["bucket"], "work/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/done/")}
    expect(len(shards) > 0, "no shard was rendered")
    done = [k for k in objects(scaled["bucket"], "work/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/done/")]
    expect(len(done) >= 5, f"the backfill ran in {len(done)} shards, not several")
    report = latest(scaled["bucket"])
    expect(report["authors"] == out, f"the execution's output {out} is not latest.json's {report['authors']}")
    charts = light_charts(scaled["bucket"])
    expect(len(charts) == report["authors"]["published"], "charts and report disagree")
    say(f"scaled: backfill SUCCEEDED in {len(done)} shards, {len(charts)} charts")
    out = run_execution(machine, "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", scheduled_input(schedule, now))
    say(f"scaled: the schedule's nightly SUCCEEDED: {out}")

    # Thousands of problem authors: the report lists each, the answer stays small.
    extra_authors = "".join(
        json.dumps({"id": f"dup{n}", "slug": f"shared-{n // 2}", "display_name": f"共有 {n}"}) + "\n" for n in range(3000)
    )
    extra_posts = "".join(
        json.dumps({"author_id": f"dup{n}", "first_published_at": (now - datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"), "title": f"p{n}"}) + "\n"
        for n in range(3000)
    )
    s3.put_object(Bucket=source, Key="contentful/authorProfile.jsonl.gz", Body=authors + gz(extra_authors.encode()))
    s3.put_object(Bucket=source, Key="contentful/all-blog-posts.jsonl.gz", Body=posts + gz(extra_posts.encode()))
    problems = json.dumps({"lookback_days": 7, "as_of": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "allow_growth": True})
    out = run_execution(machine, "2b3c4d5e-6f70-4b8c-9d0e-1f2a3b4c5d6e", problems)
    report = latest(scaled["bucket"])
    size = len(json.dumps(report))
    expect(report["authors"]["skipped"] >= 3000, f"{report['authors']}")
    expect(size > 256 * 1024, f"the report is {size} bytes: not past the state limit")
    say(f"scaled: 3,000 problem authors SUCCEEDED (the report is {size // 1024} KiB, the answer {len(json.dumps(out))} bytes)")
    s3.put_object(Bucket=source, Key="contentful/authorProfile.jsonl.gz", Body=authors)
    s3.put_object(Bucket=source, Key="contentful/all-blog-posts.jsonl.gz", Body=posts)
    emulator.stop()
    check_requests(scaled, since)

    # The every-parameter stack: an export in parts.
    every = stacks[2]
    name, env, _ = function_env(every)
    expect(env["POSTS_KEY"] == "contentful/parts/", f"POSTS_KEY {env['POSTS_KEY']}")
    expect(json.loads(env["CHART_THEME"]) == LIGHT_THEME and json.loads(env["CHART_THEME_DARK"]) == DARK_THEME,
           f"the theme parameters reach the function: {env['CHART_THEME']} {env['CHART_THEME_DARK']}")
    emulator = Emulator(name, env)
    since = len(S3_REQUESTS)
    schedule = scheduler.get_schedule(Name=every["outputs"]["ScheduleName"])
    reply = invoke(schedule["Target"]["Arn"], json.dumps({**json.loads(scheduled_input(schedule, now)), "lookback_days": 5475}))
    expect("skipped" not in reply and len(json.dumps(reply)) < 4096, f"a run answers a bounded summary: {reply}")
    expect(reply["posts_counted"] == first["posts_counted"], f"parts counted {reply['posts_counted']}, one file {first['posts_counted']}")
    report = full_report(reply)
    expect(report["posts"]["counted"] == reply["posts_counted"], f"the report at {reply['report_location']} is this run's")
    expect("parts" in report["posts_file"]["location"], report["posts_file"]["location"])
    say(f"every-parameter: the export in {len(parts)} parts counted as the single file ({reply['posts_counted']} posts)")
    # The stack's themes drew the charts: each image's palette has its
    # theme's background and bar colours.
    slug = light_charts(every["bucket"])[0].rsplit("/", 1)[1][: -len(".png")]
    for folder, theme in (("", LIGHT_THEME), ("dark/", DARK_THEME), ("compact/", LIGHT_THEME), ("compact-dark/", DARK_THEME)):
        png = s3.get_object(Bucket=every["bucket"], Key=f"author-monthly-stats/{folder}{slug}.png")["Body"].read()
        colours = palette(png)
        expect({theme["background"], theme["bar"]} <= colours, f"{folder}{slug}.png is not in its theme: {sorted(colours)}")
    say(f"every-parameter: the ChartTheme and ChartThemeDark parameters drew {slug}'s four images")
    emulator.stop()
    check_requests(every, since)

    server.shutdown()
    say(f"emulated AWS: 3 deploys, 5 runs, {len(S3_REQUESTS)} S3 requests checked; gaps filled: {len(layer.GAPS)}")


if __name__ == "__main__":
    main()
