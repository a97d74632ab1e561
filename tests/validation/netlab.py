"""Real traffic for the validation tests: loopback listeners and genuinely dropped packets.

Two ways to drop traffic, because not every machine allows the first:

- ``NetnsLab``: a network namespace of our own (``ip netns``) with iptables DROP rules per
  source/destination/port. Sockets are created inside it by switching only the calling thread
  into the namespace (``setns(2)`` is per thread) for the moment of creation; a socket keeps its
  namespace for life. Needs root (CAP_NET_ADMIN), ``ip`` and ``iptables``.
- ``FullBacklogListener``: a TCP listener with backlog 0 whose single accept-queue slot is taken
  and never accepted. Linux then drops further SYNs (tcp_conn_request: the listen queue
  overflows and, with ``tcp_abort_on_overflow=0``, the SYN is dropped silently), so a connect
  genuinely times out. Works unprivileged on loopback; cannot block one source but not another.

Nothing here touches an address outside loopback or outside the namespaces these helpers create.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_names = itertools.count()


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def netns_unavailable() -> str | None:
    """Why a namespace with iptables cannot be used here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root for ip netns and iptables"
    for tool in ("ip", "iptables"):
        if not shutil.which(tool):
            return f"{tool} is not installed (apt-get install iproute2 iptables)"
    try:
        with NetnsLab() as lab:
            lab.drop("127.0.0.1", "127.0.0.1", 9, "TCP")
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"cannot create a network namespace with a drop rule here: {exc}"
    return None


class NetnsLab:
    """A throw-away network namespace with loopback up; removed on exit with its rules."""

    def __init__(self) -> None:
        self.name = f"npl-test-{os.getpid()}-{next(_names)}"
        self.path = f"/run/netns/{self.name}"
        self._servers: list[socket.socket] = []

    def __enter__(self) -> NetnsLab:
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        try:
            self._ip("link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for server in self._servers:
            with suppress(OSError):
                server.close()
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)

    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", "-n", self.name, *args], check=True, capture_output=True)

    def iptables(self, *args: str) -> None:
        subprocess.run(
            ["ip", "netns", "exec", self.name, "iptables", "-w", *args],
            check=True,
            capture_output=True,
        )

    def _rule(self, src: str, dst: str, port: int, protocol: str) -> list[str]:
        proto = protocol.lower()
        return ["INPUT", "-s", src, "-d", dst, "-p", proto, "--dport", str(port), "-j", "DROP"]

    def drop(self, src: str, dst: str, port: int, protocol: str = "TCP") -> None:
        """Silently drop ``src`` -> ``dst:port`` (what a NetworkPolicy deny does)."""
        self.iptables("-A", *self._rule(src, dst, port, protocol))

    def undrop(self, src: str, dst: str, port: int, protocol: str = "TCP") -> None:
        self.iptables("-D", *self._rule(src, dst, port, protocol))

    @contextmanager
    def inside(self) -> Iterator[None]:
        """Switch this thread into the namespace for the duration of the block."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(self.path, os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(own)
            os.close(target)

    def socket(self, family: int, kind: int) -> socket.socket:
        """A socket factory for ``SocketExecutor``: sockets that live in the namespace."""
        with self.inside():
            return socket.socket(family, kind)

    def tcp_listener(self, ip: str, port: int) -> None:
        with self.inside():
            server = socket.socket()
        self._servers.append(server)
        _serve_tcp(server, ip, port)

    def dns_server(self, ip: str, answers: dict[str, str]) -> None:
        """A UDP DNS server on ``ip``:53 answering A queries from ``answers``, else NXDOMAIN."""
        with self.inside():
            server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._servers.append(server)
        _serve_dns(server, ip, answers)

    def udp_echo(self, ip: str, port: int) -> None:
        with self.inside():
            server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._servers.append(server)
        _serve_udp(server, ip, port)


def _serve_tcp(server: socket.socket, ip: str, port: int) -> None:
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((ip, port))
    server.listen(128)

    def loop() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=loop, daemon=True).start()


def _serve_udp(server: socket.socket, ip: str, port: int) -> None:
    server.bind((ip, port))

    def loop() -> None:
        while True:
            try:
                data, peer = server.recvfrom(1024)
                server.sendto(b"echo:" + data, peer)
            except OSError:
                return

    threading.Thread(target=loop, daemon=True).start()


def _serve_dns(server: socket.socket, ip: str, answers: dict[str, str]) -> None:
    server.bind((ip, 53))
    table = {name.rstrip(".").lower(): address for name, address in answers.items()}

    def reply(query: bytes) -> bytes:
        pos, labels = 12, []
        while query[pos]:
            labels.append(query[pos + 1 : pos + 1 + query[pos]].decode())
            pos += query[pos] + 1
        question = query[12 : pos + 5]
        address = table.get(".".join(labels).lower())
        ident = query[:2]
        if address is None:  # NXDOMAIN, recursion available
            return ident + bytes([0x81, 0x83]) + b"\0\1\0\0\0\0\0\0" + question
        answer = b"\xc0\x0c\0\1\0\1\0\0\0\x1e\0\4" + socket.inet_aton(address)
        return ident + bytes([0x81, 0x80]) + b"\0\1\0\1\0\0\0\0" + question + answer

    def loop() -> None:
        while True:
            try:
                data, peer = server.recvfrom(512)
                server.sendto(reply(data), peer)
            except OSError:
                return

    threading.Thread(target=loop, daemon=True).start()


class TcpListener:
    """An accepting TCP listener on loopback in this namespace."""

    def __init__(self, ip: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = socket.socket()
        _serve_tcp(self.sock, ip, port)
        self.ip, self.port = self.sock.getsockname()[:2]

    def close(self) -> None:
        self.sock.close()


class UdpEcho:
    def __init__(self, ip: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _serve_udp(self.sock, ip, 0)
        self.ip, self.port = self.sock.getsockname()[:2]

    def close(self) -> None:
        self.sock.close()


class FullBacklogListener:
    """A listener whose accept queue is full, so new SYNs are dropped until ``release``."""

    def __init__(self, ip: str = "127.0.0.1") -> None:
        self.sock = socket.socket()
        self.sock.bind((ip, 0))
        self.sock.listen(0)  # Linux queues backlog + 1 = one connection
        self.ip, self.port = self.sock.getsockname()[:2]
        self._filler = socket.create_connection((self.ip, self.port), timeout=2)

    def release(self) -> None:
        """Start accepting: drain the queue and keep it drained."""
        self.sock.listen(128)
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.close()

    def close(self) -> None:
        self._filler.close()
        self.sock.close()


def closed_port(ip: str = "127.0.0.1") -> int:
    """A TCP port on ``ip`` where nothing listens (bound then released)."""
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]
