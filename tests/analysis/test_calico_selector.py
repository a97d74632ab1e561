"""Calico's selector language, as projectcalico/calico@v3.32.1 parses and evaluates it.

Sources: ``libcalico-go/lib/selector/tokenizer/tokenizer.go``, ``parser/parser.go`` and
``parser/ast.go`` at tag v3.32.1; the selector documentation tigera/docs
``calico_versioned_docs/version-3.32/_includes/content/_selectors.mdx`` (rendered as "Selectors" on
https://docs.tigera.io/calico/latest/reference/resources/networkpolicy), ``_entityrule.mdx`` and
the examples in the API types' comments (``api/pkg/apis/projectcalico/v3/globalnetworkpolicy.go``).
"""

from __future__ import annotations

import time

import pytest

from provisioning.analysis.calico_selector import (
    ALL,
    MAX_NESTING,
    MAX_SELECTOR_LENGTH,
    CalicoSelector,
    is_only_global,
    parse_calico_selector,
)
from provisioning.errors import UsageError


def sel(text: str) -> CalicoSelector:
    return parse_calico_selector(text, where="test")


def error(text: object) -> str:
    with pytest.raises(UsageError) as caught:
        parse_calico_selector(text, where="policies/x.yaml: spec.selector")  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("policies/x.yaml: spec.selector: ")
    return message


# -- the documentation's table, one row at a time -----------------------------------------------
# _selectors.mdx, "Match operators" (each row quoted in the comment), with labels that make each
# expression true and false.

DOC_TABLE = [
    # "`all()` | Match all in-scope resources. To match _no_ resources, combine this operator
    # with `!` to form `!all()`."
    ("all()", [{}, {"k": "v"}], []),
    ("!all()", [], [{}, {"k": "v"}]),
    # "`global()` | Match all non-namespaced resources." -- on its own it is true (ast.go
    # GlobalNode.Evaluate); the scope comes from the namespaceSelector rewrite, tested below.
    ("global()", [{}, {"k": "v"}], []),
    # "`k == 'v'` | Matches resources with the label 'k' and value 'v'."
    ("k == 'v'", [{"k": "v"}], [{}, {"k": "w"}, {"kk": "v"}]),
    # "`k != 'v'` | Matches resources without label 'k' or with label 'k' and value _not_ equal
    # to `v`"
    ("k != 'v'", [{}, {"k": "w"}, {"other": "v"}], [{"k": "v"}]),
    # "`has(k)` | Matches resources with label 'k', independent of value. To match pods that do
    # not have label `k`, combine this operator with `!` to form `!has(k)`"
    ("has(k)", [{"k": ""}, {"k": "v"}], [{}, {"kk": "v"}]),
    ("!has(k)", [{}, {"kk": "v"}], [{"k": ""}]),
    # "`k in { 'v1', 'v2' }` | Matches resources with label 'k' and value in the given set"
    ("k in { 'v1', 'v2' }", [{"k": "v1"}, {"k": "v2"}], [{}, {"k": "v3"}]),
    # "`k not in { 'v1', 'v2' }` | Matches resources without label 'k' or with label 'k' and
    # value _not_ in the given set"
    ("k not in { 'v1', 'v2' }", [{}, {"k": "v3"}], [{"k": "v1"}, {"k": "v2"}]),
    # "`k contains 's'` | Matches resources with label 'k' and value containing the substring 's'"
    ("k contains 's'", [{"k": "s"}, {"k": "ass"}], [{}, {"k": "x"}]),
    # "`k starts with 's'` | ... value starting with the substring 's'"
    ("k starts with 's'", [{"k": "sa"}, {"k": "s"}], [{}, {"k": "as"}]),
    # "`k ends with 's'` | ... value ending with the substring 's'"
    ("k ends with 's'", [{"k": "as"}, {"k": "s"}], [{}, {"k": "sa"}]),
]


@pytest.mark.parametrize(("text", "true", "false"), DOC_TABLE, ids=[t for t, *_ in DOC_TABLE])
def test_documented_operators(text: str, true: list[dict[str, str]], false: list[dict[str, str]]):
    parsed = sel(text)
    for labels in true:
        assert parsed.matches(labels), labels
    for labels in false:
        assert not parsed.matches(labels), labels


def test_documented_precedence_example() -> None:
    """_selectors.mdx: "For example, the expression
    ``! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}``
    Would be "bracketed" like this: ... It would match: - Any resource that did not have label
    "my-label". - Any resource that both: - Has a value for `my-label` that starts with "prod",
    and, - Has a role label with value either "frontend", or "business"."
    """
    parsed = sel(
        "! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}"
    )
    assert parsed.matches({})
    assert parsed.matches({"role": "db"})
    assert parsed.matches({"my-label": "prod-1", "role": "frontend"})
    assert parsed.matches({"my-label": "production", "role": "business"})
    assert not parsed.matches({"my-label": "prod-1", "role": "db"})
    assert not parsed.matches({"my-label": "dev", "role": "frontend"})
    assert not parsed.matches({"my-label": "prod-1"})
    assert parsed.describe() == (
        '(!has(my-label) || (my-label starts with "prod" && role in {"business", "frontend"}))'
    )


def test_documented_bracketing_is_unbalanced_and_calico_refuses_it() -> None:
    """The docs' bracketed form ``((!(has(my-label)) || ((my-label starts with 'prod') && (role
    in {'frontend','business'}))`` has one '(' too many; Calico's parser stops at the end
    looking for ')' (parser.go ErrExpectedRParen). Balanced, it is the same selector."""
    documented = (
        "((!(has(my-label)) || ((my-label starts with 'prod') && (role in {'frontend','business'}))"
    )
    assert "expected ')' but found the end at character 91" in error(documented)
    balanced = (
        "(!(has(my-label)) || ((my-label starts with 'prod') && (role in {'frontend','business'})))"
    )
    assert sel(balanced) == sel(
        "! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}"
    )


ENTITY_RULE_EXAMPLES = [
    # _entityrule.mdx, "Selector performance in EntityRules": the optimized operators and the
    # "Examples:" list; each must parse, and here is what it means.
    ('label == "value"', {"label": "value"}, {"label": "other"}),
    ("label in { 'v1', 'v2' }", {"label": "v2"}, {}),
    ("has(label)", {"label": "x"}, {}),
    ("label contains 's'", {"label": "xsx"}, {"label": "x"}),
    ("label starts with 's'", {"label": "sx"}, {"label": "xs"}),
    ("label ends with 's'", {"label": "xs"}, {"label": "sx"}),
    ("a == 'b'", {"a": "b"}, {"a": "c"}),
    ("a == 'b' && has(c)", {"a": "b", "c": ""}, {"a": "b"}),
    ("a == 'b' || has(c)", {"c": "x"}, {"a": "c"}),
    ("c != 'd'", {}, {"c": "d"}),
    ("!has(a)", {}, {"a": "x"}),
    ("a == 'b' && c != 'd'", {"a": "b"}, {"a": "b", "c": "d"}),
    ("c != 'd' && a == 'b'", {"a": "b", "c": "e"}, {"c": "e"}),
    # _entityrule.mdx "Understanding notSelector": "`selector: !has(foo)`", "`notSelector:
    # has(foo)`"
    ("!has(foo)", {"bar": "x"}, {"foo": "x"}),
    ("has(foo)", {"foo": "x"}, {"bar": "x"}),
    # globalnetworkpolicy.go:83-102, the Selector field's comment: "label == "string_literal"
    # -> comparison, e.g. my_label == "foo bar"", and its "Examples (with made-up labels)".
    ('my_label == "foo bar"', {"my_label": "foo bar"}, {"my_label": "foo"}),
    ('type == "webserver" && deployment == "prod"', {"type": "webserver", "deployment": "prod"},
     {"type": "webserver"}),
    ('type in {"frontend", "backend"}', {"type": "backend"}, {"type": "db"}),
    ('deployment != "dev"', {"deployment": "prod"}, {"deployment": "dev"}),
    ("! has(label_name)", {}, {"label_name": ""}),
    # globalnetworkpolicy.mdx: "e.g., `projectcalico.org/namespace == "default"`".
    ('projectcalico.org/namespace == "default"', {"projectcalico.org/namespace": "default"}, {}),
    # network-policy/policy-rules/namespace-policy.mdx and tiered-policy.mdx examples.
    ("color == 'red'", {"color": "red"}, {"color": "blue"}),
    ("shape == 'circle'", {"shape": "circle"}, {}),
    ('environment == "development"', {"environment": "development"}, {"environment": "prod"}),
    ('env == "stage"', {"env": "stage"}, {"env": "prod"}),
    ('env != "stage"', {"env": "prod"}, {"env": "stage"}),
    # network-policy/policy-rules/external-ips-policy.mdx.
    ("apply-ip-protect == 'true'", {"apply-ip-protect": "true"}, {}),
    ("ip-deny-list == 'true' && !has(projectcalico.org/namespace)", {"ip-deny-list": "true"},
     {"ip-deny-list": "true", "projectcalico.org/namespace": "x"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "true", "false"), ENTITY_RULE_EXAMPLES, ids=[t for t, *_ in ENTITY_RULE_EXAMPLES]
)
def test_documented_examples(text: str, true: dict[str, str], false: dict[str, str]) -> None:
    parsed = sel(text)
    assert parsed.matches(true)
    assert not parsed.matches(false)


# -- semantics beyond the table -----------------------------------------------------------------


def test_absent_key_only_not_equal_and_not_in_match() -> None:
    """ast.go: LabelNeValueNode and LabelNotInSetNode return true for a missing label; every
    other comparison needs the label."""
    for text, absent in [
        ("k == ''", False),
        ("k != ''", True),
        ("k in {''}", False),
        ("k not in {''}", True),
        ("k in {}", False),
        ("k not in {}", True),
        ("k contains ''", False),
        ("k starts with ''", False),
        ("k ends with ''", False),
        ("has(k)", False),
        ("!(k == 'v')", True),
    ]:
        assert sel(text).matches({}) is absent, text
    assert sel("k contains ''").matches({"k": ""})  # the empty string is in every value


def test_and_binds_tighter_than_or() -> None:
    parsed = sel("a == '1' || b == '1' && c == '1'")
    assert parsed.matches({"a": "1"})
    assert not parsed.matches({"b": "1"})
    assert parsed == sel("a == '1' || (b == '1' && c == '1')")
    assert parsed != sel("(a == '1' || b == '1') && c == '1'")
    assert sel("(a == '1' || b == '1') && c == '1'").matches({"b": "1", "c": "1"})


def test_negation_applies_to_the_next_operation_and_collapses() -> None:
    """parser.go: leading '!' collapse to one boolean, then apply to one operation."""
    assert sel("!a == 'b' && c == 'd'") == sel("(!(a == 'b')) && c == 'd'")
    assert sel("!!a == 'b'") == sel("a == 'b'")
    assert sel("!!!has(a)") == sel("!has(a)")
    assert sel("!(a == 'b' || c == 'd')").matches({"a": "x"})
    assert not sel("!(a == 'b' || c == 'd')").matches({"c": "d"})


def test_quotes_blanks_and_spellings() -> None:
    assert sel('a == "it\'s"').matches({"a": "it's"})
    assert sel("a == 'say \"hi\"'").matches({"a": 'say "hi"'})
    assert sel("a == 'x'") == sel('a == "x"')
    assert sel("\ta\t==\t'x'\t") == sel("a=='x'")
    assert sel("a in{'x'}") == sel("a in { 'x' }")
    assert sel("a notin {'x'}") == sel("a not  in {'x'}") == sel("a not in {'x'}")
    assert sel("a startswith 'x'") == sel("a starts with 'x'")
    assert sel("a endswith 'x'") == sel("a ends with 'x'")
    assert sel("has( a )") == sel("has(a)")
    assert sel("all( )") == ALL
    assert sel("a in {'x',}") == sel("a in {'x'}")  # a trailing comma is accepted
    assert sel("a in {'y', 'x', 'y'}") == sel("a in {'x','y'}")
    assert hash(sel("a in {'y', 'x'}")) == hash(sel("a in {'x', 'y'}"))
    # Operator words are labels where a label is expected.
    assert sel("in == 'x' && has == 'y' && all == 'z'").matches({"in": "x", "has": "y", "all": "z"})
    assert sel("a.b/c-d_e == '1'").matches({"a.b/c-d_e": "1"})


def test_empty_selector_is_all() -> None:
    assert sel("") == sel("   ") == sel("\t") == sel("all()") == ALL
    assert ALL.is_all
    assert ALL.describe() == "all()"


def test_canonical_text_is_calicos() -> None:
    """ast.go collectFragments: double quotes unless the value has one, sets sorted and
    separated by ", ", && and || groups parenthesised."""
    cases = {
        "a=='b'": 'a == "b"',
        "a == 'say \"x\"'": "a == 'say \"x\"'",
        "a != 'b'": 'a != "b"',
        "a in {'z','y'}": 'a in {"y", "z"}',
        "a not in {}": "a not in {}",
        "a contains 'b' && a starts with 'c' || a ends with 'd'": (
            '((a contains "b" && a starts with "c") || a ends with "d")'
        ),
        "!has(x)": "!has(x)",
        "!(a == 'b' && has(c))": '!(a == "b" && has(c))',
        "global()": "global()",
    }
    for text, canonical in cases.items():
        parsed = sel(text)
        assert parsed.describe() == canonical
        assert str(parsed) == canonical
        assert sel(canonical) == parsed  # the canonical text reads back to the same tree


def test_newline_is_not_blank() -> None:
    """tokenizer.go trimWhitespace skips only ' ' and '\\t'."""
    assert "newline may not" in error("a == 'b'\n")
    assert "newline may not" in error("a == 'b' &&\nc == 'd'")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a", "expected an operator after label 'a' (==, !=, in, not in, contains, starts with, "
         "ends with) but found the end at character 2"),
        ("a ==", "expected a quoted string after '==' but found the end at character 5"),
        ("a == b", "expected a quoted string after '==' but found label 'b' at character 6"),
        ("a = 'b'", "expected '==' at character 3"),
        ("a & b", "expected '&&' at character 3"),
        ("a == 'b' | c", "expected '||' at character 10"),
        ("a == 'b", "unterminated string: no closing ' at character 6"),
        ('a == "b', 'unterminated string: no closing " at character 6'),
        ("(a == 'b'", "expected ')' but found the end at character 10"),
        ("a == 'b')", "unexpected ')' after a complete expression (unbalanced parentheses) at "
         "character 9"),
        ("a == 'b' c == 'd'", "unexpected label 'c' after a complete expression (join "
         "expressions with && or ||) at character 10"),
        ("a in 'x'", "expected '{' to open the set after 'in' but found string 'x' at "
         "character 6"),
        ("a in {'x' 'y'}", "expected a quoted string, ',' or '}' in the set but found string 'y' "
         "at character 11"),
        ("a in {,}", "but found ',' at character 7"),
        ("a nothing 'x'", "expected an operator after label 'a'"),
        ("has (a)", "expected an operator after label 'has'"),
        ("has()", "expected a label name, found ')' at character 5"),
        ("has(a", "expected ')' to close has( at character 6"),
        ("all(x)", "expected ')' after all( at character 5"),
        ("global( ", "expected ')' after global( at character 9"),
        ("'a' == 'b'", "expected a label, has(...), all(), global(), '!' or '(' but found string "
         "'a' at character 1"),
        ("&& a == 'b'", "but found '&&' at character 1"),
        ("a == 'b' ||", "but found the end at character 12"),
        ("!", "but found the end at character 2"),
        ("()", "but found ')' at character 2"),
        ("é == 'x'", "expected a label name, found 'é' at character 1"),
        ("x" * 513 + " == 'a'", "label name longer than 512 characters at character 1"),
    ],
)  # fmt: skip
def test_malformed_selectors_say_where_and_what(text: str, expected: str) -> None:
    message = error(text)
    assert expected in message, message
    assert "invalid selector" in message


def test_error_shows_the_selector_around_the_position() -> None:
    message = error("a == 'b' && " * 20 + "c = 'd'")
    assert "expected '==' at character 243" in message
    excerpt = message.split("at character 243: ")[1]
    assert excerpt.startswith("…") and excerpt.endswith("&& a == 'b' && c = 'd'\"")
    assert len(excerpt) < 70


def test_not_a_string() -> None:
    assert error(["a"]).endswith("must be a selector string, got list")
    assert error(3).endswith("must be a selector string, got int")


# -- hostile input ------------------------------------------------------------------------------


def test_hostile_input_is_one_usage_error_fast() -> None:
    start = time.monotonic()
    too_long = error("(" * 10_000 + "all()" + ")" * 10_000)
    assert "characters long; the analyzer reads selectors of at most 4096" in too_long
    assert "at most 4096" in error("a == '" + "x" * 1_000_000 + "'")
    deep = "(" * 2_000 + "all()" + ")" * 2_000
    assert len(deep) <= MAX_SELECTOR_LENGTH
    assert f"parentheses nested deeper than {MAX_NESTING} at character {MAX_NESTING + 1}" in error(
        deep
    )
    assert "nested deeper" in error("!(" * 1_000)
    many = " && ".join(f"k{i} == 'v'" for i in range(250))
    assert len(sel(many).root.operands) == 250  # type: ignore[union-attr]
    assert "at most 4096" in error("!" * 5_000)
    assert time.monotonic() - start < 2.0


def test_nesting_up_to_the_limit_is_fine() -> None:
    nested = "(" * MAX_NESTING + "a == 'b'" + ")" * MAX_NESTING
    assert sel(nested) == sel("a == 'b'")


# -- helpers the policy reader uses --------------------------------------------------------------


def test_namespace_selector_rewrite() -> None:
    """updateprocessors/rules.go getEndpointSelector: keys get the pcns. prefix, all() becomes
    has(projectcalico.org/namespace), global() becomes !has(projectcalico.org/namespace)."""
    assert sel("team == 'a' && !has(x)").as_namespace_selector() == sel(
        "pcns.team == 'a' && !has(pcns.x)"
    )
    assert sel("all()").as_namespace_selector() == sel("has(projectcalico.org/namespace)")
    assert sel("!all()").as_namespace_selector() == sel("!has(projectcalico.org/namespace)")
    assert sel("global()").as_namespace_selector() == sel("!has(projectcalico.org/namespace)")
    assert sel("a in {'x'}").with_key_prefix("p.") == sel("p.a in {'x'}")


def test_label_keys_and_global() -> None:
    parsed = sel("a == 'x' || !has(b) && c not in {'y'} || d contains 'z'")
    assert parsed.label_keys() == {"a", "b", "c", "d"}
    assert not parsed.uses_global()
    assert sel("global()").uses_global()


def test_is_only_global() -> None:
    """validator.go validateEntityRule: a namespaceSelector with global( must tokenize to
    exactly global() and the end."""
    assert is_only_global("global()")
    assert is_only_global("  global( )  ")
    assert not is_only_global("(global())")
    assert not is_only_global("!global()")
    assert not is_only_global("global() && a == 'b'")
    assert not is_only_global("global(")
