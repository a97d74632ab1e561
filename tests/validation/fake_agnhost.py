"""A stand-in for ``agnhost connect`` that prints what the real one prints, for local runs.

Written from the documented behaviour of kubernetes/kubernetes
test/images/agnhost/connect/connect.go (not copied; read at commit 81810de6, the file agnhost
2.5x and 2.6x build from): success exits 0 silently; failures exit 1
with one stderr line ``TIMEOUT``, ``REFUSED``, ``DNS: ...``, ``OTHER: ...`` or ``UNKNOWN: ...``;
UDP sends ``hostname\\n`` and needs a reply, and its TIMEOUT/REFUSED lines carry the error text.
``FAKE_AGNHOST_SOURCE`` binds the source address, standing in for the pod's own IP.

A host name is resolved first, as agnhost does (``net.ResolveTCPAddr`` before dialling), by a
minimal UDP DNS client asking ``FAKE_AGNHOST_DNS`` (the pod's nameserver) for an A record, one
try of ``FAKE_AGNHOST_DNS_TIMEOUT`` seconds (a resolv.conf ``timeout``). Failures print what Go's
resolver says after ``DNS: ``: ``lookup NAME on IP:53: read udp SRC->IP:53: i/o timeout`` or
``lookup NAME on IP:53: no such host``.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import sys


def duration(text: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)(ms|s|m)", text):
        total += float(number) * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]
    return total


def fail(line: str) -> None:
    # connect.go: every failure is one line on stderr (fmt.Fprintf(os.Stderr, ...)), exit 1.
    sys.stderr.write(line + "\n")
    sys.exit(1)


def dns_query(name: str, ident: int) -> bytes:
    labels = b"".join(bytes([len(x)]) + x.encode() for x in name.rstrip(".").split("."))
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + b"\0" + b"\0\1\0\1"


def first_a_record(reply: bytes) -> str | None:
    """The first A record's address in a DNS reply; None for NXDOMAIN or no answer."""
    _, flags, qdcount, ancount = struct.unpack("!HHHH", reply[:8])
    if flags & 0xF:
        return None
    pos = 12
    for _ in range(qdcount):
        while reply[pos]:
            pos += reply[pos] + 1
        pos += 5
    for _ in range(ancount):
        pos += 2 if reply[pos] & 0xC0 == 0xC0 else len(reply[pos:].split(b"\0", 1)[0]) + 1
        kind, _, _, length = struct.unpack("!HHIH", reply[pos : pos + 10])
        pos += 10
        if kind == 1 and length == 4:
            return socket.inet_ntoa(reply[pos : pos + 4])
        pos += length
    return None


def resolve(host: str) -> str:
    try:
        socket.inet_aton(host)
        return host
    except OSError:
        pass
    server = os.environ.get("FAKE_AGNHOST_DNS", "")
    if not server:
        fail(f"DNS: lookup {host}: no nameserver configured")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if source := os.environ.get("FAKE_AGNHOST_SOURCE"):
        sock.bind((source, 0))
    sock.settimeout(float(os.environ.get("FAKE_AGNHOST_DNS_TIMEOUT", "5")))
    # Go's resolver error text (net/dnsclient_unix.go, net/net.go DNSError.Error), after
    # connect.go's "DNS: " prefix.
    where = f"lookup {host} on {server}:53"
    try:
        sock.connect((server, 53))
        sock.send(dns_query(host, os.getpid() & 0xFFFF))
        address = first_a_record(sock.recv(512))
    except TimeoutError:
        local = "{}:{}".format(*sock.getsockname())
        fail(f"DNS: {where}: read udp {local}->{server}:53: i/o timeout")
    except OSError as exc:
        fail(f"DNS: {where}: {exc.strerror}")
    if address is None:
        fail(f"DNS: {where}: no such host")
    return address


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] != "connect":
        # connect.go has cobra reject bad arguments; this stand-in prints an UNKNOWN line.
        fail("UNKNOWN: usage: connect host:port --timeout=D --protocol=tcp|udp")
    target, timeout, protocol = argv[1], 0.0, "tcp"
    for arg in argv[2:]:
        if arg.startswith("--timeout="):
            timeout = duration(arg.split("=", 1)[1])
        elif arg.startswith("--protocol="):
            protocol = arg.split("=", 1)[1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        # connect.go connectTCP: net.SplitHostPort error -> "UNKNOWN: <err>".
        fail(f"UNKNOWN: address {target}: missing port in address")
    address = resolve(host.strip("[]"))
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    sock = socket.socket(socket.AF_INET, kind)
    if source := os.environ.get("FAKE_AGNHOST_SOURCE"):
        sock.bind((source, 0))
    sock.settimeout(timeout or None)
    try:
        sock.connect((address, int(port)))
        if protocol == "udp":
            sock.send(b"hostname\n")
            sock.recv(1024)
    except TimeoutError as exc:
        # connect.go: TCP opErr.Timeout() -> "TIMEOUT"; UDP (parseUDPErrorAndExit) "TIMEOUT: <err>".
        fail("TIMEOUT" if protocol == "tcp" else f"TIMEOUT: read udp {target}: i/o timeout {exc}")
    except ConnectionRefusedError:
        # connect.go: TCP ECONNREFUSED -> "REFUSED"; UDP "connection refused" -> "REFUSED: <err>".
        fail("REFUSED" if protocol == "tcp" else f"REFUSED: read udp {target}: connection refused")
    except OSError as exc:
        # connect.go: any other TCP error -> "OTHER: <err>" (a UDP read error other than timeout
        # or refusal prints "UNKNOWN: <err>" upstream; this stand-in says OTHER).
        fail(f"OTHER: dial {protocol} {target}: {exc.strerror}")


if __name__ == "__main__":
    main(sys.argv[1:])
