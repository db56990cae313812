"""Stack-file keys outside this project's namespace: only the providers' own, and only keys
they know. Anything else would vanish without a word: a misspelled `gitops-platfrom:domain`
is no key of this project, and the program would never read it."""

from __future__ import annotations

import difflib
import importlib.util
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

PROVIDER_NAMESPACES = ("aws", "kubernetes", "pulumi")
"""Namespaces whose keys the stack may set beside its own: the AWS and Kubernetes providers'
(the stack's default providers read them), and the CLI's own `pulumi:` settings
(https://www.pulumi.com/docs/iac/concepts/config/)."""


@cache
def aws_keys() -> frozenset[str]:
    """The configuration keys the installed pulumi-aws reads (its `config/vars.py`). The
    provider refuses any other `aws:` key: "`aws:<key>` is not a valid configuration key for
    the aws provider" (pulumi-terraform-bridge `pkg/tfbridge/check_failures.go`)."""
    spec = importlib.util.find_spec("pulumi_aws.config.vars")
    if spec is None or spec.origin is None:
        return frozenset()
    text = Path(spec.origin).read_text()
    return frozenset(re.findall(r"__config__\.get[a-z_]*\('([A-Za-z0-9]+)'", text))


def foreign_key_problems(keys: Iterable[str], project: str) -> list[str]:
    """One problem per key in a namespace the stack does not read, or per `aws:` key the AWS
    provider does not know."""
    problems = []
    for key in sorted(keys):
        namespace, _, name = key.partition(":")
        if namespace == project:
            continue
        if namespace not in PROVIDER_NAMESPACES:
            problems.append(
                f"{key}: unknown namespace {namespace!r} (misspelled?); this stack reads "
                f"{project}:, aws: and kubernetes: keys"
                + _closest(namespace, (project, *PROVIDER_NAMESPACES))
            )
        elif namespace == "aws" and aws_keys() and name not in aws_keys():
            problems.append(
                f"{key}: not a configuration key of the AWS provider (misspelled?)"
                + _closest(name, sorted(aws_keys()), "aws:")
            )
    return problems


def _closest(word: str, choices: Iterable[str], prefix: str = "") -> str:
    match = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {prefix}{match[0]}{':' if not prefix else ''}?" if match else ""
