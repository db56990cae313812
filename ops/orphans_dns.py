"""The Route 53 finders: the hosted zone the stack created, and ExternalDNS's records.

Route 53 is global; its zones are listed from its own API (moto's tagging API has none).
Records carry no tags: ExternalDNS's are known by its TXT ownership records, which name the
stack's owner id, and by the names the stack publishes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ops.orphans_audit import Audit, chunks, tag_dict
from ops.orphans_report import GLOBAL, Finding, Status


def external_dns_reason(record_set: Mapping[str, Any], hosts: set[str], owner: str) -> str | None:
    """Why a record set is this stack's ExternalDNS's, or None: the rule of
    components/external_dns.py `records_query`, which the destroy waits on (held equal to it
    by tests/test_orphans.py). A TXT record whose value names the owner followed by `,` or
    the closing quote is an ownership record; A, AAAA and CNAME records of the published
    hosts (`hosts`: lower case, with the final dot) are those ExternalDNS made for them."""
    name, type_ = record_set["Name"].lower(), record_set["Type"]
    if type_ in ("A", "AAAA", "CNAME") and name in hosts:
        return f"{type_} record of published host {name.rstrip('.')}"
    marker = f"external-dns/owner={owner}"
    if type_ == "TXT" and any(
        f"{marker}," in r["Value"] or f'{marker}"' in r["Value"]
        for r in record_set.get("ResourceRecords", [])
    ):
        return f"TXT ownership record of ExternalDNS owner {owner}"
    return None


TXT_TYPE_PREFIXES = {"a-": {"A"}, "aaaa-": {"AAAA", "AAAA alias"}, "cname-": {"CNAME", "A alias"}}
"""ExternalDNS v0.21.0 names a record's ownership record `<type>-<first label>.<rest>`, an
alias A record's with `cname-` (registry/txt/registry.go generateTXTRecordWithFilter,
registry/mapper/mapper.go ToTXTName; the stack sets no --txt-prefix or --txt-suffix): the
kinds of record each prefix claims."""
OLD_FORMAT_CLAIMS = {"A", "A alias", "CNAME"}
"""What an ownership record of the record's own name (older versions') claims: v0.21.0 reads
it for any type but AAAA (registry/txt/registry.go Records, `ep.RecordType !=
endpoint.RecordTypeAAAA`)."""


def record_kind(record_set: Mapping[str, Any]) -> str:
    """`A`, `A alias`, `AAAA`, `AAAA alias` or `CNAME`: what an ownership record claims."""
    alias = " alias" if "AliasTarget" in record_set and record_set["Type"] != "CNAME" else ""
    return f"{record_set['Type']}{alias}"


def owned_names(ownership_records: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """The record names (lower case, with the final dot) these ownership records claim, with
    the kinds of record (`record_kind`) claimed under each."""
    owned: dict[str, set[str]] = {}
    for record_set in ownership_records:
        name = record_set["Name"].lower()
        owned.setdefault(name, set()).update(OLD_FORMAT_CLAIMS)
        first, _, rest = name.partition(".")
        for prefix, kinds in TXT_TYPE_PREFIXES.items():
            if first.startswith(prefix) and rest:
                owned.setdefault(f"{first.removeprefix(prefix)}.{rest}", set()).update(kinds)
    return owned


def hosted_zones(audit: Audit) -> list[tuple[str, str]]:
    """The zones with the identity tags (the one the stack creates with dns.create_zone), as
    (id, name). ListTagsForResources takes at most 10 zones (Route 53 API Reference)."""
    route53 = audit.client("route53")
    zones = {
        z["Id"].rsplit("/", 1)[-1]: z["Name"]
        for z in audit.pages(route53, "list_hosted_zones", "HostedZones")
    }
    found = []
    for batch in chunks(sorted(zones), 10):
        response = route53.list_tags_for_resources(ResourceType="hostedzone", ResourceIds=batch)
        for tag_set in response["ResourceTagSets"]:
            zone_id, tags = tag_set["ResourceId"], tag_dict(tag_set.get("Tags"))
            if not audit.has_identity(tags):
                continue
            found.append((zone_id, zones[zone_id]))
            audit.add(
                Finding(
                    "route53:hostedzone",
                    f"arn:{audit.partition}:route53:::hostedzone/{zone_id}",
                    GLOBAL,
                    [audit.identity_reason],
                    tags,
                    {"zone_id": zone_id},
                    [f"zone {zones[zone_id].rstrip('.')}"],
                )
            )
    # The tagging API lags deletions: a zone Route 53 no longer lists is gone.
    for ident, finding in list(audit.found.items()):
        if finding.kind == "route53:hostedzone" and ident.rsplit("/", 1)[-1] not in zones:
            del audit.found[ident]
    return found


def records(audit: Audit, stack_zones: list[tuple[str, str]]) -> None:
    """ExternalDNS's records: in the stack's own zones, or, when the stack uses an existing
    zone, in the public zone named `domain`, whose other records are someone else's."""
    scope = audit.scope
    route53 = audit.client("route53")
    zones = stack_zones if scope.zone_created else public_zones(audit, scope.domain)
    if not zones:
        audit.notes.append(
            "no ExternalDNS records to look for: no "
            + (
                "hosted zone has the identity tags"
                if scope.zone_created
                else f"public hosted zone is named {scope.domain}"
            )
        )
    hosts = {f"{h}.".lower() for h in scope.published_hosts}
    # With upsert-only, ExternalDNS never deletes, and the destroy does not wait for it to
    # (components/external_dns.py): its records outlive the stack on purpose.
    upsert_only = scope.config.dns.external_dns_policy == "upsert-only"
    for zone_id, zone_name in zones:
        record_sets = list(
            audit.pages(
                route53, "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=zone_id
            )
        )
        reasons = {}
        for record_set in record_sets:
            if reason := external_dns_reason(record_set, hosts, scope.txt_owner_id):
                reasons[id(record_set)] = reason
        # In a zone that is not the stack's, a published host's record may be someone
        # else's (made by hand, or by another ExternalDNS): it is claimed only with an
        # ownership record of this owner naming it.
        owned = (
            None
            if scope.zone_created
            else owned_names(r for r in record_sets if id(r) in reasons and r["Type"] == "TXT")
        )
        for record_set in record_sets:
            if (reason := reasons.get(id(record_set))) is None:
                continue
            name, type_ = record_set["Name"], record_set["Type"]
            claimed = owned.get(name.lower(), set()) if owned is not None else set()
            if owned is not None and type_ != "TXT" and record_kind(record_set) not in claimed:
                audit.notes.append(
                    f"{type_} record {name.rstrip('.')} in zone {zone_name.rstrip('.')} has no "
                    f"ExternalDNS ownership record of {scope.txt_owner_id}: not counted as "
                    "this stack's"
                )
                continue
            ident = [zone_id, name, type_]
            if "SetIdentifier" in record_set:
                ident.append(record_set["SetIdentifier"])
            finding = Finding(
                "route53:recordset",
                "/".join(ident),
                GLOBAL,
                [reason],
                detail={"zone_id": zone_id, "record_set": record_set},
                notes=[f"in zone {zone_name.rstrip('.')}"],
            )
            if upsert_only:
                finding.status = Status.KEPT
                finding.notes.insert(0, "kept by design: dns.external_dns_policy is upsert-only")
            audit.add(finding)


def public_zones(audit: Audit, domain: str) -> list[tuple[str, str]]:
    """The public zones named `domain` (there may be several), as (id, name).
    ListHostedZonesByName lists zones in name order from DNSName on and has no boto3
    paginator: its markers are followed while the names still match."""
    route53 = audit.client("route53")
    name = domain.rstrip(".").lower() + "."
    params: dict[str, Any] = {"DNSName": name}
    if audit.pagination:
        params["MaxItems"] = str(audit.pagination["PageSize"])
    found: list[tuple[str, str]] = []
    while True:
        page = route53.list_hosted_zones_by_name(**params)
        for zone in page["HostedZones"]:
            if zone["Name"].lower() != name:
                return found
            if not zone.get("Config", {}).get("PrivateZone"):
                found.append((zone["Id"].rsplit("/", 1)[-1], zone["Name"]))
        if not page.get("IsTruncated"):
            return found
        params.update(DNSName=page["NextDNSName"], HostedZoneId=page["NextHostedZoneId"])
