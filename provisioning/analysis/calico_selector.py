"""Calico's selector language (``projectcalico.org/v3`` policies): parse, evaluate, print.

Read, not copied, from projectcalico/calico at tag v3.32.1:

* ``libcalico-go/lib/selector/tokenizer/tokenizer.go`` -- the lexer;
* ``libcalico-go/lib/selector/parser/parser.go`` -- the grammar;
* ``libcalico-go/lib/selector/parser/ast.go`` -- evaluation and the canonical text
  (``Selector.String()``), which Calico also hashes into a selector's identity;
* ``libcalico-go/lib/selector/parser/stringset.go`` -- set literals are sorted and deduplicated;

and the documentation page tigera/docs ``calico_versioned_docs/version-3.32/_includes/content/
_selectors.mdx`` (rendered under "Selectors" in the NetworkPolicy and GlobalNetworkPolicy
references, https://docs.tigera.io/calico/latest/reference/resources/networkpolicy#selectors).

What the upstream code does, and this module with it:

* Whitespace is only space and tab (``trimWhitespace``); a newline is a syntax error, so a YAML
  ``|`` block scalar (which keeps its final newline) is not a valid selector.
* A label name is 1-512 characters of ``[A-Za-z0-9_./-]`` (``identifierChar``,
  ``MaxLabelLength``). Strings are single- or double-quoted and run to the next quote of the same
  kind: there are no escapes, so a value cannot hold both quote characters.
* After a label comes one of ``==``, ``!=``, ``contains``, ``starts with``, ``ends with``,
  ``in``, ``not in`` (the two-word operators also without the space: ``notin``,
  ``startswith``); ``==``/``!=``/``contains``/``starts with``/``ends with`` take a string,
  ``in``/``not in`` a set ``{'a', 'b'}``, which may be empty and may end with a comma.
* ``has(k)``, ``all()`` and ``global()`` are written with no space before ``(``.
* ``!`` negates the operation right after it (a comparison, ``has``, ``all()``, ``global()``
  or a parenthesised expression); several ``!`` collapse to one or none. ``&&`` binds tighter
  than ``||``; both are left to right.
* An empty (or all-blank) selector is ``all()``.
* ``k != 'v'`` and ``k not in {...}`` match when ``k`` is absent; ``==``, ``in``,
  ``contains``, ``starts with``, ``ends with`` need ``k`` present (``ast.go``,
  ``LabelNeValueNode.Evaluate`` and ``LabelNotInSetNode.Evaluate`` return true when the label
  is missing).
* ``global()`` evaluates to true on its own (``GlobalNode.Evaluate``); its meaning ("only
  non-namespaced resources") comes from how Calico rewrites a rule's ``namespaceSelector``, see
  ``CalicoSelector.as_namespace_selector``.

Two limits are this module's own, so hostile input cannot exhaust the interpreter: a selector
longer than ``MAX_SELECTOR_LENGTH`` characters or nested deeper than ``MAX_NESTING``
parentheses is refused (Calico has no such limits; Kubernetes' object size limit bounds it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from provisioning.errors import UsageError

MAX_SELECTOR_LENGTH = 4096
MAX_NESTING = 100
MAX_LABEL_LENGTH = 512  # tokenizer.go MaxLabelLength

NAMESPACE_LABEL = "projectcalico.org/namespace"  # api/.../v3/constants.go LabelNamespace
NAMESPACE_PREFIX = "pcns."  # libcalico-go/lib/backend/k8s/conversion/constants.go

Labels = Mapping[str, str]

_BLANKS = " \t"
_IDENTIFIER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-")

# Comparison operators that take one string, with their canonical spelling (ast.go).
EQ, NE, CONTAINS, STARTS_WITH, ENDS_WITH = "==", "!=", "contains", "starts with", "ends with"
_COMPARISONS: dict[str, Callable[[str, str], bool]] = {
    EQ: lambda have, want: have == want,
    NE: lambda have, want: have != want,
    CONTAINS: lambda have, want: want in have,
    STARTS_WITH: lambda have, want: have.startswith(want),
    ENDS_WITH: lambda have, want: have.endswith(want),
}


# -- the tree ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class All:
    """``all()``: true for everything in scope."""

    def matches(self, labels: Labels) -> bool:
        return True

    def text(self) -> str:
        return "all()"


@dataclass(frozen=True)
class Global:
    """``global()``: true on its own; in a namespaceSelector it means "not namespaced"."""

    def matches(self, labels: Labels) -> bool:
        return True

    def text(self) -> str:
        return "global()"


@dataclass(frozen=True)
class Has:
    """``has(key)``: the label is present, whatever its value."""

    key: str

    def matches(self, labels: Labels) -> bool:
        return self.key in labels

    def text(self) -> str:
        return f"has({self.key})"


@dataclass(frozen=True)
class Compare:
    """``key <op> 'value'`` for ``==``, ``!=``, ``contains``, ``starts with``, ``ends with``.

    Only ``!=`` matches an absent label.
    """

    key: str
    op: str
    value: str

    def matches(self, labels: Labels) -> bool:
        have = labels.get(self.key)
        if have is None:
            return self.op == NE
        return _COMPARISONS[self.op](have, self.value)

    def text(self) -> str:
        return f"{self.key} {self.op} {_quoted(self.value)}"


@dataclass(frozen=True)
class InSet:
    """``key in {...}`` or, with ``negated``, ``key not in {...}`` (which matches absence).

    ``values`` are sorted and unique, as ``ConvertToStringSetInPlace`` keeps them.
    """

    key: str
    values: tuple[str, ...]
    negated: bool = False

    def matches(self, labels: Labels) -> bool:
        have = labels.get(self.key)
        if have is None:
            return self.negated
        return (have in self.values) != self.negated

    def text(self) -> str:
        op = "not in" if self.negated else "in"
        return f"{self.key} {op} {{{', '.join(_quoted(v) for v in self.values)}}}"


@dataclass(frozen=True)
class Not:
    operand: Node

    def matches(self, labels: Labels) -> bool:
        return not self.operand.matches(labels)

    def text(self) -> str:
        return "!" + self.operand.text()


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]

    def matches(self, labels: Labels) -> bool:
        return all(o.matches(labels) for o in self.operands)

    def text(self) -> str:
        return "(" + " && ".join(o.text() for o in self.operands) + ")"


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]

    def matches(self, labels: Labels) -> bool:
        return any(o.matches(labels) for o in self.operands)

    def text(self) -> str:
        return "(" + " || ".join(o.text() for o in self.operands) + ")"


Node = All | Global | Has | Compare | InSet | Not | And | Or


def _quoted(value: str) -> str:
    """Double quotes unless the value holds one (``appendLabelOpAndQuotedString``)."""
    quote = "'" if '"' in value else '"'
    return f"{quote}{value}{quote}"


@dataclass(frozen=True)
class CalicoSelector:
    """A parsed Calico selector. Equal selectors have equal trees (and equal ``describe()``)."""

    root: Node

    def matches(self, labels: Labels) -> bool:
        """Whether a resource with ``labels`` is selected (scope is the caller's business)."""
        return self.root.matches(labels)

    def describe(self) -> str:
        """Calico's canonical text (``Selector.String()``), e.g. ``(a == "b" && has(c))``."""
        return self.root.text()

    def __str__(self) -> str:
        return self.describe()

    @property
    def is_all(self) -> bool:
        """True for ``all()`` and the empty selector."""
        return isinstance(self.root, All)

    def label_keys(self) -> frozenset[str]:
        """Every label key the selector reads."""
        return frozenset(n.key for n in _nodes(self.root) if isinstance(n, Has | Compare | InSet))

    def uses_global(self) -> bool:
        return any(isinstance(n, Global) for n in _nodes(self.root))

    def with_key_prefix(self, prefix: str) -> CalicoSelector:
        """Every label key prefixed, as ``parser.PrefixVisitor`` does."""
        return CalicoSelector(_rewrite(self.root, prefix=prefix))

    def as_namespace_selector(self) -> CalicoSelector:
        """This selector, used as a rule's ``namespaceSelector``, as an endpoint selector.

        ``getEndpointSelector`` in ``libcalico-go/lib/backend/syncersv1/updateprocessors/
        rules.go``@v3.32.1: the keys get the ``pcns.`` prefix (a workload endpoint inherits its
        namespace's labels under that prefix), then ``all()`` becomes
        ``has(projectcalico.org/namespace)`` ("any workload that is in a namespace") and
        ``global()`` becomes ``!has(projectcalico.org/namespace)`` ("select only host endpoints
        or GlobalNetworksets"). Upstream does the last two as text replacement on the canonical
        string, which would also rewrite a quoted value spelled ``all()``; here only the
        operators are rewritten. ``GlobalNetworkPolicy.spec.namespaceSelector`` gets the prefix
        and the ``all()`` rewrite the same way (``globalnetworkpolicyprocessor.go``).
        """
        return CalicoSelector(_rewrite(self.root, prefix=NAMESPACE_PREFIX, namespaces=True))


ALL = CalicoSelector(All())


def _nodes(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, Not):
        yield from _nodes(node.operand)
    elif isinstance(node, And | Or):
        for operand in node.operands:
            yield from _nodes(operand)


def _rewrite(node: Node, *, prefix: str, namespaces: bool = False) -> Node:
    if isinstance(node, Has):
        return Has(prefix + node.key)
    if isinstance(node, Compare):
        return Compare(prefix + node.key, node.op, node.value)
    if isinstance(node, InSet):
        return InSet(prefix + node.key, node.values, node.negated)
    if isinstance(node, Not):
        return Not(_rewrite(node.operand, prefix=prefix, namespaces=namespaces))
    if isinstance(node, And):
        return And(tuple(_rewrite(o, prefix=prefix, namespaces=namespaces) for o in node.operands))
    if isinstance(node, Or):
        return Or(tuple(_rewrite(o, prefix=prefix, namespaces=namespaces) for o in node.operands))
    if namespaces and isinstance(node, All):
        return Has(NAMESPACE_LABEL)
    if namespaces and isinstance(node, Global):
        return Not(Has(NAMESPACE_LABEL))
    return node


# -- lexing --------------------------------------------------------------------------------------

_LABEL, _STRING, _LBRACE, _RBRACE, _COMMA = "label", "string", "{", "}", ","
_NOT, _IN, _NOT_IN, _HAS, _ALL, _GLOBAL = "!", "in", "not in", "has", "all()", "global()"
_LPAREN, _RPAREN, _AND, _OR, _EOF = "(", ")", "&&", "||", "end"


@dataclass(frozen=True)
class _Token:
    kind: str
    pos: int  # index of the token's first character
    value: str = ""


class _SyntaxError(Exception):
    def __init__(self, problem: str, pos: int) -> None:
        super().__init__(problem)
        self.problem = problem
        self.pos = pos


def _skip_blanks(text: str, i: int) -> int:
    while i < len(text) and text[i] in _BLANKS:
        i += 1
    return i


def _at_word_end(text: str, i: int) -> bool:
    return i >= len(text) or text[i] not in _IDENTIFIER_CHARS


def _identifier(text: str, i: int) -> tuple[str, int]:
    j = i
    while j < len(text) and text[j] in _IDENTIFIER_CHARS:
        j += 1
    if j == i:
        found = "the end" if i >= len(text) else repr(text[i])
        if i < len(text) and text[i] in "\r\n":
            raise _SyntaxError(
                f"expected a label name, found {found} (only spaces and tabs may separate "
                "tokens; a newline may not)",
                i,
            )
        raise _SyntaxError(f"expected a label name, found {found}", i)
    if j - i > MAX_LABEL_LENGTH:
        raise _SyntaxError(f"label name longer than {MAX_LABEL_LENGTH} characters", i)
    return text[i:j], j


def _operator_after_label(text: str, i: int) -> tuple[str, int] | None:
    """The word operator at ``i`` (``cutPrefixCheckBreak``/``cutMultiWordPrefixCheckBreak``)."""
    for words, kind in (
        (("contains",), CONTAINS),
        (("starts", "with"), STARTS_WITH),
        (("ends", "with"), ENDS_WITH),
        (("not", "in"), _NOT_IN),
        (("in",), _IN),
    ):
        j = i
        for n, word in enumerate(words):
            if not text.startswith(word, j):
                break
            j += len(word)
            if len(words) > 1:  # blanks are skipped after each word of a two-word operator
                j = _skip_blanks(text, j)
            if n == len(words) - 1 and _at_word_end(text, j):
                return kind, j
    return None


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while True:
        i = _skip_blanks(text, i)
        if i >= len(text):
            tokens.append(_Token(_EOF, len(text)))
            return tokens
        start, c = i, text[i]
        after_label = bool(tokens) and tokens[-1].kind == _LABEL
        if c in "(){},":
            tokens.append(_Token(c, start))
            i += 1
        elif c in "\"'":
            end = text.find(c, i + 1)
            if end < 0:
                raise _SyntaxError(f"unterminated string: no closing {c}", start)
            tokens.append(_Token(_STRING, start, text[i + 1 : end]))
            i = end + 1
        elif c == "=":
            if not text.startswith("==", i):
                raise _SyntaxError("expected '=='", start)
            tokens.append(_Token(EQ, start))
            i += 2
        elif c == "!":
            if text.startswith("!=", i):
                tokens.append(_Token(NE, start))
                i += 2
            else:
                tokens.append(_Token(_NOT, start))
                i += 1
        elif c in "&|":
            if not text.startswith(c * 2, i):
                raise _SyntaxError(f"expected '{c * 2}'", start)
            tokens.append(_Token(_AND if c == "&" else _OR, start))
            i += 2
        elif after_label:
            found = _operator_after_label(text, i)
            if found is None:
                raise _SyntaxError(
                    f"expected an operator after label {tokens[-1].value!r} (==, !=, in, not in, "
                    "contains, starts with, ends with)",
                    start,
                )
            kind, i = found
            tokens.append(_Token(kind, start))
        elif text.startswith("has(", i):
            key, i = _identifier(text, _skip_blanks(text, i + 4))
            i = _skip_blanks(text, i)
            if not text.startswith(")", i):
                raise _SyntaxError("expected ')' to close has(", i)
            tokens.append(_Token(_HAS, start, key))
            i += 1
        elif text.startswith(("all(", "global("), i):
            word = "all" if c == "a" else "global"
            i = _skip_blanks(text, i + len(word) + 1)
            if not text.startswith(")", i):
                raise _SyntaxError(f"expected ')' after {word}(", i)
            tokens.append(_Token(_ALL if word == "all" else _GLOBAL, start))
            i += 1
        else:
            key, i = _identifier(text, i)
            tokens.append(_Token(_LABEL, start, key))


def is_only_global(text: str) -> bool:
    """True when ``text`` is ``global()`` alone, the one form Calico allows a rule's
    ``namespaceSelector`` that mentions ``global(`` (``validateEntityRule`` in
    ``libcalico-go/lib/validator/v3/validator.go``: exactly the tokens global() and the end)."""
    try:
        tokens = _tokenize(text)
    except _SyntaxError:
        return False
    return [t.kind for t in tokens] == [_GLOBAL, _EOF]


# -- parsing -------------------------------------------------------------------------------------


def _describe(token: _Token) -> str:
    if token.kind == _EOF:
        return "the end"
    if token.kind == _LABEL:
        return f"label {token.value!r}"
    if token.kind == _STRING:
        return f"string {token.value!r}"
    if token.kind == _HAS:
        return f"has({token.value})"
    return f"'{token.kind}'"


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        if token.kind != _EOF:
            self.i += 1
        return token

    def root(self) -> Node:
        if self.peek().kind == _EOF:
            return All()
        node = self.disjunction()
        extra = self.peek()
        if extra.kind != _EOF:
            problem = f"unexpected {_describe(extra)} after a complete expression"
            if extra.kind == _RPAREN:
                problem += " (unbalanced parentheses)"
            else:
                problem += " (join expressions with && or ||)"
            raise _SyntaxError(problem, extra.pos)
        return node

    def disjunction(self) -> Node:
        nodes = [self.conjunction()]
        while self.peek().kind == _OR:
            self.take()
            nodes.append(self.conjunction())
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))

    def conjunction(self) -> Node:
        nodes = [self.operation()]
        while self.peek().kind == _AND:
            self.take()
            nodes.append(self.operation())
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def operation(self) -> Node:
        negated = False
        while self.peek().kind == _NOT:
            self.take()
            negated = not negated
        token = self.take()
        node: Node
        if token.kind == _HAS:
            node = Has(token.value)
        elif token.kind == _ALL:
            node = All()
        elif token.kind == _GLOBAL:
            node = Global()
        elif token.kind == _LABEL:
            node = self.label_operation(token.value)
        elif token.kind == _LPAREN:
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise _SyntaxError(f"parentheses nested deeper than {MAX_NESTING}", token.pos)
            node = self.disjunction()
            close = self.take()
            if close.kind != _RPAREN:
                raise _SyntaxError(f"expected ')' but found {_describe(close)}", close.pos)
            self.depth -= 1
        else:
            raise _SyntaxError(
                "expected a label, has(...), all(), global(), '!' or '(' but found "
                + _describe(token),
                token.pos,
            )
        return Not(node) if negated else node

    def label_operation(self, key: str) -> Node:
        op = self.take()
        if op.kind in _COMPARISONS:
            value = self.take()
            if value.kind != _STRING:
                raise _SyntaxError(
                    f"expected a quoted string after '{op.kind}' but found {_describe(value)}",
                    value.pos,
                )
            return Compare(key, op.kind, value.value)
        if op.kind in (_IN, _NOT_IN):
            brace = self.take()
            if brace.kind != _LBRACE:
                raise _SyntaxError(
                    f"expected '{{' to open the set after '{op.kind}' but found "
                    + _describe(brace),
                    brace.pos,
                )
            values: set[str] = set()
            while self.peek().kind == _STRING:
                values.add(self.take().value)
                if self.peek().kind != _COMMA:
                    break
                self.take()
            close = self.take()
            if close.kind != _RBRACE:
                raise _SyntaxError(
                    "expected a quoted string, ',' or '}' in the set but found " + _describe(close),
                    close.pos,
                )
            return InSet(key, tuple(sorted(values)), negated=op.kind == _NOT_IN)
        raise _SyntaxError(
            f"expected an operator after label {key!r} (==, !=, in, not in, contains, "
            f"starts with, ends with) but found {_describe(op)}",
            op.pos,
        )


def parse_calico_selector(text: str, *, where: str) -> CalicoSelector:
    """Parse ``text`` as Calico does; a bad selector is one ``UsageError`` line naming ``where``
    (e.g. ``policies/x.yaml: spec.selector``), the character position and what was expected."""
    if not isinstance(text, str):
        raise UsageError(f"{where}: must be a selector string, got {type(text).__name__}")
    if len(text) > MAX_SELECTOR_LENGTH:
        raise UsageError(
            f"{where}: selector is {len(text)} characters long; the analyzer reads selectors of "
            f"at most {MAX_SELECTOR_LENGTH}"
        )
    try:
        return CalicoSelector(_Parser(_tokenize(text)).root())
    except _SyntaxError as e:
        raise UsageError(
            f"{where}: invalid selector: {e.problem} at character {e.pos + 1}: "
            f"{_excerpt(text, e.pos)}"
        ) from None


def _excerpt(text: str, pos: int, width: int = 60) -> str:
    """The selector around ``pos``, as a Python literal (control characters escaped)."""
    start = max(0, min(pos - width // 2, len(text) - width))
    piece = text[start : start + width]
    return ("…" if start else "") + repr(piece) + ("…" if start + width < len(text) else "")
