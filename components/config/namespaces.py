"""Stack-file keys outside this project's namespace: only those that take effect. Anything
else would vanish without a word: a misspelled `gitops-platfrom:domain` is no key of this
project, and the program would never read it.

Every resource of this stack goes through an explicit provider the program builds (AWS:
components/providers.py; Kubernetes: from the cluster's kubeconfig; GitLab: from its URL and
token), and a provider's stack configuration (`aws:*`, `kubernetes:*`) configures only the
engine's default provider of that package (pulumi/pulumi `pkg/resource/deploy/
default_providers.go`, newRegisterDefaultProviderEvent: `d.config.GetPackageConfig`): an
explicit one takes only its arguments, so `aws:profile` or `kubernetes:namespace` in a stack
file would change nothing. The keys that do take effect are `aws:region`, which the program
reads and hands to its provider, and the CLI's own `pulumi:` settings
(https://www.pulumi.com/docs/iac/concepts/config/).
"""

from __future__ import annotations

import difflib
import importlib.util
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

READ_AWS_KEYS = ("region",)
"""The `aws:` keys the program reads (components/config/loader.py) for its AWS provider."""

PULUMI_KEYS = ("autonaming", "disable-default-providers", "tags")
"""The CLI's own `pulumi:` settings: pulumi/pulumi `sdk/go/common/workspace/project.go`
(PulumiTagsConfigKey), `pkg/resource/deploy/default_providers.go` (disable-default-providers),
`pkg/cmd/pulumi/autonaming/config.go` (autonaming)."""

NAMESPACES = ("aws", "gitlab", "kubernetes", "pulumi")
"""The namespaces a stack file may name beside the project's (gitlab: and kubernetes: to be
told why not)."""


@cache
def aws_keys() -> frozenset[str]:
    """The configuration keys the installed pulumi-aws has (its `config/vars.py`), to tell a
    misspelling from a real provider setting that this stack does not apply."""
    spec = importlib.util.find_spec("pulumi_aws.config.vars")
    if spec is None or spec.origin is None:
        return frozenset()
    text = Path(spec.origin).read_text()
    return frozenset(re.findall(r"__config__\.get[a-z_]*\('([A-Za-z0-9]+)'", text))


def foreign_key_problems(keys: Iterable[str], project: str) -> list[str]:
    """One problem per key outside the project's namespace that would take no effect."""
    problems = []
    reads = f"{project}: keys, aws:region and the CLI's pulumi: settings"
    for key in sorted(keys):
        namespace, _, name = key.partition(":")
        if namespace == project or (namespace == "pulumi" and name in PULUMI_KEYS):
            continue
        if namespace == "pulumi":
            problems.append(
                f"{key}: not a setting of the Pulumi CLI (misspelled?); it has "
                + ", ".join(f"pulumi:{k}" for k in PULUMI_KEYS)
                + _closest(name, PULUMI_KEYS, "pulumi:")
            )
            continue
        if namespace == "aws" and name in READ_AWS_KEYS:
            continue
        if namespace == "aws" and name not in aws_keys():
            problems.append(
                f"{key}: not a configuration key of the AWS provider (misspelled?)"
                + _closest(name, sorted(aws_keys()), "aws:")
            )
        elif namespace in ("aws", "kubernetes", "gitlab"):
            instead = {
                "aws": "; credentials and profile come from the environment (AWS_PROFILE, "
                "AWS_* variables, the job's role)",
                "kubernetes": "; the cluster's kubeconfig comes from the cluster mode",
                "gitlab": f"; a GitLab token of your own is the secret {project}:gitlab_token",
            }[namespace]
            problems.append(
                f"{key}: takes no effect: every {namespace} resource of this stack goes "
                f"through an explicit provider, which {namespace}: stack settings do not "
                f"configure (only a default provider reads them); this stack reads {reads}"
                f"{instead}; remove it"
            )
        else:
            problems.append(
                f"{key}: unknown namespace {namespace!r} (misspelled?); this stack reads {reads}"
                + _closest(namespace, (project, *NAMESPACES))
            )
    return problems


def _closest(word: str, choices: Iterable[str], prefix: str = "") -> str:
    match = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {prefix}{match[0]}{':' if not prefix else ''}?" if match else ""
