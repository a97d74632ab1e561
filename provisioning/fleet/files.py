"""Files a fleet writes outside the lab folders (attendee kubeconfigs, the dashboard page).

``write_atomic`` writes the bytes to a new temporary file in the same folder (``O_CREAT |
O_EXCL`` with the final mode, so the content is never readable more widely, whatever the umask
did), syncs it and renames it over ``path``: a reader sees the old file or the new one, never
half of one. A failure leaves neither a partial file at ``path`` nor the temporary file, and is
one line (``error``'s type) naming the file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from provisioning.errors import LabError


def write_atomic(
    path: Path,
    data: bytes,
    *,
    mode: int,
    what: str,
    error: type[LabError],
    folder_mode: int = 0o700,
) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")

    def failed(exc: OSError) -> LabError:
        return error(f"cannot write the {what} {path}: {exc.strerror or exc}")

    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=folder_mode)
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    except OSError as exc:
        raise failed(exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # the umask can only have narrowed it
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise failed(exc) from None
        raise
    return path
