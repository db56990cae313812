"""docs/security.md lists every credential the plans create, and nothing they do not.

The plans of the shipped stacks and of the variants that make different credentials are
searched for everything that is or carries one: a type that names a token, password, secret,
key, certificate or role, a GitLab OAuth application, a resource with a secret input or one
that receives a generated value (the mocks' recognisable stand-ins, unwrapped), a step that
registers a personal access token; the secret stack outputs; the secret config keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from plans import (
    PROJECT,
    SHIPPED_STACKS,
    STACK_VARIANTS,
    plan_for,
    stack_file_config,
    with_changes,
)
from test_config import existing_cluster_config

from components.config.stack import SECRET_KEYS
from offline.plan import PROJECT_DIR, SECRET, Plan

DOC = PROJECT_DIR / "docs" / "security.md"
CI_FILE = PROJECT_DIR / ".gitlab-ci.yml"
README = PROJECT_DIR / "README.md"
KUBECONFIG = "apiVersion: v1\nkind: Config\n# security-inventory kubeconfig\n"
SECRET_TYPE = "kubernetes:core/v1:Secret"

CREDENTIAL_COLUMNS = (
    "Credential",
    "Pulumi resources",
    "Held by",
    "Scope",
    "Lifetime",
    "Rotation",
    "Stored in",
)
NO_CREDENTIAL_COLUMNS = ("Secret", "Pulumi resources", "What it holds", "Why a Secret")
TABLES = {CREDENTIAL_COLUMNS: "credential", NO_CREDENTIAL_COLUMNS: "no credential"}

# What makes a resource a credential, or the holder of one.
CREDENTIAL_TYPES = {"gitlab:index/application:Application"}
CREDENTIAL_NAME = re.compile(
    r"(Token|Password|Secret|Key|Credential|Certificate|Cert|Role|String)$"
)
LONG_LIVED_AWS_KEYS = {
    "aws:iam/accessKey:AccessKey",
    "aws:iam/user:User",
    "aws:iam/userLoginProfile:UserLoginProfile",
    "aws:iam/serviceSpecificCredential:ServiceSpecificCredential",
}
# The mocks' stand-ins for generated values (offline/mocks.py: passwords and their bcrypt
# hashes, access tokens, OAuth secrets), as the policy pack sees them: unwrapped.
GENERATED = ("offline-password-", "offline-access-token-", "offline-oauth-secret-", "$2a$10$")
REGISTERS_A_TOKEN = "personal_access_tokens"

REFERENCE = re.compile(r"`([\w.-]+:[\w./-]+:\w+)` `…([\w.-]+)`")
NAMED = re.compile(r"\b(config|output|ci) `(\w+)`")
EMPTY = {"", "-", "—", "…", "?", "TBD", "TODO"}


# --- the plans ------------------------------------------------------------------------------


def _dev(secrets: dict[str, str] | None = None, **changes: Any) -> Plan:
    return plan_for(with_changes(stack_file_config("dev"), **changes), "dev", secrets)


def _pod_identity() -> Plan:
    cluster = {
        **stack_file_config("dev")[f"{PROJECT}:cluster"],
        "workload_identity": "pod_identity",
    }
    return _dev(cluster=cluster)


VARIANTS: dict[str, Callable[[], Plan]] = {
    **{
        stack: (lambda stack=stack: plan_for(stack_file_config(stack), stack))
        for stack in SHIPPED_STACKS
    },
    **STACK_VARIANTS,
    "kops-step-two": lambda: plan_for(
        stack_file_config("kops"), "study", {"kubeconfig": KUBECONFIG}
    ),
    "existing": lambda: plan_for(existing_cluster_config(), "test", {"kubeconfig": KUBECONFIG}),
    "gitlab-token": lambda: _dev({"gitlab_token": "glpat-security-inventory"}),
    "sso-off": lambda: _dev(argocd={"sso": {"enabled": False}}),
    "pod-identity": _pod_identity,
}
"""The shipped stacks, the guardrails' variants (kOps step one among them) and the shapes that
make other credentials: kOps step two and an existing cluster (a kubeconfig given), a given
GitLab token (no bootstrap), no sign-in with GitLab, Pod Identity."""


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {name: build() for name, build in VARIANTS.items()}


# --- the document ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    kind: str
    """`credential`, or `no credential` (a Secret that holds configuration only)."""
    cells: dict[str, str]
    line: str

    @property
    def title(self) -> str:
        return next(iter(self.cells.values()))

    @property
    def resources(self) -> set[tuple[str, str]]:
        """(type, name suffix) of every resource the row names."""
        return set(REFERENCE.findall(self.cells["Pulumi resources"]))

    def named(self, kind: str) -> set[str]:
        """The config keys, outputs or CI variables the row names."""
        return {name for k, name in NAMED.findall(self.cells["Pulumi resources"]) if k == kind}

    def covers(self, resource: dict[str, Any]) -> bool:
        return any(
            resource["type"] == type_ and resource["name"].endswith(suffix)
            for type_, suffix in self.resources
        )


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse(text: str) -> list[Row]:
    """The rows of the document's tables, each by its header's columns."""
    rows: list[Row] = []
    columns: tuple[str, ...] | None = None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            columns = None
        elif columns is None:
            header = tuple(_cells(line))
            following = lines[i + 1] if i + 1 < len(lines) else ""
            if following.startswith("|") and set(following.replace("|", "").strip()) == {"-"}:
                assert header in TABLES, f"docs/security.md: a table of unknown columns {header}"
                columns = header
        elif not set(line.replace("|", "").strip()) <= {"-", ":"}:
            cells = _cells(line)
            assert len(cells) == len(columns), f"expected {len(columns)} cells: {line}"
            rows.append(Row(TABLES[columns], dict(zip(columns, cells, strict=True)), line))
    return rows


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return parse(DOC.read_text())


# --- what counts as a credential ------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def has_secret(value: Any) -> bool:
    return any(text == SECRET for text in _strings(value))


def receives_generated(plan: Plan, resource: dict[str, Any]) -> bool:
    inputs = plan.analyzer_inputs.get(resource["urn"], {})
    return any(marker in text for text in _strings(inputs) for marker in GENERATED)


def is_credential(plan: Plan, resource: dict[str, Any]) -> bool:
    type_ = resource["type"]
    return bool(
        type_ in CREDENTIAL_TYPES
        or (resource["custom"] and CREDENTIAL_NAME.search(type_.rsplit(":", 1)[-1]))
        or has_secret(resource["inputs"])
        or receives_generated(plan, resource)
        or (type_ == "command:local:Command" and REGISTERS_A_TOKEN in str(resource["inputs"]))
    )


def credentials(plans: dict[str, Plan]) -> Iterator[tuple[str, dict[str, Any]]]:
    for variant, plan in plans.items():
        for resource in plan.resources:
            if is_credential(plan, resource):
                yield variant, resource


def unlisted(plans: dict[str, Plan], rows: Iterable[Row]) -> list[str]:
    """Credentials of the plans no row covers."""
    rows = list(rows)
    found = {
        f"{resource['type']} {resource['name']} ({variant})"
        for variant, resource in credentials(plans)
        if not any(row.covers(resource) for row in rows)
    }
    for variant, plan in plans.items():
        for output, value in plan.outputs.items():
            if has_secret(value) and not any(output in row.named("output") for row in rows):
                found.add(f"output {output} ({variant})")
    found |= {
        f"config {key}"
        for key in SECRET_KEYS
        if not any(key in row.named("config") for row in rows)
    }
    return sorted(found)


def stale(plans: dict[str, Plan], rows: Iterable[Row], ci: str) -> list[str]:
    """What rows name that no plan creates (or no pipeline, stack config or output has)."""
    found = []
    resources = [r for plan in plans.values() for r in plan.resources]
    secret_outputs = {
        name for plan in plans.values() for name, value in plan.outputs.items() if has_secret(value)
    }
    for row in rows:
        if not row.resources and not any(row.named(k) for k in ("config", "output", "ci")):
            found.append(f"{row.title}: names no resource, config key, output or CI variable")
        found += [
            f"{row.title}: no plan creates a {type_} named …{suffix}"
            for type_, suffix in sorted(row.resources)
            if not any(r["type"] == type_ and r["name"].endswith(suffix) for r in resources)
        ]
        found += [
            f"{row.title}: config {key} is not a secret config key {SECRET_KEYS}"
            for key in sorted(row.named("config") - set(SECRET_KEYS))
        ]
        found += [
            f"{row.title}: no plan has the secret output {name}"
            for name in sorted(row.named("output") - secret_outputs)
        ]
        found += [
            f"{row.title}: .gitlab-ci.yml has no variable {name}"
            for name in sorted(row.named("ci"))
            if not re.search(rf"\${name}\b", ci)
        ]
    return found


def empty_cells(rows: Iterable[Row]) -> list[str]:
    return [
        f"{row.title}: {column} is empty"
        for row in rows
        for column, cell in row.cells.items()
        if cell.strip("*` ") in EMPTY
    ]


def covering(rows: Iterable[Row], resource: dict[str, Any]) -> list[Row]:
    return [row for row in rows if row.covers(resource)]


# --- the tests ------------------------------------------------------------------------------


def test_the_inventory_has_its_tables(rows: list[Row]) -> None:
    kinds = {row.kind for row in rows}
    assert kinds == {"credential", "no credential"}
    assert len([row for row in rows if row.kind == "credential"]) >= 20


def test_every_row_fills_every_column(rows: list[Row]) -> None:
    assert empty_cells(rows) == []


def test_every_credential_of_every_plan_has_a_row(plans: dict[str, Plan], rows: list[Row]) -> None:
    assert unlisted(plans, rows) == [], "add these to docs/security.md"


def test_every_row_names_something_a_plan_creates(plans: dict[str, Plan], rows: list[Row]) -> None:
    assert stale(plans, rows, CI_FILE.read_text()) == [], "docs/security.md is stale"


def test_the_variants_make_the_credentials_they_are_here_for(plans: dict[str, Plan]) -> None:
    def names(variant: str, type_: str) -> set[str]:
        return {r["name"] for r in plans[variant].of_type(type_)}

    application = "gitlab:index/application:Application"
    assert names("dev", application)
    assert not names("sso-off", application)
    token = "random:index/randomPassword:RandomPassword"
    assert "gitops-platform-dev-gitops-token" in names("dev", token)
    assert "gitops-platform-dev-gitops-token" not in names("gitlab-token", token)
    assert "gitops-platform-study-kops-operator" in names("kops", "aws:iam/role:Role")
    assert not names("kops", token)
    assert names("kops-step-two", token)
    assert "kubeconfig" in plans["dev"].outputs
    assert "kubeconfig" not in plans["existing"].outputs


def test_each_kubernetes_secret_is_named_and_classified_as_the_plans_fill_it(
    plans: dict[str, Plan], rows: list[Row]
) -> None:
    problems = []
    for variant, plan in plans.items():
        for secret in plan.of_type(SECRET_TYPE):
            metadata = secret["inputs"]["metadata"]
            name = f"`{metadata['namespace']}/{metadata['name']}`"
            holds = receives_generated(plan, secret)
            for row in covering(rows, secret):
                if name not in row.line:
                    problems.append(f"{row.title}: does not name {name} ({variant})")
                if holds != (row.kind == "credential"):
                    says = "holds a credential" if holds else "holds no credential"
                    problems.append(f"{name} {says}, unlike its row ({variant})")
    assert problems == []


def test_the_token_rows_give_the_plans_lifetimes(plans: dict[str, Plan], rows: list[Row]) -> None:
    checked = expected = 0
    for plan in (plans[stack] for stack in SHIPPED_STACKS):
        # The automation, repository and commit-status tokens, root's token step, and the
        # previews' token where previews are on (outside production by default).
        expected += 4 + any(r["name"].endswith("-previews-token") for r in plan.resources)
        for type_ in (
            "gitlab:index/groupAccessToken:GroupAccessToken",
            "gitlab:index/projectAccessToken:ProjectAccessToken",
        ):
            for token in plan.of_type(type_):
                rotation = token["inputs"]["rotationConfiguration"]
                (row,) = covering(rows, token)
                assert f"{rotation['expirationDays']} days" in row.cells["Lifetime"]
                assert f"{rotation['rotateBeforeDays']} days" in row.cells["Rotation"]
                checked += 1
        (step,) = [
            c
            for c in plan.of_type("command:local:Command")
            if REGISTERS_A_TOKEN in c["inputs"].get("create", "")
        ]
        (expiry,) = re.findall(r"(\d+)\.days\.from_now", step["inputs"]["create"])
        row = next(r for r in covering(rows, step) if "bootstrap token" in r.title)
        assert f"{expiry} days" in row.cells["Lifetime"]
        (period,) = re.findall(r"every (\d+) days", step["inputs"]["triggers"][1])
        assert f"{period} days" in row.cells["Rotation"]
        checked += 1
    assert checked == expected > 4 * len(SHIPPED_STACKS)


def test_the_oauth_applications_are_as_documented(plans: dict[str, Plan], rows: list[Row]) -> None:
    plan = plans["dev"]
    web, cli = (
        next(a for a in plan.of_type("gitlab:index/application:Application") if a["name"] == name)
        for name in ("gitops-platform-dev-sign-in-argocd", "gitops-platform-dev-sign-in-argocd-cli")
    )
    (token,) = [
        r
        for r in plan.of_type("random:index/randomPassword:RandomPassword")
        if r["name"].endswith("-gitops-token")
    ]
    # Replaced each renewal period: its name carries the period.
    assert token["inputs"]["keepers"]["renewal"] in web["inputs"]["name"]
    assert web["inputs"]["confidential"] is True
    assert cli["inputs"]["confidential"] is False
    (web_row,) = [row for row in covering(rows, web) if row.title.startswith("**Argo CD's OAuth")]
    assert "renewal period" in web_row.cells["Rotation"]
    (cli_row,) = covering(rows, cli)
    assert "no secret" in cli_row.title


def test_no_plan_creates_long_lived_aws_keys(plans: dict[str, Plan]) -> None:
    assert [
        f"{r['type']} {r['name']} ({variant})"
        for variant, plan in plans.items()
        for r in plan.resources
        if r["type"] in LONG_LIVED_AWS_KEYS
    ] == []


def test_the_readme_links_the_inventory() -> None:
    assert "(docs/security.md)" in README.read_text()


# --- the checks themselves: a credential, a stale row, an empty cell is caught ---------------


def _with_resource(plan: Plan, type_: str, name: str, inputs: dict[str, Any]) -> Plan:
    urn = f"urn:pulumi:{plan.stack}::{PROJECT}::{type_}::{name}"
    resource = {"type": type_, "name": name, "urn": urn, "custom": True, "inputs": inputs}
    return replace(plan, resources=[*plan.resources, resource])


def test_a_credential_without_a_row_is_reported(plans: dict[str, Plan], rows: list[Row]) -> None:
    dev = plans["dev"]
    extra = {
        "password": _with_resource(
            dev, "random:index/randomPassword:RandomPassword", "gitops-platform-dev-extra", {}
        ),
        "secret input": _with_resource(
            dev, "kubernetes:core/v1:ConfigMap", "gitops-platform-dev-extra", {"data": SECRET}
        ),
        "token step": _with_resource(
            dev,
            "command:local:Command",
            "gitops-platform-dev-extra",
            {"create": "personal_access_tokens"},
        ),
    }
    for what, plan in extra.items():
        assert any("gitops-platform-dev-extra" in line for line in unlisted({"dev": plan}, rows)), (
            what
        )
    assert unlisted({"dev": dev}, [r for r in rows if "…-gitops-token" not in r.line]) != []
    assert unlisted({"dev": dev}, [r for r in rows if "config `gitlab_token`" not in r.line]) == [
        "config gitlab_token"
    ]


def test_a_stale_or_empty_row_is_reported(plans: dict[str, Plan], rows: list[Row]) -> None:
    ci = CI_FILE.read_text()
    row = rows[0]
    gone = Row(
        row.kind,
        {**row.cells, "Pulumi resources": "`gitlab:index/deployToken:DeployToken` `…-gone`"},
        "",
    )
    assert stale(plans, [gone], ci) == [
        f"{row.title}: no plan creates a gitlab:index/deployToken:DeployToken named …-gone"
    ]
    nothing = Row(row.kind, {**row.cells, "Pulumi resources": "GitLab"}, "")
    assert stale(plans, [nothing], ci) != []
    for column in CREDENTIAL_COLUMNS:
        blank = Row(row.kind, {**row.cells, column: " "}, "")
        (problem,) = empty_cells([blank])
        assert problem.endswith(f": {column} is empty")
