"""How this stack's Ingresses and LoadBalancer Services ask the controller for load balancers.

One place for the annotations, so the shared ALB's group-wide settings (scheme, ports, TLS
policy, certificate, security group) are the same on every Ingress in the group: the
controller refuses an IngressGroup whose members disagree on them.
"""

from __future__ import annotations

import json

import pulumi

ALB = "alb.ingress.kubernetes.io"
NLB = "service.beta.kubernetes.io"
EXTERNAL_DNS_HOSTNAME = "external-dns.alpha.kubernetes.io/hostname"
TARGETS_READINESS_GATE = {"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}
"""The label of a namespace whose pods are load-balancer targets by IP. The controller's
webhook then gives each pod created later, once its Service has a target group binding, a
readiness gate that holds until the target is healthy in the target group, so a rollout does
not stop old pods before the new ones take traffic (aws-load-balancer-controller v3.5.0
docs/deploy/pod_readiness_gate.md). The pods of a first install come before their binding
and get none; every rollout after it does."""


def shared_alb_annotations(
    group: str,
    certificate_arn: pulumi.Input[str],
    security_group_id: pulumi.Input[str],
    tls_policy: str,
) -> dict[str, pulumi.Input[str]]:
    """Internet-facing ALB: HTTPS with the stack's certificate, HTTP redirected to HTTPS,
    only the given security group's ranges inbound, pods as targets."""
    return {
        f"{ALB}/scheme": "internet-facing",
        f"{ALB}/target-type": "ip",
        f"{ALB}/group.name": group,
        f"{ALB}/listen-ports": json.dumps([{"HTTP": 80}, {"HTTPS": 443}]),
        f"{ALB}/ssl-redirect": "443",
        f"{ALB}/ssl-policy": tls_policy,
        f"{ALB}/certificate-arn": certificate_arn,
        f"{ALB}/security-groups": security_group_id,
        # With our own security group, the controller still opens the nodes to the ALB.
        f"{ALB}/manage-backend-security-group-rules": "true",
    }


USE_ANNOTATION = "use-annotation"
"""The port name that makes a path's backend an action from `actions.<service name>`."""


def fixed_response_action(status: int, message: str) -> str:
    """A listener-rule action that answers itself: the request never reaches a pod."""
    return json.dumps(
        {
            "type": "fixed-response",
            "fixedResponseConfig": {
                "contentType": "text/plain",
                "statusCode": str(status),
                "messageBody": message,
            },
        }
    )


def source_ip_condition(cidrs: list[str]) -> str:
    """A listener-rule condition: only requests from these ranges reach the backend."""
    return json.dumps([{"field": "source-ip", "sourceIpConfig": {"values": cidrs}}])


def tls_nlb_annotations(
    certificate_arn: pulumi.Input[str],
    security_group_id: pulumi.Input[str],
    tls_policy: str,
    tls_port: str,
    hostname: str,
    *,
    alpn_policy: str,
) -> dict[str, pulumi.Input[str]]:
    """Internet-facing NLB ending TLS on `tls_port` with the stack's certificate and the
    given ALPN policy (which protocol the NLB agrees with clients, and so forwards to the
    targets), behind the given security group, and a DNS name from ExternalDNS."""
    return {
        f"{NLB}/aws-load-balancer-type": "external",
        f"{NLB}/aws-load-balancer-nlb-target-type": "ip",
        f"{NLB}/aws-load-balancer-scheme": "internet-facing",
        f"{NLB}/aws-load-balancer-ssl-cert": certificate_arn,
        f"{NLB}/aws-load-balancer-ssl-ports": tls_port,
        f"{NLB}/aws-load-balancer-ssl-negotiation-policy": tls_policy,
        f"{NLB}/aws-load-balancer-alpn-policy": alpn_policy,
        f"{NLB}/aws-load-balancer-security-groups": security_group_id,
        f"{NLB}/aws-load-balancer-manage-backend-security-group-rules": "true",
        EXTERNAL_DNS_HOSTNAME: hostname,
    }
