"""What AWS and Kubernetes would answer, offline: realistic, deterministic resource outputs.

Each value is derived from the resource's type and name, so the same program gives the same
plan byte for byte. Outputs are shaped like the real ones (ids with their AWS prefixes, ARNs,
an EKS endpoint and OIDC issuer, a certificate authority) because the plan's data flow depends
on them: an input built from an output the mock did not return resolves to None, and its
dependency edge silently vanishes from the plan.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pulumi

from offline.references import ACCOUNT_ID, ReferenceError, References

STACK_REFERENCE = "pulumi:pulumi:StackReference"

State = dict[str, Any]


OFFLINE_NOW = "2026-01-01T00:00:00Z"


def _date_as(command: str, now: str) -> str:
    """What `date -u +<format>` prints at `now` (the formats the program uses)."""
    formats = {"+%Y-%m-%dT%H:%M:%SZ": now, "+%Y-%m-%d": now[:10]}
    (argument,) = [a for a in command.split() if a.startswith("+")]
    return formats[argument] + "\n"


def _digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("::".join(parts).encode()).hexdigest()[:length]


class PlatformMocks(pulumi.runtime.Mocks):
    def __init__(self, region: str, references: References | None = None) -> None:
        self.region = region
        self.references = references
        """How StackReferences are answered (offline/references.py); None: none may be."""
        self.partition = (
            "aws-cn"
            if region.startswith("cn-")
            else "aws-us-gov"
            if region.startswith("us-gov-")
            else "aws"
        )
        self._outputs: dict[str, Callable[[str, State, str], tuple[str, State]]] = {
            "aws:ec2/vpc:Vpc": self._vpc,
            "aws:ec2/subnet:Subnet": self._ec2("subnet"),
            "aws:ec2/internetGateway:InternetGateway": self._ec2(
                "igw", arn_type="internet-gateway"
            ),
            "aws:ec2/natGateway:NatGateway": self._ec2("nat", arn_type="natgateway"),
            "aws:ec2/routeTable:RouteTable": self._ec2("rtb", arn_type="route-table"),
            "aws:ec2/routeTableAssociation:RouteTableAssociation": self._ec2("rtbassoc"),
            "aws:ec2/route:Route": self._ec2("r"),
            "aws:ec2/eip:Eip": self._eip,
            "aws:ec2/launchTemplate:LaunchTemplate": self._launch_template,
            "aws:ec2/securityGroup:SecurityGroup": self._ec2("sg", arn_type="security-group"),
            "aws:iam/role:Role": self._iam("role"),
            "aws:iam/policy:Policy": self._iam("policy"),
            "aws:iam/user:User": self._iam("user"),
            "aws:iam/openIdConnectProvider:OpenIdConnectProvider": self._oidc_provider,
            "aws:kms/key:Key": self._kms_key,
            "aws:cloudwatch/logGroup:LogGroup": self._log_group,
            "aws:eks/cluster:Cluster": self._eks_cluster,
            "aws:eks/nodeGroup:NodeGroup": self._eks_node_group,
            "aws:s3/bucket:Bucket": self._bucket,
            "aws:route53/zone:Zone": self._zone,
            "aws:route53/record:Record": self._record,
            "aws:acm/certificate:Certificate": self._certificate,
            "aws:acm/certificateValidation:CertificateValidation": self._certificate_validation,
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": self._ec2(
                "sgr", arn_type="security-group-rule"
            ),
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": self._ec2(
                "sgr", arn_type="security-group-rule"
            ),
            "aws:eks/addon:Addon": self._eks_addon,
            "aws:eks/podIdentityAssociation:PodIdentityAssociation": self._pod_identity,
            "kubernetes:core/v1:Namespace": self._namespace,
            "kubernetes:helm.sh/v3:Release": self._helm_release,
            "random:index/randomPassword:RandomPassword": self._random_password,
            "aws:rds/instance:Instance": self._rds_instance,
            "aws:rds/subnetGroup:SubnetGroup": self._named,
            "aws:elasticache/subnetGroup:SubnetGroup": self._named,
            "aws:elasticache/replicationGroup:ReplicationGroup": self._replication_group,
            "gitlab:index/group:Group": self._gitlab_group,
            "gitlab:index/project:Project": self._gitlab_project,
            "gitlab:index/projectAccessToken:ProjectAccessToken": self._access_token,
            "gitlab:index/groupAccessToken:GroupAccessToken": self._access_token,
            "gitlab:index/application:Application": self._gitlab_application,
            "command:local:Command": self._command,
        }
        self._gitlab_groups: dict[str, str] = {}
        self._vpc_cidrs: dict[str, str] = {}

    # -- pulumi.runtime.Mocks -----------------------------------------------------------------

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, State]:
        state = dict(args.inputs)
        if args.typ == STACK_REFERENCE:
            name = str(state["name"])
            if self.references is None:
                raise ReferenceError(f"StackReference {name}: none is answered in this preview")
            outputs = self.references.outputs(name)
            return name, {"name": name, "outputs": outputs, "secretOutputNames": []}
        if args.typ.startswith("pulumi:providers:"):
            return f"{_digest(args.typ, args.name, length=8)}-provider", state
        handler = self._outputs.get(args.typ)
        if handler is None:
            return f"{args.name}-{_digest(args.typ, args.name, length=7)}", state
        return handler(args.name, state, args.typ)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:{self.partition}:iam::{ACCOUNT_ID}:user/offline-preview",
                "userId": "AIDAOFFLINEPREVIEW",
                "id": ACCOUNT_ID,
            }
        if args.token == "aws:ec2/getVpc:getVpc":
            vpc_id = str(args.args.get("id"))
            # A VPC this plan creates answers with its own range; one from config, a default.
            cidr = self._vpc_cidrs.get(vpc_id, "10.0.0.0/16")
            return {"id": vpc_id, "cidrBlock": cidr, "arn": self._arn("ec2", f"vpc/{vpc_id}")}
        if args.token == "aws:route53/getZone:getZone":
            name = str(args.args["name"]).rstrip(".")
            zone_id = self._zone_id(name)
            return {
                "id": zone_id,
                "zoneId": zone_id,
                "name": f"{name}.",
                "arn": f"arn:{self.partition}:route53:::hostedzone/{zone_id}",
                "nameServers": self._name_servers(name),
                "privateZone": False,
                "resourceRecordSetCount": 4,
            }
        if args.token == "aws:eks/getAddonVersion:getAddonVersion":
            # Offline there is no EKS to ask: a stand-in that says so, in the plan and lookups.
            addon, kubernetes = args.args["addonName"], args.args["kubernetesVersion"]
            return {
                **args.args,
                "id": addon,
                "version": f"offline-default-of-{addon}-for-{kubernetes}",
                "region": self.region,
            }
        if args.token == "command:local:run" and str(args.args.get("command")).startswith(
            "date -u"
        ):
            # The offline clock: a date read answers with the fixed time, like a date Command.
            stdout = _date_as(str(args.args["command"]), OFFLINE_NOW)
            return {**args.args, "stdout": stdout, "stderr": ""}
        # An unmocked invoke would silently return nothing and drop data from the plan.
        raise NotImplementedError(f"the offline preview has no answer for invoke {args.token}")

    # -- per-type outputs ---------------------------------------------------------------------

    def _arn(self, service: str, resource: str, region: bool = True) -> str:
        where = self.region if region else ""
        return f"arn:{self.partition}:{service}:{where}:{ACCOUNT_ID}:{resource}"

    def _ec2(
        self, prefix: str, arn_type: str | None = None
    ) -> Callable[[str, State, str], tuple[str, State]]:
        def outputs(name: str, state: State, typ: str) -> tuple[str, State]:
            resource_id = f"{prefix}-{_digest(typ, name)}"
            state.setdefault(
                "arn", self._arn("ec2", f"{arn_type or typ.split(':')[-1].lower()}/{resource_id}")
            )
            return resource_id, state

        return outputs

    def _eip(self, name: str, state: State, typ: str) -> tuple[str, State]:
        octet = int(_digest(typ, name, length=2), 16) % 254 + 1
        # TEST-NET-3: a documentation range, never a real address.
        state.update(publicIp=f"203.0.113.{octet}", allocationId=f"eipalloc-{_digest(typ, name)}")
        return state["allocationId"], state

    def _launch_template(self, name: str, state: State, typ: str) -> tuple[str, State]:
        resource_id = f"lt-{_digest(typ, name)}"
        state.update(
            arn=self._arn("ec2", f"launch-template/{resource_id}"),
            latestVersion=1,
            defaultVersion=1,
        )
        return resource_id, state

    def _iam(self, kind: str) -> Callable[[str, State, str], tuple[str, State]]:
        def outputs(name: str, state: State, typ: str) -> tuple[str, State]:
            physical = state.get("name") or f"{name}-{_digest(typ, name, length=7)}"
            state.update(name=physical, arn=self._arn("iam", f"{kind}/{physical}", region=False))
            if kind == "role":
                state["uniqueId"] = f"AROA{_digest(typ, name, length=17).upper()}"
            return (state["arn"] if kind == "policy" else physical), state

        return outputs

    def _oidc_provider(self, name: str, state: State, typ: str) -> tuple[str, State]:
        host_path = str(state.get("url", "")).removeprefix("https://")
        state["arn"] = self._arn("iam", f"oidc-provider/{host_path}", region=False)
        return state["arn"], state

    def _kms_key(self, name: str, state: State, typ: str) -> tuple[str, State]:
        d = _digest(typ, name, length=32)
        key_id = f"{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:32]}"
        state.update(keyId=key_id, arn=self._arn("kms", f"key/{key_id}"))
        return key_id, state

    def _log_group(self, name: str, state: State, typ: str) -> tuple[str, State]:
        physical = state.get("name") or f"{name}-{_digest(typ, name, length=7)}"
        state.update(name=physical, arn=self._arn("logs", f"log-group:{physical}"))
        return physical, state

    def _eks_cluster(self, name: str, state: State, typ: str) -> tuple[str, State]:
        physical = state.get("name") or f"{name}-{_digest(typ, name, length=7)}"
        endpoint_id = _digest(typ, name, length=32).upper()
        authority = base64.b64encode(
            f"-----BEGIN CERTIFICATE-----\noffline preview CA for {physical}\n"
            "-----END CERTIFICATE-----\n".encode()
        ).decode()
        vpc_config = dict(state.get("vpcConfig") or {})
        vpc_config.update(
            clusterSecurityGroupId=f"sg-{_digest(typ, name, 'cluster-sg')}",
            vpcId=f"vpc-{_digest('aws:ec2/vpc:Vpc', name)}",
        )
        state.update(
            name=physical,
            arn=self._arn("eks", f"cluster/{physical}"),
            endpoint=f"https://{endpoint_id}.gr7.{self.region}.eks.amazonaws.com",
            certificateAuthority={"data": authority},
            identities=[
                {
                    "oidcs": [
                        {"issuer": f"https://oidc.eks.{self.region}.amazonaws.com/id/{endpoint_id}"}
                    ]
                }
            ],
            vpcConfig=vpc_config,
            platformVersion="eks.1",
            status="ACTIVE",
        )
        return physical, state

    def _eks_node_group(self, name: str, state: State, typ: str) -> tuple[str, State]:
        physical = state.get("nodeGroupName") or f"{name}-{_digest(typ, name, length=7)}"
        cluster = state.get("clusterName", "cluster")
        state.update(
            nodeGroupName=physical,
            arn=self._arn("eks", f"nodegroup/{cluster}/{physical}/{_digest(typ, name, length=8)}"),
            status="ACTIVE",
        )
        return f"{cluster}:{physical}", state

    def _bucket(self, name: str, state: State, typ: str) -> tuple[str, State]:
        physical = state.get("bucket") or f"{name}-{_digest(typ, name, length=7)}"
        state.update(
            bucket=physical,
            arn=f"arn:{self.partition}:s3:::{physical}",
            bucketDomainName=f"{physical}.s3.amazonaws.com",
            bucketRegionalDomainName=f"{physical}.s3.{self.region}.amazonaws.com",
            region=self.region,
        )
        return physical, state

    def _zone_id(self, domain: str) -> str:
        return "Z" + _digest("zone", domain, length=20).upper()

    @staticmethod
    def _name_servers(domain: str) -> list[str]:
        n = int(_digest("ns", domain, length=4), 16)
        return [
            f"ns-{n % 512}.awsdns-{n % 64:02d}.com",
            f"ns-{(n + 1) % 512 + 512}.awsdns-{(n + 1) % 64:02d}.net",
            f"ns-{(n + 2) % 512 + 1024}.awsdns-{(n + 2) % 64:02d}.org",
            f"ns-{(n + 3) % 512 + 1536}.awsdns-{(n + 3) % 64:02d}.co.uk",
        ]

    def _zone(self, name: str, state: State, typ: str) -> tuple[str, State]:
        domain = str(state.get("name", name)).rstrip(".")
        zone_id = self._zone_id(domain)
        state.update(
            zoneId=zone_id,
            arn=f"arn:{self.partition}:route53:::hostedzone/{zone_id}",
            nameServers=self._name_servers(domain),
        )
        return zone_id, state

    def _record(self, name: str, state: State, typ: str) -> tuple[str, State]:
        fqdn = str(state.get("name", name)).rstrip(".")
        state["fqdn"] = fqdn
        return f"{state.get('zoneId')}_{fqdn}_{state.get('type')}", state

    def _certificate(self, name: str, state: State, typ: str) -> tuple[str, State]:
        d = _digest(typ, name, length=32)
        arn = self._arn("acm", f"certificate/{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:32]}")
        domain = str(state.get("domainName", ""))
        # ACM asks for one CNAME per base name: a name and its wildcard share it.
        token = _digest("acm", domain, length=32)
        record = {
            "resourceRecordName": f"_{token}.{domain}.",
            "resourceRecordType": "CNAME",
            "resourceRecordValue": f"_{_digest('acm-value', domain, length=32)}"
            ".xlfgrmvvlj.acm-validations.aws.",
        }
        names = [domain, *state.get("subjectAlternativeNames", [])]
        state.update(
            arn=arn,
            domainValidationOptions=[{"domainName": n, **record} for n in names],
            status="PENDING_VALIDATION",
        )
        return arn, state

    def _certificate_validation(self, name: str, state: State, typ: str) -> tuple[str, State]:
        return "2026-01-01 00:00:00 +0000 UTC", state

    def _eks_addon(self, name: str, state: State, typ: str) -> tuple[str, State]:
        cluster, addon = state.get("clusterName", "cluster"), state.get("addonName", name)
        state["arn"] = self._arn("eks", f"addon/{cluster}/{addon}/{_digest(typ, name, length=8)}")
        return f"{cluster}:{addon}", state

    def _pod_identity(self, name: str, state: State, typ: str) -> tuple[str, State]:
        association_id = f"a-{_digest(typ, name)}"
        cluster = state.get("clusterName", "cluster")
        state.update(
            associationId=association_id,
            associationArn=self._arn("eks", f"podidentityassociation/{cluster}/{association_id}"),
        )
        return f"{cluster},{association_id}", state

    def _namespace(self, name: str, state: State, typ: str) -> tuple[str, State]:
        metadata = dict(state.get("metadata") or {})
        metadata.setdefault("name", f"{name}-{_digest(typ, name, length=8)}")
        state["metadata"] = metadata
        return str(metadata["name"]), state

    def _helm_release(self, name: str, state: State, typ: str) -> tuple[str, State]:
        release = state.get("name") or name
        namespace = state.get("namespace") or "default"
        state["status"] = {
            "name": release,
            "namespace": namespace,
            "chart": state.get("chart"),
            "version": state.get("version"),
            "status": "deployed",
            "revision": 1,
        }
        return f"{namespace}/{release}", state

    def _random_password(self, name: str, state: State, typ: str) -> tuple[str, State]:
        # Recognisable, deterministic stand-ins: tests search plans for them to prove that no
        # generated secret ever appears in clear.
        length = int(state.get("length", 32))
        value = ("offline-password-" + _digest(typ, name, length=64))[:length]
        state.update(
            result=value,
            bcryptHash="$2a$10$" + _digest(typ, name, "bcrypt", length=53),
        )
        return "none", state

    def _vpc(self, name: str, state: State, typ: str) -> tuple[str, State]:
        vpc_id, state = self._ec2("vpc")(name, state, typ)
        self._vpc_cidrs[vpc_id] = str(state.get("cidrBlock"))
        return vpc_id, state

    def _named(self, name: str, state: State, typ: str) -> tuple[str, State]:
        physical = state.get("name") or f"{name}-{_digest(typ, name, length=7)}"
        state["name"] = physical
        return physical, state

    def _rds_instance(self, name: str, state: State, typ: str) -> tuple[str, State]:
        identifier = state.get("identifier") or f"{name}-{_digest(typ, name, length=7)}"
        address = f"{identifier}.c{_digest(typ, name, length=11)}.{self.region}.rds.amazonaws.com"
        state.update(
            identifier=identifier,
            address=address,
            endpoint=f"{address}:5432",
            port=5432,
            arn=self._arn("rds", f"db:{identifier}"),
        )
        return f"db-{_digest(typ, name, length=26).upper()}", state

    def _replication_group(self, name: str, state: State, typ: str) -> tuple[str, State]:
        group = state.get("replicationGroupId") or f"{name}-{_digest(typ, name, length=7)}"
        suffix = f"{_digest(typ, name, length=6)}.ng.0001.{self.region[:3]}{self.region[-1]}"
        state.update(
            replicationGroupId=group,
            primaryEndpointAddress=f"master.{group}.{suffix}.cache.amazonaws.com",
            readerEndpointAddress=f"replica.{group}.{suffix}.cache.amazonaws.com",
            arn=self._arn("elasticache", f"replicationgroup:{group}"),
        )
        return group, state

    def _gitlab_id(self, typ: str, name: str) -> str:
        return str(int(_digest(typ, name, length=6), 16) % 100000 + 1)

    def _gitlab_group(self, name: str, state: State, typ: str) -> tuple[str, State]:
        group_id = self._gitlab_id(typ, name)
        self._gitlab_groups[group_id] = str(state.get("path"))
        state.update(fullPath=state.get("path"), groupId=int(group_id))
        return group_id, state

    def _gitlab_project(self, name: str, state: State, typ: str) -> tuple[str, State]:
        # Numbers cross the wire as doubles: 42.0 names group 42.
        group = self._gitlab_groups.get(str(int(float(state.get("namespaceId", 0)))), "group")
        state.update(
            pathWithNamespace=f"{group}/{state.get('path')}",
            projectId=int(self._gitlab_id(typ, name)),
        )
        return self._gitlab_id(typ, name), state

    def _access_token(self, name: str, state: State, typ: str) -> tuple[str, State]:
        # The provider sets the expiry from the rotation configuration.
        days = int(float((state.get("rotationConfiguration") or {}).get("expirationDays", 0)))
        expires = date.fromisoformat(OFFLINE_NOW[:10]) + timedelta(days=days) if days else None
        state.update(
            token="offline-access-token-" + _digest(typ, name, length=20),
            userId=int(self._gitlab_id(typ, f"{name}-bot")),
            active=True,
            revoked=False,
            **({"expiresAt": expires.isoformat()} if expires and "expiresAt" not in state else {}),
        )
        return self._gitlab_id(typ, name), state

    def _gitlab_application(self, name: str, state: State, typ: str) -> tuple[str, State]:
        state.update(
            applicationId=_digest(typ, name, length=32),
            secret="offline-oauth-secret-" + _digest(typ, name, length=20),
        )
        return self._gitlab_id(typ, name), state

    def _command(self, name: str, state: State, typ: str) -> tuple[str, State]:
        # A clock read (`date -u +...`) answers with a fixed time, so plans stay reproducible.
        create = str(state.get("create", ""))
        stdout = _date_as(create, OFFLINE_NOW).strip() if create.startswith("date -u") else ""
        state.update(stdout=stdout, stderr="")
        return f"{name}-{_digest(typ, name, length=8)}", state
