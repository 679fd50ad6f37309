"""OData as Exact Online's REST API speaks it, for the simulator: typed fields per entity, and `$filter`
expressions (comparisons, `and`/`or`/`not`, the string functions Exact accepts, `guid'...'` and
`datetime'...'` literals) compiled into predicates over the simulator's rows."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from adapters.exact_online.simulator_data import Division, is_guid, local_naive, parse_exact_datetime

SYNTAX_ERROR = "Bad Request - Error in query syntax."

# --- fields ------------------------------------------------------------------------------------------

GUID, STRING, INT, DECIMAL, BOOL, DATETIME = "guid", "str", "int", "decimal", "bool", "datetime"
_EDM = {
    GUID: "Edm.Guid", STRING: "Edm.String", INT: "Edm.Int64", DECIMAL: "Edm.Double", BOOL: "Edm.Boolean",
    DATETIME: "Edm.DateTime", "null": "null",
}  # fmt: skip

Getter = Callable[[Division, Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Field:
    kind: str
    get: Getter


def own(kind: str, name: str) -> Field:
    return Field(kind, lambda division, row: row.get(name))


def const(kind: str, value: Any) -> Field:
    return Field(kind, lambda division, row: value)


def fields_of(kind_by_name: Mapping[str, str]) -> dict[str, Field]:
    return {name: own(kind, name) for name, kind in kind_by_name.items()}


def linked(kind: str, key: str, table: str, name: str) -> Field:
    """A field of the entity `row[key]` points at (e.g. the account's Name for a term)."""

    def get(division: Division, row: Mapping[str, Any]) -> Any:
        target = getattr(division, table).get(row.get(key) or "")
        return None if target is None else target.get(name)

    return Field(kind, get)


# --- $filter -----------------------------------------------------------------------------------------


class FilterError(ValueError):
    """A `$filter` Exact would refuse with 400; the message is the error value."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<guid>guid'(?P<guid_value>[^']*)')
    | (?P<datetime>datetime'(?P<datetime_value>[^']*)')
    | (?P<string>'(?P<string_value>(?:[^']|'')*)')
    | (?P<number>-?\d+(?:\.\d+)?)(?P<suffix>[LlMmDdFf])?(?![A-Za-z0-9_])
    | (?P<open>\() | (?P<close>\)) | (?P<comma>,)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_OPERATORS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
_STRING_FUNCTIONS = frozenset({"trim", "tolower", "toupper"})
_BOOL_FUNCTIONS = frozenset({"substringof", "startswith", "endswith"})


@dataclass(frozen=True)
class _Token:
    kind: str
    value: Any
    position: int


@dataclass(frozen=True)
class _Ref:
    name: str


@dataclass(frozen=True)
class _Lit:
    kind: str
    value: Any


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[_Node, ...]


@dataclass(frozen=True)
class _Cmp:
    op: str
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Logic:
    op: str  # and | or
    parts: tuple[_Node, ...]


@dataclass(frozen=True)
class _Not:
    part: _Node


_Node = _Ref | _Lit | _Call | _Cmp | _Logic | _Not


def _literal(match: re.Match[str]) -> _Lit:
    if match.group("guid") is not None:
        value = match.group("guid_value")
        if not is_guid(value):
            raise FilterError(f"Invalid guid literal: guid'{value}'")
        return _Lit(GUID, value.lower())
    if match.group("datetime") is not None:
        moment = parse_exact_datetime(match.group("datetime_value"))
        if moment is None:
            raise FilterError(f"Invalid datetime literal: datetime'{match.group('datetime_value')}'")
        return _Lit(DATETIME, local_naive(moment))
    if match.group("string") is not None:
        return _Lit(STRING, match.group("string_value").replace("''", "'"))
    number, suffix = match.group("number"), (match.group("suffix") or "").upper()
    if "." in number or suffix in ("M", "D", "F"):
        return _Lit(DECIMAL, Decimal(number))
    return _Lit(INT, int(number))


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterError(SYNTAX_ERROR)
        start = match.start(match.lastgroup or 0)
        if match.group("word") is not None:
            tokens.append(_Token("word", match.group("word"), start))
        elif match.group("open") is not None:
            tokens.append(_Token("(", "(", start))
        elif match.group("close") is not None:
            tokens.append(_Token(")", ")", start))
        elif match.group("comma") is not None:
            tokens.append(_Token(",", ",", start))
        else:
            tokens.append(_Token("literal", _literal(match), start))
        position = match.end()
    return tokens


class _Parser:
    """OData v2 boolean expressions: or > and > not > comparison > operand (recursive descent)."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0

    def parse(self) -> _Node:
        node = self._or()
        if self.index != len(self.tokens):
            raise FilterError(SYNTAX_ERROR)
        return node

    def _peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _next(self) -> _Token:
        token = self._peek()
        if token is None:
            raise FilterError(SYNTAX_ERROR)
        self.index += 1
        return token

    def _accept_word(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token.kind == "word" and token.value == word:
            self.index += 1
            return True
        return False

    def _expect(self, kind: str) -> None:
        if self._next().kind != kind:
            raise FilterError(SYNTAX_ERROR)

    def _or(self) -> _Node:
        parts = [self._and()]
        while self._accept_word("or"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else _Logic("or", tuple(parts))

    def _and(self) -> _Node:
        parts = [self._not()]
        while self._accept_word("and"):
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else _Logic("and", tuple(parts))

    def _not(self) -> _Node:
        if self._accept_word("not"):
            return _Not(self._not())
        return self._comparison()

    def _comparison(self) -> _Node:
        left = self._operand()
        token = self._peek()
        if token is not None and token.kind == "word" and token.value in _OPERATORS:
            self.index += 1
            return _Cmp(token.value, left, self._operand())
        return left

    def _operand(self) -> _Node:
        token = self._next()
        if token.kind == "(":
            node = self._or()
            self._expect(")")
            return node
        if token.kind == "literal":
            literal: _Lit = token.value
            return literal
        if token.kind != "word" or token.value in _OPERATORS or token.value in ("and", "or", "not"):
            raise FilterError(SYNTAX_ERROR)
        word: str = token.value
        if word in ("true", "false"):
            return _Lit(BOOL, word == "true")
        if word == "null":
            return _Lit("null", None)
        following = self._peek()
        if following is not None and following.kind == "(":
            self.index += 1
            args = [self._or()]
            while self._peek() is not None and self._peek().kind == ",":  # type: ignore[union-attr]
                self.index += 1
                args.append(self._or())
            self._expect(")")
            return _Call(word, tuple(args))
        return _Ref(word)


Predicate = Callable[[Division, Mapping[str, Any]], bool]
Value = Callable[[Division, Mapping[str, Any]], Any]


@dataclass(frozen=True)
class CompiledFilter:
    test: Predicate
    fields: frozenset[str]
    timestamp_floor: int | None  # rows must have Timestamp > this (lets sync paging start with a bisect)


def _normalize(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == GUID:
        return str(value).lower()
    if kind in (INT, DECIMAL) and not isinstance(value, bool) and isinstance(value, int | Decimal | float):
        return Decimal(value) if not isinstance(value, float) else Decimal(repr(value))
    if kind == DATETIME and isinstance(value, date):
        naive_literal = isinstance(value, datetime) and value.tzinfo is None
        return value if naive_literal else local_naive(value)  # literals are Amsterdam wall-clock already
    return value


_COMPATIBLE = {
    (GUID, GUID), (STRING, STRING), (INT, INT), (INT, DECIMAL), (DECIMAL, INT), (DECIMAL, DECIMAL),
    (DATETIME, DATETIME), (BOOL, BOOL),
}  # fmt: skip


def _compare(op: str, kind: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        if op == "eq":
            return left is None and right is None
        if op == "ne":
            return not (left is None and right is None)
        return False
    if kind == STRING and isinstance(left, str) and isinstance(right, str):
        left, right = left.rstrip().casefold(), right.rstrip().casefold()
    try:
        if op == "eq":
            return bool(left == right)
        if op == "ne":
            return bool(left != right)
        if op == "gt":
            return bool(left > right)
        if op == "ge":
            return bool(left >= right)
        if op == "lt":
            return bool(left < right)
        return bool(left <= right)
    except TypeError:  # bad seed data of another type
        return False


class _Compiler:
    def __init__(self, fields: Mapping[str, Field], type_name: str) -> None:
        self.fields = fields
        self.type_name = type_name
        self.used: set[str] = set()

    def value(self, node: _Node) -> tuple[str, Value]:
        if isinstance(node, _Ref):
            found = self.fields.get(node.name)
            if found is None:
                raise FilterError(f"No property '{node.name}' exists in type '{self.type_name}'.")
            self.used.add(node.name)
            kind, get = found.kind, found.get
            return kind, lambda division, row: _normalize(kind, get(division, row))
        if isinstance(node, _Lit):
            constant = _normalize(node.kind, node.value)
            return node.kind, lambda division, row: constant
        if isinstance(node, _Call) and node.name in _STRING_FUNCTIONS:
            if len(node.args) != 1:
                raise FilterError(SYNTAX_ERROR)
            kind, inner = self.value(node.args[0])
            if kind != STRING:
                raise FilterError(f"No applicable function found for '{node.name}' with argument {_EDM[kind]}.")
            name = node.name

            def call(division: Division, row: Mapping[str, Any]) -> Any:
                found = inner(division, row)
                if not isinstance(found, str):
                    return found
                return found.strip() if name == "trim" else found.lower() if name == "tolower" else found.upper()

            return STRING, call
        if isinstance(node, _Call) and node.name not in _BOOL_FUNCTIONS:
            raise FilterError(f"Unknown function '{node.name}'.")
        return BOOL, self.predicate(node)

    def predicate(self, node: _Node) -> Predicate:
        if isinstance(node, _Logic):
            parts = [self.predicate(part) for part in node.parts]
            if node.op == "and":
                return lambda division, row: all(part(division, row) for part in parts)
            return lambda division, row: any(part(division, row) for part in parts)
        if isinstance(node, _Not):
            inner = self.predicate(node.part)
            return lambda division, row: not inner(division, row)
        if isinstance(node, _Cmp):
            return self._comparison(node)
        if isinstance(node, _Call) and node.name in _BOOL_FUNCTIONS:
            return self._string_test(node)
        kind, get = self.value(node)
        if kind != BOOL:
            raise FilterError(SYNTAX_ERROR)
        return lambda division, row: get(division, row) is True

    def _comparison(self, node: _Cmp) -> Predicate:
        left_kind, left = self.value(node.left)
        right_kind, right = self.value(node.right)
        null = "null" in (left_kind, right_kind)
        if (null and node.op not in ("eq", "ne")) or (not null and (left_kind, right_kind) not in _COMPATIBLE):
            raise FilterError(
                f"Operator '{node.op}' incompatible with operand types '{_EDM[left_kind]}' and '{_EDM[right_kind]}'."
            )
        op, kind = node.op, left_kind
        return lambda division, row: _compare(op, kind, left(division, row), right(division, row))

    def _string_test(self, node: _Call) -> Predicate:
        if len(node.args) != 2:
            raise FilterError(SYNTAX_ERROR)
        kinds_and_values = [self.value(arg) for arg in node.args]
        if any(kind != STRING for kind, _ in kinds_and_values):
            raise FilterError(f"No applicable function found for '{node.name}'.")
        (_, first), (_, second) = kinds_and_values
        name = node.name

        def test(division: Division, row: Mapping[str, Any]) -> bool:
            a, b = first(division, row), second(division, row)
            if not isinstance(a, str) or not isinstance(b, str):
                return False
            a, b = a.casefold(), b.casefold()
            if name == "substringof":  # substringof('needle', Field)
                return a in b
            return a.startswith(b) if name == "startswith" else a.endswith(b)  # startswith(Field, 'prefix')

        return test


def _timestamp_floor(node: _Node) -> int | None:
    if (
        isinstance(node, _Cmp)
        and isinstance(node.left, _Ref)
        and node.left.name == "Timestamp"
        and isinstance(node.right, _Lit)
        and node.right.kind == INT
        and node.op in ("gt", "ge")
    ):
        return int(node.right.value) - (1 if node.op == "ge" else 0)
    if isinstance(node, _Logic) and node.op == "and":
        floors = [floor for floor in map(_timestamp_floor, node.parts) if floor is not None]
        return max(floors) if floors else None
    return None


def compile_filter(text: str, fields: Mapping[str, Field], type_name: str = "entity") -> CompiledFilter:
    """Parse and type-check a `$filter` against an endpoint's fields; raises FilterError."""
    tree = _Parser(text).parse()
    compiler = _Compiler(fields, type_name)
    test = compiler.predicate(tree)
    return CompiledFilter(test, frozenset(compiler.used), _timestamp_floor(tree))
