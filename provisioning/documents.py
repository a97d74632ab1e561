"""Reading the YAML and JSON files a user hands the tool, within bounds.

Profiles, scenario files and the ``analyze`` inputs (cluster, policies, probes) all come from the
user and may be broken or hostile: a folder where a file was expected, binary bytes, a file that
never ends (``/dev/zero``), a document nested ten thousand levels deep, or a 400-byte "billion
laughs" alias bomb that expands to gigabytes. Everything here fails with one ``UsageError`` line
naming the file, within a bounded time and memory, before a value is ever built:

- size: a file is read up to a limit (``MAX_BYTES``) and refused past it;
- text: it must be UTF-8;
- aliases: the composed YAML is measured as a decoder would expand it, and refused with the rule
  go-yaml applies for Kubernetes (``allowedAliasRatio`` in go-yaml v3 ``decode.go``, the fix for
  CVE-2019-11253, kubernetes/kubernetes#83253): past 1,000 decoded nodes and 100 through aliases,
  at most 99% of the nodes may come from aliases below 400,000 decodes, scaling down to 10% at
  4,000,000; an anchor that contains itself is refused too;
- depth: at most ``MAX_DEPTH`` levels of nesting (Python would otherwise hit its recursion limit);
- duplicate keys in a mapping are refused, as the API server's strict field validation and
  ``sigs.k8s.io/yaml``'s strict decoding refuse them, instead of keeping the last one silently.

JSON files (``.json``) are parsed with ``json``; YAML with libyaml's C loader when PyYAML has it.
``shown`` renders a value for a message in bounded length, however large or self-referencing.
"""

from __future__ import annotations

import contextlib
import json
import os
import reprlib
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from provisioning.errors import UsageError


class DocumentError(UsageError):
    """A document that cannot be parsed: ``line`` (1-based, or None) and ``problem`` for callers
    that word the message their own way."""

    def __init__(self, message: str, *, line: int | None = None, problem: str = "") -> None:
        super().__init__(message)
        self.line = line
        self.problem = problem or message


MAX_BYTES = 32 * 1024 * 1024  # the analyzer's inputs: 10,000 policies are about 4 MB of JSON
SMALL_MAX_BYTES = 256 * 1024  # profiles, invoke.yaml, scenario files: a few kilobytes in practice
# Past this size a YAML text is first counted as a stream of parser events (constant memory),
# so a dense document is refused before libyaml builds a Python node for each of its values.
PRESCAN_BYTES = 256 * 1024
MAX_NODES = 1_500_000  # YAML nodes in one file: 10,000 NetworkPolicies are about 400,000
MAX_DEPTH = 200
MAX_DECODED = 20_000_000  # nodes a decode may build, aliases expanded

# go-yaml v3 decode.go: alias_ratio_range_low / alias_ratio_range_high.
_RATIO_LOW = 400_000
_RATIO_HIGH = 4_000_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _allowed_alias_ratio(decoded: int) -> float:
    if decoded <= _RATIO_LOW:
        return 0.99
    if decoded >= _RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _RATIO_LOW) / (_RATIO_HIGH - _RATIO_LOW)


# --- reading ------------------------------------------------------------------------------


def read_text(path: Path, *, what: str, limit: int = MAX_BYTES) -> str:
    """The file's text, or one line saying why it cannot be used. ``what`` names it for the user
    (``--cluster file``, ``profile``); the path is always in the message."""
    where = f"{what} {path}" if what else str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UsageError(f"{where}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{where}: {_os_problem(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{where}: is a folder, not a file; give the path of a file") from None
    if stat.S_ISREG(info.st_mode) and info.st_size > limit:  # refused without reading it
        raise UsageError(
            f"{where}: larger than {_size(limit)}; this is not a file the tool expects"
        )
    try:
        data = read_at_most(path, limit + 1)
    except OSError as exc:
        raise UsageError(f"{where}: cannot read it: {_os_problem(exc)}") from None
    if len(data) > limit:
        raise UsageError(
            f"{where}: larger than {_size(limit)}; this is not a file the tool expects"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{where}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "is it the right file?"
        ) from None


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a large document is built and checked.

    Parsing allocates hundreds of thousands of small, acyclic dicts and lists; each allocation
    burst triggers a collection that walks them all again, about half the load time of 10,000
    policies. Nothing built here is cyclic (self-containing anchors are refused), so reference
    counting frees it all; the collector is restored afterwards.
    """
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_at_most(path: Path, size: int) -> bytes:
    """Up to ``size`` bytes. Opened without blocking, so a named pipe nobody writes to reads as
    empty instead of waiting forever; then blocking again, so ``<(cmd)`` is read as it comes."""
    import fcntl

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        chunks, left = [], size
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _os_problem(exc: OSError) -> str:
    import errno

    if exc.errno == errno.ELOOP:
        return "a symbolic link loop (a link that points back to itself)"
    if exc.errno == errno.EACCES:
        return "permission denied; check the file's permissions"
    return exc.strerror or str(exc)


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n // 1024} KiB"


# --- parsing ------------------------------------------------------------------------------


def parse_json(text: str, *, source: str) -> Any:
    """One JSON document; duplicate keys and deep nesting refused."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates(source))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: not valid JSON: {exc}") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise UsageError(f"{source}: {_value_problem(exc)}") from None
    except RecursionError:
        raise UsageError(f"{source}: nested too deeply to be a Kubernetes object") from None


def _no_duplicates(source: str) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise UsageError(
                    f"{source}: duplicate key {shown(key)}; each key may appear once per object"
                )
            out[key] = value
        return out

    return hook


def parse_yaml_documents(text: str, *, source: str) -> list[Any]:
    """Every document of a YAML stream (empty documents left out), each checked before it is
    built (aliases, depth, duplicate keys)."""
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    if len(text) > PRESCAN_BYTES:
        _count_nodes(text, loader_class, source)
    loader = loader_class(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _check_node(node, source)
            value = loader.construct_document(node)
            if value is not None:
                documents.append(value)
        return documents
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = _yaml_problem(exc)
        raise DocumentError(
            f"{source}{f':{line}' if line else ''}: not valid YAML: {problem}",
            line=line,
            problem=problem,
        ) from None
    except RecursionError:
        raise UsageError(f"{source}: nested too deeply to be a Kubernetes object") from None
    except (ValueError, TypeError) as exc:  # a value YAML's constructors cannot build
        raise UsageError(f"{source}: {_value_problem(exc)}") from None
    finally:
        loader.dispose()


def _count_nodes(text: str, loader_class: Any, source: str) -> None:
    import yaml

    nodes = 0
    loader = loader_class(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)):
                nodes += 1
                if nodes > MAX_NODES:
                    raise UsageError(
                        f"{source}: more than {MAX_NODES:,} YAML values; too large for the "
                        "analyzer (split it, or check it is the right file)"
                    )
    except yaml.YAMLError:
        return  # parse_yaml_documents reports it with its line
    finally:
        loader.dispose()


def parse_yaml(text: str, *, source: str) -> Any:
    """A single YAML document (``None`` when empty); a stream of several is refused."""
    documents = parse_yaml_documents(text, source=source)
    if len(documents) > 1:
        raise UsageError(f"{source}: holds {len(documents)} YAML documents; expected one")
    return documents[0] if documents else None


def load_file(path: Path, *, what: str = "", limit: int = MAX_BYTES, multi: bool = False) -> Any:
    """Read and parse a file: JSON when it ends in ``.json``, YAML otherwise. With ``multi`` a
    list of documents (a JSON file is one document)."""
    text = read_text(path, what=what, limit=limit)
    source = f"{what} {path}" if what else str(path)
    if path.suffix.lower() == ".json":
        value = parse_json(text, source=source)
        return [value] if multi else value
    if multi:
        return parse_yaml_documents(text, source=source)
    return parse_yaml(text, source=source)


def _value_problem(exc: Exception) -> str:
    text = str(exc)
    if "digits" in text:
        return "holds a number with more than 4300 digits; that is not a value the tool expects"
    return f"holds a value that cannot be read: {cut(' '.join(text.split()), 120)}"


def _yaml_problem(exc: Any) -> str:
    problem = getattr(exc, "problem", None) or str(exc)
    return cut(" ".join(str(problem).split()), 160)


# --- measuring a composed YAML document ---------------------------------------------------


def _check_node(root: Any, source: str) -> None:
    """Walk the node graph in document order as a decoder would, without building values.

    PyYAML composes an alias as the very node its anchor names, so a node met a second time is
    an alias: its expanded size counts toward the decode (as go-yaml's ``aliasCount``), and it
    is not walked again. A node met again while it is still being walked contains itself.
    """
    from yaml.nodes import MappingNode, SequenceNode

    sizes: dict[int, int] = {}  # id(node) -> nodes it expands to, once walked
    open_nodes: set[int] = set()
    decoded = 1  # the document node (go-yaml's DocumentNode is a decode of its own)
    aliased = 0
    # Iterative post-order walk: (node, depth, children-iterator or None)
    stack: list[tuple[Any, int, Iterator[Any] | None]] = [(root, 1, None)]
    totals: list[int] = []  # running expanded size of each open node, parallel to open frames
    while stack:
        node, depth, children = stack.pop()
        if children is None:
            key = id(node)
            if key in sizes:  # an alias to a finished node: the alias node, then its target
                decoded += 1 + sizes[key]
                aliased += sizes[key]
                if totals:
                    totals[-1] += 1 + sizes[key]
                _check_ratio(decoded, aliased, source)
                continue
            if key in open_nodes:
                raise UsageError(
                    f"{source}:{node.start_mark.line + 1}: an anchor contains an alias to itself; "
                    "this document would never end"
                )
            if depth > MAX_DEPTH:
                raise UsageError(
                    f"{source}:{node.start_mark.line + 1}: nested deeper than {MAX_DEPTH} levels"
                )
            decoded += 1
            _check_ratio(decoded, aliased, source)
            if isinstance(node, MappingNode):
                _check_keys(node, source)
                kids: list[Any] = [part for pair in node.value for part in pair]
            elif isinstance(node, SequenceNode):
                kids = list(node.value)
            else:
                sizes[key] = 1
                if totals:
                    totals[-1] += 1
                continue
            open_nodes.add(key)
            totals.append(1)
            stack.append((node, depth, iter(kids)))
            continue
        child = next(children, None)
        if child is None:
            key = id(node)
            open_nodes.discard(key)
            size = totals.pop()
            sizes[key] = size
            if totals:
                totals[-1] += size
            continue
        stack.append((node, depth, children))
        stack.append((child, depth + 1, None))


def _check_ratio(decoded: int, aliased: int, source: str) -> None:
    if decoded > MAX_DECODED or (
        aliased > 100 and decoded > 1000 and aliased / decoded > _allowed_alias_ratio(decoded)
    ):
        raise UsageError(
            f"{source}: document contains excessive aliasing (its anchors and aliases expand "
            "to far more than the file holds); write the values out instead of aliasing them"
        )


def _check_keys(node: Any, source: str) -> None:
    from yaml.nodes import ScalarNode

    seen: set[str] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
            continue
        if key_node.value in seen:
            raise UsageError(
                f"{source}:{key_node.start_mark.line + 1}: duplicate key {shown(key_node.value)}; "
                "each key may appear once per mapping"
            )
        seen.add(key_node.value)


# --- showing values in messages -----------------------------------------------------------

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = 4
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlong = 40


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for a message, bounded: nested containers and long strings are elided, so
    a huge or aliased value never expands into the message."""
    return cut(_REPR.repr(value), limit)


def shown_path(path: Any, limit: int = 300) -> str:
    """A path for a message: as it is when every character prints, else quoted with its control
    characters escaped (a newline or a terminal escape in a name cannot break the line or the
    terminal); cut only when very long."""
    text = str(path)
    return cut(text if text.isprintable() else repr(text), limit)


def cut(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line (runs of white space, newlines included, made one space), cut to
    ``limit`` characters: an error kept in a record or shown in a table row."""
    return cut(" ".join(text.split()), limit)
