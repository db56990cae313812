"""`make orphans`: after a destroy, every AWS resource left for the stack is found, attributed
and classified, and `--delete` removes what it can. AWS is moto, in-process; each kind of
resource is seeded the way the system that makes it tags it."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import jmespath
import pytest
import yaml
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from plans import stack_file_config, with_changes
from test_config import existing_cluster_config
from test_dns_records import owned, record

from components.external_dns import records_query
from offline.plan import PROJECT_DIR
from ops.orphans import audit, main
from ops.orphans_delete import DELAYS, by_hand, deletable, delete
from ops.orphans_dns import external_dns_reason
from ops.orphans_report import Finding, Report, Status
from ops.scope import StackScope, scope_of

REGION = "eu-west-1"
DEV = {"project": "gitops-platform", "stack": "dev"}
CLUSTER = "gitops-platform-dev"
OWNER = "gitops-platform-dev"
ZONE = "dev.gitops.example.com"
IDENTITY = "tags project=gitops-platform, stack=dev"
# Another stack of the same project, in the same account and region.
PROD = {"project": "gitops-platform", "stack": "prod"}
PROD_CLUSTER = "gitops-platform-prod"
RETAINED = "gitops-platform/retained-on-destroy"
POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeTags", "Resource": "*"}],
    }
)


def aws_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def spec(resource_type: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": aws_tags(tags)}]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[boto3.session.Session]:
    """moto in-process, with fake credentials and nothing read from the machine's AWS config."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


@pytest.fixture(scope="module")
def dev() -> StackScope:
    return scope_of("dev")


def dev_stack_file(tmp_path: Path, **changes: Any) -> Path:
    """dev's stack file with project keys changed (the stack is still `dev`)."""
    path = tmp_path / "stacks" / "Pulumi.dev.yaml"
    path.parent.mkdir(exist_ok=True)
    config = with_changes(stack_file_config("dev"), **changes)
    path.write_text(yaml.safe_dump({"config": config}))
    return path


def by_id(report: Report) -> dict[str, Finding]:
    return {f.id: f for f in report.findings}


def default_subnets(session: boto3.session.Session) -> list[str]:
    """Subnets of moto's default VPC: not the stack's, so what is found there is found by tag."""
    ec2 = session.client("ec2")
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])
    return sorted(s["SubnetId"] for s in subnets["Subnets"])[:2]


def default_vpc(session: boto3.session.Session) -> str:
    vpcs = session.client("ec2").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    return str(vpcs["Vpcs"][0]["VpcId"])


def stack_network(session: boto3.session.Session, tags: dict[str, str]) -> tuple[str, str]:
    """A VPC and a subnet as the stack's network component makes them (default tags)."""
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=spec("vpc", tags))
    vpc_id = vpc["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(
        VpcId=vpc_id,
        CidrBlock="10.20.1.0/24",
        AvailabilityZone=f"{REGION}a",
        TagSpecifications=spec("subnet", tags),
    )
    return vpc_id, subnet["Subnet"]["SubnetId"]


# What the dev stack's ExternalDNS publishes: aliases for its hosts, and ownership records in
# v0.21's names (`cname-`/`aaaa-` prefixes) and in the old one (the host's own name).
EXTERNAL_DNS_RECORDS = [
    record(f"gitlab.{ZONE}.", "A"),
    record(f"gitlab.{ZONE}.", "AAAA"),
    record(f"cname-gitlab.{ZONE}.", "TXT", owned()),
    record(f"aaaa-gitlab.{ZONE}.", "TXT", owned()),
    record(f"registry.{ZONE}.", "A"),
    record(f"registry.{ZONE}.", "TXT", owned(resource="ingress/gitlab/gitlab-registry")),
    record(f"argocd.{ZONE}.", "A"),
    record(f"cname-argocd.{ZONE}.", "TXT", f'"heritage=external-dns,external-dns/owner={OWNER}"'),
]
# In the same zone, not this stack's ExternalDNS's.
OTHER_RECORDS = [
    record(f"www.{ZONE}.", "A", "192.0.2.10"),
    record(f"cname-app.{ZONE}.", "TXT", owned(owner="gitops-platform-dev2")),
    record(f"cname-app2.{ZONE}.", "TXT", owned(owner=PROD_CLUSTER)),
    record(f"gitlab.{ZONE}.", "MX", "10 mail.example.com."),
    record(f"_acme.{ZONE}.", "TXT", '"external-dns/owner=gitops-platform-devops"'),
]


def create_records(
    session: boto3.session.Session, zone_id: str, records: list[dict[str, Any]]
) -> None:
    session.client("route53").change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": r} for r in records]},
    )


def create_zone(
    session: boto3.session.Session, name: str, tags: dict[str, str] | None = None, **args: Any
) -> str:
    route53 = session.client("route53")
    created = route53.create_hosted_zone(Name=name, CallerReference=f"{name}-{id(args)}", **args)
    zone_id = str(created["HostedZone"]["Id"].rsplit("/", 1)[-1])
    if tags:
        route53.change_tags_for_resource(
            ResourceType="hostedzone", ResourceId=zone_id, AddTags=aws_tags(tags)
        )
    return zone_id


def record_id(zone_id: str, record_set: dict[str, Any]) -> str:
    return f"{zone_id}/{record_set['Name']}/{record_set['Type']}"


# A clean account


def test_a_clean_account_has_nothing_left_over_and_exits_0(
    aws: boto3.session.Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "orphans.json"
    assert main(["--stack", "dev", "--json", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["resources"] == []
    assert document["clean"] is True
    assert document["counts"] == {"left_over": 0, "kept": 0, "scheduled": 0}
    assert "Nothing left over." in capsys.readouterr().out


# What is found, and why


def test_resources_with_the_identity_tags_are_left_over(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    vpc, subnet = stack_network(aws, DEV)
    s3 = aws.client("s3")
    s3.create_bucket(
        Bucket="gitops-platform-dev-gitlab-data-lfs-1a2b3c4",
        CreateBucketConfiguration={"LocationConstraint": REGION},
    )
    s3.put_bucket_tagging(
        Bucket="gitops-platform-dev-gitlab-data-lfs-1a2b3c4", Tagging={"TagSet": aws_tags(DEV)}
    )
    aws.client("logs").create_log_group(logGroupName=f"/aws/eks/{CLUSTER}/cluster", tags=DEV)
    kms_tags = [{"TagKey": k, "TagValue": v} for k, v in DEV.items()]
    key = aws.client("kms").create_key(Tags=kms_tags)["KeyMetadata"]["Arn"]
    iam = aws.client("iam")
    role = iam.create_role(
        RoleName="gitops-platform-dev-nodes-9f8e7d6",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        Tags=aws_tags(DEV),
    )["Role"]["Arn"]
    policy = iam.create_policy(
        PolicyName="gitops-platform-dev-alb-5a4b3c2",
        PolicyDocument=POLICY,
        Tags=aws_tags(DEV),
    )["Policy"]["Arn"]
    oidc = iam.create_open_id_connect_provider(
        Url="https://oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF",
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
        Tags=aws_tags(DEV),
    )["OpenIDConnectProviderArn"]

    found = by_id(audit(aws, dev))

    expected = {
        f"arn:aws:ec2:{REGION}:123456789012:vpc/{vpc}": ("ec2:vpc", REGION),
        f"arn:aws:ec2:{REGION}:123456789012:subnet/{subnet}": ("ec2:subnet", REGION),
        "arn:aws:s3:::gitops-platform-dev-gitlab-data-lfs-1a2b3c4": ("s3:bucket", REGION),
        f"arn:aws:logs:{REGION}:123456789012:log-group:/aws/eks/{CLUSTER}/cluster": (
            "logs:log-group",
            REGION,
        ),
        key: ("kms:key", REGION),
        role: ("iam:role", "global"),
        policy: ("iam:policy", "global"),
        oidc: ("iam:oidc-provider", "global"),
    }
    assert {i: (f.kind, f.region) for i, f in found.items()} == expected
    for finding in found.values():
        assert finding.reasons == [IDENTITY]
        assert finding.status is Status.LEFT_OVER


def test_the_eks_cluster_is_found_by_its_name(aws: boto3.session.Session, dev: StackScope) -> None:
    aws.client("eks").create_cluster(
        name=CLUSTER,
        roleArn="arn:aws:iam::123456789012:role/gitops-platform-dev-cluster",
        resourcesVpcConfig={"subnetIds": default_subnets(aws)},
    )
    (finding,) = audit(aws, dev).findings
    assert finding.id == f"arn:aws:eks:{REGION}:123456789012:cluster/{CLUSTER}"
    assert finding.reasons == [f"EKS cluster named {CLUSTER}"]


def seed_load_balancer_controller(
    session: boto3.session.Session, cluster: str, vpc: str, subnets: list[str]
) -> dict[str, str]:
    """What aws-load-balancer-controller v3.5.0 creates for an Ingress, tagged as it tags them
    (pkg/shared_constants/tag_keys.go, pkg/deploy/tracking/provider.go: cluster, stack and
    resource tags; pkg/networking/backend_sg_provider.go: the shared backend group)."""
    elbv2, ec2 = session.client("elbv2"), session.client("ec2")
    stack = {"elbv2.k8s.aws/cluster": cluster, "ingress.k8s.aws/stack": "gitlab/gitlab"}
    lb = elbv2.create_load_balancer(
        Name=f"k8s-gitlab-{cluster.rsplit('-', 1)[-1]}",
        Subnets=subnets,
        Tags=aws_tags({**stack, "ingress.k8s.aws/resource": "LoadBalancer"}),
    )["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elbv2.create_target_group(
        Name=f"k8s-gitlab-web-{cluster.rsplit('-', 1)[-1]}",
        Protocol="HTTP",
        Port=8181,
        VpcId=vpc,
        TargetType="ip",
        Tags=aws_tags({**stack, "ingress.k8s.aws/resource": "gitlab/gitlab-webservice:8181"}),
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )
    backend = ec2.create_security_group(
        GroupName=f"k8s-traffic-{cluster}",
        Description="[k8s] Shared Backend SecurityGroup for LoadBalancer",
        VpcId=vpc,
        TagSpecifications=spec(
            "security-group",
            {"elbv2.k8s.aws/cluster": cluster, "elbv2.k8s.aws/resource": "backend-sg"},
        ),
    )["GroupId"]
    managed = ec2.create_security_group(
        GroupName=f"k8s-gitlab-{cluster}",
        Description="[k8s] Managed SecurityGroup for LoadBalancer",
        VpcId=vpc,
        TagSpecifications=spec(
            "security-group", {**stack, "ingress.k8s.aws/resource": "ManagedLBSecurityGroup"}
        ),
    )["GroupId"]
    return {"lb": lb, "tg": tg, "backend": backend, "managed": managed}


def test_the_load_balancer_controllers_resources_are_found_by_the_cluster_tag(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    # In moto's default VPC, not the stack's: found by the controller's tag alone.
    made = seed_load_balancer_controller(aws, CLUSTER, default_vpc(aws), default_subnets(aws))
    found = by_id(audit(aws, dev))
    prefix = f"arn:aws:ec2:{REGION}:123456789012:security-group/"
    assert sorted(found) == sorted(
        [made["lb"], made["tg"], prefix + made["backend"], prefix + made["managed"]]
    )
    assert {f.kind for f in found.values()} == {
        "elasticloadbalancing:loadbalancer",
        "elasticloadbalancing:targetgroup",
        "ec2:security-group",
    }
    for finding in found.values():
        assert finding.reasons == [f"tag elbv2.k8s.aws/cluster={CLUSTER}"]


def test_a_classic_load_balancer_of_a_service_is_found_by_the_cluster_tag(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    # The AWS cloud provider's tags on the classic load balancer of a Service.
    aws.client("elb").create_load_balancer(
        LoadBalancerName="a0123456789abcdef0123456789abcde",
        Listeners=[{"Protocol": "TCP", "LoadBalancerPort": 22, "InstancePort": 30022}],
        AvailabilityZones=[f"{REGION}a"],
        Tags=aws_tags(
            {f"kubernetes.io/cluster/{CLUSTER}": "owned", "kubernetes.io/service-name": "gitlab/x"}
        ),
    )
    (finding,) = audit(aws, dev).findings
    assert finding.id == (
        f"arn:aws:elasticloadbalancing:{REGION}:123456789012:loadbalancer/"
        "a0123456789abcdef0123456789abcde"
    )
    assert finding.reasons == [f"tag kubernetes.io/cluster/{CLUSTER}=owned"]


def test_groups_and_volumes_tagged_for_the_cluster_are_found(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    ec2 = aws.client("ec2")
    vpc = default_vpc(aws)
    tagged = {
        "owned": {f"kubernetes.io/cluster/{CLUSTER}": "owned"},
        "kops": {"KubernetesCluster": CLUSTER},
    }
    expected = {}
    for name, tags in tagged.items():
        group = ec2.create_security_group(
            GroupName=name,
            Description=name,
            VpcId=vpc,
            TagSpecifications=spec("security-group", tags),
        )["GroupId"]
        volume = ec2.create_volume(
            Size=10, AvailabilityZone=f"{REGION}a", TagSpecifications=spec("volume", tags)
        )["VolumeId"]
        reason = f"tag {next(iter(tags))}={next(iter(tags.values()))}"
        expected[f"arn:aws:ec2:{REGION}:123456789012:security-group/{group}"] = [reason]
        expected[f"arn:aws:ec2:{REGION}:123456789012:volume/{volume}"] = [reason]
    found = by_id(audit(aws, dev))
    assert {i: f.reasons for i, f in found.items()} == expected
    assert all(f.status is Status.LEFT_OVER and "by_hand" not in f.detail for f in found.values())


def test_a_group_only_shared_with_the_cluster_is_left_over_to_delete_by_hand(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    aws.client("ec2").create_security_group(
        GroupName="shared",
        Description="someone else's, used by the cluster",
        VpcId=default_vpc(aws),
        TagSpecifications=spec("security-group", {f"kubernetes.io/cluster/{CLUSTER}": "shared"}),
    )
    (finding,) = audit(aws, dev).findings
    assert finding.status is Status.LEFT_OVER
    assert finding.reasons == [f"tag kubernetes.io/cluster/{CLUSTER}=shared"]
    assert "shared with the cluster" in finding.detail["by_hand"]


def test_ebs_csi_volumes_are_found_with_their_pvc(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    ec2 = aws.client("ec2")
    # aws-ebs-csi-driver v1.64.0 (docs/tagging.md; pkg/driver/constants.go for the
    # --extra-create-metadata tags), plus the identity tags of the stack's StorageClass.
    csi = {
        "ebs.csi.aws.com/cluster": "true",
        "CSIVolumeName": "pvc-3f1c9a52-7d8e-4b2a-9c61-0e5d4f3a2b1c",
        "kubernetes.io/created-for/pvc/namespace": "gitlab",
        "kubernetes.io/created-for/pvc/name": "repo-data-gitlab-gitaly-0",
        "kubernetes.io/created-for/pv/name": "pvc-3f1c9a52-7d8e-4b2a-9c61-0e5d4f3a2b1c",
    }
    ours = ec2.create_volume(
        Size=50, AvailabilityZone=f"{REGION}a", TagSpecifications=spec("volume", {**csi, **DEV})
    )["VolumeId"]
    # A CSI volume that names no cluster and no stack: not claimed, but named in a note.
    unknown = ec2.create_volume(
        Size=8,
        AvailabilityZone=f"{REGION}a",
        TagSpecifications=spec(
            "volume", {"ebs.csi.aws.com/cluster": "true", "CSIVolumeName": "pvc-other"}
        ),
    )["VolumeId"]
    report = audit(aws, dev)
    (finding,) = report.findings
    assert finding.id == f"arn:aws:ec2:{REGION}:123456789012:volume/{ours}"
    assert finding.reasons == [IDENTITY]
    assert finding.notes == [
        "EBS CSI volume pvc-3f1c9a52-7d8e-4b2a-9c61-0e5d4f3a2b1c for PVC "
        "gitlab/repo-data-gitlab-gitaly-0",
        "available",
    ]
    assert any(unknown in note for note in report.notes)


def test_interfaces_in_the_stacks_vpc_and_those_the_vpc_cni_left_are_found(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    ec2 = aws.client("ec2")
    vpc, subnet = stack_network(aws, DEV)
    in_vpc = ec2.create_network_interface(SubnetId=subnet, Description="ELB app/k8s-gitlab/0a1b")
    # amazon-vpc-cni-k8s v1.23.0 pkg/awsutils/awsutils.go: buildENITags and the description.
    cni = ec2.create_network_interface(
        SubnetId=default_subnets(aws)[0],
        Description="aws-K8S-i-0123456789abcdef0",
        TagSpecifications=spec(
            "network-interface",
            {
                "node.k8s.amazonaws.com/instance_id": "i-0123456789abcdef0",
                "node.k8s.amazonaws.com/createdAt": "2026-12-01T10:00:00Z",
                "cluster.k8s.amazonaws.com/name": CLUSTER,
                "eks:eni:owner": "amazon-vpc-cni",
            },
        ),
    )
    group = ec2.create_security_group(GroupName="nodes", Description="nodes", VpcId=vpc)
    found = by_id(audit(aws, dev))
    arn = f"arn:aws:ec2:{REGION}:123456789012:"
    interfaces = {i: f.reasons for i, f in found.items() if f.kind == "ec2:network-interface"}
    assert interfaces == {
        arn + f"network-interface/{in_vpc['NetworkInterface']['NetworkInterfaceId']}": [
            f"in the stack's VPC {vpc}"
        ],
        arn + f"network-interface/{cni['NetworkInterface']['NetworkInterfaceId']}": [
            f"tag cluster.k8s.amazonaws.com/name={CLUSTER}"
        ],
    }
    groups = {i: f.reasons for i, f in found.items() if f.kind == "ec2:security-group"}
    # The VPC's default group goes with the VPC: not reported.
    assert groups == {arn + f"security-group/{group['GroupId']}": [f"in the stack's VPC {vpc}"]}


def test_externaldns_records_in_an_existing_zone_are_found_and_nothing_else_there(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    zone = create_zone(aws, ZONE)
    create_records(aws, zone, EXTERNAL_DNS_RECORDS + OTHER_RECORDS)
    # A private zone of the same name is not the one ExternalDNS writes to (--aws-zone-type).
    private = create_zone(
        aws,
        ZONE,
        VPC={"VPCRegion": REGION, "VPCId": default_vpc(aws)},
        HostedZoneConfig={"PrivateZone": True, "Comment": "internal"},
    )
    create_records(aws, private, [record(f"gitlab.{ZONE}.", "A", "10.0.0.1")])
    found = by_id(audit(aws, dev))
    assert sorted(found) == sorted(record_id(zone, r) for r in EXTERNAL_DNS_RECORDS)
    assert found[record_id(zone, EXTERNAL_DNS_RECORDS[0])].reasons == [
        f"A record of published host gitlab.{ZONE}"
    ]
    assert found[record_id(zone, EXTERNAL_DNS_RECORDS[2])].reasons == [
        f"TXT ownership record of ExternalDNS owner {OWNER}"
    ]
    assert all(f.status is Status.LEFT_OVER for f in found.values())


def test_the_records_rule_is_the_one_the_destroy_waits_on(dev: StackScope) -> None:
    """ops.orphans_dns.external_dns_reason and components/external_dns.py records_query
    select the same records."""
    record_sets = EXTERNAL_DNS_RECORDS + OTHER_RECORDS
    query = records_query(dev.published_hosts, dev.txt_owner_id)
    waited_for = {
        tuple(pair) for pair in jmespath.search(query, {"ResourceRecordSets": record_sets})
    }
    hosts = {f"{h}." for h in dev.published_hosts}
    audited = {
        (r["Name"], r["Type"])
        for r in record_sets
        if external_dns_reason(r, hosts, dev.txt_owner_id)
    }
    assert audited == waited_for
    assert audited == {(r["Name"], r["Type"]) for r in EXTERNAL_DNS_RECORDS}


def test_a_zone_the_stack_created_is_left_over_with_externaldns_records(
    aws: boto3.session.Session, tmp_path: Path
) -> None:
    scope = scope_of("dev", stack_file=dev_stack_file(tmp_path, dns={"create_zone": True}))
    ours = create_zone(aws, ZONE, DEV)
    create_records(aws, ours, EXTERNAL_DNS_RECORDS + OTHER_RECORDS)
    # Someone else's zone of the same name: the stack's records are not looked for there.
    theirs = create_zone(aws, ZONE)
    create_records(aws, theirs, EXTERNAL_DNS_RECORDS)
    found = by_id(audit(aws, scope))
    zone_arn = f"arn:aws:route53:::hostedzone/{ours}"
    assert sorted(found) == sorted([zone_arn] + [record_id(ours, r) for r in EXTERNAL_DNS_RECORDS])
    assert found[zone_arn].kind == "route53:hostedzone"
    assert found[zone_arn].reasons == [IDENTITY]
    assert found[zone_arn].status is Status.LEFT_OVER


def test_a_resource_of_this_stack_found_twice_is_one_finding_with_both_reasons(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    vpc, _ = stack_network(aws, DEV)
    group = aws.client("ec2").create_security_group(
        GroupName="k8s-traffic",
        Description="backend",
        VpcId=vpc,
        TagSpecifications=spec("security-group", {**DEV, "elbv2.k8s.aws/cluster": CLUSTER}),
    )["GroupId"]
    finding = by_id(audit(aws, dev))[f"arn:aws:ec2:{REGION}:123456789012:security-group/{group}"]
    assert finding.reasons == [
        IDENTITY,
        f"tag elbv2.k8s.aws/cluster={CLUSTER}",
        f"in the stack's VPC {vpc}",
    ]


def test_another_stacks_resources_are_not_this_stacks(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    """Every kind above, made by the prod stack and its cluster in the same account."""
    ec2 = aws.client("ec2")
    vpc, subnet = stack_network(aws, PROD)
    ec2.create_network_interface(SubnetId=subnet)
    ec2.create_security_group(GroupName="nodes", Description="nodes", VpcId=vpc)
    seed_load_balancer_controller(aws, PROD_CLUSTER, default_vpc(aws), default_subnets(aws))
    for tags in (
        {f"kubernetes.io/cluster/{PROD_CLUSTER}": "owned"},
        {"KubernetesCluster": PROD_CLUSTER},
        {"ebs.csi.aws.com/cluster": "true", "CSIVolumeName": "pvc-1", **PROD},
        {"ebs.csi.aws.com/cluster": "true", "ebs.csi.aws.com/cluster-name": PROD_CLUSTER},
    ):
        ec2.create_volume(
            Size=1, AvailabilityZone=f"{REGION}a", TagSpecifications=spec("volume", tags)
        )
    ec2.create_network_interface(
        SubnetId=default_subnets(aws)[0],
        TagSpecifications=spec(
            "network-interface", {"cluster.k8s.amazonaws.com/name": PROD_CLUSTER}
        ),
    )
    aws.client("iam").create_role(
        RoleName="prod-nodes", AssumeRolePolicyDocument="{}", Tags=aws_tags(PROD)
    )
    aws.client("logs").create_log_group(logGroupName="/aws/eks/prod/cluster", tags=PROD)
    aws.client("eks").create_cluster(
        name=PROD_CLUSTER,
        roleArn="arn:aws:iam::123456789012:role/x",
        resourcesVpcConfig={"subnetIds": [subnet]},
        tags=PROD,
    )
    create_zone(aws, "gitops.example.com", PROD)
    zone = create_zone(aws, ZONE)
    create_records(aws, zone, OTHER_RECORDS)
    # A stack of another project with the same stack name.
    aws.client("logs").create_log_group(
        logGroupName="/other/dev", tags={"project": "other", "stack": "dev"}
    )
    report = audit(aws, dev)
    assert report.findings == []


# Kept, scheduled, left over


def test_what_is_kept_by_design_or_scheduled_for_deletion_does_not_fail_the_audit(
    aws: boto3.session.Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(
        Bucket="gitops-platform-dev-backups",
        CreateBucketConfiguration={"LocationConstraint": REGION},
    )
    s3.put_bucket_tagging(
        Bucket="gitops-platform-dev-backups",
        Tagging={"TagSet": aws_tags({**DEV, RETAINED: "GitLab backups outlive the stack"})},
    )
    rds = aws.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="gitops-platform-dev-gitlab",
        Engine="postgres",
        DBInstanceClass="db.t4g.medium",
        MasterUsername="gitlab",
        MasterUserPassword="not-a-real-password",
        AllocatedStorage=20,
        Tags=aws_tags(DEV),
    )
    rds.create_db_snapshot(
        DBInstanceIdentifier="gitops-platform-dev-gitlab",
        DBSnapshotIdentifier="gitops-platform-dev-gitlab-final",
        Tags=aws_tags({**DEV, RETAINED: "the database's final snapshot"}),
    )
    rds.delete_db_instance(
        DBInstanceIdentifier="gitops-platform-dev-gitlab", SkipFinalSnapshot=True
    )
    kms = aws.client("kms")
    key = kms.create_key(Tags=[{"TagKey": k, "TagValue": v} for k, v in DEV.items()])
    kms.schedule_key_deletion(KeyId=key["KeyMetadata"]["KeyId"], PendingWindowInDays=7)
    secrets = aws.client("secretsmanager")
    secrets.create_secret(Name="gitops-platform-dev-runner", SecretString="x", Tags=aws_tags(DEV))
    secrets.delete_secret(SecretId="gitops-platform-dev-runner", RecoveryWindowInDays=7)
    out = tmp_path / "orphans.json"

    assert main(["--stack", "dev", "--json", str(out)]) == 0

    resources = {r["kind"]: r for r in json.loads(out.read_text())["resources"]}
    assert {k: r["status"] for k, r in resources.items()} == {
        "s3:bucket": "kept",
        "rds:snapshot": "kept",
        "kms:key": "scheduled",
        "secretsmanager:secret": "scheduled",
    }
    assert resources["s3:bucket"]["notes"] == ["kept by design: GitLab backups outlive the stack"]
    assert resources["rds:snapshot"]["notes"] == ["kept by design: the database's final snapshot"]
    assert resources["kms:key"]["notes"][0].startswith("deletion scheduled for ")
    assert "recovery window" in resources["secretsmanager:secret"]["notes"][0]
    printed = capsys.readouterr().out
    assert "Kept by design (2):" in printed
    assert "Scheduled for deletion (2):" in printed
    assert "Nothing left over." in printed


def test_an_active_key_is_left_over(aws: boto3.session.Session, dev: StackScope) -> None:
    aws.client("kms").create_key(Tags=[{"TagKey": k, "TagValue": v} for k, v in DEV.items()])
    (finding,) = audit(aws, dev).findings
    assert finding.status is Status.LEFT_OVER


def test_records_of_an_upsert_only_externaldns_are_kept_by_design(
    aws: boto3.session.Session, tmp_path: Path
) -> None:
    path = dev_stack_file(tmp_path, dns={"external_dns_policy": "upsert-only"})
    zone = create_zone(aws, ZONE)
    create_records(aws, zone, EXTERNAL_DNS_RECORDS)
    report = audit(aws, scope_of("dev", stack_file=path))
    assert len(report.findings) == len(EXTERNAL_DNS_RECORDS)
    assert all(f.status is Status.KEPT for f in report.findings)
    assert report.clean


def test_a_terminated_instance_the_tagging_api_still_lists_is_not_left_over(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    ec2 = aws.client("ec2")
    images = ec2.describe_images(Owners=["amazon"])["Images"]
    instances = ec2.run_instances(
        ImageId=images[0]["ImageId"],
        MinCount=2,
        MaxCount=2,
        TagSpecifications=spec("instance", DEV),
    )["Instances"]
    ec2.terminate_instances(InstanceIds=[instances[0]["InstanceId"]])
    (finding,) = audit(aws, dev).findings
    assert finding.id.endswith(instances[1]["InstanceId"])
    assert finding.notes == ["running"]


# What carries the cluster's name without being the stack's, and what is gone but listed


def scope_in_mode(tmp_path: Path, mode: str) -> StackScope:
    if mode == "kops":
        return scope_of("kops", stack_file=PROJECT_DIR / "tests/stacks/Pulumi.kops.yaml")
    path = tmp_path / "existing" / "Pulumi.dev.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({"config": existing_cluster_config()}))
    return scope_of("dev", stack_file=path)


@pytest.mark.parametrize("mode", ["existing", "kops"])
def test_a_cluster_the_stack_did_not_make_claims_nothing_by_its_name(
    aws: boto3.session.Session, tmp_path: Path, mode: str
) -> None:
    """Another team's resources carry the name of a kOps or existing cluster: only the
    identity tags (and the stack's own VPCs) attribute them, so --delete cannot take them."""
    scope = scope_in_mode(tmp_path, mode)
    assert scope.cluster_mode == mode
    name = scope.cluster_name
    aws = boto3.session.Session(region_name=scope.region)
    ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")
    vpc = default_vpc(aws)
    ec2.create_security_group(
        GroupName="theirs",
        Description="theirs",
        VpcId=vpc,
        TagSpecifications=spec("security-group", {f"kubernetes.io/cluster/{name}": "owned"}),
    )
    for tags in (
        {"KubernetesCluster": name},
        {f"kubernetes.io/cluster/{name}": "owned", "CSIVolumeName": "pvc-theirs"},
        {"ebs.csi.aws.com/cluster-name": name},
    ):
        ec2.create_volume(
            Size=8, AvailabilityZone=f"{scope.region}a", TagSpecifications=spec("volume", tags)
        )
    ec2.create_network_interface(
        SubnetId=default_subnets(aws)[0],
        TagSpecifications=spec("network-interface", {"cluster.k8s.amazonaws.com/name": name}),
    )
    elbv2.create_target_group(
        Name="k8s-theirs",
        Protocol="HTTP",
        Port=80,
        VpcId=vpc,
        TargetType="ip",
        Tags=aws_tags({"elbv2.k8s.aws/cluster": name}),
    )
    if mode == "existing":
        aws.client("eks").create_cluster(
            name=name,
            roleArn="arn:aws:iam::123456789012:role/eks",
            resourcesVpcConfig={"subnetIds": default_subnets(aws)},
        )
    identity = {"project": scope.project, "stack": scope.stack}
    ours = ec2.create_volume(
        Size=8, AvailabilityZone=f"{scope.region}a", TagSpecifications=spec("volume", identity)
    )["VolumeId"]

    report = audit(aws, scope)

    assert [f.id.rsplit("/", 1)[-1] for f in report.findings] == [ours]
    assert any(f"cluster.mode is {mode}" in note for note in report.notes)
    # What carries the cluster's name is named for the operator to check, not counted.
    (listed,) = [n for n in report.notes if n.startswith(f"tagged for the cluster {name}")]
    assert listed.count("vol-") == 2
    assert listed.count("sg-") == 1


def test_the_same_tags_claim_them_when_the_stack_made_the_cluster(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    """The counterpart: in eks mode, the cluster tag attributes (the rule above is the mode's,
    not a lost finder)."""
    aws.client("ec2").create_volume(
        Size=8,
        AvailabilityZone=f"{REGION}a",
        TagSpecifications=spec("volume", {"KubernetesCluster": CLUSTER}),
    )
    (finding,) = audit(aws, dev).findings
    assert finding.reasons == [f"tag KubernetesCluster={CLUSTER}"]


def test_a_csi_volume_not_of_the_stacks_storage_class_is_left_to_the_operator(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    """Tagged for the cluster by the driver but without the stack's tags, which its
    StorageClass adds: of a class the stack does not know, perhaps Retain, so never deleted
    by --delete."""
    ec2 = aws.client("ec2")
    tags = {
        "ebs.csi.aws.com/cluster": "true",
        "CSIVolumeName": "pvc-kept",
        f"kubernetes.io/cluster/{CLUSTER}": "owned",
    }
    ec2.create_volume(Size=8, AvailabilityZone=f"{REGION}a", TagSpecifications=spec("volume", tags))
    (finding,) = audit(aws, dev).findings
    assert finding.status is Status.LEFT_OVER
    assert "StorageClass that is not the stack's" in (by_hand(finding) or "")
    assert deletable([finding]) == []


def test_a_published_hosts_record_in_a_shared_zone_is_claimed_only_with_its_ownership_record(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    zone = create_zone(aws, ZONE)
    ours = [
        record(f"registry.{ZONE}.", "A"),
        record(f"registry.{ZONE}.", "TXT", owned()),  # the old format: the record's own name
        record(f"a-gitlab.{ZONE}.", "TXT", owned()),
        record(f"gitlab.{ZONE}.", "A", "192.0.2.7"),
    ]
    theirs = [
        record(f"argocd.{ZONE}.", "A"),  # made by hand: no ownership record at all
        record(f"cname-argocd.{ZONE}.", "TXT", owned(owner=PROD_CLUSTER)),
        record(f"gitlab.{ZONE}.", "AAAA", "2001:db8::7"),  # owned by nobody: no aaaa- record
    ]
    create_records(aws, zone, ours + theirs)
    report = audit(aws, dev)
    assert sorted(f.id for f in report.findings) == sorted(record_id(zone, r) for r in ours)
    unclaimed = [n for n in report.notes if "has no ExternalDNS ownership record" in n]
    assert len(unclaimed) == 2
    assert any(f"A record argocd.{ZONE}" in n for n in unclaimed)
    assert any(f"AAAA record gitlab.{ZONE}" in n for n in unclaimed)


def test_an_alias_a_record_is_claimed_by_cname_and_a_plain_one_by_a(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    """ExternalDNS v0.21.0 names an alias A record's ownership record `cname-`, a plain A
    record's `a-`; an old-format record (the host's own name) claims no AAAA record."""
    zone = create_zone(aws, ZONE)
    ours = [
        record(f"gitlab.{ZONE}.", "A"),  # an alias
        record(f"cname-gitlab.{ZONE}.", "TXT", owned()),
        record(f"argocd.{ZONE}.", "A", "192.0.2.9"),  # plain
        record(f"a-argocd.{ZONE}.", "TXT", owned()),
        record(f"registry.{ZONE}.", "A"),
        record(f"registry.{ZONE}.", "TXT", owned()),
    ]
    theirs = [
        record(f"a-registry.{ZONE}.", "TXT", owned(owner=PROD_CLUSTER)),
        record(f"registry.{ZONE}.", "AAAA"),  # the old-format record does not claim it
    ]
    # A plain A record with only a `cname-` claim, and an alias with only `a-`: not claimed.
    crossed = [
        record(f"ssh.{ZONE}.", "A", "192.0.2.10"),
        record(f"cname-ssh.{ZONE}.", "TXT", owned()),
    ]
    create_records(aws, zone, ours + theirs + crossed)
    scope = dataclasses.replace(dev, published_hosts=(*dev.published_hosts, f"ssh.{ZONE}"))
    found = {f.id for f in audit(aws, scope).findings}
    # The TXT records are this owner's, whatever they claim; the A records only as claimed.
    assert found == {record_id(zone, r) for r in ours} | {record_id(zone, crossed[1])}


def test_in_the_stacks_own_zone_every_published_hosts_record_is_the_stacks(
    aws: boto3.session.Session, tmp_path: Path
) -> None:
    scope = scope_of("dev", stack_file=dev_stack_file(tmp_path, dns={"create_zone": True}))
    zone = create_zone(aws, ZONE, DEV)
    hand_made = record(f"argocd.{ZONE}.", "A", "192.0.2.8")
    create_records(aws, zone, [hand_made])
    assert record_id(zone, hand_made) in by_id(audit(aws, scope))


GHOSTS = [
    "arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-0aaaaaaaaaaaaaaa0",
    "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-0aaaaaaaaaaaaaaa0",
    "arn:aws:ec2:eu-west-1:123456789012:route-table/rtb-0aaaaaaaaaaaaaaa0",
    "arn:aws:ec2:eu-west-1:123456789012:internet-gateway/igw-0aaaaaaaaaaaaaaa0",
    "arn:aws:ec2:eu-west-1:123456789012:natgateway/nat-0aaaaaaaaaaaaaaa0",
    "arn:aws:ec2:eu-west-1:123456789012:elastic-ip/eipalloc-0aaaaaaaaaaaaaaa0",
    f"arn:aws:eks:eu-west-1:123456789012:cluster/{CLUSTER}",
    f"arn:aws:eks:eu-west-1:123456789012:nodegroup/{CLUSTER}/nodes/0a1b2c3d",
    "arn:aws:route53:::hostedzone/Z0AAAAAAAAAAAAAAAAAAA",
    "arn:aws:rds:eu-west-1:123456789012:db:gitops-platform-dev-gitlab",
    "arn:aws:rds:eu-west-1:123456789012:subgrp:gitops-platform-dev-gitlab",
    "arn:aws:elasticache:eu-west-1:123456789012:replicationgroup:gitops-platform-dev-redis",
    "arn:aws:elasticache:eu-west-1:123456789012:subnetgroup:gitops-platform-dev-redis",
    "arn:aws:elasticache:eu-west-1:123456789012:cluster:gitops-platform-dev-redis-001",
    "arn:aws:rds:eu-west-1:123456789012:cluster:gitops-platform-dev-gitlab",
    f"arn:aws:eks:eu-west-1:123456789012:addon/{CLUSTER}/coredns/0a1b2c3d",
    f"arn:aws:eks:eu-west-1:123456789012:access-entry/{CLUSTER}/role/123456789012/ci/0a1b",
    "arn:aws:ec2:eu-west-1:123456789012:security-group-rule/sgr-0aaaaaaaaaaaaaaa0",
    "arn:aws:ec2:eu-west-1:123456789012:launch-template/lt-0aaaaaaaaaaaaaaa0",
    "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-0a1b-0a1b-0a1b-0a1b2c3d4e5f",
]


def test_what_the_tagging_api_still_lists_after_a_deletion_is_not_left_over(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    """The tagging API lags deletions: a resource it lists that its own service no longer has
    is gone. The stack's VPC and subnet that do exist are still found."""

    def lagging(parsed: dict[str, Any], **_: Any) -> None:
        parsed["ResourceTagMappingList"] += [
            {"ResourceARN": arn, "Tags": aws_tags(DEV)} for arn in GHOSTS
        ]

    aws.events.register("after-call.resource-groups-tagging-api.GetResources", lagging)
    vpc, subnet = stack_network(aws, DEV)
    found = sorted(f.id.rsplit("/", 1)[-1] for f in audit(aws, dev).findings)
    assert found == sorted([vpc, subnet])


def test_a_nat_gateway_deleted_but_still_listed_by_ec2_is_gone(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    ec2 = aws.client("ec2")
    _, subnet = stack_network(aws, DEV)
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(
        SubnetId=subnet, AllocationId=allocation, TagSpecifications=spec("natgateway", DEV)
    )["NatGateway"]["NatGatewayId"]
    arn = f"arn:aws:ec2:{REGION}:123456789012:natgateway/{nat}"
    assert arn in by_id(audit(aws, dev))
    ec2.delete_nat_gateway(NatGatewayId=nat)
    assert arn not in by_id(audit(aws, dev))


def test_auto_scaling_groups_of_the_cluster_are_found_and_left_to_the_operator(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    """GetResources returns no Auto Scaling groups: they are listed from their own API."""
    autoscaling = aws.client("autoscaling")
    template = aws.client("ec2").create_launch_template(
        LaunchTemplateName="nodes",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.medium"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    groups = {
        "eks-nodes-0a1b": {f"kubernetes.io/cluster/{CLUSTER}": "owned"},
        "dev-tagged": DEV,
        "eks-other-2c3d": {f"kubernetes.io/cluster/{PROD_CLUSTER}": "owned"},
    }
    for name, tags in groups.items():
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateId": template},
            MinSize=0,
            MaxSize=1,
            AvailabilityZones=[f"{REGION}a"],
            Tags=[
                {
                    "Key": k,
                    "Value": v,
                    "PropagateAtLaunch": False,
                    "ResourceId": name,
                    "ResourceType": "auto-scaling-group",
                }
                for k, v in tags.items()
            ],
        )
    found = [f for f in audit(aws, dev).findings if f.kind == "autoscaling:autoScalingGroup"]
    assert sorted(f.id.rsplit("/", 1)[-1] for f in found) == ["dev-tagged", "eks-nodes-0a1b"]
    assert all("EKS node group" in (by_hand(f) or "") for f in found)


def test_a_bucket_emptied_past_one_page_is_deleted(
    aws: boto3.session.Session, dev: StackScope, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ops.orphans_delete.OBJECTS_PER_CALL", 2)
    s3 = aws.client("s3")
    bucket = "gitops-platform-dev-gitlab-lfs-0a1b2c3"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": aws_tags(DEV)})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for n in range(5):
        s3.put_object(Bucket=bucket, Key=f"lfs/{n}", Body=b"x")
        s3.delete_object(Bucket=bucket, Key=f"lfs/{n}")
    (outcome,) = delete(audit(aws, dev).findings, clients_of(aws), sleep=lambda _: None)
    assert outcome.result == "deleted"
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_objects_s3_could_not_delete_fail_the_bucket_and_keep_it(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    """DeleteObjects answers 200 with the keys it could not delete in `Errors` (an Object Lock
    retention, a denied version)."""
    s3 = aws.client("s3")
    bucket = "gitops-platform-dev-gitlab-artifacts-0a1b2c3"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": aws_tags(DEV)})
    s3.put_object(Bucket=bucket, Key="locked", Body=b"x")

    def refuse(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Errors"] = [
            {"Key": "locked", "Code": "AccessDenied", "Message": "Access Denied because of lock"}
        ]

    aws.events.register("after-call.s3.DeleteObjects", refuse)
    (outcome,) = delete(audit(aws, dev).findings, clients_of(aws), sleep=lambda _: None)
    assert outcome.result.startswith("failed: 1 object version(s) not deleted, the first locked")
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_a_fault_of_the_audit_exits_2_with_the_error_in_the_report(
    aws: boto3.session.Session,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken(_: Any) -> None:
        raise KeyError("VolumeId")

    monkeypatch.setattr("ops.orphans.orphans_ec2.volumes", broken)
    out = tmp_path / "orphans.json"
    assert main(["--stack", "dev", "--json", str(out)]) == 2
    assert "the audit failed (KeyError" in capsys.readouterr().err
    assert json.loads(out.read_text())["error"].startswith("the audit failed (KeyError")


# Every page


PAGED_EC2 = {
    "DescribeVolumes": "Volumes",
    "DescribeSecurityGroups": "SecurityGroups",
    "DescribeNetworkInterfaces": "NetworkInterfaces",
}


def page_ec2_as_aws_does(session: boto3.session.Session) -> Counter[str]:
    """moto 5.2.5 answers these calls in one page whatever MaxResults asks (its responses
    in moto/ec2/responses/ read no MaxResults); EC2 pages them. This splits moto's answer
    into MaxResults-sized pages with a NextToken, as EC2 does, so that reading only the first
    page misses the rest. Returns the pages served per operation."""
    served: Counter[str] = Counter()

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["page"] = (params.get("MaxResults"), int(params.get("NextToken") or 0))

    def split(parsed: dict[str, Any], context: dict[str, Any], model: Any, **_: Any) -> None:
        size, start = context.get("page", (None, 0))
        if size is None:
            return
        key = PAGED_EC2[model.name]
        items = parsed.get(key, [])
        parsed[key] = items[start : start + size]
        parsed.pop("NextToken", None)
        if start + size < len(items):
            parsed["NextToken"] = str(start + size)
        served[model.name] += 1

    for operation in PAGED_EC2:
        session.events.register(f"provide-client-params.ec2.{operation}", remember)
        session.events.register(f"after-call.ec2.{operation}", split)
    return served


def page_zones_by_name_as_route53_does(session: boto3.session.Session) -> list[int]:
    """moto 5.2.5 answers ListHostedZonesByName with every zone of the name at once (its
    response reads no MaxItems); Route 53 returns MaxItems zones, with IsTruncated and the
    NextDNSName and NextHostedZoneId to go on from. This pages moto's answer so. Returns the
    size of each page served."""
    served: list[int] = []

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["zones"] = (int(params.get("MaxItems") or 100), params.get("HostedZoneId"))

    def split(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        size, after = context["zones"]
        zones = parsed["HostedZones"]
        ids = [z["Id"].rsplit("/", 1)[-1] for z in zones]
        start = ids.index(after) if after else 0
        parsed["HostedZones"] = zones[start : start + size]
        parsed["IsTruncated"] = start + size < len(zones)
        if parsed["IsTruncated"]:
            parsed["NextDNSName"] = zones[start + size]["Name"]
            parsed["NextHostedZoneId"] = ids[start + size]
        served.append(len(parsed["HostedZones"]))

    session.events.register("provide-client-params.route53.ListHostedZonesByName", remember)
    session.events.register("after-call.route53.ListHostedZonesByName", split)
    return served


def largest_request(session: boto3.session.Session, event: str, parameter: str) -> list[int]:
    """The sizes of `parameter` in every request of `event` (AWS caps some; moto does not)."""
    sizes: list[int] = []

    def measure(params: dict[str, Any], **_: Any) -> None:
        sizes.append(len(params[parameter]))

    session.events.register(f"provide-client-params.{event}", measure)
    return sizes


def test_every_page_of_every_list_is_read(aws: boto3.session.Session, dev: StackScope) -> None:
    ec2_pages = page_ec2_as_aws_does(aws)
    zone_pages = page_zones_by_name_as_route53_does(aws)
    elbv2_tags = largest_request(aws, "elastic-load-balancing-v2.DescribeTags", "ResourceArns")
    many = 23
    ec2, iam, logs = aws.client("ec2"), aws.client("iam"), aws.client("logs")
    vpc, subnet = stack_network(aws, DEV)
    for n in range(many):
        logs.create_log_group(logGroupName=f"/gitops-platform-dev/{n:02}", tags=DEV)
        iam.create_role(
            RoleName=f"gitops-platform-dev-{n:02}",
            AssumeRolePolicyDocument="{}",
            Tags=aws_tags(DEV),
        )
        owned_tag = {f"kubernetes.io/cluster/{CLUSTER}": "owned"}
        ec2.create_security_group(
            GroupName=f"sg-{n:02}",
            Description="x",
            VpcId=default_vpc(aws),
            TagSpecifications=spec("security-group", owned_tag),
        )
        ec2.create_volume(
            Size=1, AvailabilityZone=f"{REGION}a", TagSpecifications=spec("volume", owned_tag)
        )
        ec2.create_network_interface(SubnetId=subnet)
        aws.client("elbv2").create_target_group(
            Name=f"k8s-gitlab-{n:02}",
            Protocol="HTTP",
            Port=80,
            VpcId=vpc,
            Tags=aws_tags({"elbv2.k8s.aws/cluster": CLUSTER}),
        )
    # Several public zones of the domain's name, ExternalDNS's records in the last one, after
    # more records than fit on a page.
    for _ in range(6):
        create_zone(aws, ZONE)
    zone = create_zone(aws, ZONE)
    filler = [record(f"a-{n:03}.{ZONE}.", "A", "192.0.2.1") for n in range(120)]
    create_records(aws, zone, filler + EXTERNAL_DNS_RECORDS)

    counts = Counter(f.kind for f in audit(aws, dev, page_size=5).findings)

    assert counts == {
        "logs:log-group": many,
        "iam:role": many,
        "ec2:security-group": many,
        "ec2:volume": many,
        "ec2:network-interface": many,
        "elasticloadbalancing:targetgroup": many,
        "route53:recordset": len(EXTERNAL_DNS_RECORDS),
        "ec2:vpc": 1,
        "ec2:subnet": 1,
    }
    assert min(ec2_pages.values()) > 1
    assert set(ec2_pages) == set(PAGED_EC2)
    assert max(elbv2_tags) <= 20  # ELBv2 DescribeTags takes at most 20 ARNs
    assert zone_pages == [5, 2]


def test_record_sets_past_route53s_default_page_are_read(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    zone = create_zone(aws, ZONE)
    # ListResourceRecordSets returns at most 300 record sets a page (its MaxItems).
    filler = [record(f"a-{n:03}.{ZONE}.", "A", "192.0.2.1") for n in range(320)]
    create_records(aws, zone, filler + EXTERNAL_DNS_RECORDS)
    assert len(audit(aws, dev).findings) == len(EXTERNAL_DNS_RECORDS)


def test_the_stacks_zone_is_found_past_the_first_page_of_zones(
    aws: boto3.session.Session, tmp_path: Path
) -> None:
    tag_requests = largest_request(aws, "route53.ListTagsForResources", "ResourceIds")
    scope = scope_of("dev", stack_file=dev_stack_file(tmp_path, dns={"create_zone": True}))
    for n in range(23):
        create_zone(aws, f"team-{n:02}.example.com")
    ours = create_zone(aws, ZONE, DEV)
    (finding,) = audit(aws, scope, page_size=5).findings
    assert finding.id == f"arn:aws:route53:::hostedzone/{ours}"
    assert max(tag_requests) <= 10  # ListTagsForResources takes at most 10 zones


# --delete


def dependency_violations_as_aws_has_them(session: boto3.session.Session) -> None:
    """EC2 refuses to delete a group another group's rules reference (DeleteSecurityGroup, EC2
    API Reference: DependencyViolation); moto 5.2.5 deletes it. This answers as EC2 does."""
    look = boto3.session.Session(region_name=REGION).client("ec2")

    def refuse(params: dict[str, Any], **_: Any) -> Any:
        group = params["body"]["GroupId"]
        for other in look.describe_security_groups()["SecurityGroups"]:
            rules = other.get("IpPermissions", []) + other.get("IpPermissionsEgress", [])
            pairs = [p for rule in rules for p in rule.get("UserIdGroupPairs", [])]
            if other["GroupId"] != group and any(p.get("GroupId") == group for p in pairs):
                error = {
                    "Code": "DependencyViolation",
                    "Message": f"resource {group} has a dependent object",
                }
                return AWSResponse("https://ec2.amazonaws.com/", 400, {}, None), {"Error": error}
        return None

    session.events.register("before-call.ec2.DeleteSecurityGroup", refuse)


def clients_of(session: boto3.session.Session) -> Callable[[str, str], Any]:
    return lambda service, region: session.client(service, region_name=region)


def seed_deletable_leftovers(session: boto3.session.Session) -> dict[str, str]:
    """A leftover of every kind `--delete` removes, as a failed destroy leaves them."""
    ec2, s3, iam = session.client("ec2"), session.client("s3"), session.client("iam")
    vpc, subnet = stack_network(session, DEV)
    made = seed_load_balancer_controller(
        session, CLUSTER, default_vpc(session), default_subnets(session)
    )
    made["eni"] = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"][
        "NetworkInterfaceId"
    ]
    nodes = ec2.create_security_group(GroupName="nodes", Description="nodes", VpcId=vpc)["GroupId"]
    # The nodes' group and the controller's backend group reference each other.
    for group, other in ((nodes, made["backend"]), (made["backend"], nodes)):
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 8181,
                    "ToPort": 8181,
                    "UserIdGroupPairs": [{"GroupId": other}],
                }
            ],
        )
    made["nodes"] = nodes
    made["volume"] = ec2.create_volume(
        Size=50,
        AvailabilityZone=f"{REGION}a",
        TagSpecifications=spec(
            "volume", {"ebs.csi.aws.com/cluster": "true", "CSIVolumeName": "pvc-1", **DEV}
        ),
    )["VolumeId"]
    bucket = "gitops-platform-dev-gitlab-data-tmp-0a1b2c3"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": aws_tags(DEV)})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"one", b"two"):
        s3.put_object(Bucket=bucket, Key="tmp/upload", Body=body)
    s3.delete_object(Bucket=bucket, Key="tmp/upload")  # a delete marker
    made["bucket"] = bucket
    session.client("logs").create_log_group(logGroupName=f"/aws/eks/{CLUSTER}/cluster", tags=DEV)
    role = "gitops-platform-dev-ebs-csi-1a2b3c4"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}", Tags=aws_tags(DEV))
    # A policy the stack attaches but does not own (as AWS managed policies are).
    policy = iam.create_policy(PolicyName="ebs-csi", PolicyDocument=POLICY)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=role, PolicyArn=policy)
    iam.put_role_policy(RoleName=role, PolicyName="inline", PolicyDocument=POLICY)
    iam.create_instance_profile(InstanceProfileName=role)
    iam.add_role_to_instance_profile(InstanceProfileName=role, RoleName=role)
    made["role"] = role
    iam.create_open_id_connect_provider(
        Url="https://oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF",
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
        Tags=aws_tags(DEV),
    )
    zone = create_zone(session, ZONE)
    create_records(session, zone, EXTERNAL_DNS_RECORDS + OTHER_RECORDS)
    made["zone"] = zone
    return made


def seed_what_delete_leaves(session: boto3.session.Session) -> None:
    """What `--delete` must not touch: kept by design, scheduled, and an active KMS key."""
    s3 = session.client("s3")
    s3.create_bucket(
        Bucket="gitops-platform-dev-backups",
        CreateBucketConfiguration={"LocationConstraint": REGION},
    )
    s3.put_bucket_tagging(
        Bucket="gitops-platform-dev-backups",
        Tagging={"TagSet": aws_tags({**DEV, RETAINED: "GitLab backups outlive the stack"})},
    )
    s3.put_object(Bucket="gitops-platform-dev-backups", Key="backup.tar", Body=b"backup")
    kms = session.client("kms")
    kms_tags = [{"TagKey": k, "TagValue": v} for k, v in DEV.items()]
    kms.schedule_key_deletion(
        KeyId=kms.create_key(Tags=kms_tags)["KeyMetadata"]["KeyId"], PendingWindowInDays=7
    )
    kms.create_key(Tags=kms_tags)


def test_delete_removes_what_is_left_over_and_nothing_else(
    aws: boto3.session.Session, tmp_path: Path
) -> None:
    made = seed_deletable_leftovers(aws)
    seed_what_delete_leaves(aws)
    out = tmp_path / "orphans.json"

    # The VPC, its subnet and the active key are deleted by hand: still left over.
    assert main(["--stack", "dev", "--delete", "--yes-i-mean-it", "dev", "--json", str(out)]) == 1

    document = json.loads(out.read_text())
    outcomes = document["delete"]["outcomes"]
    assert outcomes
    assert {o["result"] for o in outcomes} == {"deleted"}
    after = document["after_delete"]["resources"]
    assert sorted((r["kind"], r["status"]) for r in after) == [
        ("ec2:subnet", "left_over"),
        ("ec2:vpc", "left_over"),
        ("kms:key", "left_over"),
        ("kms:key", "scheduled"),
        ("s3:bucket", "kept"),
    ]
    assert all(r["by_hand"] for r in after if r["status"] == "left_over")
    # What is kept is untouched, and what was deleted is gone.
    objects = aws.client("s3").list_objects_v2(Bucket="gitops-platform-dev-backups")["Contents"]
    assert [o["Key"] for o in objects] == ["backup.tar"]
    assert made["bucket"] not in [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]
    left = aws.client("route53").list_resource_record_sets(HostedZoneId=made["zone"])
    names = {(r["Name"], r["Type"]) for r in left["ResourceRecordSets"]}
    assert names == {(f"{ZONE}.", "NS"), (f"{ZONE}.", "SOA")} | {
        (r["Name"], r["Type"]) for r in OTHER_RECORDS
    }
    assert aws.client("iam").list_instance_profiles()["InstanceProfiles"][0]["Roles"] == []


def test_delete_deletes_in_dependency_order(aws: boto3.session.Session, dev: StackScope) -> None:
    seed_deletable_leftovers(aws)
    kinds = [o.finding.kind for o in delete(audit(aws, dev).findings, clients_of(aws))]
    order = list(dict.fromkeys(kinds))
    assert order == [
        "elasticloadbalancing:loadbalancer",
        "elasticloadbalancing:targetgroup",
        "route53:recordset",
        "ec2:network-interface",
        "ec2:security-group",
        "ec2:volume",
        "s3:bucket",
        "logs:log-group",
        "iam:role",
        "iam:oidc-provider",
    ]


def test_groups_that_reference_each_other_are_freed_then_deleted(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    dependency_violations_as_aws_has_them(aws)
    made = seed_deletable_leftovers(aws)
    groups = [f for f in audit(aws, dev).findings if f.kind == "ec2:security-group"]
    slept: list[float] = []
    outcomes = delete(groups, clients_of(aws), sleep=slept.append)
    assert {o.finding.id.rsplit("/", 1)[-1]: o.result for o in outcomes} == {
        made["backend"]: "deleted",
        made["managed"]: "deleted",
        made["nodes"]: "deleted",
    }
    assert slept == []


def test_a_target_group_still_in_use_is_tried_again_until_it_is_free(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    made = seed_load_balancer_controller(aws, CLUSTER, default_vpc(aws), default_subnets(aws))
    elbv2 = aws.client("elbv2")
    (listener,) = elbv2.describe_listeners(LoadBalancerArn=made["lb"])["Listeners"]
    groups = [f for f in audit(aws, dev).findings if f.kind == "elasticloadbalancing:targetgroup"]
    slept: list[float] = []

    def wait(seconds: float) -> None:  # the listener goes while the audit waits
        slept.append(seconds)
        if len(slept) == 2:
            elbv2.delete_listener(ListenerArn=listener["ListenerArn"])

    (outcome,) = delete(groups, clients_of(aws), sleep=wait)
    assert outcome.result == "deleted"
    assert slept == list(DELAYS[:2])


def test_a_dependency_that_stays_fails_after_a_bounded_wait(
    aws: boto3.session.Session, dev: StackScope
) -> None:
    seed_load_balancer_controller(aws, CLUSTER, default_vpc(aws), default_subnets(aws))
    groups = [f for f in audit(aws, dev).findings if f.kind == "elasticloadbalancing:targetgroup"]
    slept: list[float] = []
    (outcome,) = delete(groups, clients_of(aws), sleep=slept.append)
    assert outcome.result.startswith("failed: ResourceInUse")
    assert slept == list(DELAYS)


def test_the_stacks_zone_is_deleted_with_all_its_records(
    aws: boto3.session.Session, tmp_path: Path
) -> None:
    scope = scope_of("dev", stack_file=dev_stack_file(tmp_path, dns={"create_zone": True}))
    zone = create_zone(aws, ZONE, DEV)
    create_records(aws, zone, EXTERNAL_DNS_RECORDS + OTHER_RECORDS)
    outcomes = delete(audit(aws, scope).findings, clients_of(aws))
    assert all(o.result == "deleted" for o in outcomes)
    assert aws.client("route53").list_hosted_zones()["HostedZones"] == []
    assert audit(aws, scope).findings == []


class Terminal(io.StringIO):
    """Standard input at a terminal, with the operator's answer typed in."""

    def isatty(self) -> bool:
        return True


def leftover_count(session: boto3.session.Session) -> int:
    return len(audit(session, scope_of("dev")).findings)


def test_delete_asks_for_the_stacks_name_at_a_terminal(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_load_balancer_controller(aws, CLUSTER, default_vpc(aws), default_subnets(aws))
    monkeypatch.setattr(sys, "stdin", Terminal("dev\n"))
    assert main(["--stack", "dev", "--delete"]) == 0
    assert "Type the stack's name (dev) to delete them:" in capsys.readouterr().out
    assert leftover_count(aws) == 0


def test_delete_without_the_stacks_name_deletes_nothing(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_load_balancer_controller(aws, CLUSTER, default_vpc(aws), default_subnets(aws))
    monkeypatch.setattr(sys, "stdin", Terminal("prod\n"))
    assert main(["--stack", "dev", "--delete"]) == 1
    assert "Not confirmed: nothing deleted." in capsys.readouterr().out
    assert leftover_count(aws) == 4


def test_delete_without_a_terminal_needs_the_stack_named_on_the_command_line(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_load_balancer_controller(aws, CLUSTER, default_vpc(aws), default_subnets(aws))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(SystemExit) as exited:
        main(["--stack", "dev", "--delete"])
    assert exited.value.code == 2
    assert "--yes-i-mean-it dev" in capsys.readouterr().err
    assert leftover_count(aws) == 4


@pytest.mark.parametrize(
    "argv",
    [
        ["--stack", "dev", "--delete", "--yes-i-mean-it", "prod"],
        ["--stack", "dev", "--yes-i-mean-it", "dev"],
    ],
    ids=["another-stack", "without-delete"],
)
def test_yes_i_mean_it_must_name_the_stack_and_go_with_delete(
    aws: boto3.session.Session, argv: list[str]
) -> None:
    seed_load_balancer_controller(aws, CLUSTER, default_vpc(aws), default_subnets(aws))
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert leftover_count(aws) == 4


# The command line


def test_leftovers_exit_1_with_a_line_each_saying_why(
    aws: boto3.session.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    made = seed_load_balancer_controller(aws, CLUSTER, default_vpc(aws), default_subnets(aws))
    assert main(["--stack", "dev"]) == 1
    printed = capsys.readouterr().out
    assert "Left over (4):" in printed
    (line,) = [line for line in printed.splitlines() if made["lb"] in line]
    assert line.split() == [
        "elasticloadbalancing:loadbalancer",
        made["lb"],
        REGION,
        "tag",
        f"elbv2.k8s.aws/cluster={CLUSTER}",
    ]
    assert "4 left over: 4 can be deleted with --delete" in printed


def test_the_json_report_has_stable_keys_and_no_tags(
    aws: boto3.session.Session, tmp_path: Path
) -> None:
    seed_load_balancer_controller(aws, CLUSTER, default_vpc(aws), default_subnets(aws))
    aws.client("ec2").create_volume(
        Size=1,
        AvailabilityZone=f"{REGION}a",
        TagSpecifications=spec("volume", {**DEV, "note": "token=s3cr3t-looking-value"}),
    )
    out = tmp_path / "orphans.json"
    assert main(["--stack", "dev", "--json", str(out)]) == 1
    text = out.read_text()
    document = json.loads(text)
    assert set(document) == {
        "format",
        "stack",
        "project",
        "region",
        "account",
        "cluster_name",
        "clean",
        "counts",
        "resources",
        "notes",
    }
    assert document["format"] == 1
    assert document["clean"] is False
    assert {key for r in document["resources"] for key in r} == {
        "kind",
        "id",
        "region",
        "status",
        "attributed_by",
        "notes",
        "by_hand",
    }
    assert "s3cr3t" not in text  # only the tags that attribute a resource are reported


def test_an_unknown_stack_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "nosuch"]) == 2
    assert "no stack file Pulumi.nosuch.yaml" in capsys.readouterr().err


def test_an_invalid_configuration_exits_2_with_every_problem(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--stack-file", str(PROJECT_DIR / "tests/stacks/Pulumi.broken.yaml")]) == 2
    err = capsys.readouterr().err
    assert "invalid configuration for stack 'broken'" in err
    assert "Traceback" not in err


def test_missing_credentials_exit_2_with_a_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata lookup
    assert main(["--stack", "dev"]) == 2
    err = capsys.readouterr().err
    assert "no AWS credentials found" in err
    assert "Traceback" not in err


def test_expired_credentials_exit_2_with_a_message(
    aws: boto3.session.Session,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def expired(**_: Any) -> Any:
        error = {
            "Code": "ExpiredToken",
            "Message": "The security token included in the request is expired",
        }
        return AWSResponse("https://sts.amazonaws.com/", 403, {}, None), {"Error": error}

    aws.events.register("before-call.sts.GetCallerIdentity", expired)
    monkeypatch.setattr("ops.orphans.boto3.session.Session", lambda region_name: aws)
    out = tmp_path / "orphans.json"
    assert main(["--stack", "dev", "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "AWS rejected the credentials (ExpiredToken on GetCallerIdentity)" in err
    assert json.loads(out.read_text())["error"].startswith("AWS rejected the credentials")


def test_make_orphans_passes_its_variables() -> None:
    def command(*variables: str) -> str:
        run = subprocess.run(
            ["make", "-n", "-s", "orphans", *variables],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=True,
        )
        (line,) = [line for line in run.stdout.splitlines() if "-m ops.orphans" in line]
        return " ".join(line.split("-m ops.orphans", 1)[1].split())

    assert command("STACK=rehearsal", "ORPHANS_JSON=orphans.json") == (
        "--stack rehearsal --json orphans.json"
    )
    assert command("STACK=dev", "DELETE=1") == "--stack dev --delete"
    assert command("STACK=dev", "DELETE=1", "CONFIRM=dev") == (
        "--stack dev --delete --yes-i-mean-it dev"
    )
