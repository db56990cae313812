"""A destroy holds ExternalDNS until its records are gone: the plan's wait step, run with the
real AWS CLI against a Route 53 served by moto on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from plans import depends_on, one, plan_for, stack_file_config, with_changes

from offline.plan import Plan

COMMAND = "command:local:Command"
RELEASE = "kubernetes:helm.sh/v3:Release"
ZONE = "dev.gitops.example.com"
OWNER = "gitops-platform-dev"
ALB = "k8s-gitopsplatformdev-0123456789-1234567890.eu-west-1.elb.amazonaws.com."


def step(plan: Plan) -> dict[str, Any]:
    return one(plan, COMMAND, "-external-dns-records-gone")


@pytest.fixture(scope="module")
def route53() -> Iterator[Any]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "route53",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.endpoint = endpoint  # type: ignore[attr-defined]
    yield client
    server.stop()


def aws_env(route53: Any, zone_id: str, plan: Plan, timeout: int) -> dict[str, str]:
    return {
        **aws_env_without_server(plan, timeout),
        "ZONE_ID": zone_id,
        "AWS_ENDPOINT_URL": route53.endpoint,
    }


def record(name: str, type_: str, value: str | None = None) -> dict[str, Any]:
    if value is None:  # an ALIAS, as ExternalDNS makes for a load balancer
        return {
            "Name": name,
            "Type": type_,
            "AliasTarget": {
                "HostedZoneId": "Z32O12XQLNTSW2",
                "DNSName": ALB,
                "EvaluateTargetHealth": True,
            },
        }
    return {"Name": name, "Type": type_, "TTL": 300, "ResourceRecords": [{"Value": value}]}


def owned(owner: str = OWNER, resource: str = "ingress/gitlab/x") -> str:
    """An ExternalDNS ownership TXT value (labels sorted: external-dns endpoint/labels.go)."""
    return f'"heritage=external-dns,external-dns/owner={owner},external-dns/resource={resource}"'


def change(route53: Any, zone_id: str, action: str, records: list[dict[str, Any]]) -> None:
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": r} for r in records]},
    )


@pytest.fixture
def zone(route53: Any) -> Iterator[str]:
    created = route53.create_hosted_zone(Name=ZONE, CallerReference=str(id(object())))
    zone_id = created["HostedZone"]["Id"].rsplit("/", 1)[-1]
    yield zone_id
    leftovers = [
        r
        for r in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        if r["Type"] not in ("NS", "SOA")
    ]
    if leftovers:
        change(route53, zone_id, "DELETE", leftovers)
    route53.delete_hosted_zone(Id=zone_id)


EXTERNAL_DNS_RECORDS = [
    record(f"gitlab.{ZONE}.", "A"),
    record(f"gitlab.{ZONE}.", "AAAA"),
    record(f"cname-gitlab.{ZONE}.", "TXT", owned()),
    record(f"aaaa-gitlab.{ZONE}.", "TXT", owned()),
    record(f"argocd.{ZONE}.", "A"),
    record(f"cname-argocd.{ZONE}.", "TXT", owned()),
]
# Records that are not this stack's ExternalDNS's: the wait must not wait for them.
OTHERS = [
    record(f"www.{ZONE}.", "A", "192.0.2.10"),
    record(f"cname-app.{ZONE}.", "TXT", owned(owner="gitops-platform-dev2")),
    record(f"gitlab.{ZONE}.", "MX", "10 mail.example.com."),
]


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
def test_the_destroy_waits_until_externaldns_has_deleted_its_records(
    dev_plan: Plan, route53: Any, zone: str
) -> None:
    change(route53, zone, "CREATE", EXTERNAL_DNS_RECORDS + OTHERS)
    deleted = threading.Event()

    def externaldns_cleans_up() -> None:
        change(route53, zone, "DELETE", EXTERNAL_DNS_RECORDS)
        deleted.set()

    process = subprocess.Popen(
        ["sh", "-c", step(dev_plan)["inputs"]["delete"]],
        env=aws_env(route53, zone, dev_plan, timeout=60),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The wait is still polling while the records exist.
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=2)
    threading.Timer(0, externaldns_cleans_up).start()
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert deleted.is_set()
    assert f"ExternalDNS's records are gone from zone {zone}" in out


def run_delete(plan: Plan, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The step's delete, as the command provider runs it on destroy."""
    return subprocess.run(
        ["/bin/sh", "-c", step(plan)["inputs"]["delete"]],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_a_record_that_stays_fails_the_destroy_naming_it(
    dev_plan: Plan, route53: Any, zone: str
) -> None:
    change(route53, zone, "CREATE", [EXTERNAL_DNS_RECORDS[0], EXTERNAL_DNS_RECORDS[2], *OTHERS])
    result = run_delete(dev_plan, aws_env(route53, zone, dev_plan, timeout=2))
    assert result.returncode == 1
    assert f"ExternalDNS still has records in zone {zone}" in result.stderr
    # Exactly this stack's records, one "name<TAB>type" line each: not the zone's others.
    listed = {tuple(line.split("\t")) for line in result.stderr.splitlines() if "\t" in line}
    assert listed == {(f"gitlab.{ZONE}.", "A"), (f"cname-gitlab.{ZONE}.", "TXT")}


def test_a_route53_that_cannot_be_read_is_retried_then_reported(dev_plan: Plan) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    env = {
        **aws_env_without_server(dev_plan, timeout=2),
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed}",
        "AWS_MAX_ATTEMPTS": "1",
    }
    result = run_delete(dev_plan, env)
    assert result.returncode == 1
    assert "Route 53 could not be read" in result.stderr
    assert "Could not connect to the endpoint URL" in result.stderr


def aws_env_without_server(plan: Plan, timeout: int) -> dict[str, str]:
    cli = Path(sys.executable).parent
    return {
        **step(plan)["inputs"]["environment"],
        "ZONE_ID": "Z0000000000000000000",
        "TIMEOUT_SECONDS": str(timeout),
        "POLL_SECONDS": "1",
        "PATH": f"{cli}:{os.environ['PATH']}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def test_without_the_aws_cli_the_destroy_stops_with_the_reason(dev_plan: Plan) -> None:
    env = {**step(dev_plan)["inputs"]["environment"], "PATH": "/nonexistent"}
    result = run_delete(dev_plan, env)
    assert result.returncode == 1
    assert "the AWS CLI (aws) is needed" in result.stderr


def test_a_zone_shared_upsert_only_keeps_its_records_and_does_not_wait() -> None:
    plan = plan_for(
        with_changes(stack_file_config("dev"), dns={"external_dns_policy": "upsert-only"}),
        stack="dev",
    )
    result = run_delete(plan, {**step(plan)["inputs"]["environment"], "PATH": "/nonexistent"})
    assert result.returncode == 0
    assert "keeps its records by design" in result.stdout


def test_the_wait_sits_between_what_publishes_records_and_externaldns(dev_plan: Plan) -> None:
    wait = step(dev_plan)
    assert depends_on(wait, one(dev_plan, RELEASE, "-external-dns"))
    for name in ("-gitlab", "-argocd"):
        assert depends_on(one(dev_plan, RELEASE, name), wait), name
    for namespace in dev_plan.of_type("kubernetes:core/v1:Namespace"):
        if namespace["inputs"]["metadata"]["name"] in ("gitlab", "argocd"):
            assert depends_on(namespace, wait)
    admin_area = one(dev_plan, "kubernetes:networking.k8s.io/v1:Ingress", "-admin-area")
    assert depends_on(admin_area, wait)
    assert "create" not in wait["inputs"]  # nothing happens on up
    assert int(wait["inputs"]["environment"]["TIMEOUT_SECONDS"]) <= 1800
