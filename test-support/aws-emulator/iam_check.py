"""The S3 requests the function made, held against its role's statements.

moto's own policy evaluation honours only StringEquals and takes every other
condition as true, so this evaluates identity-policy statements the way IAM
does for the parts this template uses: Action and Resource wildcards,
StringEquals / StringLike / StringNotEquals / StringNotLike / Bool / Null
(with IfExists), an explicit Deny over any Allow, nothing allowed by default.
A request is mapped to the action S3 authorises it as, and a GET or HEAD of
a missing object also needs s3:ListBucket on the bucket with no s3:prefix
(else S3 answers 403, not 404).
"""

import fnmatch
import urllib.parse

MOTO_ACCOUNT = "123456789012"


def _list(value):
    return value if isinstance(value, list) else [value]


def _like(pattern, value):
    # IAM's * and ? in ARNs and StringLike; no character classes.
    escaped = pattern.replace("[", "[[]")
    return fnmatch.fnmatchcase(value, escaped)


def _condition_holds(operator, key, wanted, context):
    if_exists = operator.endswith("IfExists")
    op = operator[: -len("IfExists")] if if_exists else operator
    present = key in context
    if op == "Null":
        return (not present) == (str(_list(wanted)[0]).lower() == "true")
    if not present:
        return if_exists or op.startswith("StringNot")
    value = context[key]
    wanted = [str(w) for w in _list(wanted)]
    if op == "StringEquals":
        return value in wanted
    if op == "StringNotEquals":
        return value not in wanted
    if op == "StringLike":
        return any(_like(w, value) for w in wanted)
    if op == "StringNotLike":
        return not any(_like(w, value) for w in wanted)
    if op == "Bool":
        return value.lower() in [w.lower() for w in wanted]
    raise ValueError(f"condition operator {operator} is not evaluated by this check")


def _matches(statement, action, resource, context):
    actions = _list(statement.get("Action", []))
    if not any(_like(a.lower(), action.lower()) for a in actions):
        return False
    resources = _list(statement.get("Resource", []))
    if not any(_like(r, resource) for r in resources):
        return False
    for operator, pairs in statement.get("Condition", {}).items():
        for key, wanted in pairs.items():
            if not _condition_holds(operator, key, wanted, context):
                return False
    return True


def allowed(statements, action, resource, context):
    """IAM's verdict for one request: an explicit Deny wins, then any Allow."""
    verdict = False
    for s in statements:
        if _matches(s, action, resource, context):
            if s.get("Effect") == "Deny":
                return False
            verdict = True
    return verdict


def authorisations(method, path, query, status):
    """What S3 checks for one path-style request: (action, resource, context)."""
    parts = urllib.parse.unquote(path).lstrip("/").split("/", 1)
    bucket = parts[0]
    key = parts[1] if len(parts) > 1 else ""
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    # Every bucket of moto's is owned by its one account.
    context = {"aws:SecureTransport": "true", "s3:ResourceAccount": MOTO_ACCOUNT}
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if not key:
        if method == "GET" and "list-type" in params:
            prefix = params.get("prefix", [""])[0]
            return [("s3:ListBucket", bucket_arn, {**context, "s3:prefix": prefix})]
        if method == "HEAD":
            return [("s3:ListBucket", bucket_arn, context)]
        if method == "GET" and "location" in params:
            return [("s3:GetBucketLocation", bucket_arn, context)]
        return [(f"s3:{method} {query}", bucket_arn, context)]
    object_arn = f"{bucket_arn}/{key}"
    if method in ("GET", "HEAD"):
        needs = [("s3:GetObject", object_arn, context)]
        if status == 404:
            # S3 says 404 only to a caller who may list the bucket.
            needs.append(("s3:ListBucket", bucket_arn, context))
        return needs
    if method == "PUT":
        return [("s3:PutObject", object_arn, context)]
    if method == "DELETE":
        return [("s3:DeleteObject", object_arn, context)]
    return [(f"s3:{method}", object_arn, context)]


def check(requests, statements):
    """The requests any statement does not allow, with the action they needed."""
    refused = []
    for method, path, query, status in requests:
        for action, resource, context in authorisations(method, path, query, status):
            if not allowed(statements, action, resource, context):
                refused.append(f"{method} {path}?{query} -> {status}: needs {action} on {resource}")
    return refused


def self_test():
    """The evaluator's own cases, run before it judges anything."""
    listing = {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::b",
        "Condition": {"StringLike": {"s3:prefix": ["reports/*"]}},
    }
    get = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::b/reports/*"}
    deny = {
        "Effect": "Deny",
        "Action": "s3:*",
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    tls = {"aws:SecureTransport": "true"}
    cases = [
        (allowed([listing], "s3:ListBucket", "arn:aws:s3:::b", {**tls, "s3:prefix": "reports/x"}), True),
        (allowed([listing], "s3:ListBucket", "arn:aws:s3:::b", {**tls, "s3:prefix": "charts/"}), False),
        # The 404 check carries no prefix: a prefix condition refuses it.
        (allowed([listing], "s3:ListBucket", "arn:aws:s3:::b", tls), False),
        (allowed([get], "s3:GetObject", "arn:aws:s3:::b/reports/latest.json", tls), True),
        (allowed([get], "s3:PutObject", "arn:aws:s3:::b/reports/latest.json", tls), False),
        (allowed([get, deny], "s3:GetObject", "arn:aws:s3:::b/reports/x", tls), True),
        (allowed([get, deny], "s3:GetObject", "arn:aws:s3:::b/reports/x", {"aws:SecureTransport": "false"}), False),
    ]
    for n, (got, want) in enumerate(cases):
        assert got == want, f"IAM evaluator case {n}: {got} != {want}"
