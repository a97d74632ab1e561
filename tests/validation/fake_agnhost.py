"""A stand-in for ``agnhost connect`` that prints what the real one prints, for local runs.

Written from the documented behaviour of kubernetes/kubernetes
test/images/agnhost/connect/connect.go (not copied): success exits 0 silently; failures exit 1
with one stderr line ``TIMEOUT``, ``REFUSED``, ``DNS: ...``, ``OTHER: ...`` or ``UNKNOWN: ...``;
UDP sends ``hostname\\n`` and needs a reply, and its TIMEOUT/REFUSED lines carry the error text.
``FAKE_AGNHOST_SOURCE`` binds the source address, standing in for the pod's own IP.
"""

from __future__ import annotations

import os
import re
import socket
import sys


def duration(text: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)(ms|s|m)", text):
        total += float(number) * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]
    return total


def fail(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.exit(1)


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] != "connect":
        fail("UNKNOWN: usage: connect host:port --timeout=D --protocol=tcp|udp")
    target, timeout, protocol = argv[1], 0.0, "tcp"
    for arg in argv[2:]:
        if arg.startswith("--timeout="):
            timeout = duration(arg.split("=", 1)[1])
        elif arg.startswith("--protocol="):
            protocol = arg.split("=", 1)[1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        fail(f"UNKNOWN: address {target}: missing port in address")
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    sock = socket.socket(socket.AF_INET, kind)
    if source := os.environ.get("FAKE_AGNHOST_SOURCE"):
        sock.bind((source, 0))
    sock.settimeout(timeout or None)
    try:
        sock.connect((host.strip("[]"), int(port)))
        if protocol == "udp":
            sock.send(b"hostname\n")
            sock.recv(1024)
    except TimeoutError as exc:
        fail("TIMEOUT" if protocol == "tcp" else f"TIMEOUT: read udp {target}: i/o timeout {exc}")
    except ConnectionRefusedError:
        fail("REFUSED" if protocol == "tcp" else f"REFUSED: read udp {target}: connection refused")
    except OSError as exc:
        fail(f"OTHER: dial {protocol} {target}: {exc.strerror}")


if __name__ == "__main__":
    main(sys.argv[1:])
