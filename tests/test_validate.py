"""Objects checked the way the API server checks them: built-in kinds against the Kubernetes
schemas of the stack's version, custom resources against the CRDs the charts really install
(rendered with real helm from the chart cache)."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
from upstream import chart_archive, helm_template

from components.config.charts import ChartsConfig
from offline.plan import SECRET, UNKNOWN
from offline.validate import Invalid, crd_schemas, validate

KUBE = "1.35"
CHARTS = ChartsConfig()
Object = dict[str, Any]


def deployment() -> Object:
    """A Deployment like my-app's dev overlay."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "my-app", "namespace": "my-app", "labels": {"app": "my-app"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "my-app"}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": "my-app"}},
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": "docker.io/nginxinc/nginx-unprivileged:1.28.2",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                            "securityContext": {"runAsNonRoot": True},
                        }
                    ]
                },
            },
        },
    }


def application() -> Object:
    """An Application like the stack's minio-helm."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": "minio-helm",
            "namespace": "argocd",
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": "platform",
            "source": {
                "repoURL": "https://gitlab.dev.gitops.example.com/platform/test-stg.git",
                "targetRevision": "main",
                "path": "minio",
                "helm": {
                    "valueFiles": ["values-minio.yaml"],
                    "valuesObject": {"minio": {"replicas": 1, "anything": {"goes": [1]}}},
                },
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "minio"},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true"],
                "retry": {"limit": 5, "backoff": {"duration": "5s", "factor": 2}},
            },
        },
    }


def target_group_binding() -> Object:
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": "gitlab-ssh", "namespace": "gitlab"},
        "spec": {
            "serviceRef": {"name": "gitlab-gitlab-shell", "port": 22},
            "targetGroupARN": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:"
            "targetgroup/gitlab-ssh/0123456789abcdef",
            "targetType": "ip",
        },
    }


def ingress_class_params() -> Object:
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "IngressClassParams",
        "metadata": {"name": "alb"},
        "spec": {"scheme": "internet-facing", "group": {"name": "gitops-platform-dev"}},
    }


def errors(objects: list[Object], crds: Any = None) -> list[tuple[str, str]]:
    return [(i.field, i.message) for i in validate(objects, KUBE, crds or {})]


@pytest.fixture(scope="module")
def argo_cd_objects() -> list[Object]:
    archive = chart_archive("argo-cd", CHARTS.argo_cd.version)
    return helm_template(archive, {}, "argocd", "argocd")


@pytest.fixture(scope="module")
def controller_objects() -> list[Object]:
    # The controller's CRDs are in its crds/ folder: `helm template` leaves them out unless
    # asked, `helm install` applies them.
    archive = chart_archive(
        "aws-load-balancer-controller", CHARTS.aws_load_balancer_controller.version
    )
    values = {"clusterName": "gitops-platform-dev", "region": "eu-west-1", "vpcId": "vpc-1"}
    return helm_template(archive, values, "alb", "kube-system", include_crds=True)


@pytest.fixture(scope="module")
def argo_cd_crds(argo_cd_objects: list[Object]) -> Any:
    return crd_schemas(argo_cd_objects)


@pytest.fixture(scope="module")
def controller_crds(controller_objects: list[Object]) -> Any:
    return crd_schemas(controller_objects)


@pytest.fixture(scope="module")
def crds(argo_cd_crds: Any, controller_crds: Any) -> Any:
    return {**argo_cd_crds, **controller_crds}


# Built-in kinds


def test_a_valid_deployment_passes() -> None:
    assert validate([deployment()], KUBE, {}) == []


def test_an_unknown_field_is_named_with_its_path() -> None:
    broken = deployment()
    broken["spec"]["template"]["spec"]["containers"][0]["bogus"] = True
    assert errors([broken]) == [
        (
            "spec.template.spec.containers[0].bogus",
            "unknown field 'bogus' (the API server drops it)",
        )
    ]


def test_a_wrong_type_names_the_field_and_both_types() -> None:
    broken = deployment()
    broken["spec"]["replicas"] = "two"
    assert errors([broken]) == [("spec.replicas", "expected integer, got string")]


def test_a_missing_required_field_is_named_with_its_path() -> None:
    broken = deployment()
    del broken["spec"]["template"]["spec"]["containers"][0]["name"]
    assert errors([broken]) == [("spec.template.spec.containers[0].name", "missing required field")]


def test_every_error_of_an_object_is_reported() -> None:
    broken = deployment()
    broken["spec"]["replicas"] = "two"
    broken["spec"]["selector"]["matchLabel"] = {"app": "my-app"}
    del broken["spec"]["template"]["spec"]["containers"][0]["name"]
    assert sorted(errors([broken])) == [
        ("spec.replicas", "expected integer, got string"),
        ("spec.selector.matchLabel", "unknown field 'matchLabel' (the API server drops it)"),
        ("spec.template.spec.containers[0].name", "missing required field"),
    ]


def test_an_invalid_object_names_its_kind_namespace_and_name() -> None:
    broken = deployment()
    broken["spec"]["replicas"] = "two"
    (invalid,) = validate([broken], KUBE, {})
    assert invalid == Invalid(
        "Deployment", "my-app", "my-app", "spec.replicas", "expected integer, got string"
    )
    assert str(invalid) == "Deployment my-app/my-app: spec.replicas: expected integer, got string"


def test_a_map_key_is_written_in_brackets_and_messages_stay_one_short_line() -> None:
    broken, annotation = deployment(), "alb.ingress.kubernetes.io/group.order"
    broken["metadata"]["annotations"] = {annotation: 10}
    broken["spec"]["template"]["spec"]["containers"][0]["ports"] = {"x" * 500: 1}
    broken["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = {"percent": 25}
    found = validate([broken], KUBE, {})
    assert [(i.field, i.message) for i in found] == [
        (f"metadata.annotations[{annotation}]", "expected string, got integer"),
        ("spec.strategy.rollingUpdate.maxSurge", "expected string or integer, got object"),
        ("spec.template.spec.containers[0].ports", "expected array, got object"),
    ]
    assert all("\n" not in str(i) and len(i.message) < 100 for i in found)


def test_a_kind_the_version_does_not_serve_is_reported() -> None:
    unknown = [
        {"apiVersion": "v1", "kind": "Affinity", "metadata": {"name": "a"}},  # a part, not a kind
        {"apiVersion": "networking.example.com/v1", "kind": "Ingress", "metadata": {"name": "b"}},
        {"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy", "metadata": {"name": "c"}},
    ]
    assert [str(i) for i in validate(unknown, KUBE, {})] == [
        f"{o['kind']} {o['metadata']['name']}: no schema for {o['apiVersion']} {o['kind']} in"
        " Kubernetes 1.35 or the CRDs the stack installs"
        for o in unknown
    ]


def test_values_the_offline_plan_cannot_know_are_not_errors() -> None:
    placeholders = deployment()
    placeholders["spec"]["replicas"] = UNKNOWN
    placeholders["spec"]["selector"] = UNKNOWN
    container = placeholders["spec"]["template"]["spec"]["containers"][0]
    container["ports"][0]["containerPort"] = SECRET
    container["env"] = [{"name": "TOKEN", "value": SECRET}]
    assert validate([placeholders], KUBE, {}) == []
    # Only the unknown value is excused: its neighbours are still checked.
    placeholders["spec"]["paused"] = "no"
    assert errors([placeholders]) == [("spec.paused", "expected boolean, got string")]


def test_null_in_a_built_in_object_is_unset() -> None:
    # The schemas let every field be null, IntOrString's two forms too; the API server
    # decodes a null as an unset field.
    unset = deployment()
    unset["spec"]["replicas"] = None
    unset["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = None
    assert validate([unset], KUBE, {}) == []


def test_a_kubernetes_version_without_schemas_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"no schemas for Kubernetes '1\.99': it has 1\.25 to"):
        validate([deployment()], "1.99", {})
    assert validate([deployment()], "v1.35.2", {}) == []


def test_validation_is_fast_once_the_schemas_are_loaded(
    argo_cd_objects: list[Object], controller_objects: list[Object], crds: Any
) -> None:
    # The dev plan's objects (about 200 with GitLab's) are checked on every `make plan`.
    # CPU time: the suite shares the machine's cores (about 0.15 s here).
    rendered = argo_cd_objects + controller_objects
    objects = rendered + [o for o in rendered if o["kind"] != "CustomResourceDefinition"] * 2
    validate(objects, KUBE, crds)
    start = time.process_time()
    assert validate(objects, KUBE, crds) == []
    assert time.process_time() - start < 1, f"{len(objects)} objects"


# Custom resources, against the CRDs the charts install


def test_what_the_charts_render_is_valid_with_their_crds(
    argo_cd_objects: list[Object], controller_objects: list[Object], crds: Any
) -> None:
    assert {key for key in crds if key[0].startswith(("argoproj.io/", "elbv2.k8s.aws/"))} >= {
        ("argoproj.io/v1alpha1", "Application"),
        ("argoproj.io/v1alpha1", "AppProject"),
        ("argoproj.io/v1alpha1", "ApplicationSet"),
        ("elbv2.k8s.aws/v1beta1", "TargetGroupBinding"),
        ("elbv2.k8s.aws/v1alpha1", "TargetGroupBinding"),
        ("elbv2.k8s.aws/v1beta1", "IngressClassParams"),
    }
    assert validate(argo_cd_objects + controller_objects, KUBE, crds) == []


def test_a_valid_application_passes(argo_cd_crds: Any) -> None:
    assert validate([application()], KUBE, argo_cd_crds) == []


def test_a_misspelled_application_field_fails_against_argo_cds_crd(argo_cd_crds: Any) -> None:
    broken = application()
    broken["spec"]["syncPolicy"]["automated"]["selfheal"] = broken["spec"]["syncPolicy"][
        "automated"
    ].pop("selfHeal")
    broken["spec"]["destinaton"] = broken["spec"].pop("destination")
    assert sorted(errors([broken], argo_cd_crds)) == [
        ("spec.destination", "missing required field"),
        ("spec.destinaton", "unknown field 'destinaton' (the API server drops it)"),
        (
            "spec.syncPolicy.automated.selfheal",
            "unknown field 'selfheal' (the API server drops it)",
        ),
    ]


def test_a_wrong_type_in_an_application_fails(argo_cd_crds: Any) -> None:
    broken = application()
    broken["spec"]["syncPolicy"]["retry"]["limit"] = "5"
    assert errors([broken], argo_cd_crds) == [
        ("spec.syncPolicy.retry.limit", "expected integer, got string")
    ]


def test_the_metadata_of_a_custom_resource_is_checked_as_object_meta(argo_cd_crds: Any) -> None:
    broken = application()
    broken["metadata"]["labels"] = {"team": 7}
    broken["metadata"]["finalizer"] = broken["metadata"].pop("finalizers")
    assert sorted(errors([broken], argo_cd_crds)) == [
        ("metadata.finalizer", "unknown field 'finalizer' (the API server drops it)"),
        ("metadata.labels.team", "expected string, got integer"),
    ]


def test_a_target_group_binding_is_checked_against_the_controllers_crd(
    controller_crds: Any,
) -> None:
    assert validate([target_group_binding()], KUBE, controller_crds) == []
    by_name = target_group_binding()
    by_name["spec"]["serviceRef"]["port"] = "ssh"  # x-kubernetes-int-or-string
    assert validate([by_name], KUBE, controller_crds) == []
    broken = target_group_binding()
    broken["spec"]["serviceRef"]["port"] = True
    broken["spec"]["targetType"] = "pod"
    broken["spec"]["targetGroupArn"] = broken["spec"].pop("targetGroupARN")
    assert errors([broken], controller_crds) == [
        ("spec.serviceRef.port", "expected integer or string, got boolean"),
        ("spec.targetType", "expected one of 'instance', 'ip', got 'pod'"),
        ("spec.targetGroupArn", "unknown field 'targetGroupArn' (the API server drops it)"),
    ]


def test_ingress_class_params_are_checked_against_the_controllers_crd(controller_crds: Any) -> None:
    assert validate([ingress_class_params()], KUBE, controller_crds) == []
    broken = ingress_class_params()
    broken["spec"]["group"] = {"nam": "gitops-platform-dev"}
    assert sorted(errors([broken], controller_crds)) == [
        ("spec.group.nam", "unknown field 'nam' (the API server drops it)"),
        ("spec.group.name", "missing required field"),
    ]


def test_the_items_of_a_list_are_checked_as_the_objects_helm_sends(
    controller_objects: list[Object], controller_crds: Any
) -> None:
    # The controller's chart renders its IngressClass and IngressClassParams as one v1 List.
    (rendered,) = [o for o in controller_objects if o["kind"] == "List"]
    broken = copy.deepcopy(rendered)
    (params,) = [o for o in broken["items"] if o["kind"] == "IngressClassParams"]
    params["spec"] = {"scheme": "public"}
    assert [str(i) for i in validate([broken], KUBE, controller_crds)] == [
        "IngressClassParams alb: spec.scheme: expected one of 'internal', 'internet-facing',"
        " got 'public'"
    ]


# How a structural schema is read, on a CRD that uses what the charts' CRDs do not


IMAGE = "^[a-z0-9./-]+:[a-z0-9.]+$"


def crontab_crd(served: bool = True) -> Object:
    """The CronTab of the Kubernetes docs, with the structural schema's extensions."""
    string = {"type": "string"}
    spec = {
        "type": "object",
        "required": ["image", "cronSpec"],
        "properties": {
            "cronSpec": {**string, "default": "5 0 * * *"},
            "image": {**string, "pattern": IMAGE},
            "replicas": {"type": "integer", "minimum": 1},
            "suspend": {"type": "boolean", "nullable": True},
            "comment": string,
            "args": {"type": "array", "items": string},
            "tags": {"type": "array", "items": {**string, "nullable": True}},
            "maxSurge": {"x-kubernetes-int-or-string": True},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "loose": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"strict": {"type": "object", "properties": {"a": string}}},
            },
            "empty": {"type": "object"},
            "template": {
                "type": "object",
                "x-kubernetes-embedded-resource": True,
                "x-kubernetes-preserve-unknown-fields": True,
            },
        },
    }
    version = {
        "name": "v1",
        "served": served,
        "storage": True,
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec}}},
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab"},
            "versions": [version],
        },
    }


def crontab(**spec: Any) -> Object:
    return {
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": "backup", "namespace": "ops"},
        "spec": {"image": "backup:1.0", **spec},
    }


CRONTAB = crd_schemas([crontab_crd()])


def test_the_test_crd_is_itself_valid() -> None:
    assert validate([crontab_crd()], KUBE, {}) == []


def test_a_required_field_with_a_default_may_be_left_out() -> None:
    assert errors([crontab()], CRONTAB) == []
    del (no_image := crontab())["spec"]["image"]
    assert errors([no_image], CRONTAB) == [("spec.image", "missing required field")]


def test_null_is_kept_where_nullable_dropped_elsewhere_and_checked_in_lists() -> None:
    # The API server drops a null field that is not nullable (or defaults it): no error,
    # unless the field is required; a null list item is kept and must match the item schema.
    assert errors([crontab(suspend=None, comment=None, cronSpec=None)], CRONTAB) == []
    assert errors([crontab(image=None)], CRONTAB) == [("spec.image", "expected string, got null")]
    assert errors([crontab(args=["--all", None], tags=["nightly", None])], CRONTAB) == [
        ("spec.args[1]", "expected string, got null")
    ]


def test_an_int_or_string_takes_either() -> None:
    assert errors([crontab(maxSurge=1), crontab(maxSurge="25%")], CRONTAB) == []
    assert errors([crontab(maxSurge=[1])], CRONTAB) == [
        ("spec.maxSurge", "expected integer or string, got array")
    ]


def test_unknown_fields_are_refused_wherever_the_api_server_would_prune_them() -> None:
    assert errors([crontab(extra={"any": {"thing": 1}}, loose={"other": 2})], CRONTAB) == []
    pruned = crontab(loose={"strict": {"a": "x", "b": "y"}}, empty={"c": 1}, cron="* * * * *")
    assert errors([pruned], CRONTAB) == [
        ("spec.loose.strict.b", "unknown field 'b' (the API server drops it)"),
        ("spec.empty.c", "unknown field 'c' (the API server drops it)"),
        ("spec.cron", "unknown field 'cron' (the API server drops it)"),
    ]


def test_an_embedded_resource_has_its_type_and_metadata_checked() -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"x": 1}}
    assert errors([crontab(template=job)], CRONTAB) == []
    broken = {"apiVersion": "batch/v1", "metadata": {"name": "j", "labelz": {}}}
    assert errors([crontab(template=broken)], CRONTAB) == [
        ("spec.template.kind", "missing required field"),
        ("spec.template.metadata.labelz", "unknown field 'labelz' (the API server drops it)"),
    ]


def test_placeholders_are_not_errors_in_custom_resources() -> None:
    assert errors([crontab(image=UNKNOWN, replicas=SECRET, args=UNKNOWN)], CRONTAB) == []
    # A value only partly known (a placeholder rendered into a string) is not held to a
    # pattern; its type is still known.
    partly = crontab(image=f"registry.example.com/backup:{UNKNOWN}", replicas=f"{UNKNOWN}0")
    assert errors([partly], CRONTAB) == [("spec.replicas", "expected integer, got string")]


def test_a_value_that_does_not_match_a_pattern_is_quoted_shortly() -> None:
    ((field, message),) = errors([crontab(image="backup" * 30)], CRONTAB)
    assert (field, message) == ("spec.image", f"{message[:60]} does not match {IMAGE!r}")


def test_a_version_the_crd_does_not_serve_has_no_schema() -> None:
    assert crd_schemas([crontab_crd(served=False)]) == {}
    assert errors([crontab()], crd_schemas([crontab_crd(served=False)])) == [
        ("", "no schema for stable.example.com/v1 CronTab in Kubernetes 1.35 or the CRDs the"
         " stack installs")
    ]  # fmt: skip
