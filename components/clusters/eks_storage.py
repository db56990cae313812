"""The EKS cluster's default StorageClass, on the EBS CSI driver, and the destroy-time step
that deletes its volumes while the driver still runs (components/teardown.py)."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.teardown import RETAINED_TAG, volumes_gone

STORAGE_CLASS = "gp3"
PROVISIONER = "ebs.csi.aws.com"
TAG_PARAMETER = "tagSpecification_{}"
"""StorageClass parameters whose value `key=value` becomes a tag of every volume provisioned
with it (aws-ebs-csi-driver v1.64.0 docs/tagging.md "StorageClass Tagging";
pkg/driver/controller.go takes every parameter with the prefix `tagSpecification`, and
pkg/util/template/template.go splits its value at the first `=`)."""


def volume_tags(tags: Mapping[str, str], production: bool) -> dict[str, str]:
    """The stack's tags on its volumes, so `make orphans` finds one left behind; the driver,
    not Pulumi, manages them. A production stack keeps its volumes (GitLab's repositories are
    on one), and says so."""
    kept = {RETAINED_TAG: "production"} if production else {}
    return {**tags, "managed-by": "aws-ebs-csi-driver", **kept}


def default_storage(
    name: str,
    driver: pulumi.Resource,
    kubernetes: pulumi.ProviderResource,
    kubeconfig: pulumi.Input[str],
    tags: Mapping[str, str],
    production: bool,
    parent: pulumi.Resource,
) -> list[pulumi.Resource]:
    """What workloads with volumes wait for: the driver, the default StorageClass and the
    step that, on destroy, waits until their volumes are gone (it comes after them, so it
    runs before either is deleted). In production the volumes outlive their claims (reclaim
    policy Retain): a destroy, or a claim deleted by mistake, leaves the EBS volume."""
    default_class = k8s.storage.v1.StorageClass(
        f"{name}-gp3",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=STORAGE_CLASS,
            annotations={"storageclass.kubernetes.io/is-default-class": "true"},
        ),
        provisioner=PROVISIONER,
        parameters={
            "type": "gp3",
            "encrypted": "true",
            **{
                TAG_PARAMETER.format(i): f"{key}={value}"
                for i, (key, value) in enumerate(
                    sorted(volume_tags(tags, production).items()), start=1
                )
            },
        },
        volume_binding_mode="WaitForFirstConsumer",
        reclaim_policy="Retain" if production else "Delete",
        allow_volume_expansion=True,
        opts=pulumi.ResourceOptions(parent=parent, provider=kubernetes, depends_on=[driver]),
    )
    gone = volumes_gone(name, [driver, default_class], kubeconfig, STORAGE_CLASS, parent)
    return [driver, default_class, gone]
