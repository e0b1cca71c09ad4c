"""An AWS account for doctor's tests: moto (in-process) with IAM enforcement on, so every
EC2/STS/IAM call is allowed or refused by the IAM policy the test gives the daemon's user --
by default the one README 'Run it on EKS' publishes.

moto answers DryRun on CreateFleet, RunInstances, CreateLaunchTemplate, CreateTags and
TerminateInstances itself (`DryRunOperation`) after its IAM check (`AccessDenied`). What moto
does not implement is answered by a botocore `before-call` hook in the service's published
shape, parsed by botocore's own parser:

* IAM SimulatePrincipalPolicy: the decision of moto's own policy evaluator for the user's
  policies ("allowed" / "implicitDeny" / "explicitDeny": IAM API reference,
  EvaluationResult.EvalDecision).
* Service Quotas ListServiceQuotas: `Quotas` items with ServiceCode, QuotaCode, QuotaName and
  Value, EC2's vCPU quota names and codes as the Service Quotas console lists them
  (L-1216C47A "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", L-DB2E81BA
  "Running On-Demand G and VT instances", L-417A185B "Running On-Demand P instances",
  L-34B43A08 "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests").
* EKS ListAccessEntries: `{"accessEntries": [principal ARNs]}` (EKS API reference).
* EC2 TerminateInstances with DryRun: moto's IAM check cannot see resource tags, so the
  policy is evaluated by moto's evaluator with `aws:ResourceTag/<key>` set from the instance's
  tags and the instance ARN as the resource (IAM User Guide, "Controlling access to AWS
  resources using tags"); the answer is EC2's: `DryRunOperation` (HTTP 412) when allowed,
  `UnauthorizedOperation` (403) when not, `InvalidInstanceID.NotFound` for an unknown id.
* SSM GetParameter of the EKS-optimized AMI parameter: `{"Parameter": {"Value": ami}}`.
* Pricing GetProducts: `PriceList` of JSON strings with `product.attributes.instanceType`,
  `terms.OnDemand...pricePerUnit.USD` and `publicationDate` (Price List Query API).

Every call the SDK makes is recorded (operation, DryRun flag) so a test can assert that
doctor never made a call that changes anything.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.aws_faults import _parsed

REPO = Path(__file__).resolve().parents[2]
REGION = "us-west-2"
CLUSTER = "demo"
ACCOUNT = "123456789012"
NODE_ROLE = "eks-nodes"
NODE_PROFILE = "eks-nodes-profile"

VCPU_QUOTAS = [
    ("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", 640.0),
    ("L-DB2E81BA", "Running On-Demand G and VT instances", 64.0),
    ("L-417A185B", "Running On-Demand P instances", 0.0),
    ("L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests", 640.0),
]
READ_ONLY = re.compile(r"^(Describe|List|Get|Simulate)")


def readme_policy() -> dict[str, Any]:
    """The daemon's IAM policy as README 'Run it on EKS' publishes it, for this account."""
    text = (REPO / "README.md").read_text()
    block = text.split("IAM policy of the daemon", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    block = block.replace("my-cluster", CLUSTER).replace("ACCOUNT", ACCOUNT).replace("NODE_ROLE", NODE_ROLE)
    return json.loads(block)


def without_action(policy: dict[str, Any], action: str) -> dict[str, Any]:
    policy = json.loads(json.dumps(policy))
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [a for a in actions if a != action]
    policy["Statement"] = [s for s in policy["Statement"] if s["Action"]]
    return policy


@dataclass
class Calls:
    made: list[tuple[str, str, bool]] = field(default_factory=list)  # (service, operation, DryRun)

    def mutating(self) -> list[str]:
        return [f"{service}:{name}" for service, name, dry in self.made if not dry and not READ_ONLY.match(name)
                and name != "GetCallerIdentity"]


@dataclass
class AwsAccount:
    ec2: Any
    iam: Any
    image_id: str
    calls: Calls
    answers: dict[str, Any]  # operation -> body (bytes) or a callable(params) -> (body, status) or body
    failures: dict[str, tuple[str, int]]  # operation -> (error code, status)

    def session(self):
        """A boto3 Session for doctor, its calls recorded and the hooks above installed."""
        import boto3

        session = boto3.session.Session(region_name=REGION)
        session.events.register("before-call", self._before_call)
        return session

    def _before_call(self, model: Any, params: dict, **_: Any) -> Any:
        body = params.get("body")
        dry = isinstance(body, dict) and str(body.get("DryRun", "")).lower() == "true"
        self.calls.made.append((model.service_model.service_name, model.name, dry))
        if model.name in self.failures:
            code, status = self.failures[model.name]
            if model.service_model.resolved_protocol in ("json", "rest-json"):
                return _parsed(model, json.dumps({"__type": code, "message": "injected"}).encode(), status)
            return _parsed(model, _error_xml(code), status)
        answer = self.answers.get(model.name)
        if answer is None:
            return None
        data = answer(params) if callable(answer) else answer
        if data is None:
            return None
        body, status = data if isinstance(data, tuple) else (data, 200)
        return _parsed(model, body, status)


def _error_xml(code: str) -> bytes:
    return (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected</Message></Error>"
            f"<RequestId>r</RequestId></ErrorResponse>").encode()


def simulate_answer(policy: dict[str, Any]):
    """SimulatePrincipalPolicy decided by moto's IAM policy evaluator for `policy`."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    def answer(params: dict) -> bytes:
        body = params["body"]
        action = body["ActionNames.member.1"]
        resource = body.get("ResourceArns.member.1", "*")
        result = IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)
        decision = {PermissionResult.PERMITTED: "allowed", PermissionResult.DENIED: "explicitDeny"}.get(result, "implicitDeny")
        return (
            '<SimulatePrincipalPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
            "<SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults><member>"
            f"<EvalActionName>{action}</EvalActionName><EvalResourceName>{resource}</EvalResourceName>"
            f"<EvalDecision>{decision}</EvalDecision><MatchedStatements/><MissingContextValues/>"
            "</member></EvaluationResults></SimulatePrincipalPolicyResult>"
            "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>"
        ).encode()

    return answer


def quotas_answer(quotas=VCPU_QUOTAS) -> bytes:
    return json.dumps({"Quotas": [
        {"ServiceCode": "ec2", "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)", "QuotaCode": code,
         "QuotaName": name, "Value": value, "Unit": "None", "Adjustable": True, "GlobalQuota": False}
        for code, name, value in quotas
    ]}).encode()


def price_list_answer(published: str = "2026-12-01T00:00:00Z") -> bytes:
    product = {
        "product": {"productFamily": "Compute Instance", "attributes": {"instanceType": "m5.large", "regionCode": REGION}},
        "terms": {"OnDemand": {"T": {"priceDimensions": {"D": {"unit": "Hrs", "pricePerUnit": {"USD": "0.0960000000"}}}}}},
        "serviceCode": "AmazonEC2", "version": "20261201000000", "publicationDate": published,
    }
    return json.dumps({"FormatVersion": "aws_v1", "PriceList": [json.dumps(product)]}).encode()


def terminate_answer(policy: dict[str, Any]):
    """TerminateInstances DryRun decided with the instance's tags as aws:ResourceTag values."""
    from moto.ec2.models import ec2_backends
    from moto.iam.access_control import IAMPolicy, PermissionResult

    from tests.aws_faults import error_xml

    def answer(params: dict) -> Any:
        body = params["body"]
        if str(body.get("DryRun", "")).lower() != "true":
            return None  # a real termination: moto's own answer
        backend = ec2_backends[ACCOUNT][REGION]
        for key, instance_id in body.items():
            if not key.startswith("InstanceId."):
                continue
            try:
                instance = backend.get_instance(instance_id)
            except Exception:  # noqa: BLE001 - moto raises its own not-found error
                instance = None
            if instance is None:
                return error_xml("InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist"), 400
            tags = {f"aws:ResourceTag/{t['key']}": t["value"]
                    for t in backend.describe_tags(filters={"resource-id": [instance_id]})}
            arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance_id}"
            if IAMPolicy(json.dumps(policy)).is_action_permitted("ec2:TerminateInstances", arn, None, tags) \
                    is not PermissionResult.PERMITTED:
                return error_xml("UnauthorizedOperation", "You are not authorized to perform this operation."), 403
        return error_xml("DryRunOperation", "Request would have succeeded, but DryRun flag is set."), 412

    return answer
