"""Benchmark of the NetworkPolicy analyzer: time and peak memory over a series of sizes.

Generates varied synthetic clusters from a seed (namespaces with team/env labels; deployments
with app/tier/version labels and named ports; policies of nine kinds: default-deny ingress,
default-deny egress with DNS allowed, same-namespace pod selectors on named ports,
namespace+pod selectors (AND), cross-namespace app rules in both directions, set-based
expressions, ipBlocks with except, port ranges, allow-all, internet egress), then for each
size, in a fresh subprocess:

* ``fast``: ``analyze(..., ports=[(80, "TCP")])``, the full TCP/80 matrix (every ordered pod
  pair), counted without materializing pairs; the time includes validating and compiling
  the policies (``analyze`` call wall time) and ``seconds`` as ``summary`` reports it;
* ``all ports``: the default probe set (every pair on every port the destination declares);
* ``naive``: the per-pair reference evaluator (``tests/analysis/reference.py``) timed on a
  random sample of pairs and extrapolated to the full TCP/80 matrix (stated as such);
* ``peak RSS``: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of that subprocess (input
  generation included), plus the RSS before analysis for comparison.

With ``--load N`` it measures reading instead (issue 8, section 7): N policies and a cluster
written to a temporary folder in three forms (one JSON ``kind: List`` file, one multi-document
YAML file, a folder of one ``.json`` file per policy), then ``load_cluster`` + ``load_policies``
+ ``analyze`` as ``invoke analyze`` runs them (every pod pair on every declared port, counted),
median of ``--repeat`` runs, against the goal of 1 s in all. "before" is what the reader did
until then: PyYAML's pure-Python ``SafeLoader`` (``yaml.safe_load_all``) over the same JSON text.

Usage::

    python benchmarks/analyze_bench.py                 # the default series
    python benchmarks/analyze_bench.py --sizes 2000:50:500 20000:200:2000 --repeat 5
    python benchmarks/analyze_bench.py --load 10000    # reading 10,000 policies, before/after
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TIERS = {
    "web": [(80, "TCP", "http"), (8080, "TCP", "metrics")],
    "api": [(80, "TCP", "web"), (9090, "TCP", "grpc")],
    "db": [(80, "TCP", "http"), (5432, "TCP", "postgres")],
    "cache": [(80, "TCP", "http"), (6379, "TCP", "redis"), (6379, "UDP", "redis-udp")],
}
TEAMS = [f"t{i}" for i in range(10)]
ENVS = ["dev", "staging", "prod"]


def generate(pods: int, namespaces: int, policies: int, seed: int) -> tuple[dict, list[dict]]:
    """A synthetic cluster and policy set; same arguments, same output."""
    rng = random.Random(seed)
    ns_names = [f"ns-{i:04d}" for i in range(namespaces)]
    cluster: dict[str, Any] = {
        "namespaces": {
            n: {"labels": {"team": rng.choice(TEAMS), "env": rng.choice(ENVS)}} for n in ns_names
        },
        "pods": [],
    }
    cluster["namespaces"]["kube-system"] = {"labels": {}}
    dns_ports = [
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
        {"name": "http", "port": 80, "protocol": "TCP"},
    ]
    for i in range(2):
        cluster["pods"].append(
            _pod("kube-system", f"coredns-{i}", {"k8s-app": "kube-dns"}, i, dns_ports)
        )
    apps: dict[str, list[tuple[str, str]]] = {n: [] for n in ns_names}
    while len(cluster["pods"]) < pods:
        ns = rng.choice(ns_names)
        tier = rng.choice(list(TIERS))
        app = f"app-{len(apps[ns])}"
        apps[ns].append((app, tier))
        version = rng.choice(["v1", "v2"])
        replicas = min(rng.randint(1, 12), pods - len(cluster["pods"]))
        ports = [{"name": n, "port": p, "protocol": pr} for p, pr, n in TIERS[tier]]
        for r in range(replicas):
            labels = {
                "app": app,
                "tier": tier,
                "version": version,
                "pod-template-hash": f"h{r % 3}",
            }
            cluster["pods"].append(_pod(ns, f"{app}-{r}", labels, len(cluster["pods"]), ports))
    makers = [
        _deny_ingress,
        _deny_egress_allow_dns,
        _same_ns_named_port,
        _ns_and_pod,
        _expressions,
        _ip_block,
        _port_range,
        _allow_all_web,
        _internet_egress,
        _same_ns_named_port,
        _cross_ns_app,
        _cross_ns_app,
    ]
    out = []
    for i in range(policies):
        ns = rng.choice(ns_names)
        make = rng.choice(makers)
        ns_apps = apps[ns] or [("app-0", "web")]
        spec = make(rng, ns_apps, ns_names) if make is _cross_ns_app else make(rng, ns_apps)
        out.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"np-{i}", "namespace": ns},
                "spec": spec,
            }
        )
    return cluster, out


def _pod(ns: str, name: str, labels: dict, n: int, ports: list[dict]) -> dict:
    ip = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    return {"namespace": ns, "name": name, "labels": labels, "ip": ip, "ports": ports}


def _sel(**labels: str) -> dict:
    return {"matchLabels": labels}


def _deny_ingress(rng: random.Random, apps: list) -> dict:
    return {"podSelector": {}, "policyTypes": ["Ingress"]}


def _deny_egress_allow_dns(rng: random.Random, apps: list) -> dict:
    dns = {
        "namespaceSelector": _sel(**{"kubernetes.io/metadata.name": "kube-system"}),
        "podSelector": _sel(**{"k8s-app": "kube-dns"}),
    }
    ports = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    return {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [dns], "ports": ports}]}


def _same_ns_named_port(rng: random.Random, apps: list) -> dict:
    dst = rng.choice(apps)[0]
    sources = [{"podSelector": _sel(app=rng.choice(apps)[0])} for _ in range(rng.randint(1, 3))]
    port = rng.choice(["http", "web", 80])
    return {"podSelector": _sel(app=dst), "ingress": [{"from": sources, "ports": [{"port": port}]}]}


def _cross_ns_app(rng: random.Random, apps: list, namespaces: list[str]) -> dict:
    peer = {
        "namespaceSelector": _sel(**{"kubernetes.io/metadata.name": rng.choice(namespaces)}),
        "podSelector": _sel(app=f"app-{rng.randint(0, 5)}"),
    }
    direction = rng.choice(["ingress", "egress"])
    rule = {"from" if direction == "ingress" else "to": [peer], "ports": [{"port": 80}]}
    return {"podSelector": _sel(app=rng.choice(apps)[0]), direction: [rule]}


def _ns_and_pod(rng: random.Random, apps: list) -> dict:
    peer = {"namespaceSelector": _sel(team=rng.choice(TEAMS)), "podSelector": _sel(tier="web")}
    return {"podSelector": _sel(tier=rng.choice(list(TIERS))), "ingress": [{"from": [peer]}]}


def _expressions(rng: random.Random, apps: list) -> dict:
    pods = {
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["web", "api"]},
            {"key": "version", "operator": "NotIn", "values": [rng.choice(["v1", "v2"])]},
        ]
    }
    nss = {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}
    return {
        "podSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
        "ingress": [{"from": [{"podSelector": pods, "namespaceSelector": nss}]}],
    }


def _ip_block(rng: random.Random, apps: list) -> dict:
    octet = rng.randint(0, 3)
    block = {"cidr": f"10.0.{octet * 64}.0/18", "except": [f"10.0.{octet * 64}.0/24"]}
    return {
        "podSelector": _sel(tier="db"),
        "ingress": [{"from": [{"ipBlock": block}], "ports": [{"port": 5432}, {"port": 80}]}],
    }


def _port_range(rng: random.Random, apps: list) -> dict:
    return {
        "podSelector": _sel(tier="api"),
        "policyTypes": ["Egress"],
        "egress": [
            {"to": [{"podSelector": _sel(tier="db")}], "ports": [{"port": 5400, "endPort": 5500}]},
            {"to": [{"namespaceSelector": {}}], "ports": [{"port": 53, "protocol": "UDP"}]},
        ],
    }


def _allow_all_web(rng: random.Random, apps: list) -> dict:
    return {"podSelector": _sel(tier="web"), "ingress": [{}]}


def _internet_egress(rng: random.Random, apps: list) -> dict:
    block = {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}
    return {
        "podSelector": _sel(app=rng.choice(apps)[0]),
        "egress": [
            {"to": [{"ipBlock": block}]},
            {"to": [{"podSelector": {}}], "ports": [{"port": 80}]},
        ],
    }


# -- ClusterNetworkPolicies (--cnp) ------------------------------------------------------------

CNP_GOAL_S = 1.0


def generate_cnps(count: int, namespaces: list[str], seed: int) -> list[dict]:
    """``count`` ClusterNetworkPolicies of six kinds, both tiers, priorities with few ties:
    Admin deny of the metadata endpoint, Admin pass for a team's namespaces, Admin accept of
    DNS, Admin deny of one env's namespaces to another's pods on a port range, Baseline deny
    between namespaces, Baseline accept of a tier on a named port."""
    rng = random.Random(seed)

    def cnp(i: int, tier: str, subject: dict, **rules: list) -> dict:
        return {
            "apiVersion": "policy.networking.k8s.io/v1alpha2",
            "kind": "ClusterNetworkPolicy",
            "metadata": {"name": f"cnp-{i}"},
            "spec": {"tier": tier, "priority": i % 1000, "subject": subject, **rules},
        }

    def team() -> dict:
        return {"matchLabels": {"team": rng.choice(TEAMS)}}

    out = []
    for i in range(count):
        kind = i % 6
        if kind == 0:
            rule = {
                "name": "no-imds",
                "action": "Deny",
                "to": [{"networks": ["169.254.169.254/32"]}],
            }
            out.append(cnp(i, "Admin", {"namespaces": {}}, egress=[rule]))
        elif kind == 1:
            rule = {"name": "team", "action": "Pass", "from": [{"namespaces": team()}]}
            out.append(cnp(i, "Admin", {"namespaces": team()}, ingress=[rule]))
        elif kind == 2:
            dns = {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                },
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
            ports = [
                {"udp": {"destinationPort": {"number": 53}}},
                {"destinationNamedPort": "dns-tcp"},
            ]
            rule = {"name": "dns", "action": "Accept", "to": [{"pods": dns}], "protocols": ports}
            out.append(cnp(i, "Admin", {"namespaces": team()}, egress=[rule]))
        elif kind == 3:
            env = {"matchLabels": {"env": rng.choice(ENVS)}}
            peer = {
                "pods": {"namespaceSelector": env, "podSelector": {"matchLabels": {"tier": "db"}}}
            }
            span = {"tcp": {"destinationPort": {"range": {"start": 5000, "end": 6000}}}}
            rule = {"name": "no-db", "action": "Deny", "to": [peer], "protocols": [span]}
            out.append(cnp(i, "Admin", {"namespaces": env}, egress=[rule]))
        elif kind == 4:
            other = {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "NotIn",
                        "values": rng.sample(namespaces, 3),
                    }
                ]
            }
            rule = {"name": "isolate", "action": "Deny", "from": [{"namespaces": other}]}
            out.append(cnp(i, "Baseline", {"namespaces": team()}, ingress=[rule]))
        else:
            web = {"namespaceSelector": {}, "podSelector": {"matchLabels": {"tier": "web"}}}
            rule = {
                "name": "web",
                "action": "Accept",
                "from": [{"pods": web}],
                "protocols": [{"destinationNamedPort": "http"}],
            }
            subject = {
                "pods": {
                    "namespaceSelector": team(),
                    "podSelector": {"matchLabels": {"tier": "api"}},
                }
            }
            out.append(cnp(i, "Baseline", subject, ingress=[rule]))
    return out


def measure_cnp(
    pods: int, namespaces: int, policies: int, cnps: int, seed: int, repeat: int
) -> None:
    from provisioning.analysis.analyzer import analyze
    from provisioning.analysis.model import ClusterModel

    cluster, nps = generate(pods, namespaces, policies, seed)
    extra = generate_cnps(cnps, [n for n in cluster["namespaces"] if n != "kube-system"], seed)
    model = ClusterModel.from_dict(cluster)
    print(
        f"{pods} pods, {namespaces} namespaces, {policies} NetworkPolicies, seed {seed}; "
        f"median of {repeat}; analysis = every pair on every declared port (analyze() wall "
        f"time, validation and compiling included); goal with {cnps} ClusterNetworkPolicies: "
        f"under {CNP_GOAL_S:.0f} s"
    )
    rows = {}
    for label, objects in (
        ("NetworkPolicies only", nps),
        (f"+ {cnps} ClusterNetworkPolicies", nps + extra),
    ):
        walls = []
        for _ in range(repeat):
            started = time.perf_counter()
            analysis = analyze(model, objects, None, "reference")
            walls.append(time.perf_counter() - started)
        rows[label] = (statistics.median(walls), analysis)
        print(
            f"  {label:<36} {statistics.median(walls):>7.3f} s   {analysis.probes} probes, "
            f"{analysis.allowed} allowed",
            flush=True,
        )
    (base, _), (with_cnp, _) = rows.values()
    verdict = "met" if with_cnp < CNP_GOAL_S else "MISSED"
    print(f"  ratio {with_cnp / base:.2f}x; goal {verdict}")


# -- measuring (runs in a subprocess per size) ---------------------------------------------------


def measure(
    pods: int, namespaces: int, policies: int, seed: int, repeat: int, sample: int, all_ports: bool
) -> dict:
    from provisioning.analysis.analyzer import analyze, parse_policies
    from provisioning.analysis.model import ClusterModel, Probe
    from tests.analysis import reference

    cluster_dict, policy_dicts = generate(pods, namespaces, policies, seed)
    model = ClusterModel.from_dict(cluster_dict)
    rss_before = _rss_mib()
    walls, seconds = [], []
    allowed = probes = 0
    for _ in range(repeat):
        started = time.perf_counter()
        analysis = analyze(model, policy_dicts, None, "reference", ports=[(80, "TCP")])
        walls.append(time.perf_counter() - started)
        seconds.append(analysis.seconds)
        allowed, probes = analysis.allowed, analysis.probes
    out: dict[str, Any] = {
        "pods": len(model.pods),
        "namespaces": len(model.namespaces),
        "policies": policies,
        "tcp80_probes": probes,
        "tcp80_allowed": allowed,
        "fast_wall_median_s": statistics.median(walls),
        "fast_analysis_median_s": statistics.median(seconds),
    }
    if all_ports:
        started = time.perf_counter()
        full = analyze(model, policy_dicts, None, "reference")
        out["all_ports_wall_s"] = time.perf_counter() - started
        out["all_ports_probes"] = full.probes
        out["all_ports_allowed"] = full.allowed
    if sample:
        parse_policies(
            policy_dicts
        )  # the naive evaluator assumes valid input, as the fast one checks
        rng = random.Random(seed + 1)
        raw = cluster_dict["pods"]
        pairs = [(rng.choice(raw), rng.choice(raw)) for _ in range(sample)]
        names = [
            (f"{s['namespace']}/{s['name']}", f"{d['namespace']}/{d['name']}") for s, d in pairs
        ]
        started = time.perf_counter()
        naive = [
            reference.allowed_between(cluster_dict, policy_dicts, s, d, sn, dn, 80, "TCP")
            for (s, d), (sn, dn) in zip(pairs, names, strict=True)
        ]
        per_pair = (time.perf_counter() - started) / sample
        # Sanity: on the sampled pairs, the fast engine gives the same verdicts.
        fast = analyze(model, policy_dicts, [Probe(sn, dn, 80) for sn, dn in names], "reference")
        out["naive_agrees_on_sample"] = naive == [r.allowed for r in fast.results()]
        out["naive_sample_pairs"] = sample
        out["naive_per_pair_s"] = per_pair
        out["naive_extrapolated_s"] = per_pair * probes
        out["speedup_vs_naive"] = per_pair * probes / out["fast_wall_median_s"]
    out["rss_before_analysis_mib"] = rss_before
    out["peak_rss_mib"] = _rss_mib()
    return out


# -- reading (--load) --------------------------------------------------------------------------

LOAD_GOAL_S = 1.0


def write_load_inputs(folder: Path, cluster: dict, policies: list[dict]) -> dict[str, tuple]:
    """The inputs in three forms: form -> (cluster path, policies path)."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    (folder / "cluster.json").write_text(json.dumps(cluster), encoding="utf-8")
    (folder / "cluster.yaml").write_text(yaml.dump(cluster, Dumper=dumper), encoding="utf-8")
    listing = {"apiVersion": "v1", "kind": "List", "items": policies}
    (folder / "policies.json").write_text(json.dumps(listing), encoding="utf-8")
    (folder / "policies.yaml").write_text(
        yaml.dump_all(policies, Dumper=dumper, sort_keys=False), encoding="utf-8"
    )
    per_file = folder / "policies"
    per_file.mkdir()
    for i, policy in enumerate(policies):
        (per_file / f"np-{i:05d}.json").write_text(json.dumps(policy), encoding="utf-8")
    return {
        "one JSON List file": (folder / "cluster.json", folder / "policies.json"),
        "multi-document YAML": (folder / "cluster.yaml", folder / "policies.yaml"),
        "folder of .json files": (folder / "cluster.json", per_file),
    }


def measure_load(pods: int, namespaces: int, policies: int, seed: int, repeat: int) -> None:
    import tempfile

    import yaml

    from provisioning.analysis.analyzer import analyze
    from provisioning.analysis.load import load_cluster, load_policies
    from provisioning.analysis.model import ClusterModel

    cluster, policy_dicts = generate(pods, namespaces, policies, seed)
    print(
        f"reading {policies} policies, {pods} pods, {namespaces} namespaces (seed {seed}); "
        f"after = median of {repeat}; analysis = analyze() as `invoke analyze` runs it "
        f"(every pair on every declared port); goal: load + analysis under {LOAD_GOAL_S:.0f} s"
    )
    print(
        f"PyYAML {yaml.__version__}, libyaml loader "
        f"{'present' if hasattr(yaml, 'CSafeLoader') else 'ABSENT'}"
    )
    header = f"{'form':<44} {'size MB':>8} {'load s':>8} {'analysis s':>10} {'total s':>8}  goal"
    print(header)

    def row(form: str, size: int, load_s: float, analysis_s: float) -> None:
        total = load_s + analysis_s
        verdict = "met" if total < LOAD_GOAL_S else "MISSED"
        print(
            f"{form:<44} {size / 1e6:>8.1f} {load_s:>8.3f} {analysis_s:>10.3f} {total:>8.3f}  "
            f"{verdict}",
            flush=True,
        )

    with tempfile.TemporaryDirectory(prefix="analyze-bench-") as tmp:
        forms = write_load_inputs(Path(tmp), cluster, policy_dicts)
        analysis_median: dict[str, float] = {}
        for form, (cluster_path, policies_path) in forms.items():
            loads, analyses = [], []
            for _ in range(repeat):
                started = time.perf_counter()
                model = load_cluster(cluster_path)
                parsed = load_policies(policies_path)
                loaded = time.perf_counter()
                analysis = analyze(model, parsed, None, "reference")
                analyses.append(time.perf_counter() - loaded)
                loads.append(loaded - started)
            assert len(parsed) == policies
            size = cluster_path.stat().st_size + sum(
                p.stat().st_size
                for p in ([policies_path] if policies_path.is_file() else policies_path.iterdir())
            )
            analysis_median[form] = statistics.median(analyses)
            row(f"after: {form}", size, statistics.median(loads), analysis_median[form])
        # How much of it is the cyclic garbage collector walking the freshly built objects.
        import gc

        cluster_path, policies_path = forms["one JSON List file"]
        loads = []
        for _ in range(repeat):
            gc.disable()
            try:
                started = time.perf_counter()
                load_policies(policies_path)
                load_cluster(cluster_path)
                loads.append(time.perf_counter() - started)
            finally:
                gc.enable()
        size = cluster_path.stat().st_size + policies_path.stat().st_size
        row(
            "after: one JSON List file, gc paused in load",
            size,
            statistics.median(loads),
            analysis_median["one JSON List file"],
        )
        # The old reader: yaml.safe_load_all (pure-Python SafeLoader) over the JSON files.
        started = time.perf_counter()
        with open(cluster_path, encoding="utf-8") as f:
            model = ClusterModel.from_dict(next(yaml.load_all(f.read(), Loader=yaml.SafeLoader)))
        with open(policies_path, encoding="utf-8") as f:
            docs = list(yaml.load_all(f.read(), Loader=yaml.SafeLoader))
        items = docs[0]["items"]
        loaded = time.perf_counter()
        old = analyze(model, items, None, "reference")  # validates and parses the dicts
        analysis_s = time.perf_counter() - loaded
        assert (old.probes, old.allowed) == (analysis.probes, analysis.allowed)
        size = cluster_path.stat().st_size + policies_path.stat().st_size
        row("before: JSON List file, pure-Python YAML, x1", size, loaded - started, analysis_s)
        print(f"  {analysis.probes} probes counted, {analysis.allowed} allowed (same before/after)")


def _rss_mib() -> float:
    # ru_maxrss is in KiB on Linux: the peak resident set of this process so far.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        nargs="+",
        default=[
            "200:10:50",
            "500:20:125",
            "1000:25:250",
            "2000:50:500",
            "5000:80:800",
            "10000:120:1200",
            "20000:200:2000",
        ],
        help="pods:namespaces:policies, one subprocess each",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5, help="fast runs per size (median)")
    parser.add_argument("--sample", type=int, default=2000, help="pairs for the naive evaluator")
    parser.add_argument(
        "--load",
        type=int,
        metavar="N",
        help="measure reading instead: N policies loaded (three file forms) and analysed",
    )
    parser.add_argument(
        "--load-cluster",
        default="1000:100",
        metavar="PODS:NAMESPACES",
        help="the cluster for --load (default 1000:100)",
    )
    parser.add_argument(
        "--cnp",
        type=int,
        metavar="N",
        help="measure N ClusterNetworkPolicies added to the 2000:50:500 cluster (issue 13)",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cnp:
        measure_cnp(2000, 50, 500, args.cnp, args.seed, args.repeat)
        return
    if args.load:
        pods, nss = map(int, args.load_cluster.split(":"))
        measure_load(pods, nss, args.load, args.seed, args.repeat)
        return
    if args.one:
        pods, nss, pols = map(int, args.one.split(":"))
        all_ports = pods <= 20000
        print(json.dumps(measure(pods, nss, pols, args.seed, args.repeat, args.sample, all_ports)))
        return
    header = (
        f"{'pods':>6} {'ns':>4} {'pols':>5} {'TCP/80 pairs':>12} {'fast s':>8} {'all-ports s':>11} "
        f"{'naive s (extrap.)':>17} {'speedup':>9} {'peak RSS MiB':>12} {'agree':>6}"
    )
    print(f"seed {args.seed}, fast = median of {args.repeat}, naive = {args.sample} sampled pairs")
    print(header)
    for size in args.sizes:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            size,
            "--seed",
            str(args.seed),
            "--repeat",
            str(args.repeat),
            "--sample",
            str(args.sample),
        ]
        row = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        print(
            f"{row['pods']:>6} {row['namespaces']:>4} {row['policies']:>5} "
            f"{row['tcp80_probes']:>12} "
            f"{row['fast_wall_median_s']:>8.3f} {row.get('all_ports_wall_s', float('nan')):>11.3f} "
            f"{row.get('naive_extrapolated_s', float('nan')):>17.1f} "
            f"{row.get('speedup_vs_naive', float('nan')):>8.0f}x {row['peak_rss_mib']:>12.0f} "
            f"{'yes' if row.get('naive_agrees_on_sample') else 'NO':>6}",
            flush=True,
        )
        print("  " + json.dumps(row), file=sys.stderr)


if __name__ == "__main__":
    main()
