"""The GitLab side of GitOps: an access token, a group and project, its content, a deploy token.

No hand-made token: unless the stack is given one (`gitlab_token`), it generates a token value
and registers it as a personal access token of GitLab's `root` user with GitLab's documented
`gitlab-rails runner` method, run in the chart's toolbox pod (docs/gitops.md). Everything on
the GitLab side uses that token and so waits for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import PurePosixPath

import pulumi
import pulumi_command as command
import pulumi_gitlab as gitlab
import pulumi_random as random
import yaml

from components.config import GITOPS_DIR, ApplicationConfig, ChartConfig, GitOpsConfig

BRANCH = "main"
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
# Up to 20 minutes for the ALB, its DNS record and the first page (not cached as a failure).
WAIT_FOR_GITLAB = """\
for attempt in $(seq 1 120); do
  curl -fsS -o /dev/null --max-time 10 '{url}' && exit 0
  sleep 10
done
echo 'GitLab did not answer at {url} within 20 minutes' >&2
exit 1
"""
# The machine's date, asked on every preview and update (an invoke, not a resource: a resource
# would keep its first answer). Offline, the mocks answer it.
TODAY = "date -u +%Y-%m-%d"
# kubectl talks to the cluster with the stack's kubeconfig, written to a private temp file.
KUBECTL = """\
set -eu
kubeconfig=$(mktemp)
trap 'rm -f "$kubeconfig"' EXIT
printf '%s' "$KUBECONFIG_CONTENT" > "$kubeconfig"
"""


@dataclass
class GitOpsRepositoryArgs:
    config: GitOpsConfig
    applications: Sequence[ApplicationConfig]
    """What the stack deploys: the folders of gitops/ it commits."""
    gitlab_url: str
    namespace: str
    kubeconfig: pulumi.Input[str]
    user_token: pulumi.Output[str] | None
    """Use this token (scope api) and skip the bootstrap."""
    depends_on: Sequence[pulumi.Resource]
    """The GitLab release: its toolbox runs the bootstrap and its API serves the provider."""


class GitOpsRepository(pulumi.ComponentResource):
    clone_url: pulumi.Output[str]
    """`https://gitlab.<domain>/<group>/<project>.git` (Argo CD does not follow redirects)."""
    deploy_token_username: pulumi.Output[str]
    deploy_token: pulumi.Output[str]
    committed: list[pulumi.Resource]
    """The repository files: Applications wait for their content."""

    def __init__(
        self, name: str, args: GitOpsRepositoryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:gitops:GitOpsRepository", name, None, opts)
        config = args.config
        token, token_ready = self._access_token(name, args)
        # The release is up before its load balancer and DNS name are: the provider checks
        # its token against the API as it starts, so wait until GitLab answers from outside.
        reachable = command.local.Command(
            f"{name}-gitlab-reachable",
            create=WAIT_FOR_GITLAB.format(url=f"{args.gitlab_url}/users/sign_in"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        provider = gitlab.Provider(
            f"{name}-gitlab",
            base_url=f"{args.gitlab_url}/api/v4",
            token=token,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*args.depends_on, *token_ready, reachable]
            ),
        )
        on_gitlab = pulumi.ResourceOptions(parent=self, provider=provider)

        group = gitlab.Group(
            f"{name}-group",
            name=config.group,
            path=config.group,
            visibility_level="private",
            description="GitOps repositories of the platform (managed by Pulumi)",
            opts=on_gitlab,
        )
        project = gitlab.Project(
            f"{name}-project",
            name=config.project,
            path=config.project,
            namespace_id=group.id.apply(int),
            visibility_level="private",
            default_branch=BRANCH,
            # The first commit creates the default branch the files are committed to.
            initialize_with_readme=True,
            description="Deployed by Argo CD; content managed by the gitops-platform stack",
            opts=on_gitlab,
        )
        self.committed = [
            gitlab.RepositoryFile(
                f"{name}-file-{path}",
                project=project.id,
                branch=BRANCH,
                file_path=path,
                content=content,
                encoding="text",
                commit_message=f"gitops-platform: update {path}",
                overwrite_on_create=True,
                opts=on_gitlab,
            )
            for path, content in repository_content(config.minio_chart, args.applications).items()
        ]
        deploy_token = gitlab.ProjectDeployToken(
            f"{name}-argocd",
            project=project.id,
            name="argocd",
            scopes=["read_repository"],
            opts=on_gitlab,
        )
        self.clone_url = pulumi.Output.concat(
            args.gitlab_url, "/", project.path_with_namespace, ".git"
        )
        self.deploy_token_username = deploy_token.username.apply(lambda u: u or "")
        self.deploy_token = pulumi.Output.secret(deploy_token.token)
        self.register_outputs({"clone_url": self.clone_url})

    def _access_token(
        self, name: str, args: GitOpsRepositoryArgs
    ) -> tuple[pulumi.Output[str], list[pulumi.Resource]]:
        if args.user_token is not None:
            return pulumi.Output.secret(args.user_token), []
        # Renewed in the first preview or update of each renewal period: the period's label
        # changes, so does the generated value, and the step revokes the old token and
        # registers the new one. (A time-based resource such as pulumiverse-time's Rotating
        # would not do: it only notices its expiry when refreshed, pulumi up does not refresh
        # by default, and the bridged provider's plan keeps the stored rotation time;
        # terraform-provider-time v0.12.1 internal/provider/resource_time_rotating.go, Read.)
        renewal = command.local.run_output(
            command=TODAY, opts=pulumi.InvokeOutputOptions(parent=self)
        ).stdout.apply(lambda today: renewal_period(today, args.config.token_renewal_days))
        value = random.RandomPassword(
            f"{name}-token",
            length=32,
            special=False,
            keepers={"renewal": renewal},
            opts=pulumi.ResourceOptions(parent=self),
        )
        script = REGISTER_TOKEN.format(name=TOKEN_NAME, days=args.config.token_expiry_days)
        token: pulumi.Output[str] = pulumi.Output.secret(value.result)
        kubeconfig: pulumi.Output[str] = pulumi.Output.secret(args.kubeconfig)
        registration = command.local.Command(
            f"{name}-token",
            create=KUBECTL
            + f'printf \'%s\\n\' "$GITLAB_TOKEN" | kubectl --kubeconfig "$kubeconfig" '
            f"--namespace {args.namespace} exec -i {TOOLBOX} -- gitlab-rails runner "
            + _quoted(script),
            # Best effort: GitLab itself is deleted next, and a destroy must not stop here.
            delete=KUBECTL
            + f'kubectl --kubeconfig "$kubeconfig" --namespace {args.namespace} exec {TOOLBOX} '
            "-- gitlab-rails runner "
            + _quoted(REVOKE_TOKEN.format(name=TOKEN_NAME))
            + " || echo 'warning: could not revoke the bootstrap token' >&2",
            environment={
                "GITLAB_TOKEN": token,
                "KUBECONFIG_CONTENT": kubeconfig,
            },
            # A new token value (each renewal period) registers again; the old one is revoked
            # first.
            triggers=[token, renewal],
            logging=command.local.Logging.NONE,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(args.depends_on), delete_before_replace=True
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


def repository_content(
    minio_chart: ChartConfig, applications: Sequence[ApplicationConfig]
) -> dict[str, str]:
    """What the stack commits: the files at the top of gitops/ (its README) and every file of
    each top-level folder of gitops/ that one of the stack's applications deploys from (an
    overlay's base lives in the same folder), with the MinIO dependency set to the
    configured chart source. A folder no application of the stack names stays out of its
    repository: a new one reaches only the stacks configured to deploy it."""
    folders = {PurePosixPath(app.path).parts[0] for app in applications}
    files = {
        path.relative_to(GITOPS_DIR).as_posix(): path.read_text()
        for path in sorted(GITOPS_DIR.rglob("*"))
        if path.is_file()
        and (path.parent == GITOPS_DIR or path.relative_to(GITOPS_DIR).parts[0] in folders)
    }
    if "minio/Chart.yaml" in files:
        files["minio/Chart.yaml"] = _pin_minio(files["minio/Chart.yaml"], minio_chart)
    return files


def _pin_minio(chart_yaml: str, source: ChartConfig) -> str:
    chart = yaml.safe_load(chart_yaml)
    (dependency,) = [d for d in chart["dependencies"] if d["name"] == "minio"]
    dependency.update(repository=source.repository, version=source.version)
    return yaml.safe_dump(chart, sort_keys=False)


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
