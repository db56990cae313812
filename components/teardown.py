"""Destroy-time steps that hold a controller until what it made in AWS is gone.

Pulumi deletes in reverse dependency order, but a controller's clean-up happens out of its
sight: the AWS Load Balancer Controller deletes a load balancer when its Ingress or Service
goes, the EBS CSI driver deletes a volume when its PersistentVolume goes. Each step here is a
Command with nothing to do on create; its delete runs once everything that depends on it is
gone and before the controller it depends on is deleted, and waits (bounded) until the
controller's objects are gone from the cluster. The controllers remove the objects only
after the AWS resources are deleted (below), so an empty cluster means an empty account.

The scripts run on the machine running `pulumi destroy`, with kubectl and the cluster's
kubeconfig (a Pulumi secret, in a private temporary file). ExternalDNS's records have their
own step (components/external_dns.py), since only Route 53 knows when they are gone.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_command as command

GONE_TIMEOUT_SECONDS = 600
RETAINED_TAG = "gitops-platform/retained-on-destroy"
"""Tag on what a destroy keeps on purpose (its value says why): `make orphans` reports those
as kept, not as left over."""

KUBECTL = """\
set -eu
kubeconfig=$(mktemp)
trap 'rm -f "$kubeconfig"' EXIT
printf '%s' "$KUBECONFIG_CONTENT" > "$kubeconfig"
"""
"""kubectl talks to the cluster with the stack's kubeconfig, written to a private temp file."""

_WAIT = r"""
deadline=$(( $(date +%s) + TIMEOUT_SECONDS ))
errors=$(mktemp)
trap 'rm -f "$kubeconfig" "$errors"' EXIT
while :; do
  # A failed call (an expired token, the API busy) is tried again until the deadline.
  if left=$(leftovers 2>"$errors"); then
    if [ -z "$left" ]; then
      echo "$WHAT: none left"
      exit 0
    fi
  else
    left="(the cluster could not be read: $(cat "$errors"))"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "destroy: after ${TIMEOUT_SECONDS}s, $WHAT still exist:" >&2
    printf '%s\n' "$left" >&2
    printf '%s\n' "$ADVICE" >&2
    exit 1
  fi
  sleep "$POLL_SECONDS"
done
"""

# The controller finalizes an Ingress (group.ingress.k8s.aws/<group> or ingress.k8s.aws/
# resources), a Service (service.k8s.aws/resources) and a TargetGroupBinding
# (elbv2.k8s.aws/resources) only after deleting their load balancers, listeners, target groups
# and security groups, and the shared backend security group once no Ingress or Service needs
# it (aws-load-balancer-controller v3.5.0 controllers/ingress/group_controller.go: the model is
# deployed and `backendSGProvider.Release` called before `RemoveFinalizers`; pkg/networking/
# backend_sg_provider.go `releaseSG`). So none of these objects left means none of those
# resources left. The in-tree cloud provider's Classic Load Balancers count too: every
# LoadBalancer Service is waited for. Nothing is deleted here: what is still there was not
# made by this stack (its releases and Applications are gone by now), and may serve someone.
WAIT_FOR_LOAD_BALANCERS_GONE = (
    KUBECTL
    + r"""k() { kubectl --kubeconfig "$kubeconfig" "$@"; }
leftovers() {
  ingresses=$(k get ingress --all-namespaces -o jsonpath="$INGRESSES") || return 1
  services=$(k get service --all-namespaces -o jsonpath="$SERVICES") || return 1
  bindings=$(k get targetgroupbindings.elbv2.k8s.aws --all-namespaces -o jsonpath="$BINDINGS") \
    || return 1
  printf '%s\n' "$ingresses" \
    | awk -F'|' -v class="$INGRESS_CLASS" '$2 == class || $3 == class { print "Ingress " $1 }'
  printf '%s\n' "$services" | awk -F'|' '$2 == "LoadBalancer" { print "Service " $1 }'
  printf '%s\n' "$bindings" | awk 'NF { print "TargetGroupBinding " $1 }'
}
"""
    + _WAIT
)

# Deleting a claim of a StorageClass with reclaimPolicy Delete deletes its PersistentVolume,
# and the CSI provisioner deletes the PersistentVolume object, and removes its finalizer
# (external-provisioner.volume.kubernetes.io/finalizer), only once the driver has deleted the
# EBS volume (kubernetes-csi/external-provisioner v5.3.0, vendored
# sig-storage-lib-external-provisioner/v11 controller.go `deleteVolumeOperation`:
# `provisioner.Delete`, then the object, then the finalizer), so the PersistentVolume's
# disappearance is the volume's. StatefulSets keep their
# claims when they are deleted (`persistentVolumeClaimRetentionPolicy` defaults to Retain,
# Kubernetes StatefulSet docs), so claims of the stack's own StorageClass still there are
# deleted: the cluster is deleted next. A volume whose reclaim policy was changed to Retain is
# kept, and reported.
WAIT_FOR_VOLUMES_GONE = (
    KUBECTL
    + r"""k() { kubectl --kubeconfig "$kubeconfig" "$@"; }
claims=$(k get pvc --all-namespaces -o jsonpath="$CLAIMS")
printf '%s\n' "$claims" | awk -F'|' -v class="$STORAGE_CLASS" '$3 == class { print $1, $2 }' \
  | while read -r namespace claim; do
      k delete pvc --namespace "$namespace" "$claim" --wait=false
    done
# What is kept: volumes whose reclaim policy someone set to Retain.
kept=$(k get pv -o jsonpath="$VOLUMES")
printf '%s\n' "$kept" | awk -F'|' -v class="$STORAGE_CLASS" \
  '$2 == class && $3 == "Retain" { print "kept (reclaim policy Retain): " $1 " of " $4 }'
leftovers() {
  found=$(k get pv -o jsonpath="$VOLUMES") || return 1
  printf '%s\n' "$found" | awk -F'|' -v class="$STORAGE_CLASS" \
    '$2 == class && $3 != "Retain" { print "PersistentVolume " $1 " of " $4 " (" $5 ")" }'
}
"""
    + _WAIT
)


def load_balancers_gone(
    name: str,
    controller: pulumi.Resource,
    kubeconfig: pulumi.Input[str],
    ingress_class: str,
    parent: pulumi.Resource,
) -> command.local.Command:
    """The step between the load balancer controller and what asks it for load balancers:
    everything that does must depend on it."""
    return _wait(
        f"{name}-load-balancers-gone",
        WAIT_FOR_LOAD_BALANCERS_GONE,
        what="Ingresses of class alb, LoadBalancer Services or TargetGroupBindings",
        advice="Each holds a load balancer the controller has not deleted yet. Find out what "
        "made it (kubectl describe; the controller's logs in kube-system), delete it, and run "
        "the destroy again.",
        extra={
            "INGRESS_CLASS": ingress_class,
            "INGRESSES": _rows(
                "{.metadata.namespace}/{.metadata.name}",
                "{.spec.ingressClassName}",
                r"{.metadata.annotations.kubernetes\.io/ingress\.class}",
            ),
            "SERVICES": _rows("{.metadata.namespace}/{.metadata.name}", "{.spec.type}"),
            "BINDINGS": _rows("{.metadata.namespace}/{.metadata.name}"),
        },
        kubeconfig=kubeconfig,
        depends_on=[controller],
        parent=parent,
    )


def volumes_gone(
    name: str,
    driver: Sequence[pulumi.Resource],
    kubeconfig: pulumi.Input[str],
    storage_class: str,
    parent: pulumi.Resource,
) -> command.local.Command:
    """The step between the volume driver (and its StorageClass) and what makes volumes with
    it: everything that does must depend on it."""
    return _wait(
        f"{name}-volumes-gone",
        WAIT_FOR_VOLUMES_GONE,
        what=f"PersistentVolumes of StorageClass {storage_class}",
        advice="Their EBS volumes are not deleted yet. A claim still used by a pod is deleted "
        "only once the pod is gone: `kubectl get pods --all-namespaces` shows what still runs. "
        "The driver's logs: kubectl -n kube-system logs deploy/ebs-csi-controller. Then run "
        "the destroy again.",
        extra={
            "STORAGE_CLASS": storage_class,
            "CLAIMS": _rows(
                "{.metadata.namespace}", "{.metadata.name}", "{.spec.storageClassName}"
            ),
            "VOLUMES": _rows(
                "{.metadata.name}",
                "{.spec.storageClassName}",
                "{.spec.persistentVolumeReclaimPolicy}",
                "{.spec.claimRef.namespace}/{.spec.claimRef.name}",
                "{.status.phase}",
            ),
        },
        kubeconfig=kubeconfig,
        depends_on=driver,
        parent=parent,
    )


def _rows(*fields: str) -> str:
    """A kubectl JSONPath template printing one line per item, its fields split by `|`."""
    return "{range .items[*]}" + "|".join(fields) + '{"\\n"}{end}'


def _wait(
    resource_name: str,
    script: str,
    *,
    what: str,
    advice: str,
    extra: dict[str, str],
    kubeconfig: pulumi.Input[str],
    depends_on: Sequence[pulumi.Resource],
    parent: pulumi.Resource,
) -> command.local.Command:
    return command.local.Command(
        resource_name,
        # Nothing to do on create or update; the delete waits.
        delete=script,
        environment={
            "KUBECONFIG_CONTENT": pulumi.Output.secret(kubeconfig),
            "WHAT": what,
            "ADVICE": advice,
            "TIMEOUT_SECONDS": str(GONE_TIMEOUT_SECONDS),
            "POLL_SECONDS": "10",
            **extra,
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )
