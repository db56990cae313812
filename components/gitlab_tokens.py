"""GitLab access tokens the stack creates: each scoped to what it does, each expiring, each
renewed by `pulumi up` (docs/security.md lists them all).

- The bootstrap token (unless the stack is given `gitlab_token`): a personal access token of
  GitLab's `root` user, registered with GitLab's documented `gitlab-rails runner` method in the
  chart's toolbox pod and renewed each renewal period. It does only what needs an
  administrator or a person: the top-level group, the OAuth applications, the application
  settings, and the other tokens (a bot user cannot create access tokens: GitLab's
  ProjectPolicy and GroupPolicy `prevent :create_resource_access_tokens` for
  `project_bot_access`).
- Access tokens of the GitOps group and project, with the GitLab provider's
  `rotation_configuration`: it sets their expiry and replaces them, once they are old enough,
  in the next `pulumi up` (pulumi-gitlab 10.4.0 ProjectAccessToken/GroupAccessToken
  `rotation_configuration`: "Will not rotate a token until `pulumi up` is run").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pulumi
import pulumi_command as command
import pulumi_gitlab as gitlab
import pulumi_random as random

from components.config import GitOpsConfig
from components.kubectl import KUBECTL

TOKEN_NAME = "pulumi-gitops-bootstrap"
TOOLBOX = "deploy/gitlab-toolbox -c toolbox"
# Runs inside the toolbox; the token value arrives on stdin, never in an argument or a file.
REGISTER_TOKEN = """\
value = STDIN.gets.to_s.strip
abort('no token on stdin') if value.empty?
expires = {days}.days.from_now
existing = PersonalAccessToken.find_by_token(value)
if existing
  # The same value again (an update re-ran this step): GitLab keeps token digests unique,
  # so renew it instead of creating it twice.
  existing.update!(revoked: false, expires_at: expires)
else
  user = User.find_by_username!('root')
  # Its predecessor is revoked by this step's delete; revoke any other left behind.
  user.personal_access_tokens.active.where(name: '{name}').each(&:revoke!)
  token = user.personal_access_tokens.build(name: '{name}', scopes: [:api], expires_at: expires)
  if token.respond_to?(:organization=)
    token.organization = Organizations::Organization.default_organization
  end
  token.set_token(value)
  token.save!
end
"""
REVOKE_TOKEN = """\
tokens = User.find_by_username('root')&.personal_access_tokens&.active
tokens&.where(name: '{name}')&.each(&:revoke!)
"""
# The machine's date, asked on every preview and update (an invoke, not a resource: a resource
# would keep its first answer). Offline, the mocks answer it.
TODAY = "date -u +%Y-%m-%d"


def renewal(parent: pulumi.Resource, every_days: int) -> pulumi.Output[str]:
    """The renewal period the machine's date falls in (asked on every preview and update)."""
    return command.local.run_output(
        command=TODAY, opts=pulumi.InvokeOutputOptions(parent=parent)
    ).stdout.apply(lambda today: renewal_period(today, every_days))


def rotation(config: GitOpsConfig) -> gitlab.ProjectAccessTokenRotationConfigurationArgs:
    """An access token's rotation: valid `token_expiry_days`, replaced by the first
    `pulumi up` once it is `token_renewal_days` old."""
    return gitlab.ProjectAccessTokenRotationConfigurationArgs(
        expiration_days=config.token_expiry_days,
        rotate_before_days=config.token_expiry_days - config.token_renewal_days,
    )


def group_rotation(config: GitOpsConfig) -> gitlab.GroupAccessTokenRotationConfigurationArgs:
    """`rotation`, for a group access token."""
    project = rotation(config)
    return gitlab.GroupAccessTokenRotationConfigurationArgs(
        expiration_days=project.expiration_days, rotate_before_days=project.rotate_before_days
    )


@dataclass(frozen=True)
class ProjectToken:
    """A project access token of the GitOps project: who uses it, for what."""

    name: str
    description: str
    scopes: list[str]
    access_level: str


def project_token(
    name: str,
    token: ProjectToken,
    project: pulumi.Input[str],
    config: GitOpsConfig,
    admin: gitlab.Provider,
    parent: pulumi.Resource,
) -> pulumi.Output[str]:
    """The token's value (a secret): made with root's token (a bot cannot create tokens),
    rotated as `rotation(config)` says."""
    made = gitlab.ProjectAccessToken(
        name,
        project=project,
        name=token.name,
        description=token.description,
        scopes=token.scopes,
        access_level=token.access_level,
        rotation_configuration=rotation(config),
        opts=pulumi.ResourceOptions(parent=parent, provider=admin),
    )
    return secret(made.token)


def secret(value: pulumi.Input[str]) -> pulumi.Output[str]:
    """`value` as a Pulumi secret, typed (the SDK's `Output.secret` is not)."""
    made: pulumi.Output[str] = pulumi.Output.secret(value)
    return made


@dataclass
class BootstrapArgs:
    config: GitOpsConfig
    namespace: str
    kubeconfig: pulumi.Input[str]
    renewal: pulumi.Output[str]
    depends_on: list[pulumi.Resource]
    """The GitLab release: its toolbox registers the token."""


def bootstrap_token(
    name: str, args: BootstrapArgs, parent: pulumi.Resource
) -> tuple[pulumi.Output[str], list[pulumi.Resource]]:
    """Root's API token, generated and registered in GitLab, and the step that registers it.

    Renewed in the first preview or update of each renewal period: the period's label
    changes, so does the generated value, and the step revokes the old token and registers
    the new one. (A time-based resource such as pulumiverse-time's Rotating would not do: it
    only notices its expiry when refreshed, pulumi up does not refresh by default, and the
    bridged provider's plan keeps the stored rotation time; terraform-provider-time v0.12.1
    internal/provider/resource_time_rotating.go, Read.)"""
    value = random.RandomPassword(
        f"{name}-token",
        length=32,
        special=False,
        keepers={"renewal": args.renewal},
        opts=pulumi.ResourceOptions(parent=parent),
    )
    script = REGISTER_TOKEN.format(name=TOKEN_NAME, days=args.config.token_expiry_days)
    token: pulumi.Output[str] = pulumi.Output.secret(value.result)
    kubeconfig: pulumi.Output[str] = pulumi.Output.secret(args.kubeconfig)
    registration = command.local.Command(
        f"{name}-token",
        create=KUBECTL + f'printf \'%s\\n\' "$GITLAB_TOKEN" | kubectl --kubeconfig "$kubeconfig" '
        f"--namespace {args.namespace} exec -i {TOOLBOX} -- gitlab-rails runner " + _quoted(script),
        # Best effort: GitLab itself is deleted next, and a destroy must not stop here.
        delete=KUBECTL
        + f'kubectl --kubeconfig "$kubeconfig" --namespace {args.namespace} exec {TOOLBOX} '
        "-- gitlab-rails runner "
        + _quoted(REVOKE_TOKEN.format(name=TOKEN_NAME))
        + " || echo 'warning: could not revoke the bootstrap token' >&2",
        environment={"GITLAB_TOKEN": token, "KUBECONFIG_CONTENT": kubeconfig},
        # A new token value (each renewal period) registers again; the old one is revoked
        # first.
        triggers=[token, args.renewal],
        logging=command.local.Logging.NONE,
        opts=pulumi.ResourceOptions(
            parent=parent, depends_on=list(args.depends_on), delete_before_replace=True
        ),
    )
    return token, [registration]


def renewal_period(today: str, every_days: int) -> str:
    """The renewal period `today` (YYYY-MM-DD) falls in: periods of `every_days` days counted
    from 1970-01-01, named by their first day."""
    day = date.fromisoformat(today.strip())
    epoch = date(1970, 1, 1)
    start = epoch + timedelta(days=(day - epoch).days // every_days * every_days)
    return f"renewal {start.isoformat()}, every {every_days} days"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
