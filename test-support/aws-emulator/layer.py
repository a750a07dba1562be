"""What moto 5.2.5 lacks to deploy this template and execute its state
machine, filled by calling moto's own APIs (so their parameter validation
applies) or, where moto has no API, recorded and checked here.

Every gap is named in GAPS with what stands in for it; docs/reliability.md
lists the same. Imported by stage.py after MOTO_PORT is set and before the
server starts.
"""

import functools
import json
import urllib.request

import jsonata
from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.core.config import default_user_config

# What moto lacks, and what stands in for it (docs/reliability.md).
GAPS = {
    "AWS::Scheduler::Schedule": "created through moto's EventBridge Scheduler API (create_schedule)",
    "AWS::S3::BucketPolicy": "set through moto's S3 API (put_bucket_policy)",
    "AWS::IAM::RolePolicy": "put through moto's IAM API (put_role_policy); the S3 check evaluates it",
    "AWS::Lambda::EventInvokeConfig": "put through moto's Lambda API (put_function_event_invoke_config)",
    "AWS::CloudWatch::Alarm": "put through moto's CloudWatch API (put_metric_alarm, metric math included)",
    "AWS::CloudWatch::CompositeAlarm": "no API in moto: recorded, and its rule checked to name only alarms of the stack",
    "AWS::SNS::Subscription": "made through moto's SNS API (subscribe)",
    "AWS::CloudFront::OriginAccessControl": "created through moto's CloudFront API (create_origin_access_control)",
    "AWS::CloudFront::ResponseHeadersPolicy": "no API in moto: recorded with its resolved properties",
    "AWS::CloudFront::Distribution": "made in moto's CloudFront with its first origin only (every origin checked to use an origin access control; the rest recorded), so invalidations reach it; a domain name is made up",
    "AWS::StepFunctions::StateMachine": "created in moto's executing backend (CloudFormation writes to one that does not run)",
    "ToleratedFailurePercentage 0": "moto's ASL grammar refuses the integer 0 (valid on AWS): given to it as 0.0",
    "JSONata": "moto's evaluator hook is empty: filled with jsonata-python",
    "State payload limit": "moto does not hold a task's result to 256 KiB: the layer fails a plan, render or finish answer past it with States.DataLimitExceeded",
    "AllowedPattern and AllowedValues": "moto enforces neither: the stage checks every parameter of each deploy against them as CloudFormation does",
    "Lambda invoke": "moto wants Docker: invocations go to the Lambda runtime emulator running the release binary",
    "KMS key tags": "moto passes CloudFormation's {Key, Value} tags to KMS, which wants {TagKey, TagValue}: converted",
    "IAM conditions": "moto honours only StringEquals and denies when a condition fails (so the bucket policy's TLS-only deny denied everything): statements are judged with IAM's operators, requests counted as over TLS, and every S3 request of the function is checked against its role by this stage's own evaluator",
}

# What the layer made, per stack logical id: (type, what stands in).
MADE = []
# The Lambda runtime emulator's invocation URL for a function name.
RIE_URLS = {}
# Records with no API in moto: logical id -> properties.
RECORDED = {}

default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True


def _ints(value):
    """JSONata numbers are floats; integral ones go back to ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_ints(v) for v in value]
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    return value


def _eval_jsonata(expression):
    return _ints(jsonata.Jsonata(expression).evaluate(None))


from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata  # noqa: E402

moto_jsonata._eval_jsonata = _eval_jsonata


def _invoke_lambda(self, event=None):
    """Sends the invocation to the runtime emulator serving this function."""
    url = RIE_URLS.get(self.function_name)
    if url is None:
        raise RuntimeError(f"no runtime emulator for {self.function_name}")
    body = json.dumps(event if event is not None else {}).encode()
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=900) as reply:
        text = reply.read().decode()
    # Step Functions holds a task's result to 256 KiB before Output trims it
    # (moto does not): a scaled-out step's answer past it fails the state.
    step = isinstance(event, dict) and event.get("mode") in ("plan", "render", "finish")
    if step and len(text.encode()) > 256 * 1024:
        error = {"errorType": "States.DataLimitExceeded",
                 "errorMessage": f"the {event['mode']} step answered {len(text.encode())} bytes, over 256 KiB"}
        return json.dumps(error), True, ""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = None
    errored = isinstance(parsed, dict) and "errorType" in parsed and "errorMessage" in parsed
    return text, errored, ""


from moto.awslambda.models import LambdaFunction  # noqa: E402

LambdaFunction._invoke_lambda = _invoke_lambda


import iam_check  # noqa: E402
from moto.iam.access_control import IAMPolicyStatement, PermissionResult  # noqa: E402


def _is_action_permitted(self, action, resource="*", principal=None, incoming_condition_values=None):
    """moto's statement check with IAM's conditions: a statement whose
    conditions do not hold does not apply (moto denies instead, and takes
    every operator but StringEquals as true). Requests count as made over
    TLS, as the SDK makes them on AWS."""
    st = self._statement
    if "NotAction" in st:
        concerned = not self._check_element_matches("NotAction", action)
    else:
        concerned = self._check_element_matches("Action", action)
    if not concerned or self.is_unknown_principal(st.get("Principal")):
        return PermissionResult.NEUTRAL
    if principal and not self._check_principal(principal):
        return PermissionResult.NEUTRAL
    context = {"aws:SecureTransport": "true", **(incoming_condition_values or {})}
    for operator, pairs in st.get("Condition", {}).items():
        for key, wanted in pairs.items():
            if not iam_check._condition_holds(operator, key, wanted, context):
                return PermissionResult.NEUTRAL
    if not st.get("Resource"):
        return PermissionResult.PERMITTED
    if not self._check_element_matches("Resource", resource):
        return PermissionResult.NEUTRAL
    return PermissionResult.PERMITTED if st["Effect"] == "Allow" else PermissionResult.DENIED


IAMPolicyStatement.is_action_permitted = _is_action_permitted

from moto.kms.models import Key as _KmsKey  # noqa: E402

_kms_create = _KmsKey.create_from_cloudformation_json.__func__


def _kms_key_from_cloudformation(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    """CloudFormation's tags ({Key, Value}) as KMS's API takes them."""
    p = cloudformation_json["Properties"]
    p["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in p.get("Tags", [])]
    if isinstance(p.get("KeyPolicy"), dict):
        p["KeyPolicy"] = json.dumps(p["KeyPolicy"])
    return _kms_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)


_KmsKey.create_from_cloudformation_json = classmethod(_kms_key_from_cloudformation)


# moto's model metaclass files each model under the second part of its
# module's name ("moto.<service>.models"): these are the layer's.
__name__ = "emulator.layer"  # noqa: A001


class _Made(CloudFormationModel):
    """A resource the layer made (or recorded), with its physical id."""

    def __init__(self, physical_id, attributes=None):
        self.physical_id = physical_id
        self.attributes = attributes or {}

    @property
    def physical_resource_id(self):
        return self.physical_id

    @classmethod
    def has_cfn_attr(cls, attr):
        return True

    def get_cfn_attribute(self, attribute_name):
        if attribute_name in self.attributes:
            return self.attributes[attribute_name]
        raise parsing.UnformattedGetAttTemplateException()

    @staticmethod
    def cloudformation_name_type():
        return ""

    @classmethod
    def record(cls, kwargs, what):
        MADE.append((kwargs.get("LogicalId"), cls.cloudformation_type(), what))


def _backend(name, account_id, region_name):
    module = __import__(f"moto.{name}.models", fromlist=["x"])
    backends = {"awslambda": "lambda_backends"}.get(name, f"{name}_backends")
    return getattr(module, backends)[account_id][region_name]


class Schedule(_Made):
    @staticmethod
    def cloudformation_type():
        return "AWS::Scheduler::Schedule"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json["Properties"]
        name = p.get("Name", resource_name)
        backend = _backend("scheduler", account_id, region_name)
        schedule = backend.create_schedule(
            description=p.get("Description"),
            end_date=p.get("EndDate"),
            flexible_time_window=p["FlexibleTimeWindow"],
            group_name=p.get("GroupName"),
            kms_key_arn=p.get("KmsKeyArn"),
            name=name,
            schedule_expression=p["ScheduleExpression"],
            schedule_expression_timezone=p.get("ScheduleExpressionTimezone"),
            start_date=p.get("StartDate"),
            state=p.get("State", "ENABLED"),
            target=p["Target"],
            action_after_completion=None,
        )
        cls.record(kwargs, "create_schedule")
        return cls(name, {"Arn": schedule.arn})


class BucketPolicy(_Made):
    @staticmethod
    def cloudformation_type():
        return "AWS::S3::BucketPolicy"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json["Properties"]
        backend = _backend("s3", account_id, "global")
        backend.put_bucket_policy(p["Bucket"], json.dumps(p["PolicyDocument"]).encode())
        cls.record(kwargs, "put_bucket_policy")
        return cls(p["Bucket"])


class RolePolicy(_Made):
    @staticmethod
    def cloudformation_type():
        return "AWS::IAM::RolePolicy"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json["Properties"]
        backend = _backend("iam", account_id, "global")
        backend.put_role_policy(p["RoleName"], p["PolicyName"], json.dumps(p["PolicyDocument"]))
        cls.record(kwargs, "put_role_policy")
        return cls(f"{p['RoleName']}/{p['PolicyName']}")


class EventInvokeConfig(_Made):
    @staticmethod
    def cloudformation_type():
        return "AWS::Lambda::EventInvokeConfig"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json["Properties"]
        backend = _backend("awslambda", account_id, region_name)
        config = {k: v for k, v in p.items() if k not in ("FunctionName", "Qualifier")}
        backend.put_function_event_invoke_config(p["FunctionName"], config)
        cls.record(kwargs, "put_function_event_invoke_config")
        return cls(p["FunctionName"])


class Alarm(_Made):
    @staticmethod
    def cloudformation_type():
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.cloudwatch.models import MetricDataQuery, MetricStat, Metric

        p = cloudformation_json["Properties"]
        name = p.get("AlarmName", resource_name)
        queries = None
        if "Metrics" in p:
            queries = []
            for q in p["Metrics"]:
                stat = None
                if "MetricStat" in q:
                    m = q["MetricStat"]["Metric"]
                    stat = MetricStat(
                        metric=Metric(
                            metric_name=m["MetricName"],
                            namespace=m["Namespace"],
                            dimensions=m.get("Dimensions", []),
                        ),
                        period=int(q["MetricStat"]["Period"]),
                        stat=q["MetricStat"]["Stat"],
                        unit=q["MetricStat"].get("Unit"),
                    )
                queries.append(
                    MetricDataQuery(
                        query_id=q["Id"],
                        label=q.get("Label", ""),
                        period=q.get("Period"),
                        return_data=q.get("ReturnData", True),
                        expression=q.get("Expression"),
                        metric_stat=stat,
                    )
                )
        backend = _backend("cloudwatch", account_id, region_name)
        alarm = backend.put_metric_alarm(
            name=name,
            namespace=p.get("Namespace"),
            metric_name=p.get("MetricName"),
            comparison_operator=p["ComparisonOperator"],
            evaluation_periods=int(p["EvaluationPeriods"]),
            period=int(p["Period"]) if "Period" in p else None,
            threshold=float(p["Threshold"]),
            statistic=p.get("Statistic"),
            description=p.get("AlarmDescription"),
            dimensions=p.get("Dimensions", []),
            alarm_actions=p.get("AlarmActions", []),
            metric_data_queries=queries,
            datapoints_to_alarm=p.get("DatapointsToAlarm"),
            treat_missing_data=p.get("TreatMissingData"),
        )
        cls.record(kwargs, "put_metric_alarm")
        return cls(name, {"Arn": alarm.alarm_arn})


class CompositeAlarm(_Made):
    @staticmethod
    def cloudformation_type():
        return "AWS::CloudWatch::CompositeAlarm"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json["Properties"]
        name = p.get("AlarmName", resource_name)
        backend = _backend("cloudwatch", account_id, region_name)
        known = {a.alarm_arn for a in backend.alarms.values()}
        named = set(__import__("re").findall(r'ALARM\("([^"]+)"\)', p["AlarmRule"]))
        unknown = named - known
        if not named or unknown:
            raise ValueError(f"composite alarm {name}: its rule names alarms that do not exist: {unknown}")
        RECORDED[kwargs.get("LogicalId")] = p
        cls.record(kwargs, "recorded (no API); rule names existing alarms")
        arn = f"arn:aws:cloudwatch:{region_name}:{account_id}:alarm:{name}"
        return cls(name, {"Arn": arn})


class Subscription(_Made):
    @staticmethod
    def cloudformation_type():
        return "AWS::SNS::Subscription"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json["Properties"]
        backend = _backend("sns", account_id, region_name)
        sub = backend.subscribe(p["TopicArn"], p["Endpoint"], p["Protocol"])
        cls.record(kwargs, "subscribe")
        return cls(sub.arn)


class OriginAccessControl(_Made):
    @staticmethod
    def cloudformation_type():
        return "AWS::CloudFront::OriginAccessControl"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json["Properties"]["OriginAccessControlConfig"]
        backend = _backend("cloudfront", account_id, "global")
        control = backend.create_origin_access_control(p)
        cls.record(kwargs, "create_origin_access_control")
        return cls(control.id, {"Id": control.id})


class ResponseHeadersPolicy(_Made):
    @staticmethod
    def cloudformation_type():
        return "AWS::CloudFront::ResponseHeadersPolicy"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json["Properties"]
        RECORDED[kwargs.get("LogicalId")] = p
        cls.record(kwargs, "recorded (no API)")
        return cls(f"rhp-{kwargs.get('LogicalId')}", {"Id": f"rhp-{kwargs.get('LogicalId')}"})


class Distribution(_Made):
    @staticmethod
    def cloudformation_type():
        return "AWS::CloudFront::Distribution"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json["Properties"]["DistributionConfig"]
        origins = p["Origins"]
        if not origins or not all(o.get("OriginAccessControlId") for o in origins):
            raise ValueError("every origin of the distribution must use the origin access control")
        RECORDED[kwargs.get("LogicalId")] = p
        # moto's CloudFront takes a distribution only in its API's shape: one
        # is made there with the first origin (the charts bucket), so the
        # function's invalidations reach a real distribution id.
        first = origins[0]
        backend = _backend("cloudfront", account_id, "global")
        made, _, _ = backend.create_distribution(
            {
                "CallerReference": f"{resource_name}-{kwargs.get('LogicalId')}",
                "Origins": {"Quantity": 1, "Items": [{"Id": first["Id"], "DomainName": first["DomainName"], "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
                "DefaultCacheBehavior": {"TargetOriginId": first["Id"], "ViewerProtocolPolicy": "redirect-to-https"},
                "Comment": "author-stats charts",
                "Enabled": True,
            },
            [],
        )
        cls.record(kwargs, "create_distribution with its first origin (every origin checked to use the OAC; the rest recorded)")
        ident = made.distribution_id
        return cls(ident, {"DomainName": f"{ident.lower()}.cloudfront.net", "Id": ident})


class StateMachine(_Made):
    """Created in the backend that executes (the parser's)."""

    @staticmethod
    def cloudformation_type():
        return "AWS::StepFunctions::StateMachine"

    @staticmethod
    def cloudformation_name_type():
        return "StateMachineName"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        p = cloudformation_json["Properties"]
        definition = p["DefinitionString"].replace(
            '"ToleratedFailurePercentage": 0,', '"ToleratedFailurePercentage": 0.0,'
        )
        backend = stepfunctions_parser_backends[account_id][region_name]
        machine = backend.create_state_machine(
            name=p.get("StateMachineName", resource_name),
            definition=definition,
            roleArn=p["RoleArn"],
            sm_type=p.get("StateMachineType", "STANDARD"),
        )
        cls.record(kwargs, "created in the executing backend; ToleratedFailurePercentage 0 as 0.0")
        return cls(machine.arn, {"Arn": machine.arn, "Name": machine.name})


# moto finds its models as CloudFormationModel's direct subclasses; the
# layer's come after its own, so each type maps to the layer's model.
_moto_models = parsing.get_model_list


@functools.lru_cache
def _all_models():
    return _moto_models() + _Made.__subclasses__()


parsing.get_model_list = _all_models
for _cache in (parsing.get_model_map, parsing.get_name_type_map):
    _cache.cache_clear()
