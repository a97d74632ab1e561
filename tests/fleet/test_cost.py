"""``provisioning/fleet/cost.py``: the AKS compute cost estimate and its price table.

Arithmetic against hand-computed figures, the "estimate" label and what is left out, the shipped
table (dated, every price sourced, the lab's default size and region present), ``--prices``
overrides validated strictly with the file and key in every one-line error, and hostile files
(huge, binary, alias bombs) refused through ``provisioning.documents``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from provisioning.errors import UsageError
from provisioning.fleet.cost import (
    DEFAULT_TABLE,
    Estimate,
    PriceTable,
    estimate,
    load_table,
    parse_table,
)
from provisioning.spec import AksSettings

OVERRIDE = """\
as_of: 2026-11-15
currency: USD
regions:
  westeurope:
    Standard_B2s:
      usd_per_hour: 0.05
      source: my invoice, November 2026
    Standard_D2s_v5:
      usd_per_hour: 0.1
      source: negotiated rate
      seen: 2026-11-01
  northeurope:
    Standard_D4s_v5:
      usd_per_hour: 0.2
      source: Azure pricing calculator, 2026-11-15
"""


@pytest.fixture
def override(tmp_path: Path) -> Path:
    path = tmp_path / "prices.yaml"
    path.write_text(OVERRIDE)
    return path


# --- the shipped table -----------------------------------------------------------------------


def test_shipped_table_is_dated_sourced_and_prices_the_lab_default() -> None:
    table = load_table()
    assert dt.date.fromisoformat(table.as_of)
    defaults = AksSettings()
    price = table.lookup(defaults.vm_size, defaults.location)
    assert price.usd_per_hour == Decimal("0.115")
    assert "meterId 0561adcb-1c48-542e-9e0c-10dea22fc392" in price.source
    assert price.seen == "2021-11-01"
    for sizes in table.regions.values():
        for entry in sizes.values():
            assert entry.source.strip()
            assert entry.usd_per_hour > 0


def test_shipped_table_leaves_out_sizes_it_has_no_figure_for() -> None:
    sizes = load_table().regions["westeurope"]
    assert set(sizes) == {"Standard_D2s_v5"}
    assert "LEFT OUT" in DEFAULT_TABLE.read_text()


# --- arithmetic and labels -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "nodes", "hours", "attendees", "clusters", "total", "per_attendee"),
    [
        # 30 attendees, a cluster each, 2 x D2s_v5 for 6 h: 0.115 * 2 * 6 * 30
        ("Standard_D2s_v5", 2, 6, 30, None, "41.40", "1.38"),
        ("Standard_D2s_v5", 1, 1, 1, None, "0.115", "0.115"),
        ("standard_d2s_v5", 3, 2.5, 10, None, "8.625", "0.8625"),  # case-insensitive size
        # mode namespaces: one shared 3-node cluster for 100 attendees for 4 h
        ("Standard_D2s_v5", 3, 4, 100, 1, "1.38", "0.0138"),
    ],
)
def test_arithmetic(
    size: str,
    nodes: int,
    hours: float,
    attendees: int,
    clusters: int | None,
    total: str,
    per_attendee: str,
) -> None:
    got = estimate(size, nodes, hours, attendees, region="westeurope", clusters=clusters)
    assert got.total == Decimal(total)
    assert got.per_attendee == Decimal(per_attendee)
    assert got.clusters == (attendees if clusters is None else clusters)


def test_lines_and_json_are_labelled_as_an_estimate() -> None:
    got = estimate("Standard_D2s_v5", 2, 6, 30, region="WestEurope")
    assert isinstance(got, Estimate) and got.label == "estimate"
    lines = got.lines()
    assert lines[1].startswith("Cost estimate (compute only, USD, pay-as-you-go Linux list price")
    assert "as of 2026-12-01" in lines[1]
    assert lines[2] == (
        "  30 clusters x 2 x Standard_D2s_v5 x 6 h at $0.115/h in westeurope"
        " = $41.40 total, $1.38 per attendee (estimate)"
    )
    assert lines[3] == (
        "  AKS Free-tier control plane: $0; not included: disks, load balancers, public IPs, "
        "egress, taxes and discounts"
    )
    doc = got.as_dict()
    assert doc["label"] == "estimate" and doc["currency"] == "USD"
    assert (doc["total_usd"], doc["per_attendee_usd"], doc["control_plane_usd"]) == (
        41.4,
        1.38,
        0.0,
    )
    assert doc["as_of"] == "2026-12-01" and "meterId" in doc["price_source"]
    assert doc["lines"] == lines


def test_large_totals_are_grouped() -> None:
    table = parse_table(yaml.safe_load(OVERRIDE.replace("0.2\n", "3.5\n")), source="t")
    got = estimate("Standard_D4s_v5", 4, 168, 100, region="northeurope", table=table)
    assert got.total == Decimal("235200.0")
    assert "= $235,200.00 total, $2,352.00 per attendee" in got.lines()[2]


# --- overrides -------------------------------------------------------------------------------


def test_override_file_replaces_the_table(override: Path) -> None:
    got = estimate("Standard_B2s", 2, 3, 20, region="westeurope", override_path=override)
    assert got.total == Decimal("6.00")
    assert got.as_of == "2026-11-15"
    assert got.table == f"--prices file {override}"
    assert f"--prices file {override}" in got.lines()[1]
    d2 = estimate("Standard_D2s_v5", 1, 1, 1, region="westeurope", override_path=override)
    assert d2.usd_per_hour == Decimal("0.1")
    assert d2.source == "negotiated rate (seen 2026-11-01)"


def test_a_given_table_wins_over_the_file(override: Path) -> None:
    table = PriceTable(as_of="2026-01-01", origin="mine", regions=load_table().regions)
    got = estimate(
        "Standard_D2s_v5", 1, 1, 1, region="westeurope", table=table, override_path=override
    )
    assert got.usd_per_hour == Decimal("0.115") and got.table == "mine"


# --- one-line refusals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "region", "needle"),
    [
        (
            "Standard_B2s",
            "westeurope",
            "no price for VM size 'Standard_B2s' in region westeurope in price table ",
        ),
        ("Standard_D2s_v5", "eastus", "no prices for region 'eastus' in price table "),
    ],
)
def test_unknown_size_or_region(size: str, region: str, needle: str) -> None:
    with pytest.raises(UsageError) as info:
        estimate(size, 2, 6, 30, region=region)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message
    assert "--prices FILE" in message
    assert ("known sizes there: Standard_D2s_v5" in message) or (
        "known regions: westeurope" in message
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((0, 6, 30), "nodes per cluster: expected a whole number from 1 to 1000, got 0"),
        ((2, 0, 30), "hours: expected a duration above 0"),
        ((2, float("nan"), 30), "hours: expected a duration above 0"),
        ((2, 10_000, 30), "at most 744 h"),
        ((2, 6, 0), "attendees: expected a whole number"),
        ((True, 6, 30), "nodes per cluster"),
        ((2.5, 6, 30), "nodes per cluster"),
    ],
)
def test_bad_numbers(args: tuple, needle: str) -> None:
    with pytest.raises(UsageError) as info:
        estimate("Standard_D2s_v5", *args, region="westeurope")
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def _entry(**fields: object) -> str:
    base = {"usd_per_hour": 0.1, "source": "x"}
    base.update(fields)
    return yaml.safe_dump(
        {
            "as_of": "2026-11-15",
            "currency": "USD",
            "regions": {"westeurope": {"Standard_B2s": base}},
        }
    )


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "expected a mapping with keys as_of, currency, regions; got nothing"),
        ("- 1\n", "got list"),
        ("as_of: 2026-11-15\ncurrency: USD\n", "missing key regions"),
        (OVERRIDE + "extra: 1\n", "unknown key 'extra'; allowed: as_of, currency, regions"),
        (OVERRIDE.replace("currency: USD", "currency: EUR"), "currency: only USD is supported"),
        (OVERRIDE.replace("as_of: 2026-11-15", "as_of: soon"), "as_of: expected a date"),
        ("as_of: 2026-11-15\ncurrency: USD\nregions: {}\n", "regions: expected a mapping"),
        (
            OVERRIDE.replace("westeurope:", "West Europe:"),
            "regions.West Europe: not an Azure region",
        ),
        (OVERRIDE.replace("Standard_B2s:", "B2s:"), "regions.westeurope.B2s: not an Azure VM size"),
        (
            OVERRIDE.replace("usd_per_hour: 0.05", "usd_per_hour: '0.05'"),
            "regions.westeurope.Standard_B2s.usd_per_hour: expected a price",
        ),
        (_entry(usd_per_hour=-1), "Standard_B2s.usd_per_hour: expected a price"),
        (_entry(usd_per_hour=True), "Standard_B2s.usd_per_hour: expected a price"),
        (_entry(usd_per_hour=5000), "at most 1000"),
        (_entry(usd_per_hour=".inf"), "expected a price"),
        (_entry(source=""), "Standard_B2s.source: say where the price was read"),
        (_entry(source="x" * 3000), "Standard_B2s.source: say where"),
        (_entry(seen="yesterday"), "Standard_B2s.seen: expected a date"),
        (_entry(tier="spot"), "Standard_B2s: unknown key 'tier'"),
        (
            "as_of: 2026-11-15\ncurrency: USD\nregions:\n  westeurope:\n    Standard_B2s: 0.05\n",
            "Standard_B2s: expected a mapping with usd_per_hour and source, got float",
        ),
        (
            OVERRIDE + "  westeurope:\n    Standard_B2s: {usd_per_hour: 1, source: y}\n",
            "duplicate key 'westeurope'",
        ),
        (
            OVERRIDE.replace(
                "    Standard_D2s_v5:",
                "    standard_b2s:\n      usd_per_hour: 1\n      source: y\n    Standard_D2s_v5:",
            ),
            "regions.westeurope.standard_b2s: listed twice",
        ),
    ],
)
def test_override_validation_is_strict_and_one_line(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        estimate("Standard_B2s", 1, 1, 1, region="westeurope", override_path=path)
    message = str(info.value)
    assert message.startswith(f"--prices file {path}")
    assert needle in message
    assert "\n" not in message


def test_inf_literal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(OVERRIDE.replace("usd_per_hour: 0.05", "usd_per_hour: .inf"))
    with pytest.raises(UsageError, match=r"Standard_B2s\.usd_per_hour: expected a price"):
        load_table(path)


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: p.write_bytes(b"as_of: \xff\xfe\x00\x01"), "not UTF-8 text"),
        (lambda p: p.write_text("x: " + "a" * (300 * 1024)), "larger than 256 KiB"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: None, "no such file"),
        (
            lambda p: p.write_text(
                'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
                + "".join(
                    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 10)}]\n"
                    for i in range(8)
                )
            ),
            "excessive aliasing",
        ),
        (lambda p: p.write_text("a: &a [*a]\n"), "an anchor contains an alias to itself"),
        (lambda p: p.write_text("[" * 500 + "]" * 500), "nested deeper than"),
    ],
)
def test_hostile_files_are_refused_in_one_line(tmp_path: Path, make, needle: str) -> None:
    path = tmp_path / "hostile.yaml"
    make(path)
    with pytest.raises(UsageError) as info:
        estimate("Standard_B2s", 1, 1, 1, region="westeurope", override_path=path)
    message = str(info.value)
    assert str(path) in message
    assert needle in message
    assert "\n" not in message
