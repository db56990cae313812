"""How Argo CD syncs one Application (`applications[].sync`): automated sync with prune and
self-heal, the sync options the seed lists, and the differences Argo CD ignores.

Upstream references are Argo CD v3.4.4 (the argo-cd chart 10.1.1 installs it): paths in the
argoproj/argo-cd repository at tag v3.4.4, the CRD in the chart archive.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

from components.config.values import DnsLabel, _matching, _Strict, across

# RFC 6901: `/`-separated tokens, `~` only as `~0` or `~1`; Argo CD turns each into a JSON
# patch `remove` (util/argo/normalizers/diff_normalizer.go:143-149 at v3.4.4).
_JSON_POINTER = re.compile(r"^(/([^~/]|~[01])*)+$")
# Group and kind are globs (diff_normalizer.go:193-194): '' is the core group, '*' any.
_GROUP = re.compile(r"^[a-z0-9.*-]*$")
_KIND = re.compile(r"^[A-Za-z0-9*]+$")
# A Kubernetes object name (a DNS subdomain); matched exactly (diff_normalizer.go:195).
_OBJECT_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
JsonPointer = Annotated[
    str, _matching(_JSON_POINTER, "a JSON pointer such as '/spec/replicas' (RFC 6901)")
]
Listed = Annotated[str, Field(min_length=1)]


class IgnoreDifference(_Strict):
    """One `spec.ignoreDifferences` entry (docs/operator-manual/application.yaml:260-279 at
    v3.4.4; the Application CRD, argo-cd-10.1.1.tgz templates/crds/crd-application.yaml:
    1012-1044, requires `kind` only)."""

    group: Annotated[str, _matching(_GROUP, "an API group such as 'apps', '' or '*'")] = Field(
        default="",
        description="API group of the objects: `''` the core group (ConfigMap, Service), "
        "`apps` for Deployment, `*` any (a glob).",
    )
    kind: Annotated[str, _matching(_KIND, "a kind such as 'Deployment', or '*'")] = Field(
        description="Their kind, such as `Deployment`, or `*` (a glob)."
    )
    name: Annotated[str, _matching(_OBJECT_NAME, "a Kubernetes object name")] | None = Field(
        default=None, description="Only the object of this name (exact, not a glob)."
    )
    namespace: DnsLabel | None = Field(
        default=None, description="Only objects in this namespace (exact, not a glob)."
    )
    json_pointers: list[JsonPointer] = Field(
        default=[], description="Fields to ignore, as JSON pointers (`/spec/replicas`)."
    )
    jq_path_expressions: list[Listed] = Field(
        default=[], description='Fields to ignore, as jq paths (`.data["config.yaml"]`).'
    )
    managed_fields_managers: list[Listed] = Field(
        default=[],
        description="Fields that these field managers (such as `kube-controller-manager`) "
        "set in the cluster win over Git's.",
    )

    # Only these three lists make an entry ignore anything: pointers and expressions become
    # patches (diff_normalizer.go:141-180), managers a managed-fields normalization
    # (util/argo/diff/diff.go:434-437).
    @across("json_pointers", "jq_path_expressions", "managed_fields_managers")
    def _ignores_something(self) -> None:
        if not (self.json_pointers or self.jq_path_expressions or self.managed_fields_managers):
            raise ValueError(
                "expected json_pointers, jq_path_expressions or managed_fields_managers: an "
                "entry without any of them ignores nothing"
            )


class SyncConfig(_Strict):
    """How Argo CD syncs the Application: `syncPolicy` and `ignoreDifferences` of its spec."""

    automated: bool = Field(default=True, description="Sync on every change in Git.")
    # Argo CD reads prune and selfHeal only in its automated sync, which returns first when
    # automated sync is off (controller/appcontroller.go:2190, 2210, 2235, 2259 at v3.4.4;
    # docs/user-guide/auto_sync.md:21): unset, they follow `automated`; true without it is
    # refused, as it would be ignored.
    prune: bool | None = Field(
        default=None,
        description="Automated syncs delete what was removed from Git. Default: true with "
        "`automated`; true needs `automated`.",
    )
    self_heal: bool | None = Field(
        default=None,
        description="Automated syncs undo changes made outside Git. Default: true with "
        "`automated`; true needs `automated`.",
    )
    # sync-options.md:433-449 at v3.4.4: without CreateNamespace=true the sync fails if the
    # namespace does not exist. A Namespace of that name among the app's own manifests is
    # created before anything else is checked (gitops-engine/pkg/sync/sync_context.go:499-510),
    # and the stack creates MinIO's (components/applications.py): false is allowed for those.
    create_namespace: bool = Field(
        default=True,
        description="`CreateNamespace=true`: Argo CD creates `namespace` if it is missing. "
        "With false the namespace must exist when Argo CD syncs: the stack creates MinIO's, "
        "or the app's own manifests hold a Namespace of that name; otherwise the sync fails.",
    )
    # PruneLast applies to every sync that prunes, manual ones too: a manual sync takes the
    # Application's sync options (server/application/application.go:2068-2069) and prunes
    # when asked (:2106; auto_sync.md:40-42). So it is not refused without `prune`.
    prune_last: bool = Field(
        default=False,
        description="`PruneLast=true`: a sync prunes in a last, implicit wave, after every "
        "other resource synced and is healthy (automated syncs with `prune`, and manual syncs "
        "that prune).",
    )
    apply_out_of_sync_only: bool = Field(
        default=False,
        description="`ApplyOutOfSyncOnly=true`: a sync applies only the out-of-sync "
        "resources, not every object of the app.",
    )
    server_side_apply: bool = Field(
        default=False,
        description="`ServerSideApply=true`: `kubectl apply --server-side --force-conflicts` "
        "instead of a client-side apply. Not with `replace`.",
    )
    replace: bool = Field(
        default=False,
        description="`Replace=true`: `kubectl replace` (or `create`) instead of apply; may "
        "recreate resources (an outage). Not with `server_side_apply`.",
    )
    # `validate` is a method of pydantic's BaseModel: the field takes the key by alias.
    validate_manifests: bool = Field(
        default=True,
        alias="validate",
        description="false: `Validate=false`, skip schema validation (`kubectl apply "
        "--validate=false`), for partial manifests or types using RawExtension.",
    )
    respect_ignore_differences: bool = Field(
        default=False,
        description="`RespectIgnoreDifferences=true`: syncs also leave the fields "
        "`ignore_differences` names as they are in the cluster (by default those entries "
        "affect only the diff). Needs `ignore_differences`.",
    )
    ignore_differences: list[IgnoreDifference] = Field(
        default=[],
        description="Fields Argo CD ignores when it compares Git with the cluster "
        "(`spec.ignoreDifferences`).",
    )

    def automated_prune(self) -> bool:
        return self.automated if self.prune is None else self.prune

    def automated_self_heal(self) -> bool:
        return self.automated if self.self_heal is None else self.self_heal

    @across("automated", "prune", at="prune")
    def _prune_is_automated(self) -> None:
        if self.prune and not self.automated:
            raise ValueError(_needs_automated("prune"))

    @across("automated", "self_heal", at="self_heal")
    def _self_heal_is_automated(self) -> None:
        if self.self_heal and not self.automated:
            raise ValueError(_needs_automated("self_heal"))

    # sync-options.md:357 at v3.4.4: "Replace=true takes precedence over ServerSideApply=true"
    # (gitops-engine/pkg/sync/sync_context.go:1399-1421: replace or create, never apply).
    @across("replace", "server_side_apply", at="replace")
    def _replace_or_server_side_apply(self) -> None:
        if self.replace and self.server_side_apply:
            raise ValueError(
                "expected replace or server_side_apply, not both: Argo CD's Replace=true "
                "takes precedence over ServerSideApply=true, so server_side_apply would do "
                "nothing"
            )

    # RespectIgnoreDifferences re-applies, at sync, what the diff ignores (sync-options.md:
    # 411-431, controller/sync.go:264-272 at v3.4.4): the app's entries and argocd-cm's, which
    # this stack's Argo CD has none of but the default `/status` (util/settings/settings.go:
    # 1035-1037), and status is never patched at sync (controller/sync.go:455-470). Without
    # entries of the app it changes nothing.
    @across("respect_ignore_differences", "ignore_differences", at="respect_ignore_differences")
    def _respects_something(self) -> None:
        if self.respect_ignore_differences and not self.ignore_differences:
            raise ValueError(
                "expected ignore_differences (at least one entry) with "
                "respect_ignore_differences: without them it changes nothing"
            )


def _needs_automated(key: str) -> str:
    return (
        f"expected automated: true with {key}: true; Argo CD reads {key} only in its "
        "automated sync, so with automated: false it would be ignored (leave it out, or "
        "set it false)"
    )
