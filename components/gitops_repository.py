"""The GitLab side of GitOps: a group and project, its content, and the tokens that drive it.

No hand-made token: unless the stack is given one (`gitlab_token`), it generates root's API
token and registers it in GitLab (components/gitlab_tokens.py, docs/gitops.md). That token
(the `admin` provider) does only what needs an administrator or a person: the top-level
group, the OAuth applications and application settings (components/sign_in.py), and the
access tokens. The project and its files are managed with the group's own access token (the
`automation` provider), and Argo CD reads with a project access token of scope
`read_repository` and role Reporter, the least that can read a private repository (GitLab
docs, user/permissions: "Pull project code" needs Reporter in a private project).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import pulumi
import pulumi_command as command
import pulumi_gitlab as gitlab
import yaml

from components.config import GITOPS_DIR, ApplicationConfig, ChartConfig, GitOpsConfig
from components.gitlab_tokens import (
    BootstrapArgs,
    ProjectToken,
    bootstrap_token,
    group_rotation,
    project_token,
    renewal,
    secret,
)

BRANCH = "main"
AUTOMATION_TOKEN = "gitops-platform-automation"
ARGOCD_TOKEN = "argocd"
READ_TOKEN_USERNAME = "argocd"
"""Git over HTTPS with an access token takes any non-blank user name (GitLab docs,
user/project/settings/project_access_tokens: "username: any non-blank value")."""
# Up to 20 minutes for the ALB, its DNS record and the first page (not cached as a failure).
WAIT_FOR_GITLAB = """\
for attempt in $(seq 1 120); do
  curl -fsS -o /dev/null --max-time 10 '{url}' && exit 0
  sleep 10
done
echo 'GitLab did not answer at {url} within 20 minutes' >&2
exit 1
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
    role_groups: Sequence[str] = ()
    """Full paths of the groups under the GitOps group that carry an Argo CD role: made here,
    with the groups between, so that their paths are the stack's."""
    folders: Sequence[str] = ()
    """Further folders of gitops/ the stack deploys from (the previews'), committed too."""


class GitOpsRepository(pulumi.ComponentResource):
    clone_url: pulumi.Output[str]
    """`https://gitlab.<domain>/<group>/<project>.git` (Argo CD does not follow redirects)."""
    read_token: pulumi.Output[str]
    """Argo CD's: scope read_repository on the project, role Reporter."""
    project_id: pulumi.Output[str]
    """The GitLab project's numeric id (as text), as GitLab's API names it."""
    automation: gitlab.Provider
    """GitLab's API with the GitOps group's Owner token: for what lives in the group."""
    admin: gitlab.Provider
    """GitLab's API with root's token: for what needs an administrator."""
    renewal: pulumi.Output[str]
    """The current renewal period (components.gitlab_tokens.renewal_period)."""
    committed: list[pulumi.Resource]
    """The repository files: Applications wait for their content."""

    def __init__(
        self, name: str, args: GitOpsRepositoryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:gitops:GitOpsRepository", name, None, opts)
        config = args.config
        self.renewal = renewal(self, config.token_renewal_days)
        token: pulumi.Output[str]
        token_ready: list[pulumi.Resource] = []
        if args.user_token is not None:
            token = pulumi.Output.secret(args.user_token)
        else:
            token, token_ready = bootstrap_token(
                name,
                BootstrapArgs(
                    config, args.namespace, args.kubeconfig, self.renewal, list(args.depends_on)
                ),
                self,
            )
        # The release is up before its load balancer and DNS name are: the provider checks
        # its token against the API as it starts, so wait until GitLab answers from outside.
        reachable = command.local.Command(
            f"{name}-gitlab-reachable",
            create=WAIT_FOR_GITLAB.format(url=f"{args.gitlab_url}/users/sign_in"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        api = f"{args.gitlab_url}/api/v4"
        self.admin = gitlab.Provider(
            f"{name}-gitlab",
            base_url=api,
            token=token,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*args.depends_on, *token_ready, reachable]
            ),
        )
        as_admin = pulumi.ResourceOptions(parent=self, provider=self.admin)

        group = gitlab.Group(
            f"{name}-group",
            name=config.group,
            path=config.group,
            visibility_level="private",
            description="GitOps repositories of the platform (managed by Pulumi)",
            opts=as_admin,
        )
        # Owner: the least role that can delete the project again on destroy (GitLab docs,
        # user/permissions: "Delete project" needs Owner); within this group only.
        automation_token = gitlab.GroupAccessToken(
            f"{name}-automation",
            group=group.id,
            name=AUTOMATION_TOKEN,
            description="gitops-platform: manages the GitOps project and its files",
            scopes=["api"],
            access_level="owner",
            rotation_configuration=group_rotation(config),
            opts=as_admin,
        )
        self.automation = automation = gitlab.Provider(
            f"{name}-automation",
            base_url=api,
            token=secret(automation_token.token),
            opts=pulumi.ResourceOptions(parent=self),
        )
        as_automation = pulumi.ResourceOptions(parent=self, provider=automation)
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
            opts=as_automation,
        )
        self._subgroups(name, group, args, as_automation)
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
                opts=as_automation,
            )
            for path, content in repository_content(
                config.minio_chart, args.applications, args.folders
            ).items()
        ]
        self.read_token = project_token(
            f"{name}-argocd",
            ProjectToken(
                ARGOCD_TOKEN,
                "Argo CD: clones the GitOps repository",
                ["read_repository"],
                "reporter",
            ),
            project.id,
            config,
            self.admin,
            self,
        )
        self.clone_url = pulumi.Output.concat(
            args.gitlab_url, "/", project.path_with_namespace, ".git"
        )
        self.project_id = project.id
        self.register_outputs({"clone_url": self.clone_url})

    def _subgroups(
        self,
        name: str,
        root: gitlab.Group,
        args: GitOpsRepositoryArgs,
        opts: pulumi.ResourceOptions,
    ) -> None:
        """Each group under the GitOps group that carries a role, private, made with the
        group's own token (an Owner can create subgroups)."""
        made = {args.config.group: root}
        for path in subgroup_paths(args.config.group, args.role_groups):
            parent, _, leaf = path.rpartition("/")
            made[path] = gitlab.Group(
                f"{name}-group-{path.replace('/', '-')}",
                name=leaf,
                path=leaf,
                parent_id=made[parent].id.apply(int),
                visibility_level="private",
                description="Its members get an Argo CD role (gitops-platform, argocd.sso.groups)",
                opts=opts,
            )


def subgroup_paths(root: str, groups: Sequence[str]) -> list[str]:
    """The groups under `root` that `groups` name, with those between, parents first."""
    paths = {
        "/".join(parts[:n])
        for group in groups
        if group.startswith(f"{root}/")
        for parts in [group.split("/")]
        for n in range(2, len(parts) + 1)
    }
    return sorted(paths, key=lambda path: (path.count("/"), path))


def repository_content(
    minio_chart: ChartConfig,
    applications: Sequence[ApplicationConfig],
    folders: Sequence[str] = (),
) -> dict[str, str]:
    """What the stack commits: the files at the top of gitops/ (its README) and every file of
    each top-level folder of gitops/ that one of the stack's applications, or one of
    `folders`, deploys from (an overlay's base lives in the same folder), with the MinIO
    dependency set to the configured chart source. A folder nothing of the stack names stays
    out of its repository: a new one reaches only the stacks configured to deploy it."""
    tops = {PurePosixPath(path).parts[0] for path in [*(a.path for a in applications), *folders]}
    files = {
        path.relative_to(GITOPS_DIR).as_posix(): path.read_text()
        for path in sorted(GITOPS_DIR.rglob("*"))
        if path.is_file()
        and (path.parent == GITOPS_DIR or path.relative_to(GITOPS_DIR).parts[0] in tops)
    }
    if "minio/Chart.yaml" in files:
        files["minio/Chart.yaml"] = _pin_minio(files["minio/Chart.yaml"], minio_chart)
    return files


def _pin_minio(chart_yaml: str, source: ChartConfig) -> str:
    chart = yaml.safe_load(chart_yaml)
    (dependency,) = [d for d in chart["dependencies"] if d["name"] == "minio"]
    dependency.update(repository=source.repository, version=source.version)
    return yaml.safe_dump(chart, sort_keys=False)
