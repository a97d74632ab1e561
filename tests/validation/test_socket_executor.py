"""Real probes over real sockets: connected, refused, and traffic that is genuinely dropped."""

from __future__ import annotations

import socket
import threading

import pytest

from provisioning.validation.probe import Outcome, SocketExecutor
from tests.validation.conftest import probe
from tests.validation.netlab import (
    FullBacklogListener,
    NetnsLab,
    TcpListener,
    UdpEcho,
    closed_port,
)

TIMEOUT = 0.5


def test_tcp_connected_and_refused_on_loopback() -> None:
    listener = TcpListener()
    try:
        results = SocketExecutor().run(
            [
                probe("demo/client", "demo/server", listener.port),
                probe("demo/client", "demo/server", closed_port()),
            ],
            TIMEOUT,
        )
    finally:
        listener.close()
    assert [r.outcome for r in results] == [Outcome.CONNECTED, Outcome.REFUSED]


def test_udp_reply_is_connected_and_port_unreachable_is_refused() -> None:
    echo = UdpEcho()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    try:
        results = SocketExecutor().run(
            [
                probe("demo/client", "demo/server", echo.port, "UDP"),
                probe("demo/client", "demo/server", closed, "UDP"),
            ],
            TIMEOUT,
        )
    finally:
        echo.close()
    assert [r.outcome for r in results] == [Outcome.CONNECTED, Outcome.REFUSED]


def test_full_backlog_drops_syns_so_the_probe_times_out() -> None:
    blocked = FullBacklogListener()
    try:
        (result,) = SocketExecutor().run([probe("a/b", "c/d", blocked.port)], TIMEOUT)
    finally:
        blocked.close()
    assert result.outcome is Outcome.BLOCKED


def test_netns_drop_rule_blocks_one_source_but_not_another(netns: NetnsLab) -> None:
    server, good, bad = "127.0.1.1", "127.0.2.1", "127.0.2.2"
    netns.tcp_listener(server, 80)
    netns.udp_echo(server, 81)
    netns.drop(bad, server, 80, "TCP")
    netns.drop(bad, server, 81, "UDP")
    executor = SocketExecutor(bind_source=True, socket_factory=netns.socket)
    results = executor.run(
        [
            probe("demo/client", "demo/server", 80, src_ip=good, dst_ip=server),
            probe("demo/intruder", "demo/server", 80, src_ip=bad, dst_ip=server),
            probe("demo/client", "demo/server", 81, "UDP", src_ip=good, dst_ip=server),
            probe("demo/intruder", "demo/server", 81, "UDP", src_ip=bad, dst_ip=server),
            probe("demo/intruder", "demo/server", 82, src_ip=bad, dst_ip=server),
        ],
        TIMEOUT,
    )
    assert [r.outcome for r in results] == [
        Outcome.CONNECTED,
        Outcome.BLOCKED,
        Outcome.CONNECTED,
        Outcome.BLOCKED,
        Outcome.REFUSED,
    ]


def test_an_unusable_probe_is_an_error_not_blocked() -> None:
    results = SocketExecutor().run(
        [
            probe("a/b", "c/d", 80, dst_ip="not-an-ip"),
            probe("a/b", "c/d", 80, "SCTP"),
        ],
        TIMEOUT,
    )
    assert {r.outcome for r in results} == {Outcome.ERROR}


class _Overlap:
    """Counts sockets alive at once: proof of concurrency that does not read the clock."""

    def __init__(self) -> None:
        self.alive = 0
        self.peak = 0
        self.lock = threading.Lock()

    def factory(self, family: int, kind: int) -> socket.socket:
        counter = self

        class Counted(socket.socket):
            def close(self) -> None:
                if self.fileno() != -1:
                    with counter.lock:
                        counter.alive -= 1
                super().close()

        with self.lock:
            self.alive += 1
            self.peak = max(self.peak, self.alive)
        return Counted(family, kind)


@pytest.mark.parametrize("n", [8, 24])
def test_blocked_probes_run_concurrently(n: int) -> None:
    blocked = FullBacklogListener()
    overlap = _Overlap()
    try:
        results = SocketExecutor(workers=64, socket_factory=overlap.factory).run(
            [probe(f"ns/c{i}", "ns/server", blocked.port) for i in range(n)], TIMEOUT
        )
    finally:
        blocked.close()
    assert {r.outcome for r in results} == {Outcome.BLOCKED}
    # Every blocked probe was waiting at the same moment: the batch costs one timeout, not n.
    assert overlap.peak == n
    assert overlap.alive == 0
