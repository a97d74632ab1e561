"""The instructor's dashboard page, read back with the standard library's HTML parser.

Structure (one card per attendee, in the document's order, with its id), the refresh meta, the
header's counts and expiry (from the document's own times, never the clock), escaping of hostile
values (no element or attribute from data ever appears; the full value survives in a title),
determinism, size with 200 attendees, and the atomic write.
"""

from __future__ import annotations

import copy
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.documents import cut
from provisioning.errors import UsageError
from provisioning.fleet import dashboard
from provisioning.fleet.dashboard import NAME_CHARS, render_html, write_dashboard

VOID = {"meta", "br", "img", "link", "input", "hr"}
# Every element the page is built from; anything else came from data.
TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "div", "h1", "span", "b",
    "main", "article", "footer",
}  # fmt: skip


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node] = field(default_factory=list)
    parts: list[str | Node] = field(default_factory=list)

    def text(self) -> str:
        return "".join(p if isinstance(p, str) else p.text() for p in self.parts)

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def all(self, pred: Callable[[Node], bool]) -> list[Node]:
        return [n for n in self.walk() if pred(n)]

    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())


class Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.tags: list[str] = []
        self.attr_names: set[str] = set()
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attr_names.update(name for name, _ in attrs)
        assert len(attrs) == len(dict(attrs)), f"duplicate attribute in <{tag}>: {attrs}"
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        self.stack[-1].parts.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].parts.append(data)


def parse(page: str) -> Tree:
    tree = Tree()
    tree.feed(page)
    tree.close()
    assert [n.tag for n in tree.stack] == ["#document"], "unclosed elements"
    assert tree.doctype.lower() == "doctype html"
    return tree


def cards(tree: Tree) -> list[Node]:
    return tree.root.all(lambda n: n.tag == "article" and "attendee" in n.classes())


def one(node: Node, cls: str) -> Node:
    found = node.all(lambda n: cls in n.classes())
    assert len(found) == 1, f".{cls}: {len(found)} found"
    return found[0]


def attendee(i: int, state: str = "working", **extra: Any) -> dict[str, Any]:
    ident = f"att{i:02d}"
    att: dict[str, Any] = {
        "id": ident,
        "name": f"Attendee {i}",
        "lab": f"ws-{ident}",
        "state": state,
        "detail": "3 of 6 goals met",
        "pods_ready": 4,
        "pods": 4,
        "policies": 2,
        "check": {
            "exercise": "client-only",
            "met": 3,
            "goals": 6,
            "done": False,
            "failing": [
                "demo/client -> demo/server:8080/TCP deny (got allow)",
                "demo/other -> demo/server:8080/TCP deny (got allow)",
                "demo/client -> kube-system/kube-dns:53/UDP allow (got deny)",
            ],
        },
    }
    att.update(extra)
    return att


def document(n: int = 5, **extra: Any) -> dict[str, Any]:
    states = ["done", "working", "ready", "failed", "not-up", "unreachable"]
    attendees = [attendee(i + 1, states[i % len(states)]) for i in range(n)]
    doc: dict[str, Any] = {
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
        "summary": {"attendees": 30, "ready": 28, "done": 12, "failed": 1, "not_up": 1},
    }
    doc.update(extra)
    return doc


# --- structure ----------------------------------------------------------------------------------


def test_one_card_per_attendee_in_the_documents_order() -> None:
    doc = document(6)
    doc["attendees"].reverse()
    tree = parse(render_html(doc))
    got = [c.attrs["data-attendee"] for c in cards(tree)]
    assert got == ["att06", "att05", "att04", "att03", "att02", "att01"]
    for card, att in zip(cards(tree), doc["attendees"], strict=True):
        assert card.attrs["data-state"] == att["state"]
        assert one(card, "name").text() == att["name"]
    assert set(tree.tags) <= TAGS


@pytest.mark.parametrize(
    ("state", "symbol", "word", "css"),
    [
        ("done", "✓", "done", "s-done"),
        ("failed", "✗", "failed", "s-failed"),
        ("working", "…", "in progress", "s-working"),
        ("ready", "○", "ready", "s-ready"),
        ("not-up", "!", "not up", "s-notup"),
        ("unreachable", "?", "unreachable", "s-unreach"),
    ],
)
def test_every_state_has_a_colour_a_symbol_and_a_word(
    state: str, symbol: str, word: str, css: str
) -> None:
    (card,) = cards(parse(render_html(document(0, attendees=[attendee(1, state)]))))
    assert css in card.classes()
    assert one(card, "sym").text() == symbol
    assert one(card, "word").text() == word
    assert f".{css}" in dashboard._CSS


def test_an_unknown_state_is_shown_as_is_with_a_question_mark() -> None:
    (card,) = cards(parse(render_html(document(0, attendees=[attendee(1, "rebooting")]))))
    assert "s-unknown" in card.classes()
    assert one(card, "sym").text() == "?"
    assert one(card, "word").text() == "rebooting"


def test_the_refresh_meta_is_there_only_when_asked() -> None:
    def refresh_metas(page: str) -> list[Node]:
        return parse(page).root.all(
            lambda n: n.tag == "meta" and (n.attrs.get("http-equiv") or "").lower() == "refresh"
        )

    (meta,) = refresh_metas(render_html(document()))
    assert meta.attrs["content"] == "10"
    (meta,) = refresh_metas(render_html(document(), refresh=3))
    assert meta.attrs["content"] == "3"
    assert refresh_metas(render_html(document(), refresh=None)) == []


@pytest.mark.parametrize("refresh", [0, -5, True])
def test_a_refresh_that_is_not_a_positive_number_is_refused(refresh: Any) -> None:
    with pytest.raises(ValueError, match="refresh"):
        render_html(document(), refresh=refresh)


def test_nothing_is_fetched_from_elsewhere_and_nothing_runs() -> None:
    page = render_html(document(30))
    tree = parse(page)
    assert not {"script", "link", "img", "iframe", "object"} & set(tree.tags)
    assert not {"src", "href"} & tree.attr_names
    assert "url(" not in page and "@import" not in page
    assert "http://" not in page and "https://" not in page
    assert '<meta charset="utf-8">' in page


# --- header -------------------------------------------------------------------------------------


def test_the_header_names_the_fleet_and_its_settings() -> None:
    tree = parse(render_html(document()))
    assert one(tree.root, "title").all(lambda n: n.tag == "h1")[0].text() == "Fleet ws"
    meta = " ".join(one(tree.root, "meta").text().split())
    assert meta == "namespaces · kind · calico · exercise client-only · scenario aks-demo"
    meta = one(parse(render_html(document(exercise=None))).root, "meta").text()
    assert "exercise" not in meta and "scenario aks-demo" in meta


def test_the_header_counts_come_from_the_summary() -> None:
    tree = parse(render_html(document()))
    counts = {
        n.attrs["data-count"]: n.text() for n in tree.root.all(lambda n: "count" in n.classes())
    }
    assert counts == {
        "ready": "28/30 ready",
        "done": "✓ 12 done",
        "failed": "✗ 1 failed",
        "not_up": "! 1 not up",
    }


def test_without_a_summary_the_header_counts_the_attendees() -> None:
    doc = document(12)  # two of each of the six states
    del doc["summary"]
    tree = parse(render_html(doc))
    counts = {
        n.attrs["data-count"]: n.text() for n in tree.root.all(lambda n: "count" in n.classes())
    }
    assert counts == {
        "ready": "6/12 ready",  # done, working, ready
        "done": "✓ 2 done",
        "failed": "✗ 2 failed",
        "not_up": "! 4 not up",  # not-up and unreachable
    }


def expires_text(doc: dict[str, Any]) -> str:
    return one(parse(render_html(doc)).root, "expires").text()


def test_expires_in_is_expires_minus_generated() -> None:
    assert expires_text(document()) == "expires in 4h 30m (15:00 UTC)"
    assert expires_text(document(generated="2026-12-01T14:59:30Z")) == (
        "expires in under 1m (15:00 UTC)"
    )
    assert expires_text(document(generated="2026-11-30T09:00:00+00:00")) == (
        "expires in 30h 0m (15:00 UTC)"
    )
    # Another offset for the same instant reads the same.
    assert expires_text(document(generated="2026-12-01T11:30:00+01:00")) == (
        "expires in 4h 30m (15:00 UTC)"
    )


@pytest.mark.parametrize("generated", ["2026-12-01T15:00:00Z", "2026-12-02T08:00:00Z"])
def test_an_expired_fleet_says_expired(generated: str) -> None:
    assert expires_text(document(generated=generated)) == "expired"


def test_the_page_does_not_depend_on_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fleet that expired in 2020, rendered "now": the document's own times decide.
    doc = document(expires="2020-01-01T04:30:00Z", generated="2020-01-01T00:00:00Z")
    before = render_html(doc)
    assert expires_text(doc) == "expires in 4h 30m (04:30 UTC)"

    class Frozen(dashboard.dt.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:  # would move the page if it were used
            return dashboard.dt.datetime(2099, 1, 1, tzinfo=tz)

        @classmethod
        def utcnow(cls) -> Any:
            return dashboard.dt.datetime(2099, 1, 1)

    monkeypatch.setattr(dashboard.dt, "datetime", Frozen)
    assert render_html(doc) == before


def test_generated_at_is_shown() -> None:
    text = one(parse(render_html(document())).root, "generated").text()
    assert text == "generated at 2026-12-01 10:30 UTC"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"expires": None}, "no expiry set"),
        ({"generated": None}, "expires 2026-12-01T15:00:00Z"),
        ({"expires": "next tuesday"}, "expires next tuesday"),
    ],
)
def test_missing_or_odd_times_do_not_raise(changes: dict[str, Any], expected: str) -> None:
    assert expires_text(document(**changes)) == expected


# --- cards --------------------------------------------------------------------------------------


def test_a_check_shows_a_progress_bar_and_the_first_failing_goal() -> None:
    (card,) = cards(parse(render_html(document(0, attendees=[attendee(1)]))))
    bar = one(card, "bar")
    assert bar.attrs["role"] == "progressbar"
    assert (bar.attrs["aria-valuenow"], bar.attrs["aria-valuemax"]) == ("3", "6")
    assert bar.children[0].attrs["style"] == "width:50%"
    assert one(card, "ratio").text() == "3/6"
    assert one(card, "goal").text() == "✗ demo/client -> demo/server:8080/TCP deny (got allow) (+2)"
    assert one(card, "progress").attrs["title"] == "3 of 6 goals met"
    assert not card.all(lambda n: "pods" in n.classes())


def test_a_done_check_has_a_full_bar_and_no_failing_goal() -> None:
    check = {"exercise": "client-only", "met": 6, "goals": 6, "done": True, "failing": []}
    att = attendee(1, "done", check=check, detail="6 of 6 goals met")
    (card,) = cards(parse(render_html(document(0, attendees=[att]))))
    assert one(card, "bar").children[0].attrs["style"] == "width:100%"
    assert not card.all(lambda n: "goal" in n.classes())


@pytest.mark.parametrize(("met", "goals", "width"), [(9, 6, "100%"), (-1, 6, "0%"), (0, 0, "0%")])
def test_odd_check_numbers_stay_inside_the_bar(met: int, goals: int, width: str) -> None:
    check = {"exercise": "x", "met": met, "goals": goals, "done": False, "failing": []}
    (card,) = cards(parse(render_html(document(0, attendees=[attendee(1, check=check)]))))
    assert one(card, "bar").children[0].attrs["style"] == f"width:{width}"


def test_a_failed_lab_with_a_check_still_says_why() -> None:
    att = attendee(1, "failed", detail="policy apply failed: bad port")
    (card,) = cards(parse(render_html(document(0, attendees=[att]))))
    assert one(card, "detail").text() == "policy apply failed: bad port"


def test_without_an_exercise_a_card_shows_pods_and_policies() -> None:
    atts = [
        attendee(1, "ready", check=None, detail="lab ready"),
        attendee(2, "ready", check=None, detail="", policies=1, pods_ready=3),
    ]
    tree = parse(render_html(document(0, exercise=None, attendees=atts)))
    first, second = cards(tree)
    assert one(first, "pods").text() == "pods 4/4 ready · 2 policies"
    assert one(first, "detail").text() == "lab ready"
    assert one(second, "pods").text() == "pods 3/4 ready · 1 policy"
    assert not second.all(lambda n: "detail" in n.classes() or "bar" in n.classes())


def test_missing_optional_keys_do_not_raise() -> None:
    atts = [{"id": "att01"}, {"id": "att02", "state": "done", "check": None}]
    tree = parse(render_html({"attendees": atts}))
    first, second = cards(tree)
    assert one(first, "name").text() == "att01"  # no name: the id
    assert one(first, "pods").text() == "no pods yet"
    assert second.attrs["data-state"] == "done"
    parse(render_html({}))
    empty = parse(render_html({"fleet": "ws", "attendees": []}))
    assert cards(empty) == []


def test_the_lab_is_shown_only_when_it_is_not_the_usual_name() -> None:
    atts = [attendee(1), attendee(2, lab="borrowed-cluster")]
    first, second = cards(parse(render_html(document(0, attendees=atts))))
    assert " ".join(one(first, "sub").text().split()) == "in progress · att01"
    assert " ".join(one(second, "sub").text().split()) == "in progress · att02 · borrowed-cluster"


def test_a_lab_without_pods_shows_only_why() -> None:
    att = attendee(1, "not-up", check=None, pods=0, pods_ready=0, policies=0, detail="no lab found")
    (card,) = cards(parse(render_html(document(0, attendees=[att]))))
    assert not card.all(lambda n: "pods" in n.classes())
    assert one(card, "detail").text() == "no lab found"
    assert "why" in one(card, "detail").classes()  # may wrap onto a second line


# --- hostile and long values --------------------------------------------------------------------

HOSTILE = [
    '<script>alert("pwned")</script>',
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)",
    "</article></main><script>x</script>",
    "&lt;script&gt; already escaped &amp; then some",
    "<!-- comment --> <![CDATA[ x ]]> <style>body{display:none}</style>",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_text_everywhere(value: str) -> None:
    check = {
        "exercise": value,
        "met": 1,
        "goals": 2,
        "done": False,
        "failing": [value],
    }
    att = attendee(1, value, name=value, id=value, lab=value, detail=value, check=check)
    plain = attendee(2, "ready", name=value, lab=value, detail=value, check=None)
    doc = {
        key: value
        for key in ("fleet", "mode", "provider", "engine", "scenario", "exercise", "expires")
    }
    doc.update(generated=value, attendees=[att, plain])
    page = render_html(doc)
    tree = parse(page)
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert set(tree.tags) <= TAGS  # no element came from the data
    assert not {"onerror", "onmouseover", "src"} & tree.attr_names
    first, second = cards(tree)
    assert first.attrs["data-attendee"] == value and first.attrs["data-state"] == value
    for card in (first, second):
        name = one(card, "name")
        assert name.attrs["title"] == value
        assert name.text() == cut(value, NAME_CHARS)
    assert one(second, "detail").text() == value
    goal = one(first, "goal")
    assert (goal.attrs.get("title") or goal.text()) == f"✗ {value}"
    assert one(first, "word").text() == cut(value, 14)
    h1 = tree.root.all(lambda n: n.tag == "h1")[0]
    assert h1.attrs["title"] == value
    assert h1.text() == f"Fleet {cut(value, NAME_CHARS)}"
    assert one(tree.root, "expires").text() == f"expires {cut(value, 40)}"
    assert one(tree.root, "generated").text() == f"generated at {cut(value, 40)}"


def test_a_long_name_is_cut_with_an_ellipsis_and_kept_whole_in_the_title() -> None:
    name = "Maximiliana Wilhelmina Konstantinopoulou-Featherstonehaugh the Third"
    (card,) = cards(parse(render_html(document(0, attendees=[attendee(1, name=name)]))))
    shown = one(card, "name")
    assert shown.attrs["title"] == name
    assert len(shown.text()) == NAME_CHARS and shown.text().endswith("…")
    assert name.startswith(shown.text()[:-1])


def test_a_long_failing_goal_is_cut_and_kept_whole_in_the_title() -> None:
    goal = "demo/client -> demo/server:8080/TCP deny (got allow) " + "x" * 200
    check = {"exercise": "e", "met": 0, "goals": 1, "done": False, "failing": [goal]}
    (card,) = cards(parse(render_html(document(0, attendees=[attendee(1, check=check)]))))
    line = one(card, "goal")
    assert line.attrs["title"] == f"✗ {goal}"
    assert len(line.text()) == dashboard.LINE_CHARS and line.text().endswith("…")


def test_titles_are_bounded_too() -> None:
    name = "A" * 100_000
    page = render_html(document(0, attendees=[attendee(1, name=name)]))
    assert len(page) < 20_000
    (card,) = cards(parse(page))
    assert len(one(card, "name").attrs["title"] or "") == dashboard.TITLE_CHARS


printable = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=120
)  # roster names are one printable line


@settings(max_examples=150, deadline=None)
@given(name=printable, detail=printable, fleet=printable, state=printable)
def test_any_printable_text_comes_back_exactly(
    name: str, detail: str, fleet: str, state: str
) -> None:
    att = attendee(1, state, name=name, detail=detail, check=None)
    tree = parse(render_html(document(0, fleet=fleet, attendees=[att])))
    assert set(tree.tags) <= TAGS
    (card,) = cards(tree)
    assert card.attrs["data-state"] == state
    shown = name or "att01"
    assert one(card, "name").attrs["title"] == shown
    assert one(card, "name").text() == cut(shown, NAME_CHARS)
    if detail:
        line = one(card, "detail")
        assert (line.attrs.get("title") or line.text()) == detail


# --- determinism and size -----------------------------------------------------------------------


def test_the_same_document_gives_the_same_bytes() -> None:
    doc = document(30)
    first = render_html(doc).encode()
    assert render_html(copy.deepcopy(doc)).encode() == first
    assert render_html(doc).encode() == first


def test_two_hundred_attendees_stay_small_and_dense() -> None:
    doc = document(200)
    doc["attendees"][7]["name"] = "N" * 80
    page = render_html(doc)
    assert len(page.encode()) < 400_000
    tree = parse(page)
    assert len(cards(tree)) == 200
    assert len({c.attrs["data-attendee"] for c in cards(tree)}) == 200
    html_node = tree.root.all(lambda n: n.tag == "html")[0]
    assert "dense" in html_node.classes()
    assert "auto-fill" in dashboard._CSS
    small = parse(render_html(document(30))).root.all(lambda n: n.tag == "html")[0]
    assert "dense" not in small.classes()


# --- writing ------------------------------------------------------------------------------------


def test_write_dashboard_writes_the_page_readable_by_all(tmp_path: Path) -> None:
    target = tmp_path / "dashboard.html"
    assert write_dashboard(target, document(), refresh=5) == target
    assert target.read_text(encoding="utf-8") == render_html(document(), refresh=5)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(os.listdir(tmp_path)) == ["dashboard.html"]


def test_write_dashboard_replaces_the_file_in_one_step(tmp_path: Path) -> None:
    target = tmp_path / "dashboard.html"
    target.write_text("old page")
    before = target.stat().st_ino
    with target.open() as reader:  # a browser that opened the old page keeps reading it whole
        write_dashboard(target, document(), refresh=None)
        assert reader.read() == "old page"
    assert target.stat().st_ino != before  # renamed over, not rewritten in place
    assert target.read_text(encoding="utf-8") == render_html(document(), refresh=None)
    assert sorted(os.listdir(tmp_path)) == ["dashboard.html"]


def test_write_dashboard_creates_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "out" / "fleet" / "index.html"
    write_dashboard(target, document())
    assert target.is_file()


def test_a_failed_write_leaves_the_old_page_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "dashboard.html"
    target.write_text("old page")

    def refuse(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    from provisioning.lab import state

    monkeypatch.setattr(state.os, "replace", refuse)
    with pytest.raises(UsageError, match=r"cannot write the dashboard .*No space left"):
        write_dashboard(target, document())
    assert target.read_text() == "old page"
    assert sorted(os.listdir(tmp_path)) == ["dashboard.html"]


def test_an_unwritable_folder_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UsageError, match="cannot write the dashboard"):
        write_dashboard(blocker / "dashboard.html", document())
