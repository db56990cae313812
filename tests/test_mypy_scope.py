"""mypy follows only the parts of the AWS and Kubernetes SDKs this code uses (pyproject.toml):
a service it skips is Any to the checker, so every service the code reaches must be listed,
and nothing it no longer reaches."""

from __future__ import annotations

import ast
import re
import sysconfig
import tomllib
from collections.abc import Iterable
from pathlib import Path

from offline.plan import PROJECT_DIR

SITE = Path(sysconfig.get_paths()["purelib"])
SCOPED = ("pulumi_aws", "pulumi_kubernetes")
MYPY = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["tool"]["mypy"]


def is_module(name: str) -> bool:
    path = SITE.joinpath(*name.split("."))
    return (path / "__init__.py").exists() or path.with_suffix(".py").exists()


def patterns(follow_imports: str) -> set[str]:
    return {
        module
        for override in MYPY["overrides"]
        if override.get("follow_imports") == follow_imports
        for module in override["module"]
    }


def matches(pattern: str, module: str) -> bool:
    if pattern.endswith(".*"):
        return module == pattern[:-2] or module.startswith(pattern[:-1])
    return module == pattern


def checked_files() -> Iterable[Path]:
    for entry in MYPY["files"]:
        path = PROJECT_DIR / entry
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def reached_modules() -> set[str]:
    """The SDK modules our code names: imports, and attribute chains on an imported SDK
    (`aws.ec2.Vpc` reaches `pulumi_aws.ec2`)."""
    reached: set[str] = set()
    for path in checked_files():
        tree = ast.parse(path.read_text())
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in SCOPED:
                        reached.add(alias.name)
                        bound = alias.name if alias.asname else alias.name.split(".")[0]
                        aliases[alias.asname or bound] = bound
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in SCOPED:
                assert node.module is not None
                reached.add(node.module)
                for alias in node.names:
                    if is_module(f"{node.module}.{alias.name}"):
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for node in ast.walk(tree):
            chain: list[str] = []
            while isinstance(node, ast.Attribute):
                chain.insert(0, node.attr)
                node = node.value
            if chain and isinstance(node, ast.Name) and node.id in aliases:
                module = aliases[node.id]
                for part in chain:
                    if not is_module(f"{module}.{part}"):
                        break
                    module = f"{module}.{part}"
                reached.add(module)
    return reached


def service(module: str) -> str | None:
    """`pulumi_aws.ec2.vpc` -> `pulumi_aws.ec2`; None for an SDK's top-level modules."""
    parts = module.split(".")
    if len(parts) < 2 or not (SITE / parts[0] / parts[1]).is_dir():
        return None
    return ".".join(parts[:2])


def services_needed() -> set[str]:
    """The services reached, and those their modules import from each other
    (`from ... import meta as _meta` in pulumi_kubernetes), transitively."""
    needed = {s for m in reached_modules() if (s := service(m))}
    todo = list(needed)
    while todo:
        package, name = todo.pop().split(".")
        for path in (SITE / package / name).rglob("*.py"):
            for other in re.findall(r"^from \.\.+ import (\w+) as _", path.read_text(), re.M):
                found = f"{package}.{other}"
                if service(found) and found not in needed:
                    needed.add(found)
                    todo.append(found)
    return needed


def test_the_sdks_are_skipped_except_what_is_listed() -> None:
    assert patterns("skip") == {f"{sdk}.*" for sdk in SCOPED}


def test_every_sdk_module_our_code_reaches_is_followed() -> None:
    followed = patterns("silent")
    missing = sorted(m for m in reached_modules() if not any(matches(p, m) for p in followed))
    assert missing == [], f"add to the followed modules in pyproject.toml: {missing}"


def test_every_top_level_sdk_module_is_followed() -> None:
    # Their names are the SDK's own attributes (`aws.Provider`, `aws.get_caller_identity`).
    followed = patterns("silent")
    for sdk in SCOPED:
        top = {sdk} | {f"{sdk}.{p.stem}" for p in (SITE / sdk).glob("*.py") if p.stem != "__init__"}
        assert sorted(top - followed) == [], f"a new module in {sdk}: list it in pyproject.toml"


def test_only_the_services_needed_are_followed() -> None:
    listed = {p[:-2] for p in patterns("silent") if p.endswith(".*")}
    assert listed == services_needed()
