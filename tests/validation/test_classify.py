"""agnhost ``connect`` outputs and exit codes, as connect.go prints them, and kubectl's own."""

from __future__ import annotations

import pytest

from provisioning.validation.probe import Outcome, classify_agnhost

KUBECTL_TAIL = "command terminated with exit code 1"


@pytest.mark.parametrize(
    ("code", "output", "outcome"),
    [
        (0, "", Outcome.CONNECTED),
        (1, f"TIMEOUT\n{KUBECTL_TAIL}", Outcome.BLOCKED),
        (1, f"REFUSED\n{KUBECTL_TAIL}", Outcome.REFUSED),
        # UDP variants carry the Go error after the marker.
        (1, "TIMEOUT: read udp 10.244.1.5:46520->10.244.2.7:81: i/o timeout", Outcome.BLOCKED),
        (
            1,
            "REFUSED: read udp 10.244.1.5:46520->10.244.2.7:81: connection refused",
            Outcome.REFUSED,
        ),
        # The probe could not tell anything about the network: never "blocked".
        (1, "DNS: lookup server.demo on 10.96.0.10:53: no such host", Outcome.ERROR),
        (1, "OTHER: dial tcp 10.244.2.7:80: connect: no route to host", Outcome.ERROR),
        (1, "UNKNOWN: address 10.244.2.7: missing port in address", Outcome.ERROR),
        (1, 'Error from server (NotFound): pods "client" not found', Outcome.ERROR),
        (1, 'error: unable to upgrade connection: container not found ("agnhost")', Outcome.ERROR),
        (
            126,
            'OCI runtime exec failed: exec: "/agnhost": stat /agnhost: no such file',
            Outcome.ERROR,
        ),
        (137, "", Outcome.ERROR),
        (0, "something unexpected", Outcome.ERROR),
        # A TIMEOUT marker with another exit code is not agnhost's: do not trust it.
        (2, "TIMEOUT", Outcome.ERROR),
    ],
)
def test_classification(code: int, output: str, outcome: Outcome) -> None:
    assert classify_agnhost(code, output)[0] is outcome


def test_detail_names_the_marker_line_not_kubectls_tail() -> None:
    assert classify_agnhost(1, f"REFUSED\n{KUBECTL_TAIL}")[1] == "REFUSED"
    assert "no route to host" in classify_agnhost(1, "OTHER: no route to host\n")[1]


def test_refused_counts_as_allowed_and_error_as_unknown() -> None:
    assert Outcome.REFUSED.allowed is True
    assert Outcome.CONNECTED.allowed is True
    assert Outcome.BLOCKED.allowed is False
    assert Outcome.ERROR.allowed is None
