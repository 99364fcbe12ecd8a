"""Message templates: an SMS body, an email's subject, text and HTML, with ``{{ name }}`` and
the contact's other attributes.

Templates are written by operators and rendered on our workers, so they run in Jinja's
sandbox, and the language is cut down to what a message needs: values, filters and
``{% if %}``. Loops, macros, ``set``, imports and method calls are refused when the template
is parsed; so are text-building operations without a bound (``"x" * n``, ``%`` formatting,
padding filters), since one template is rendered for every lead of a campaign.

A name the values do not give is an error (``MissingAttribute``), never a blank in a message;
``{{ nickname | default(name) }}`` and ``{% if nickname is defined %}`` still work.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateRuntimeError,
    TemplateSyntaxError,
    UndefinedError,
    meta,
    nodes,
    pass_eval_context,
)
from jinja2.exceptions import SecurityError
from jinja2.filters import do_replace
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import missing

from dialer.errors import DialerError, InvalidInput, Problem

MAX_LENGTH = 100_000  # characters of a template's source, and of any text it builds

# The filters a message needs; the others pad, repeat or reshape text without a bound.
_FILTERS = frozenset(
    {
        *("default", "d", "upper", "lower", "title", "capitalize", "trim", "truncate", "replace"),
        *("escape", "e", "forceescape", "safe", "striptags", "urlencode", "string"),
        *("int", "float", "round", "abs", "min", "max"),
        *("first", "last", "length", "count", "wordcount", "join", "list", "reverse"),
    }
)
_STATEMENTS = (nodes.Output, nodes.If, nodes.FilterBlock)
_TAG_OF = {
    "Assign": "set",
    "AssignBlock": "set",
    "CallBlock": "call",
    "FromImport": "from",
    "ExprStmt": "do",
}


class RenderFailed(DialerError):
    """A template could not be rendered for these values."""


class MissingAttribute(RenderFailed):
    """The template names a value the contact does not have."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"the contact has no attribute {name!r}")


@dataclass(frozen=True)
class MessageTemplate:
    """A checked, compiled template; made by ``parse``, equal when the sources are."""

    source: str
    html: bool
    names: frozenset[str]  # the names it reads: ``name`` and contact attributes
    _template: Template = field(compare=False, repr=False)

    @classmethod
    def parse(cls, source: str, *, html: bool = False, where: str = "body") -> MessageTemplate:
        """Compile ``source``; InvalidInput at ``where`` naming the line of a mistake."""
        if len(source) > MAX_LENGTH:
            raise InvalidInput(Problem(where, f"longer than {MAX_LENGTH} characters"))
        try:
            return _compile(source, html)
        except TemplateSyntaxError as exc:
            raise InvalidInput(Problem(where, f"line {exc.lineno}: {exc.message}")) from exc

    def render(self, values: Mapping[str, str]) -> str:
        """The message for these values: MissingAttribute when the template reads a name they
        do not give, RenderFailed for any other failure of the template."""
        try:
            return self._template.render(dict(values))
        except _MissingName as exc:
            raise MissingAttribute(str(exc)) from None
        # The template is the operator's code: anything it raises (a refused operation, a
        # division by zero, a filter given the wrong type) is its failure, not a crash of ours.
        except Exception as exc:
            raise RenderFailed(f"the template failed: {exc}") from exc


# Campaigns are read back from the store often, and compiling a template takes about a
# millisecond: the same source compiles once. A template is immutable and safe to share.
@functools.lru_cache(maxsize=512)
def _compile(source: str, html: bool) -> MessageTemplate:
    environment = _HTML if html else _TEXT
    tree = environment.parse(source)
    _check_language(tree)
    template = environment.from_string(tree)
    names = frozenset(meta.find_undeclared_variables(tree))
    return MessageTemplate(source, html, names, template)


def _check_language(tree: nodes.Template) -> None:
    """Refuse what a message template may not use, naming its line."""
    for statement in tree.find_all(nodes.Stmt):
        if not isinstance(statement, _STATEMENTS):
            kind = type(statement).__name__
            tag = _TAG_OF.get(kind, kind.lower())
            _refuse(statement, f"{{% {tag} %}} is not available: use values, filters and if")
    for call in tree.find_all(nodes.Call):
        _refuse(call, "calls are not available: use a filter ({{ name | upper }})")
    for lookup in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if (key := _key(lookup)).startswith("_"):
            _refuse(lookup, f"the attribute {key!r} is not available")


def _key(lookup: nodes.Node) -> str:
    """The name a lookup (``value.key`` or ``value["key"]``) reads, when written literally."""
    if isinstance(lookup, nodes.Getattr):
        return str(lookup.attr)
    arg = lookup.arg if isinstance(lookup, nodes.Getitem) else None
    return arg.value if isinstance(arg, nodes.Const) and isinstance(arg.value, str) else ""


def _refuse(node: nodes.Node, message: str) -> None:
    raise TemplateSyntaxError(message, node.lineno)


class _MissingName(UndefinedError):
    """A name the values do not give; its message is the name alone."""


class _Undefined(StrictUndefined):
    """Jinja's strict undefined, raising ``_MissingName`` for a top-level name the values
    lack, so the render can say which one."""

    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[TemplateRuntimeError] = UndefinedError,
    ) -> None:
        if hint is None and obj is missing and name is not None:
            hint, exc = name, _MissingName  # a top-level lookup, not an attribute of a value
        super().__init__(hint, obj, name, exc)


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox (no unsafe attributes), with operators that could build unbounded
    text refused. Intercepted operators are also never folded when the template compiles,
    so ``{{ 9 ** 9 ** 9 }}`` cannot hold up its parsing."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def is_safe_callable(self, obj: Any) -> bool:
        return False  # calls are refused at parse time; this keeps it so

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*" and (_is_sequence(left) or _is_sequence(right)):
            raise SecurityError("repeating text is not available in a message template")
        if operator == "%" and isinstance(left, str):
            raise SecurityError("% formatting is not available in a message template")
        if operator == "**" and _power_bits(left, right) > 4096:
            raise SecurityError("the power is too large")
        return super().call_binop(context, operator, left, right)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, str | list | tuple)


def _power_bits(base: Any, exponent: Any) -> int:
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1:
        return base.bit_length() * exponent
    return 0  # floats overflow at once; 0, 1 and -1 stay small


@pass_eval_context
def _replace(eval_ctx: EvalContext, text: str, old: str, new: str, count: int | None = None) -> str:
    """Jinja's ``replace``, refused when the result would be longer than MAX_LENGTH
    (``replace('', ...)`` inserts between every two characters)."""
    found = str(text).count(str(old))
    if count is not None and count >= 0:
        found = min(found, count)
    if len(str(text)) + found * (len(str(new)) - len(str(old))) > MAX_LENGTH:
        raise SecurityError(f"replace would build more than {MAX_LENGTH} characters")
    return do_replace(eval_ctx, text, old, new, count)


def _environment(*, html: bool) -> _Sandbox:
    environment = _Sandbox(autoescape=html, undefined=_Undefined)
    environment.globals.clear()  # range, lipsum, cycler ...: nothing a message needs
    filters = {name: environment.filters[name] for name in _FILTERS}
    environment.filters = filters | {"replace": _replace}
    return environment


_TEXT = _environment(html=False)
_HTML = _environment(html=True)  # contact values are escaped in HTML bodies
