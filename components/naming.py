"""Names and tags derived from project and stack, the same way everywhere."""

from __future__ import annotations

from dataclasses import dataclass

from components.config import PlatformConfig


@dataclass(frozen=True)
class Naming:
    project: str
    stack: str
    tags: dict[str, str]

    @classmethod
    def for_stack(cls, config: PlatformConfig) -> Naming:
        tags = {
            **config.tags,
            # The platform's own tags win over extra tags of the same key.
            "project": config.project,
            "stack": config.stack,
            "environment": config.environment,
            "owner": config.owner,
            "managed-by": "pulumi",
        }
        return cls(project=config.project, stack=config.stack, tags=tags)

    @property
    def prefix(self) -> str:
        """`<project>-<stack>`: unique per stack, stable across runs."""
        return f"{self.project}-{self.stack}"
