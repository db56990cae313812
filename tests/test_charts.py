"""`make charts`: the chart cache filled with real `helm pull`, without the network.

The chart repository is on loopback: the shared cache's archives (CHARTS) copied into a
directory, indexed with `helm repo index` and served over HTTPS (the stack's chart repositories
must be https://) by a thread of this process, with a certificate made for the test and
trusted through SSL_CERT_FILE: without a CA file helm verifies against the system roots (helm
v4.1.4 pkg/getter/httpgetter.go, an empty `tls.Config`), which Go reads from SSL_CERT_FILE on
Unix (https://pkg.go.dev/crypto/x509#SystemCertPool). The stack under test is dev with every
chart repository pointed at it.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import os
import shutil
import socket
import ssl
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from plans import PROJECT, SHIPPED_STACKS, stack_file_config
from upstream import chart_archive, tool

import tools.charts as charts_tool
from components.config import ChartsConfig, GitOpsConfig
from offline.plan import PROJECT_DIR, Plan
from offline.stack_files import load_stack
from tools.chart_keys import releases
from tools.charts import Chart, ChartsError, Pin, collect, dependencies, main, stack_pins

CACHED = ("argo-cd", "aws-load-balancer-controller", "external-dns", "minio")
"""The charts of the shared cache; GitLab's is not among them."""
CONFIG_KEYS = {
    "argo-cd": "argo_cd",
    "aws-load-balancer-controller": "aws_load_balancer_controller",
    "external-dns": "external_dns",
    "gitlab": "gitlab",
}


@dataclass
class Repository:
    """A chart repository on loopback: its URL, its files and the paths asked of it."""

    url: str
    directory: Path
    versions: dict[str, str]
    requests: list[str]


def made_up_chart(name: str, version: str) -> bytes:
    """A chart archive as `helm package` lays it out, standing in for one the cache lacks."""
    chart = yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version}).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(f"{name}/Chart.yaml")
        info.size = len(chart)
        archive.addfile(info, io.BytesIO(chart))
    return buffer.getvalue()


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl is not installed (it makes the loopback repository's certificate)")
    cert, key = directory / "cert.pem", directory / "key.pem"
    request = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    output = ["-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1"]
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run([openssl, *request, *output, *subject], check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repository]:
    """The shared cache's archives (and a made-up GitLab chart) served over HTTPS on loopback,
    with helm's homes and trusted roots set for this module's tests."""
    helm = tool("helm")
    root = tmp_path_factory.mktemp("repository")
    served = root / "charts"
    served.mkdir()
    versions = {}
    for name in CACHED:
        pinned = (
            GitOpsConfig().minio_chart
            if name == "minio"
            else getattr(ChartsConfig(), CONFIG_KEYS[name])
        )
        archive = chart_archive(name, pinned.version)
        versions[name] = archive.name[len(name) + 1 : -len(".tgz")]
        shutil.copyfile(archive, served / archive.name)
    versions["gitlab"] = "10.4.1"
    (served / "gitlab-10.4.1.tgz").write_bytes(made_up_chart("gitlab", "10.4.1"))
    subprocess.run([helm, "repo", "index", str(served)], check=True, capture_output=True)
    cert, key = certificate(root)

    asked: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(served), **kwargs)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            asked.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    homes = root / "helm"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SSL_CERT_FILE", str(cert))
        env.setenv("NO_PROXY", "127.0.0.1")
        for home in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
            env.setenv(home, str(homes / home))
        yield Repository(f"https://127.0.0.1:{server.server_port}/", served, versions, asked)
    server.shutdown()
    server.server_close()


def loopback_stack(
    directory: Path, url: str, versions: dict[str, str], name: str = "loopback"
) -> Path:
    """dev's stack file with every chart repository at `url` and the given versions."""
    config = stack_file_config("dev")
    config[f"{PROJECT}:charts"] = {
        key: {"repository": url, "version": versions[chart]} for chart, key in CONFIG_KEYS.items()
    }
    config[f"{PROJECT}:gitops"] = {"minio_chart": {"repository": url, "version": versions["minio"]}}
    path = directory / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    return path


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def filled(
    repository: Repository, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, int, str]:
    """A new cache filled once from the loopback repository: stack file, cache, exit status,
    what it printed."""
    directory = tmp_path_factory.mktemp("filled")
    stack = loopback_stack(directory, repository.url, repository.versions)
    cache = directory / "cache"
    status, out, err = run("--stack-file", str(stack), "--charts", str(cache))
    return stack, cache, status, out + err


def test_every_pinned_chart_arrives_as_the_repository_serves_it(
    repository: Repository, filled: tuple[Path, Path, int, str]
) -> None:
    _, cache, status, output = filled
    assert status == 0, output
    served = sorted(p.name for p in repository.directory.glob("*.tgz"))
    assert sorted(p.name for p in cache.iterdir()) == served  # nothing else left behind
    for name in served:
        assert (cache / name).read_bytes() == (repository.directory / name).read_bytes(), name
        assert f"pulled   {cache / name}" in output


def test_an_archive_already_in_the_cache_is_not_pulled_again(
    repository: Repository, filled: tuple[Path, Path, int, str]
) -> None:
    stack, cache, _, _ = filled
    before = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    asked = len(repository.requests)
    status, out, _ = run("--stack-file", str(stack), "--charts", str(cache))
    assert status == 0
    assert repository.requests[asked:] == []
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == before
    assert out.count("present  ") == len(before)
    assert "charts: 0 pulled, 5 present" in out


def test_a_version_the_repository_lacks_fails_naming_chart_version_and_repository(
    repository: Repository, tmp_path: Path
) -> None:
    stack = loopback_stack(
        tmp_path, repository.url, {**repository.versions, "argo-cd": "9.9.9"}, "missing"
    )
    cache = tmp_path / "cache"
    cache.mkdir()
    for archive in repository.directory.glob("*.tgz"):  # only argo-cd is left to pull
        if not archive.name.startswith("argo-cd-"):
            shutil.copyfile(archive, cache / archive.name)
    status, _, err = run("--stack-file", str(stack), "--charts", str(cache))
    assert status == 1
    assert f"error: cannot pull argo-cd 9.9.9 from {repository.url}: " in err
    assert "9.9.9" in err.split(f"{repository.url}: ", 1)[1]  # helm's own words follow
    assert "1 could not be pulled" in err
    assert not any(p.name.startswith(("argo-cd", ".pull-")) for p in cache.iterdir())


def test_without_helm_it_says_so_once_and_pulls_nothing(
    repository: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(charts_tool, "find_tool", lambda name: None)
    stack = loopback_stack(tmp_path, repository.url, repository.versions)
    asked = len(repository.requests)
    status, _, err = run("--stack-file", str(stack), "--charts", str(tmp_path / "cache"))
    assert status == 1
    assert err.count("helm is not installed (make tools)") == 1, err
    assert "5 chart(s) to pull: " in err
    assert repository.requests[asked:] == []


def test_the_list_needs_no_network(tmp_path: Path) -> None:
    # Every repository points at a port that listens but is never accepted from: a connection
    # attempt would be waiting there.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/"
        versions = {"gitlab": "10.4.1", "argo-cd": "10.1.1", "minio": "5.4.0"}
        versions |= {"aws-load-balancer-controller": "3.5.0", "external-dns": "1.21.1"}
        stack = loopback_stack(tmp_path, url, versions)
        cache = tmp_path / "cache"
        cache.mkdir()
        (cache / "minio-5.4.0.tgz").write_bytes(b"already here")
        status, out, _ = run("--stack-file", str(stack), "--charts", str(cache), "--list")
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert status == 0
    rows = {tuple(line.split()[:5]) for line in out.splitlines()[1:]}
    assert rows == {
        (name, version, url, f"{name}-{version}.tgz", "present" if name == "minio" else "missing")
        for name, version in versions.items()
    }
    assert list(cache.iterdir()) == [cache / "minio-5.4.0.tgz"]


def test_the_stacks_pins_are_the_charts_their_plans_install(dev_plan: Plan) -> None:
    plan = json.loads(dev_plan.to_json())
    installed = {Chart(r.chart, r.version, r.repository) for r in releases(plan)}
    (committed,) = [
        r["inputs"]["content"]
        for r in plan["resources"]
        if r["type"] == "gitlab:index/repositoryFile:RepositoryFile"
        and r["inputs"]["filePath"] == "minio/Chart.yaml"
    ]
    pinned = stack_pins(load_stack(PROJECT_DIR, "dev"))
    assert {chart for chart, _ in pinned} == installed | set(dependencies("minio", committed))
    assert ("minio", "gitops/minio/Chart.yaml") in {(c.name, where) for c, where in pinned}


def test_a_published_archives_own_subcharts_are_not_pulled_on_their_own() -> None:
    # argo-cd depends on redis-ha, which its published archive carries in charts/.
    names = {chart.name for chart, _ in stack_pins(load_stack(PROJECT_DIR, "dev"))}
    assert "redis-ha" not in names
    archive = chart_archive("argo-cd", "10.1.1")
    with tarfile.open(archive) as packaged:
        assert "argo-cd/charts/redis-ha/Chart.yaml" in packaged.getnames()


def test_default_pins_but_gitlab_are_in_the_chart_cache() -> None:
    # The pins this suite can render: every default one but GitLab's, which no machine here
    # can obtain (README, "Upgrading a chart safely"). A cache named by CHARTS (CI's) must
    # hold them; a local .charts/ may predate the pins.
    named = os.environ.get("CHARTS")
    cache = Path(named or PROJECT_DIR / ".charts")
    pinned = collect((s, stack_pins(load_stack(PROJECT_DIR, s))) for s in SHIPPED_STACKS)
    wanted = [chart.archive_name for chart in pinned if chart.name != "gitlab"]
    missing = [name for name in wanted if not (cache / name).is_file()]
    if missing and not named:
        pytest.skip(f"{cache} lacks {missing} (make charts, or CHARTS=dir)")
    assert missing == [], f"pinned by default but not in {cache}: {missing}"


def chart_yaml(*dependencies: dict[str, str]) -> str:
    return yaml.safe_dump({"apiVersion": "v2", "name": "app", "dependencies": list(dependencies)})


def test_gitops_dependencies_from_repositories_are_pulled_local_ones_are_not() -> None:
    text = chart_yaml(
        {"name": "minio", "version": "5.4.0", "repository": "https://charts.min.io/"},
        {"name": "common", "version": "1.0.0", "repository": "file://../common"},
        {"name": "local", "version": "1.0.0"},
        {"name": "cache", "version": "2.0.0", "repository": "oci://registry.example.com/charts"},
    )
    assert dependencies("app/Chart.yaml", text) == [
        Chart("minio", "5.4.0", "https://charts.min.io/"),
        Chart("cache", "2.0.0", "oci://registry.example.com/charts"),
    ]


@pytest.mark.parametrize(
    ("dependency", "message"),
    [
        ({"version": "^5.0.0", "repository": "https://charts.min.io/"}, "exact chart version"),
        ({"version": "5.4.0", "repository": "@minio"}, "https:// or oci://"),
        ({"version": "5.4.0", "repository": "http://charts.min.io/"}, "https:// or oci://"),
    ],
)
def test_a_gitops_dependency_must_be_pinned_exactly_to_a_repository(
    dependency: dict[str, str], message: str
) -> None:
    with pytest.raises(ChartsError, match=message) as raised:
        dependencies("app/Chart.yaml", chart_yaml({"name": "minio", **dependency}))
    assert str(raised.value).startswith("gitops/app/Chart.yaml: dependency minio: expected")


def test_one_chart_version_from_two_repositories_is_refused() -> None:
    upstream = Chart("argo-cd", "10.1.1", "https://argoproj.github.io/argo-helm")
    mirror = Chart("argo-cd", "10.1.1", "https://charts.example.com/")
    with pytest.raises(ChartsError) as raised:
        collect([("dev", [(upstream, "charts.argo_cd")]), ("prod", [(mirror, "charts.argo_cd")])])
    assert str(raised.value) == (
        "one chart version pinned from more than one repository: argo-cd-10.1.1.tgz: "
        "https://argoproj.github.io/argo-helm (charts.argo_cd (dev)) and "
        "https://charts.example.com/ (charts.argo_cd (prod))"
    )
    both = collect([("dev", [(upstream, "charts.argo_cd")]), ("prod", [(upstream, "x")])])
    assert both == {upstream: [Pin("dev", "charts.argo_cd"), Pin("prod", "x")]}


def test_helm_pulls_a_repository_chart_by_name_and_an_oci_chart_by_its_reference() -> None:
    https = Chart("argo-cd", "10.1.1", "https://argoproj.github.io/argo-helm")
    oci = Chart("argo-cd", "10.1.1", "oci://ghcr.io/argoproj/argo-helm/")
    assert https.pull_command("helm", Path("/c")) == [
        "helm",
        "pull",
        "argo-cd",
        "--repo",
        "https://argoproj.github.io/argo-helm",
        "--version",
        "10.1.1",
        "-d",
        "/c",
    ]
    assert oci.pull_command("helm", Path("/c")) == [
        "helm",
        "pull",
        "oci://ghcr.io/argoproj/argo-helm/argo-cd",
        "--version",
        "10.1.1",
        "-d",
        "/c",
    ]


def test_a_stack_that_cannot_be_read_is_reported_without_a_traceback(tmp_path: Path) -> None:
    status, _, err = run("--stack", "nonesuch", "--charts", str(tmp_path), "--list")
    assert status == 2
    assert err.startswith("error: no stack file Pulumi.nonesuch.yaml")


def test_make_charts_fills_the_cache_for_the_stacks() -> None:
    make = ["make", "-s", "-n", "--no-print-directory"]
    dry = subprocess.run(
        [*make, "charts", "STACKS=dev staging", "CHARTS=/tmp/cache"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    command = "python -m tools.charts --stack dev --stack staging --charts /tmp/cache"
    assert command in dry.stdout
    listed = subprocess.run(["make", "-s", "help"], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert "make charts " in listed.stdout


def test_make_charts_defaults_to_every_stack_file() -> None:
    dry = subprocess.run(
        ["make", "-s", "-n", "--no-print-directory", "charts", "CHARTS=/tmp/cache"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    stacks = " ".join(f"--stack {stack}" for stack in SHIPPED_STACKS)
    assert f"python -m tools.charts {stacks} --charts /tmp/cache" in dry.stdout
