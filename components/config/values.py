"""Value types of the stack configuration: each checks one value in isolation.

The constrained strings (DNS names, CIDRs, ARNs, versions, ...) that the area models are built
from, and `_Strict`, the base of every model. The error texts say what was expected, because
the loader shows them to the user as they are.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import cache
from types import SimpleNamespace
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_EXACT_VERSION = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
_KUBERNETES_MINOR = re.compile(r"^1\.(\d|[1-9]\d)$")
_KUBERNETES_RELEASE = re.compile(r"^1\.(\d|[1-9]\d)\.(0|[1-9]\d*)$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_AVAILABILITY_ZONE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d[a-z]$")
_OIDC_PROVIDER_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/[^\s]+$")
_IAM_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:[^\s]+$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_OPEN_TO_ALL = {ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")}


def _dns_name(value: str) -> str:
    labels = value.split(".")
    if (
        len(value) > 253
        or len(labels) < 2
        or not all(_DNS_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValueError(
            "expected a DNS name such as 'example.com': two or more dot-separated labels of "
            "lower-case letters, digits and hyphens"
        )
    return value


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(
            "expected a DNS label: 1-63 lower-case letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    return value


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError("expected a CIDR block in network form such as '203.0.113.0/24'") from None
    return str(network)


def _exact_version(value: str) -> str:
    if not _EXACT_VERSION.match(value):
        raise ValueError("expected an exact chart version such as '1.2.3' (no ranges, no 'latest')")
    return value


def _matching(pattern: re.Pattern[str], expected: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"expected {expected}")
        return value

    return AfterValidator(check)


def _is_open_to_all(cidr: str) -> bool:
    return ipaddress.ip_network(cidr) in _OPEN_TO_ALL


def _admin_cidr(value: str, info: ValidationInfo) -> str:
    if (info.context or {}).get("production") and _is_open_to_all(value):
        raise ValueError(
            "expected specific ranges: a production stack may not open admin endpoints "
            "to the whole internet"
        )
    return value


DnsName = Annotated[str, AfterValidator(_dns_name)]
DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Cidr = Annotated[str, AfterValidator(_cidr)]
AdminCidr = Annotated[str, AfterValidator(_cidr), AfterValidator(_admin_cidr)]
ChartVersion = Annotated[str, AfterValidator(_exact_version)]
KubernetesVersion = Annotated[
    str, _matching(_KUBERNETES_MINOR, "a Kubernetes minor version such as '1.35'")
]
KubernetesRelease = Annotated[
    str, _matching(_KUBERNETES_RELEASE, "a Kubernetes release such as '1.35.0'")
]
Region = Annotated[str, _matching(_REGION, "an AWS region such as 'eu-west-1'")]
AvailabilityZone = Annotated[
    str, _matching(_AVAILABILITY_ZONE, "an availability zone name such as 'eu-west-1a'")
]
OidcProviderArn = Annotated[
    str,
    _matching(
        _OIDC_PROVIDER_ARN,
        "an IAM OIDC provider ARN such as 'arn:aws:iam::123456789012:oidc-provider/oidc.example'",
    ),
]
IamPrincipalArn = Annotated[str, _matching(_IAM_PRINCIPAL_ARN, "an IAM role or user ARN")]
VpcId = Annotated[str, _matching(_VPC_ID, "a VPC id such as 'vpc-0123456789abcdef0'")]
SubnetId = Annotated[str, _matching(_SUBNET_ID, "a subnet id such as 'subnet-0123456789abcdef0'")]
InstanceType = Annotated[str, _matching(_INSTANCE_TYPE, "an EC2 instance type such as 'm6i.large'")]
HttpsUrl = Annotated[str, _matching(re.compile(r"^https://[^\s/]+(/[^\s]*)?$"), "an https:// URL")]
ChartRepository = Annotated[
    str,
    _matching(
        re.compile(r"^(https|oci)://[^\s/]+(/[^\s]*)?$"),
        "a Helm repository URL (https:// or oci://)",
    ),
]
# AWS tags allow letters, digits, spaces and `_ . : / = + - @`, and no `aws:` prefix (e.g. the
# EFS API's Tag: `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`,
# https://docs.aws.amazon.com/efs/latest/ug/API_Tag.html).
# The controllers pass the stack's tags on in formats that the other characters would break:
# the load balancer controller's chart writes them unquoted into a YAML argument,
# `- --default-tags=k=v,k=v` (aws-load-balancer-controller v3.5.0 helm chart
# templates/deployment.yaml and `convertMapToCsv`: a `,` splits a pair, `: ` or a trailing `:`
# makes the argument a YAML mapping, ` #` a comment), and the EBS CSI driver reads each tag
# as `key=value` through a Go template (aws-ebs-csi-driver v1.64.0 pkg/util/template/
# template.go: split at the first `=`, and `{{` evaluated).
_TAG_PUNCTUATION = frozenset(" _.:/=+-@")
RESERVED_TAG_PREFIXES = (
    # The load balancer controller refuses to start with these among its default tags
    # (v3.5.0 pkg/config/controller_config.go), the EBS CSI driver refuses volumes with them
    # (v1.64.0 pkg/driver/validation.go), kOps and the stack use the others.
    "elbv2.k8s.aws/",
    "ingress.k8s.aws/",
    "service.k8s.aws/",
    "gateway.k8s.aws",
    "kubernetes.io/",
    "ebs.csi.aws.com/",
    "gitops-platform/",
)
RESERVED_TAG_KEYS = ("CSIVolumeName", "CSIVolumeSnapshotName", "KubernetesCluster")


def _tag_text(value: str) -> str:
    if bad := sorted({c for c in value if not (c.isalnum() or c in _TAG_PUNCTUATION)}):
        raise ValueError(
            f"expected letters, digits, spaces and _ . : / = + - @ only (AWS tag characters), "
            f"not {' '.join(repr(c) for c in bad)}"
        )
    if value.lower().startswith("aws:"):
        raise ValueError("expected no 'aws:' prefix: AWS reserves it")
    if ": " in value or value.endswith(":"):
        raise ValueError(
            "expected no ': ' and no trailing ':': the load balancer controller's chart "
            "writes tags unquoted into its YAML arguments"
        )
    return value


def _tag_key(key: str) -> str:
    if "=" in key:
        raise ValueError("expected no '=' in a tag key: the controllers split `key=value` there")
    if key.startswith(RESERVED_TAG_PREFIXES) or key in RESERVED_TAG_KEYS:
        raise ValueError(
            f"expected a key of your own: {key!r} is reserved for the load balancer "
            "controller, the EBS CSI driver, Kubernetes, kOps or this stack"
        )
    return key


TagKey = Annotated[
    str, Field(min_length=1, max_length=128), AfterValidator(_tag_text), AfterValidator(_tag_key)
]
TagValue = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_tag_text)]


class _Strict(BaseModel):
    """Unknown (misspelled) keys are errors, and a loaded config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Check = Callable[[Any], None]
"""A check relating fields of one model: reads them as attributes, raises ValueError."""


def across(*names: str, at: str | None = None) -> Callable[[Check], Any]:
    """Make `check` (a method reading the fields `names`) a validator of its model that also
    runs when other fields of the model are invalid, as long as its own fields are valid, so
    that its problem is reported with theirs in one pass instead of after they are fixed
    (a pydantic `after` validator runs only on a model whose every field validated). Its
    problem is reported at the field `at` (default: the model).

        @across("min_size", "desired_size", at="desired_size")
        def _not_below_min(self) -> None: ...
    """

    def decorate(check: Check) -> Any:
        def validate(
            cls: type[BaseModel],
            data: Any,
            handler: ValidatorFunctionWrapHandler,
            info: ValidationInfo,
        ) -> Any:
            try:
                model = handler(data)
            except ValidationError as error:
                fields = _valid_fields(cls, data, names, error, info)
                if fields is None:
                    raise
                try:
                    check(fields)
                except ValueError as problem:
                    given = getattr(fields, at) if at else data
                    raise _with(error.title, error.errors(), problem, at, given) from None
                raise
            try:
                check(model)
            except ValueError as problem:
                given = getattr(model, at) if at else data
                raise _with(cls.__name__, [], problem, at, given) from None
            return model

        validate.__name__ = validate.__qualname__ = check.__name__
        return model_validator(mode="wrap")(classmethod(validate))  # type: ignore[arg-type]

    return decorate


def _with(
    title: str, errors: Any, problem: ValueError, at: str | None, given: Any
) -> ValidationError:
    """`errors` (pydantic's, as `errors()` lists them) and `problem` at the field `at`."""
    found = PydanticCustomError("value_error", "Value error, {error}", {"error": str(problem)})
    line: InitErrorDetails = {"type": found, "loc": (at,) if at else (), "input": given}
    return ValidationError.from_exception_data(title, [*errors, line])


def _valid_fields(
    model: type[BaseModel],
    data: Any,
    names: tuple[str, ...],
    error: ValidationError,
    info: ValidationInfo,
) -> SimpleNamespace | None:
    """The fields `names` of raw `data`, validated, when none of them has an error of its own
    in `error`; else None (the check waits for them to be fixed)."""
    if not isinstance(data, dict) or any(
        e["loc"][:1] in {(n,) for n in names} for e in error.errors()
    ):
        return None
    values = {}
    for name in names:
        field = model.model_fields[name]
        if name in data:
            try:
                values[name] = _adapter(model, name).validate_python(
                    data[name], context=info.context
                )
            except ValidationError:
                return None
        else:
            values[name] = field.get_default(call_default_factory=True)
    return SimpleNamespace(**values)


@cache
def _adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    field = model.model_fields[name]
    annotated: Any = Annotated[field.annotation, field]
    return TypeAdapter(annotated)
