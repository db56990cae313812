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

from components.kubectl import KUBECTL

GONE_TIMEOUT_SECONDS = 600
EBS_CSI_DRIVER = "ebs.csi.aws.com"
RETAINED_TAG = "gitops-platform/retained-on-destroy"
"""Tag on what a destroy keeps on purpose (its value says why): `make orphans` reports those
as kept, not as left over."""


_WAIT = r"""
deadline=$(( $(date +%s) + TIMEOUT_SECONDS ))
errors=$(mktemp)
trap 'rm -f "$kubeconfig" "$errors"' EXIT
while :; do
  # A failed call (an expired token, the API busy) is tried again until the deadline.
  if left=$(leftovers 2>"$errors"); then
    if [ -z "$left" ]; then
      echo "$WHAT: none left"
      finished
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

# The controller lifts its finalizer from an Ingress (`ingress.k8s.aws/resources`, or
# `group.ingress.k8s.aws/<group>`), a Service (`service.k8s.aws/resources`), a
# TargetGroupBinding (`elbv2.k8s.aws/resources`) and a Gateway (`gateway.k8s.aws/alb|nlb`)
# only after deleting its load balancers, listeners, target groups and security groups, and
# the shared backend security group once nothing needs it (aws-load-balancer-controller v3.5.0
# pkg/shared_constants/finalizers.go; controllers/ingress/group_controller.go deploys the
# model and calls `backendSGProvider.Release` before `RemoveFinalizers`;
# pkg/networking/backend_sg_provider.go `releaseSG`). So no object carrying one of these
# finalizers means none of those resources left, whatever the object's class. The in-tree
# cloud provider's Classic Load Balancers count too: its finalizer is
# `service.kubernetes.io/load-balancer-cleanup` (kubernetes/cloud-provider
# controllers/service/controller.go, LoadBalancerCleanupFinalizer). Gateways are listed only
# where their CRD is installed.
# Nothing is deleted: what is still there was not made by this stack (its releases and
# Applications are gone by now), and may serve someone.
LOAD_BALANCER_FINALIZERS = (
    "ingress.k8s.aws/resources",
    "group.ingress.k8s.aws/",
    "service.k8s.aws/resources",
    "elbv2.k8s.aws/resources",
    "gateway.k8s.aws/alb",
    "gateway.k8s.aws/nlb",
    "service.kubernetes.io/load-balancer-cleanup",
)
WAIT_FOR_LOAD_BALANCERS_GONE = (
    KUBECTL
    + r"""k() { kubectl --kubeconfig "$kubeconfig" "$@"; }
gateways=gateways.gateway.networking.k8s.io
leftovers() {
  kinds="ingresses.networking.k8s.io services targetgroupbindings.elbv2.k8s.aws"
  known=$(k api-resources --api-group=gateway.networking.k8s.io -o name) || return 1
  if printf '%s\n' "$known" | grep -qx "$gateways"; then kinds="$kinds $gateways"; fi
  for kind in $kinds; do
    rows=$(k get "$kind" --all-namespaces -o jsonpath="$ROWS") || return 1
    # A finalizer matches by prefix, quoted as kubectl prints the list: ["a","b"].
    printf '%s\n' "$rows" | awk -F'|' -v kind="$kind" -v finalizers="$FINALIZERS" '
      NF { n = split(finalizers, f, " ")
           for (i = 1; i <= n; i++) if (index($2, "\"" f[i])) { print kind " " $1; next } }'
  done
}
finished() { :; }
"""
    + _WAIT
)

# Deleting a claim of a StorageClass with reclaimPolicy Delete deletes its PersistentVolume,
# and the CSI provisioner deletes the PersistentVolume object, and removes its finalizer
# (external-provisioner.volume.kubernetes.io/finalizer), only once the driver has deleted the
# EBS volume (kubernetes-csi/external-provisioner v5.3.0, vendored
# sig-storage-lib-external-provisioner/v11 controller.go `deleteVolumeOperation`:
# `provisioner.Delete`, then the object, then the finalizer), so the PersistentVolume's
# disappearance is the volume's. StatefulSets keep their claims when they are deleted
# (`persistentVolumeClaimRetentionPolicy` defaults to Retain: https://kubernetes.io/docs/
# concepts/workloads/controllers/statefulset/#persistentvolumeclaim-retention), so
# claims of the stack's own StorageClass still there are deleted: the cluster is deleted next.
# Every volume of the driver is waited for, whatever its class. A volume whose reclaim policy
# is Retain (production's, or one set by hand) is kept, and reported.
WAIT_FOR_VOLUMES_GONE = (
    KUBECTL
    + r"""k() { kubectl --kubeconfig "$kubeconfig" "$@"; }
leftovers() {
  claims=$(k get pvc --all-namespaces -o jsonpath="$CLAIMS") || return 1
  printf '%s\n' "$claims" | awk -F'|' -v class="$STORAGE_CLASS" '$3 == class { print $1, $2 }' \
    | while read -r namespace claim; do
        k delete pvc --namespace "$namespace" "$claim" --ignore-not-found --wait=false \
          >/dev/null || exit 1
      done || return 1
  found=$(k get pv -o jsonpath="$VOLUMES") || return 1
  printf '%s\n' "$found" | awk -F'|' -v driver="$DRIVER" \
    '$2 == driver && $3 != "Retain" { print "PersistentVolume " $1 " of " $4 " (" $5 ")" }'
}
finished() {
  kept=$(k get pv -o jsonpath="$VOLUMES") || return 0
  printf '%s\n' "$kept" | awk -F'|' -v driver="$DRIVER" \
    '$2 == driver && $3 == "Retain" { print "kept (reclaim policy Retain): " $1 " of " $4 }'
}
"""
    + _WAIT
)


def load_balancers_gone(
    name: str,
    controller: pulumi.Resource,
    kubeconfig: pulumi.Input[str],
    parent: pulumi.Resource,
) -> command.local.Command:
    """The step between the load balancer controller and what asks it for load balancers:
    everything that does must depend on it."""
    return _wait(
        f"{name}-load-balancers-gone",
        WAIT_FOR_LOAD_BALANCERS_GONE,
        what="objects holding a load balancer (the controller's finalizers)",
        advice="Each holds a load balancer the controller has not deleted yet. Find out what "
        "made it (kubectl describe; the controller's logs in kube-system), delete it, and run "
        "the destroy again.",
        extra={
            "FINALIZERS": " ".join(LOAD_BALANCER_FINALIZERS),
            "ROWS": _rows("{.metadata.namespace}/{.metadata.name}", "{.metadata.finalizers}"),
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
        what=f"PersistentVolumes of the EBS CSI driver ({EBS_CSI_DRIVER})",
        advice="Their EBS volumes are not deleted yet. A claim still used by a pod is deleted "
        "only once the pod is gone: `kubectl get pods --all-namespaces` shows what still runs. "
        "The driver deletes only Released volumes whose reclaim policy is Delete: one in phase "
        "Failed or Available stays; delete its EBS volume (spec.csi.volumeHandle) and the "
        "PersistentVolume by hand. The driver's logs: kubectl -n kube-system logs "
        "deploy/ebs-csi-controller. Then run the destroy again.",
        extra={
            "STORAGE_CLASS": storage_class,
            "DRIVER": EBS_CSI_DRIVER,
            "CLAIMS": _rows(
                "{.metadata.namespace}", "{.metadata.name}", "{.spec.storageClassName}"
            ),
            "VOLUMES": _rows(
                "{.metadata.name}",
                "{.spec.csi.driver}",
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
