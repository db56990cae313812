"""The VPC a cluster runs in: public and private subnets per zone, internet and NAT gateways."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import NetworkConfig


@dataclass(frozen=True)
class SubnetBlocks:
    zone: str
    public: str
    private: str


def subnet_layout(vpc_cidr: str, zones: list[str]) -> list[SubnetBlocks]:
    """Carve the VPC into one public and one private block per zone.

    Private subnets hold nodes and pods (the VPC CNI gives every pod a VPC address), so each
    gets an eighth of the VPC; public subnets hold only load balancers and NAT gateways and
    share the last eighth. Zone i always gets the same blocks, so adding a zone moves nothing.
    """
    vpc = ipaddress.IPv4Network(vpc_cidr)  # validated: a private IPv4 range
    eighths = list(vpc.subnets(prefixlen_diff=3))
    public_pool = list(eighths[-1].subnets(prefixlen_diff=3))
    return [
        SubnetBlocks(zone=zone, public=str(public_pool[i]), private=str(eighths[i]))
        for i, zone in enumerate(zones)
    ]


@dataclass
class NetworkArgs:
    config: NetworkConfig
    cluster_name: str
    """Tagged on the subnets so the load balancer controller and kOps find them."""


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    egress_cidrs: list[pulumi.Output[str]]
    """The NAT gateways' public addresses (/32): what the cluster's traffic to the internet,
    GitLab's own load balancer included, comes from."""
    egress_ready: list[pulumi.Resource]
    """The private subnets' way out (NAT, routes). Nodes depend on it so a destroy keeps it
    until the controllers have deleted their load balancers and DNS records through it."""

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gitops-platform:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.config

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=config.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": name},
            opts=child,
        )
        gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags={"Name": name}, opts=child
        )
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}

        public, private = [], []
        for blocks in subnet_layout(config.vpc_cidr, config.availability_zones):
            public.append(
                aws.ec2.Subnet(
                    f"{name}-public-{blocks.zone}",
                    vpc_id=vpc.id,
                    cidr_block=blocks.public,
                    availability_zone=blocks.zone,
                    tags={
                        "Name": f"{name}-public-{blocks.zone}",
                        "kubernetes.io/role/elb": "1",
                        **cluster_tag,
                    },
                    opts=child,
                )
            )
            private.append(
                aws.ec2.Subnet(
                    f"{name}-private-{blocks.zone}",
                    vpc_id=vpc.id,
                    cidr_block=blocks.private,
                    availability_zone=blocks.zone,
                    tags={
                        "Name": f"{name}-private-{blocks.zone}",
                        "kubernetes.io/role/internal-elb": "1",
                        **cluster_tag,
                    },
                    opts=child,
                )
            )

        public_routes = self._route_public(name, config, vpc, gateway, public, child)
        nat_gateways, addresses = self._create_nat_gateways(name, config, public, gateway, child)
        self.egress_cidrs = [a.public_ip.apply(lambda ip: f"{ip}/32") for a in addresses]
        private_routes = self._route_private(name, config, vpc, private, nat_gateways, child)
        self.egress_ready = [*public_routes, *nat_gateways, *private_routes]

        self.vpc_id = vpc.id
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public])
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private])
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
            }
        )

    @staticmethod
    def _route_public(
        name: str,
        config: NetworkConfig,
        vpc: aws.ec2.Vpc,
        gateway: aws.ec2.InternetGateway,
        subnets: list[aws.ec2.Subnet],
        child: pulumi.ResourceOptions,
    ) -> list[pulumi.Resource]:
        table = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=vpc.id, tags={"Name": f"{name}-public"}, opts=child
        )
        routes: list[pulumi.Resource] = []
        route = aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.id,
            opts=child,
        )
        routes.append(route)
        for zone, subnet in zip(config.availability_zones, subnets, strict=True):
            routes.append(
                aws.ec2.RouteTableAssociation(
                    f"{name}-public-{zone}-routes",
                    subnet_id=subnet.id,
                    route_table_id=table.id,
                    opts=child,
                )
            )
        return routes

    @staticmethod
    def _create_nat_gateways(
        name: str,
        config: NetworkConfig,
        public: list[aws.ec2.Subnet],
        gateway: aws.ec2.InternetGateway,
        child: pulumi.ResourceOptions,
    ) -> tuple[list[aws.ec2.NatGateway], list[aws.ec2.Eip]]:
        count = len(public) if config.nat_gateways == "per_az" else 1
        nat_gateways, addresses = [], []
        for zone, subnet in list(zip(config.availability_zones, public, strict=True))[:count]:
            address = aws.ec2.Eip(
                f"{name}-nat-{zone}", domain="vpc", tags={"Name": f"{name}-nat-{zone}"}, opts=child
            )
            addresses.append(address)
            nat_gateways.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{zone}",
                    allocation_id=address.id,
                    subnet_id=subnet.id,
                    tags={"Name": f"{name}-nat-{zone}"},
                    # A NAT gateway only forwards once the VPC has its internet gateway.
                    opts=pulumi.ResourceOptions.merge(
                        child, pulumi.ResourceOptions(depends_on=[gateway])
                    ),
                )
            )
        return nat_gateways, addresses

    @staticmethod
    def _route_private(
        name: str,
        config: NetworkConfig,
        vpc: aws.ec2.Vpc,
        subnets: list[aws.ec2.Subnet],
        nat_gateways: list[aws.ec2.NatGateway],
        child: pulumi.ResourceOptions,
    ) -> list[pulumi.Resource]:
        routes: list[pulumi.Resource] = []
        for i, (zone, subnet) in enumerate(zip(config.availability_zones, subnets, strict=True)):
            # With a single NAT gateway every zone egresses through the first one.
            nat = nat_gateways[i] if i < len(nat_gateways) else nat_gateways[0]
            table = aws.ec2.RouteTable(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                tags={"Name": f"{name}-private-{zone}"},
                opts=child,
            )
            routes.append(
                aws.ec2.Route(
                    f"{name}-private-{zone}-default",
                    route_table_id=table.id,
                    destination_cidr_block="0.0.0.0/0",
                    nat_gateway_id=nat.id,
                    opts=child,
                )
            )
            routes.append(
                aws.ec2.RouteTableAssociation(
                    f"{name}-private-{zone}-routes",
                    subnet_id=subnet.id,
                    route_table_id=table.id,
                    opts=child,
                )
            )
        return routes
