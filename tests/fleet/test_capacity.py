"""``provisioning/fleet/capacity.py``: kind subnets per fleet cluster, and how many clusters fit.

Subnets are checked against kind's defaults (kubernetes-sigs/kind
``pkg/apis/config/v1alpha4/default.go``: pods 10.244.0.0/16, services 10.96.0.0/16) and Docker's
local pools (moby ``libnetwork/ipamutils/utils.go``). Capacity uses fake readers only.
"""

from __future__ import annotations

import ipaddress
import itertools
from pathlib import Path

import pytest

from provisioning.errors import UsageError
from provisioning.fleet import capacity
from provisioning.fleet.capacity import (
    MAX_KIND_CLUSTERS,
    Capacity,
    capacity_document,
    cluster_need,
    host_capacity,
    how_many_fit,
    kind_subnets,
)

GIB = 1024**3

# --- subnets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "pod", "service"),
    [
        (0, "10.244.0.0/22", "10.96.0.0/18"),
        (1, "10.244.4.0/22", "10.96.64.0/18"),
        (2, "10.244.8.0/22", "10.96.128.0/18"),
        (63, "10.244.252.0/22", "10.111.192.0/18"),
    ],
)
def test_cluster_i_gets_the_ith_slice(index: int, pod: str, service: str) -> None:
    assert kind_subnets(MAX_KIND_CLUSTERS)[index] == (pod, service)


@pytest.mark.parametrize("count", [1, 2, 30, MAX_KIND_CLUSTERS])
def test_no_two_subnets_overlap_and_none_touches_docker(count: int) -> None:
    pairs = kind_subnets(count)
    assert len(pairs) == count
    nets = [ipaddress.ip_network(n) for pair in pairs for n in pair]
    for a, b in itertools.combinations(nets, 2):
        assert not a.overlaps(b), (a, b)
    for pool in ("172.17.0.0/16", "172.18.0.0/16", "172.16.0.0/12", "192.168.0.0/16"):
        assert not any(n.overlaps(ipaddress.ip_network(pool)) for n in nets)


def test_subnets_stay_put_as_the_room_grows() -> None:
    assert kind_subnets(30)[:5] == kind_subnets(5)


def test_every_slice_inside_kinds_default_ranges_when_bases_are_default() -> None:
    pods = ipaddress.ip_network("10.244.0.0/16")
    services = ipaddress.ip_network("10.96.0.0/12")
    for pod, service in kind_subnets(MAX_KIND_CLUSTERS):
        assert ipaddress.ip_network(pod).subnet_of(pods)
        assert ipaddress.ip_network(service).subnet_of(services)
        assert ipaddress.ip_network(pod).prefixlen == 22  # four node /24s


def test_other_bases_are_split_the_same_way() -> None:
    assert kind_subnets(2, base_pod="10.128.0.0/12", base_service="10.64.0.0/16") == [
        ("10.128.0.0/18", "10.64.0.0/22"),
        ("10.128.64.0/18", "10.64.4.0/22"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"count": MAX_KIND_CLUSTERS + 1}, "at most 64"),
        ({"count": 0}, "1 or more"),
        ({"count": True}, "1 or more"),
        ({"count": 2, "base_pod": "172.18.0.0/16"}, "overlaps 172.16.0.0/12"),
        ({"count": 2, "base_service": "192.168.0.0/16"}, "overlaps 192.168.0.0/16"),
        ({"count": 2, "base_pod": "10.96.0.0/16"}, "overlap; give two separate"),
        ({"count": 2, "base_pod": "10.244.0.0/17"}, "too small"),
        ({"count": 2, "base_service": "10.96.0.0/19"}, "too small"),
        ({"count": 2, "base_pod": "10.244.0.1/16"}, "not an IPv4 CIDR"),
        ({"count": 2, "base_pod": "nonsense"}, "not an IPv4 CIDR"),
        ({"count": 2, "base_pod": "fd00:10:244::/48"}, "IPv4 only"),
        ({"count": 2, "avoid": ["10.244.8.0/24"]}, "overlaps 10.244.8.0/24 (a network to avoid"),
    ],
)
def test_refusals_are_one_line(kwargs: dict, needle: str) -> None:
    with pytest.raises(UsageError) as info:
        kind_subnets(**kwargs)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_too_many_clusters_says_what_to_do() -> None:
    with pytest.raises(UsageError, match="--mode namespaces"):
        kind_subnets(100)


# --- reading the host ------------------------------------------------------------------------

MEMINFO = "MemTotal:       32000000 kB\nMemFree:  1000 kB\nMemAvailable:   15938488 kB\n"


def fake_reader(files: dict[str, str]):
    def read(path: Path) -> str:
        key = str(path).removeprefix("/proc/")
        if key not in files:
            raise FileNotFoundError(path)
        return files[key]

    return read


@pytest.mark.parametrize(
    ("files", "cpus", "expected"),
    [
        (
            {
                "meminfo": MEMINFO,
                "sys/fs/inotify/max_user_watches": "524288\n",
                "sys/fs/inotify/max_user_instances": "128\n",
            },
            8,
            Capacity(15938488 * 1024, 8, 524288, 128),
        ),
        ({}, None, Capacity(None, None, None, None)),
        (  # a kernel before 3.14: no MemAvailable line
            {"meminfo": "MemTotal: 1000 kB\n", "sys/fs/inotify/max_user_watches": "x"},
            0,
            Capacity(None, None, None, None),
        ),
        (
            {
                "meminfo": "MemAvailable: 12 MB\n",
                "sys/fs/inotify/max_user_instances": "-5",
            },
            4,
            Capacity(None, 4, None, None),
        ),
    ],
)
def test_host_capacity_reads_through_injected_readers(
    files: dict[str, str], cpus: int | None, expected: Capacity
) -> None:
    got = host_capacity(proc=Path("/proc"), read=fake_reader(files), cpus=lambda: cpus)
    assert got == expected


def test_a_failing_cpu_reader_is_unknown_not_fatal() -> None:
    def boom() -> int:
        raise OSError("no")

    assert host_capacity(read=fake_reader({}), cpus=boom).cpus is None


# --- how many fit ----------------------------------------------------------------------------


def test_cluster_need_adds_the_documented_parts() -> None:
    # calico, 1 node: node 300 + control plane 700 + workload 150 + calico 250 + 150 per node
    assert cluster_need("calico", 1) == (1550, 490)
    assert cluster_need("calico", 2) == (1550 + 300 + 150, 490 + 100 + 40)
    assert cluster_need("cilium", 1) == cluster_need("none", 1)


@pytest.mark.parametrize(
    ("cap", "engine", "nodes", "n", "first"),
    [
        (  # inotify instances bind; memory would allow 9
            Capacity(int(15.2 * GIB), 8, 524288, 128),
            "calico",
            1,
            4,
            "4 clusters fit: inotify max_user_instances 128 (~24 per cluster) limits to 4 — "
            "raise it: sudo sysctl fs.inotify.max_user_instances=512",
        ),
        (  # memory binds after raising inotify
            Capacity(int(15.2 * GIB), 16, 524288, 512),
            "calico",
            1,
            9,
            "9 clusters fit: memory (15.2 GiB available, ~1.5 GiB per calico cluster) "
            "limits to 9 — "
            "free memory or use a larger host",
        ),
        (  # CPUs bind on a small laptop
            Capacity(64 * GIB, 2, 524288, 512),
            "cilium",
            1,
            2,
            "2 clusters fit: CPUs (2, ~0.5 per cluster at rest) limits to 2 — "
            "use a host with more CPUs",
        ),
        (  # Ubuntu's default watches (8192) allow none once the host's own share is kept
            Capacity(64 * GIB, 32, 8192, 512),
            "calico",
            1,
            0,
            "0 clusters fit: inotify max_user_watches 8192 (~2500 per cluster) limits to 0 — "
            "raise it: sudo sysctl fs.inotify.max_user_watches=524288",
        ),
        (  # a big host: the subnet scheme's 64 is the cap
            Capacity(1024 * GIB, 256, 10_000_000, 100_000),
            "calico",
            1,
            MAX_KIND_CLUSTERS,
            "64 clusters fit: the fleet's subnet scheme allows at most 64",
        ),
        (  # two-node clusters need more of everything
            Capacity(int(15.2 * GIB), 16, 524288, 512),
            "calico",
            2,
            7,
            "7 clusters fit: memory (15.2 GiB available, ~2.0 GiB per calico cluster) "
            "limits to 7 — "
            "free memory or use a larger host",
        ),
    ],
)
def test_how_many_fit(cap: Capacity, engine: str, nodes: int, n: int, first: str) -> None:
    fit = how_many_fit(cap, nodes_per_cluster=nodes, engine=engine)
    assert fit.n == n
    assert fit.reason.split("; ")[0] == first
    assert "\n" not in fit.reason
    assert "estimates" in fit.reason
    count, reason = fit  # unpacks as (n, limiting_reason)
    assert (count, reason) == (fit.n, fit.reason)


def test_low_inotify_is_named_even_when_something_else_binds() -> None:
    fit = how_many_fit(Capacity(6 * GIB, 8, 524288, 200), engine="calico")
    assert fit.reason.startswith("3 clusters fit: memory")
    assert "inotify max_user_instances 200 (~24 per cluster) allows 7 — raise it" in fit.reason


def test_unknown_resources_are_named_not_guessed() -> None:
    fit = how_many_fit(Capacity(None, 4, None, None), engine="calico")
    assert fit.n == 6  # CPUs only: (4000 - 1000) // 490
    for unknown in (
        "memory unknown",
        "inotify max_user_instances unknown",
        "inotify max_user_watches unknown",
    ):
        assert unknown in fit.reason


def test_nothing_readable_still_answers_with_the_subnet_cap() -> None:
    fit = how_many_fit(Capacity(None, None, None, None))
    assert fit.n == MAX_KIND_CLUSTERS
    assert "memory unknown" in fit.reason and "CPUs unknown" in fit.reason


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (
            {"engine": "azure"},
            "unknown engine on kind 'azure'; choose one of: calico, cilium, none",
        ),
        ({"nodes_per_cluster": 5}, "at most 4"),
        ({"nodes_per_cluster": 0}, "1 or more"),
    ],
)
def test_bad_arguments_are_one_line(kwargs: dict, needle: str) -> None:
    with pytest.raises(UsageError) as info:
        how_many_fit(Capacity(GIB, 1, 1, 1), **kwargs)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_capacity_document_for_plan() -> None:
    doc = capacity_document(Capacity(int(15.2 * GIB), 8, 524288, 128), wanted=30)
    assert doc["fit"] == 4 and doc["ok"] is False and doc["estimate"] is True
    assert doc["lines"][1] == "Capacity: 30 kind clusters wanted, 4 fit — 26 too many for this host"
    assert [limit["resource"] for limit in doc["limits"]] == [
        "memory",
        "cpu",
        "inotify max_user_instances",
        "inotify max_user_watches",
    ]
    ok = capacity_document(Capacity(int(15.2 * GIB), 8, 524288, 512), wanted=3)
    assert ok["ok"] is True and ok["lines"][1] == "Capacity: 3 kind clusters wanted, 9 fit"


def test_recommended_inotify_values_match_the_kind_doctor() -> None:
    from provisioning.providers.kind.doctor import INOTIFY_MIN

    assert INOTIFY_MIN == {
        "max_user_watches": capacity.RECOMMENDED_MAX_USER_WATCHES,
        "max_user_instances": capacity.RECOMMENDED_MAX_USER_INSTANCES,
    }
