"""The README picture of the instructor's dashboard (``docs/fleet-dashboard.png``).

Renders a SAMPLE fleet document (built below as data: 30 attendees on exercise client-only, a
mix of states) with ``provisioning.fleet.dashboard.render_html`` and screenshots it in headless
Chromium. Nothing here is measured from a real fleet.
Run: ``python benchmarks/dashboard_picture.py [OUT.png]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provisioning.fleet.dashboard import render_html

ROOT = Path(__file__).resolve().parent.parent
WINDOW = "1600,1040"

# SAMPLE data for the picture, not a measurement: invented attendees on a 6-goal exercise.
NAMES = [
    "Alice Martin", "Bogdan Nowak", "Chiara Rossi", "Deepa Iyer", "Emeka Okafor",
    "Fatima Zahra El Idrissi", "Gustav Lindqvist", "Hannah Schmidt", "Ines Carvalho",
    "Jun Watanabe", "Kwame Mensah", "Lena Petrova", "Mateo García", "Nadia Haddad",
    "Oliver Brown", "Priya Nair", "Quentin Dubois", "Rosa Jiménez", "Sven Johansson",
    "Tomás Ó Briain", "Uma Krishnan", "Viktor Horváth", "Wei Zhang", "Xavier Laurent",
    "Yara Costa", "Zofia Kowalska", "Aarav Shah", "Beatriz Souza", "Connor Walsh",
    "Dilnoza Karimova",
]  # fmt: skip
GOALS = 6
FAILING_GOALS = [
    "demo/client -> demo/server:8080/TCP allow (got deny)",
    "demo/other -> demo/server:8080/TCP deny (got allow)",
    "demo/client -> kube-system/kube-dns:53/UDP allow (got deny)",
    "demo/client -> demo/db:5432/TCP deny (got allow)",
    "demo/server -> demo/client:80/TCP deny (got allow)",
    "demo/client -> 203.0.113.10:443/TCP deny (got allow)",
]
# attendee index -> (state, goals met); everyone else is working with (index % 5) + 1 met.
# As ``fleet status`` reports an exercise fleet: done, working (goals or pods not there yet),
# failed (``fleet up`` failed for that lab), not-up (no lab found).
STATES: dict[int, tuple[str, int]] = {
    0: ("done", 6), 3: ("done", 6), 4: ("done", 6), 7: ("done", 6), 10: ("done", 6),
    12: ("done", 6), 15: ("done", 6), 19: ("done", 6), 21: ("done", 6), 24: ("done", 6),
    27: ("done", 6), 29: ("done", 6),
    2: ("working", 0), 9: ("working", 0), 17: ("working", 0),
    13: ("failed", 0), 26: ("not-up", 0),
}  # fmt: skip
PODS_NOT_READY = 22  # this attendee's pods are still starting: no grading yet


def sample_doc() -> dict[str, Any]:
    attendees = []
    for i, name in enumerate(NAMES):
        ident = f"att{i + 1:02d}"
        state, met = STATES.get(i, ("working", (i % 5) + 1))
        att: dict[str, Any] = {
            "id": ident,
            "name": name,
            "lab": f"ws-{ident}",
            "state": state,
            "pods_ready": 4,
            "pods": 4,
            "policies": 0 if met == 0 else 1 + i % 3,
        }
        if i == PODS_NOT_READY:
            att.update(detail="3 of 4 pods Ready", pods_ready=3, check=None)
        elif state == "failed":
            att.update(
                detail="policy apply failed: demo/allow-dns: spec.egress[0].ports[0].port: "
                "Invalid value: 0",
                pods_ready=0,
                pods=0,
                policies=0,
                check=None,
            )
        elif state == "not-up":
            att.update(
                detail="no lab found: `invoke fleet up` creates the missing labs",
                pods_ready=0,
                pods=0,
                policies=0,
                check=None,
            )
        else:
            failing = [] if met == GOALS else FAILING_GOALS[met:]
            att.update(
                detail=f"{met} of {GOALS} goals met",
                check={
                    "exercise": "client-only",
                    "met": met,
                    "goals": GOALS,
                    "done": met == GOALS,
                    "failing": failing,
                },
            )
        attendees.append(att)
    states = [a["state"] for a in attendees]
    return {
        "fleet": "ws",
        "mode": "namespaces",
        "provider": "kind",
        "engine": "calico",
        "scenario": "aks-demo",
        "exercise": "client-only",
        "created": "2026-12-01T09:00:00Z",
        "expires": "2026-12-01T15:00:00Z",
        "generated": "2026-12-01T10:30:00Z",
        "attendees": attendees,
        "summary": {
            "attendees": len(attendees),
            "ready": sum(s in ("ready", "working", "done") for s in states),
            "done": states.count("done"),
            "working": states.count("working"),
            "failed": states.count("failed"),
            "not_up": states.count("not-up") + states.count("unreachable"),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "docs" / "fleet-dashboard.png"))
    parser.add_argument("--window", default=WINDOW, help="browser window WIDTH,HEIGHT")
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dashboard-picture-") as tmp:
        page = Path(tmp) / "dashboard.html"
        page.write_text(render_html(sample_doc(), refresh=None), encoding="utf-8")
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--no-first-run",
             f"--user-data-dir={Path(tmp) / 'profile'}", "--hide-scrollbars",
             f"--window-size={args.window}", f"--screenshot={out}", page.as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    print(f"{out}: {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
