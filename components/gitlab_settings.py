"""GitLab's instance-wide settings the stack manages, in the one resource GitLab has for them
(an instance has one set: two resources would undo each other): two-factor authentication,
and the in-cluster hosts its hooks may call.

Only the settings named here are managed; the provider's ApplicationSettings has no destroy
logic, so a destroy leaves them as last set (terraform-provider-gitlab
docs/resources/application_settings.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gitlab as gitlab

TWO_FACTOR = {"off": (False, False), "admins": (False, True), "everyone": (True, True)}
"""`gitlab.two_factor` → (require_two_factor_authentication,
require_admin_two_factor_authentication)."""


@dataclass
class GitLabSettingsArgs:
    admin: gitlab.Provider
    """GitLab's API as an administrator: the settings are the instance's."""
    two_factor: str
    two_factor_grace_period_hours: int
    local_hosts: Sequence[str]
    """The hosts on private addresses GitLab's hooks may call (exact names; GitLab matches
    an entry against the request's host: gitlab-http url_allowlist.rb), nothing wider:
    local requests in general stay refused."""


class GitLabSettings(pulumi.ComponentResource):
    settings: gitlab.ApplicationSettings

    def __init__(
        self, name: str, args: GitLabSettingsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:gitops:GitLabSettings", name, None, opts)
        everyone, admins = TWO_FACTOR[args.two_factor]
        # Each set either way, so that turning one off takes effect too.
        self.settings = gitlab.ApplicationSettings(
            f"{name}-settings",
            require_two_factor_authentication=everyone,
            require_admin_two_factor_authentication=admins,
            two_factor_grace_period=args.two_factor_grace_period_hours,
            allow_local_requests_from_web_hooks_and_services=False,
            allow_local_requests_from_system_hooks=False,
            outbound_local_requests_whitelists=list(args.local_hosts),
            opts=pulumi.ResourceOptions(parent=self, provider=args.admin),
        )
        self.register_outputs({})
