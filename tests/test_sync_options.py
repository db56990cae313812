"""An application's `sync`: automated sync with prune and self-heal, the typed sync options and
ignored differences, as the Application spec carries them, and the combinations refused before
any resource is registered (components/config/sync.py gives the upstream lines)."""

from __future__ import annotations

from typing import Any

import component_plans as components
import pytest
from component_plans import component_plan
from plans import PROJECT, plan_for, stack_file_config, with_changes

from components.config import ConfigError
from offline.plan import Plan

DEV = stack_file_config("dev")
APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"
MINIO = {
    "name": "minio-helm",
    "path": "minio",
    "namespace": "minio",
    "value_files": ["values-minio.yaml"],
}
REPLICAS = {"group": "apps", "kind": "Deployment", "json_pointers": ["/spec/replicas"]}


def minio_with(sync: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**MINIO, "sync": sync}]


def spec_of(sync: dict[str, Any]) -> dict[str, Any]:
    plan: Plan = component_plan(components.gitops, with_changes(DEV, applications=minio_with(sync)))
    (app,) = plan.of_type(APPLICATION)
    spec: dict[str, Any] = app["inputs"]["spec"]
    return spec


def problems_of(sync: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        plan_for(with_changes(DEV, applications=minio_with(sync)), stack="dev")
    return raised.value.problems


# --- what reaches the Application spec --------------------------------------------------------


@pytest.mark.parametrize(
    ("sync", "options"),
    [
        ({}, ["CreateNamespace=true"]),
        ({"create_namespace": True}, ["CreateNamespace=true"]),
        ({"create_namespace": False}, []),
        ({"prune_last": True}, ["CreateNamespace=true", "PruneLast=true"]),
        ({"apply_out_of_sync_only": True}, ["CreateNamespace=true", "ApplyOutOfSyncOnly=true"]),
        ({"server_side_apply": True}, ["CreateNamespace=true", "ServerSideApply=true"]),
        ({"replace": True}, ["CreateNamespace=true", "Replace=true"]),
        ({"validate": False}, ["CreateNamespace=true", "Validate=false"]),
        ({"validate": True}, ["CreateNamespace=true"]),
        (
            {"respect_ignore_differences": True, "ignore_differences": [REPLICAS]},
            ["CreateNamespace=true", "RespectIgnoreDifferences=true"],
        ),
        (
            {
                "create_namespace": False,
                "prune_last": True,
                "apply_out_of_sync_only": True,
                "server_side_apply": True,
                "validate": False,
                "respect_ignore_differences": True,
                "ignore_differences": [REPLICAS],
            },
            [
                "PruneLast=true",
                "ApplyOutOfSyncOnly=true",
                "ServerSideApply=true",
                "RespectIgnoreDifferences=true",
                "Validate=false",
            ],
        ),
    ],
)
def test_each_sync_option_reaches_the_spec_as_argo_cd_spells_it(
    sync: dict[str, Any], options: list[str]
) -> None:
    assert spec_of(sync)["syncPolicy"]["syncOptions"] == options


@pytest.mark.parametrize(
    ("sync", "automated"),
    [
        ({}, {"prune": True, "selfHeal": True}),  # the defaults of existing stack files
        ({"automated": True, "prune": True, "self_heal": True}, {"prune": True, "selfHeal": True}),
        ({"prune": False}, {"prune": False, "selfHeal": True}),
        ({"self_heal": False}, {"prune": True, "selfHeal": False}),
        ({"automated": False}, None),
        ({"automated": False, "prune": False, "self_heal": False}, None),
    ],
)
def test_automated_sync_prunes_and_self_heals_unless_told_not_to(
    sync: dict[str, Any], automated: dict[str, bool] | None
) -> None:
    assert spec_of(sync)["syncPolicy"].get("automated") == automated


def test_ignored_differences_reach_the_spec_with_the_crds_field_names() -> None:
    every_field = {
        "group": "apps",
        "kind": "Deployment",
        "name": "minio",
        "namespace": "minio",
        "json_pointers": ["/spec/replicas", "/metadata/annotations/a~1b"],
        "jq_path_expressions": ['.spec.template.metadata.annotations["x"]'],
        "managed_fields_managers": ["kube-controller-manager"],
    }
    core = {"kind": "ConfigMap", "jq_path_expressions": ['.data["config.yaml"]']}
    spec = spec_of({"ignore_differences": [every_field, core]})
    assert spec["ignoreDifferences"] == [
        {
            "group": "apps",
            "kind": "Deployment",
            "name": "minio",
            "namespace": "minio",
            "jsonPointers": ["/spec/replicas", "/metadata/annotations/a~1b"],
            "jqPathExpressions": ['.spec.template.metadata.annotations["x"]'],
            "managedFieldsManagers": ["kube-controller-manager"],
        },
        {"kind": "ConfigMap", "jqPathExpressions": ['.data["config.yaml"]']},
    ]
    assert "RespectIgnoreDifferences=true" not in spec["syncPolicy"]["syncOptions"]


def test_no_ignored_differences_leave_the_spec_without_the_key() -> None:
    assert "ignoreDifferences" not in spec_of({})


# --- what is refused --------------------------------------------------------------------------

SYNC = f"{PROJECT}:applications[0].sync"


@pytest.mark.parametrize(
    ("sync", "problem"),
    [
        (
            {"replace": True, "server_side_apply": True},
            f"{SYNC}.replace = true: expected replace or server_side_apply, not both: Argo CD's "
            "Replace=true takes precedence over ServerSideApply=true, so server_side_apply "
            "would do nothing",
        ),
        (
            {"respect_ignore_differences": True},
            f"{SYNC}.respect_ignore_differences = true: expected ignore_differences (at least "
            "one entry) with respect_ignore_differences: without them it changes nothing",
        ),
        (
            {"respect_ignore_differences": True, "ignore_differences": []},
            f"{SYNC}.respect_ignore_differences = true: expected ignore_differences (at least "
            "one entry) with respect_ignore_differences: without them it changes nothing",
        ),
        (
            {"automated": False, "prune": True},
            f"{SYNC}.prune = true: expected automated: true with prune: true; Argo CD reads "
            "prune only in its automated sync, so with automated: false it would be ignored "
            "(leave it out, or set it false)",
        ),
        (
            {"automated": False, "self_heal": True},
            f"{SYNC}.self_heal = true: expected automated: true with self_heal: true; Argo CD "
            "reads self_heal only in its automated sync, so with automated: false it would be "
            "ignored (leave it out, or set it false)",
        ),
        (
            {"ignore_differences": [{"group": "apps", "kind": "Deployment"}]},
            f'{SYNC}.ignore_differences[0] = {{"group": "apps", "kind": "Deployment"}}: '
            "expected json_pointers, jq_path_expressions or managed_fields_managers: an entry "
            "without any of them ignores nothing",
        ),
        (
            {"ignore_differences": [{"kind": "Deployment", "json_pointers": ["spec/replicas"]}]},
            f"{SYNC}.ignore_differences[0].json_pointers[0] = 'spec/replicas': expected a JSON "
            "pointer such as '/spec/replicas' (RFC 6901)",
        ),
        (
            {"ignore_differences": [{"kind": "Deployment", "json_pointers": ["/a~2"]}]},
            f"{SYNC}.ignore_differences[0].json_pointers[0] = '/a~2': expected a JSON pointer "
            "such as '/spec/replicas' (RFC 6901)",
        ),
        (
            {"ignore_differences": [{"json_pointers": ["/spec/replicas"]}]},
            f"{SYNC}.ignore_differences[0].kind: missing; this key is required",
        ),
        (
            {"ignore_differences": [{**REPLICAS, "jsonPointers": ["/spec/replicas"]}]},
            f'{SYNC}.ignore_differences[0].jsonPointers = ["/spec/replicas"]: unknown key '
            "(misspelled?); expected one of group, kind, name, namespace, json_pointers, "
            "jq_path_expressions, managed_fields_managers",
        ),
        (
            {"validate_manifests": False},
            f"{SYNC}.validate_manifests = false: unknown key (misspelled?); expected one of "
            "automated, prune, self_heal, create_namespace, prune_last, apply_out_of_sync_only, "
            "server_side_apply, replace, validate, respect_ignore_differences, "
            "ignore_differences",
        ),
        (
            {"validate": "nope"},
            f"{SYNC}.validate = 'nope': expected: input should be a valid boolean, unable to "
            "interpret input",
        ),
    ],
)
def test_a_contradictory_or_idle_setting_is_refused_naming_the_key(
    sync: dict[str, Any], problem: str
) -> None:
    assert problems_of(sync) == [problem]


def test_a_combination_is_checked_alongside_a_mistake_in_the_same_entry() -> None:
    problems = problems_of({"replace": True, "server_side_apply": True, "validate": "nope"})
    # The field's own error, then the check across fields (as components/config/values.py
    # `across` reports them).
    assert [p.split(" = ")[0] for p in problems] == [f"{SYNC}.validate", f"{SYNC}.replace"]


@pytest.mark.parametrize(
    "sync",
    [
        # PruneLast orders the pruning of every sync that prunes, manual ones included.
        {"prune_last": True, "prune": False},
        {"prune_last": True, "automated": False},
        # MinIO's namespace is the stack's own (components/applications.py).
        {"create_namespace": False},
        {"ignore_differences": [REPLICAS]},  # ignored in the diff only
        {"server_side_apply": True, "validate": False},  # sync-options.md's partial patch
        {"replace": True, "apply_out_of_sync_only": True},
    ],
)
def test_settings_that_do_something_are_accepted(sync: dict[str, Any]) -> None:
    assert spec_of(sync)["destination"]["namespace"] == "minio"
