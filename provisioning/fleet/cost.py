"""The AKS cost ESTIMATE ``fleet plan`` shows before creating cloud clusters.

Compute only: VM size x nodes x hours x clusters, at the pay-as-you-go Linux list price in a dated
table shipped with the tool (``prices.yaml``, every price with its source and the date that source
shows) or in the user's own ``--prices FILE`` of the same shape. The AKS control plane adds
nothing: the lab creates Free-tier clusters, whose cluster management is free
(MicrosoftDocs/azure-aks-docs ``articles/aks/free-standard-pricing-tiers.md``). Disks, load
balancers, public IPs, egress, taxes and any negotiated discount are left out, and the output says
so. An unknown size or region is refused in one line that lists the known ones and how to
override; a price file is read within bounds (``provisioning.documents``) and validated
strictly, the file and key named in every error.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from provisioning.documents import SMALL_MAX_BYTES, parse_yaml, read_text, shown, shown_path
from provisioning.errors import UsageError

DEFAULT_TABLE = Path(__file__).with_name("prices.yaml")
CURRENCY = "USD"
LABEL = "estimate"
EXCLUDED = "disks, load balancers, public IPs, egress, taxes and discounts"
CONTROL_PLANE_NOTE = "AKS Free-tier control plane: $0"

_TOP_KEYS = {"as_of", "currency", "regions"}
_ENTRY_KEYS = {"usd_per_hour", "source", "seen"}
_REQUIRED_ENTRY_KEYS = {"usd_per_hour", "source"}
_REGION = re.compile(r"^[a-z][a-z0-9]{1,39}$")
_SIZE = re.compile(r"^standard_[a-z0-9_]{1,60}$", re.IGNORECASE)  # names are case-insensitive
MAX_REGIONS = 100
MAX_SIZES = 1000
MAX_PRICE = 1000.0  # USD per hour per VM; the largest Azure VMs list below this
MAX_SOURCE = 2000
MAX_NODES = 1000
MAX_HOURS = 24 * 31
MAX_ATTENDEES = 1000


@dataclass(frozen=True)
class Price:
    usd_per_hour: Decimal
    source: str
    seen: str | None


@dataclass(frozen=True)
class PriceTable:
    """Prices by region (lower-case ARM name) and VM size (as written), and where they came from."""

    as_of: str
    origin: str  # the file, for messages
    regions: dict[str, dict[str, Price]]

    def lookup(self, vm_size: str, region: str) -> Price:
        how = (
            "give your own with --prices FILE (same YAML shape: as_of, currency: USD, "
            "regions.<region>.<size>: {usd_per_hour, source})"
        )
        sizes = self.regions.get(str(region).lower())
        if sizes is None:
            known = ", ".join(sorted(self.regions)) or "none"
            raise UsageError(
                f"no prices for region {shown(region)} in {self.origin} (as of {self.as_of}); "
                f"known regions: {known}; {how}"
            )
        for name, price in sizes.items():
            if name.lower() == str(vm_size).lower():
                return price
        known = ", ".join(sorted(sizes)) or "none"
        raise UsageError(
            f"no price for VM size {shown(vm_size)} in region {region} in {self.origin} "
            f"(as of {self.as_of}); known sizes there: {known}; {how}"
        )


def load_table(path: Path | None = None) -> PriceTable:
    """The shipped table, or the user's ``--prices`` file when ``path`` is given."""
    if path is None:
        what, file = "price table", DEFAULT_TABLE
    else:
        what, file = "--prices file", Path(path)
    text = read_text(file, what=what, limit=SMALL_MAX_BYTES)
    source = f"{what} {shown_path(file)}"
    return parse_table(parse_yaml(text, source=source), source=source)


def parse_table(data: Any, *, source: str) -> PriceTable:
    """Validate a parsed price document strictly; every error is one line naming ``source`` and
    the key."""
    if not isinstance(data, dict):
        raise UsageError(
            f"{source}: expected a mapping with keys as_of, currency, regions; got {_kind(data)}"
        )
    _keys(data, _TOP_KEYS, _TOP_KEYS, source)
    as_of = _date(data["as_of"], f"{source}: as_of")
    if data["currency"] != CURRENCY:
        raise UsageError(
            f"{source}: currency: only {CURRENCY} is supported (Azure's retail prices are set in "
            f"USD), got {shown(data['currency'])}"
        )
    regions_in = data["regions"]
    if not isinstance(regions_in, dict) or not regions_in:
        raise UsageError(f"{source}: regions: expected a mapping of region -> sizes, non-empty")
    if len(regions_in) > MAX_REGIONS:
        raise UsageError(f"{source}: regions: more than {MAX_REGIONS} regions")
    regions: dict[str, dict[str, Price]] = {}
    for region, sizes_in in regions_in.items():
        where = f"{source}: regions.{_key(region)}"
        if not isinstance(region, str) or not _REGION.match(region):
            raise UsageError(
                f"{where}: not an Azure region name (lower-case ARM name like westeurope)"
            )
        if not isinstance(sizes_in, dict) or not sizes_in:
            raise UsageError(f"{where}: expected a mapping of VM size -> price, non-empty")
        if len(sizes_in) > MAX_SIZES:
            raise UsageError(f"{where}: more than {MAX_SIZES} sizes")
        sizes: dict[str, Price] = {}
        seen_lower: set[str] = set()
        for size, entry in sizes_in.items():
            at = f"{where}.{_key(size)}"
            if not isinstance(size, str) or not _SIZE.match(size):
                raise UsageError(f"{at}: not an Azure VM size name (like Standard_D2s_v5)")
            if size.lower() in seen_lower:
                raise UsageError(f"{at}: listed twice (size names are case-insensitive)")
            seen_lower.add(size.lower())
            sizes[size] = _entry(entry, at)
        regions[region] = sizes
    return PriceTable(as_of=as_of, origin=source, regions=regions)


def _entry(entry: Any, at: str) -> Price:
    if not isinstance(entry, dict):
        raise UsageError(
            f"{at}: expected a mapping with usd_per_hour and source, got {_kind(entry)}"
        )
    _keys(entry, _ENTRY_KEYS, _REQUIRED_ENTRY_KEYS, at)
    value = entry["usd_per_hour"]
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 < value <= MAX_PRICE
    ):
        raise UsageError(
            f"{at}.usd_per_hour: expected a price in USD per hour above 0 and at most "
            f"{MAX_PRICE:g}, got {shown(value)}"
        )
    source = entry["source"]
    if not isinstance(source, str) or not source.strip() or len(source) > MAX_SOURCE:
        raise UsageError(
            f"{at}.source: say where the price was read (a page or API query), as text of at "
            f"most {MAX_SOURCE} characters"
        )
    seen = entry.get("seen")
    if seen is not None:
        seen = _date(seen, f"{at}.seen")
    return Price(usd_per_hour=Decimal(repr(value)), source=" ".join(source.split()), seen=seen)


def _keys(mapping: dict[Any, Any], allowed: set[str], required: set[str], where: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise UsageError(
                f"{where}: unknown key {shown(key)}; allowed: {', '.join(sorted(allowed))}"
            )
    for key in sorted(required):
        if key not in mapping:
            raise UsageError(f"{where}: missing key {key}")


def _date(value: Any, where: str) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise UsageError(f"{where}: expected a date like 2026-12-01, got {shown(value)}")


def _key(key: Any) -> str:
    return key if isinstance(key, str) and key.isprintable() and len(key) <= 80 else shown(key)


def _kind(value: Any) -> str:
    return "nothing (empty document)" if value is None else type(value).__name__


# --- the estimate ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """Compute cost for the fleet's duration: an ESTIMATE, USD, list prices."""

    vm_size: str
    region: str
    nodes: int
    hours: float
    attendees: int
    clusters: int
    usd_per_hour: Decimal
    total: Decimal
    per_attendee: Decimal
    as_of: str
    source: str
    table: str
    label: str = LABEL

    def lines(self) -> list[str]:
        """What ``fleet plan`` prints."""
        return [
            "",
            f"Cost estimate (compute only, USD, pay-as-you-go Linux list price as of "
            f"{self.as_of}, {self.table}):",
            f"  {self.clusters} cluster{'s' if self.clusters != 1 else ''} x {self.nodes} x "
            f"{self.vm_size} x {_hours(self.hours)} h at ${self.usd_per_hour}/h in {self.region}"
            f" = ${_money(self.total)} total, ${_money(self.per_attendee)} per attendee "
            f"({self.label})",
            f"  {CONTROL_PLANE_NOTE}; not included: {EXCLUDED}",
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "currency": CURRENCY,
            "vm_size": self.vm_size,
            "region": self.region,
            "nodes_per_cluster": self.nodes,
            "clusters": self.clusters,
            "hours": self.hours,
            "attendees": self.attendees,
            "usd_per_hour": float(self.usd_per_hour),
            "total_usd": float(_money_decimal(self.total)),
            "per_attendee_usd": float(_money_decimal(self.per_attendee)),
            "control_plane_usd": 0.0,
            "excludes": EXCLUDED,
            "as_of": self.as_of,
            "price_source": self.source,
            "table": self.table,
            "lines": self.lines(),
        }


def estimate(
    vm_size: str,
    nodes: int,
    hours: float,
    attendees: int,
    *,
    region: str,
    clusters: int | None = None,
    table: PriceTable | None = None,
    override_path: Path | None = None,
) -> Estimate:
    """The compute cost of ``clusters`` AKS clusters (default: one per attendee, mode
    ``clusters``; pass 1 for mode ``namespaces``) of ``nodes`` x ``vm_size`` for ``hours``.

    ``table`` wins over ``override_path``, which wins over the shipped table."""
    _whole(nodes, "nodes per cluster", MAX_NODES)
    _whole(attendees, "attendees", MAX_ATTENDEES)
    if clusters is None:
        clusters = attendees
    _whole(clusters, "clusters", MAX_ATTENDEES)
    if (
        isinstance(hours, bool)
        or not isinstance(hours, (int, float))
        or not math.isfinite(hours)
        or not 0 < hours <= MAX_HOURS
    ):
        raise UsageError(
            f"hours: expected a duration above 0 and at most {MAX_HOURS} h, got {shown(hours)}"
        )
    if table is None:
        table = load_table(override_path)
    price = table.lookup(vm_size, region)
    per_cluster = price.usd_per_hour * nodes * Decimal(repr(float(hours)))
    total = per_cluster * clusters
    return Estimate(
        vm_size=vm_size,
        region=str(region).lower(),
        nodes=nodes,
        hours=float(hours),
        attendees=attendees,
        clusters=clusters,
        usd_per_hour=price.usd_per_hour,
        total=total,
        per_attendee=total / attendees,
        as_of=table.as_of,
        source=price.source + (f" (seen {price.seen})" if price.seen else ""),
        table=table.origin,
    )


def _whole(value: Any, what: str, most: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise UsageError(f"{what}: expected a whole number from 1 to {most}, got {shown(value)}")


def _money_decimal(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _money(value: Decimal) -> str:
    return f"{_money_decimal(value):,}"


def _hours(hours: float) -> str:
    return f"{hours:g}"
