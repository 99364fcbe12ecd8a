"""Message templates: the names they read, rendering with escaping in HTML only, a missing
attribute as an error (never a blank), mistakes named by line, and the sandbox."""

from __future__ import annotations

import re
import time

import pytest

from dialer.domain.templates import MAX_LENGTH, MessageTemplate, MissingAttribute, RenderFailed
from dialer.errors import DialerError, InvalidInput, Problem

ANN = {"name": "Ann", "city": "Lyon"}


def problem_of(source: str, *, html: bool = False, where: str = "body") -> Problem:
    with pytest.raises(InvalidInput) as info:
        MessageTemplate.parse(source, html=html, where=where)
    [problem] = info.value.problems
    return problem


# --- parsing and rendering ---------------------------------------------------------------------


def test_render_fills_in_the_values() -> None:
    template = MessageTemplate.parse("Hi {{ name }}, we missed you in {{ city }}.")
    assert template.names == frozenset({"name", "city"})
    assert template.render(ANN) == "Hi Ann, we missed you in Lyon."


def test_a_template_without_names() -> None:
    template = MessageTemplate.parse("Reply STOP to opt out.")
    assert template.names == frozenset()
    assert template.render({}) == "Reply STOP to opt out."


def test_filters_and_if() -> None:
    source = "{% if city == 'Lyon' %}Salut{% else %}Hi{% endif %} {{ name | upper }}"
    template = MessageTemplate.parse(source)
    assert template.render(ANN) == "Salut ANN"
    assert template.render({"name": "Bo", "city": "Oslo"}) == "Hi BO"


def test_text_is_not_escaped_and_html_is() -> None:
    values = {"name": "Tom & <Jerry>"}
    assert MessageTemplate.parse("Hi {{ name }}").render(values) == "Hi Tom & <Jerry>"
    html = MessageTemplate.parse("<p>Hi {{ name }}</p>", html=True)
    assert html.render(values) == "<p>Hi Tom &amp; &lt;Jerry&gt;</p>"


def test_templates_compare_by_source_and_kind() -> None:
    assert MessageTemplate.parse("Hi {{ name }}") == MessageTemplate.parse("Hi {{ name }}")
    assert MessageTemplate.parse("x") != MessageTemplate.parse("x", html=True)


# --- a missing attribute -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "Hi {{ nickname }}",
        "{% if nickname %}yes{% endif %}",
        "{{ nickname | upper }}",
        "{{ name ~ nickname }}",
        "{{ nickname.first }}",
    ],
)
def test_a_missing_attribute_is_an_error_not_a_blank(source: str) -> None:
    template = MessageTemplate.parse(source)
    assert "nickname" in template.names
    with pytest.raises(MissingAttribute) as info:
        template.render(ANN)
    assert info.value.name == "nickname"
    assert isinstance(info.value, DialerError)
    assert "'nickname'" in str(info.value)


def test_an_operator_may_allow_for_a_missing_attribute() -> None:
    for source in (
        "Hi {{ nickname | default(name) }}",
        "Hi {% if nickname is defined %}{{ nickname }}{% else %}{{ name }}{% endif %}",
    ):
        template = MessageTemplate.parse(source)
        assert template.names == frozenset({"name", "nickname"})
        assert template.render(ANN) == "Hi Ann"
        assert template.render(ANN | {"nickname": "Annie"}) == "Hi Annie"


def test_an_attribute_of_a_value_is_a_failed_render_not_a_missing_attribute() -> None:
    with pytest.raises(RenderFailed) as info:
        MessageTemplate.parse("{{ name.first }}").render(ANN)
    assert not isinstance(info.value, MissingAttribute)


# --- mistakes found when parsing ---------------------------------------------------------------


def test_a_syntax_error_names_where_and_the_line() -> None:
    problem = problem_of("Hello\n{{ name }", where="steps[1].sms.body")
    assert problem.location == "steps[1].sms.body"
    assert problem.message == "line 2: unexpected '}'"


def test_an_unclosed_block() -> None:
    problem = problem_of("{% if name %}\nHi", html=True, where="html")
    assert problem.location == "html"
    assert problem.message.startswith("line ")
    assert "Unexpected end of template" in problem.message


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{% for c in name %}{{ c }}{% endfor %}", "{% for %} is not available"),
        ("{% set x = name %}{{ x }}", "{% set %} is not available"),
        ("{% macro m() %}{% endmacro %}", "{% macro %} is not available"),
        ("{% include 'other' %}", "{% include %} is not available"),
        ("{% extends 'base' %}", "{% extends %} is not available"),
        ("{{ name.upper() }}", "calls are not available"),
        ("{{ range(10) }}", "calls are not available"),
        ("{{ name | center(80) }}", "No filter named 'center'"),
        ("{{ name | format(1) }}", "No filter named 'format'"),
    ],
)
def test_what_a_message_template_may_not_use(source: str, says: str) -> None:
    problem = problem_of(source)
    assert problem.message.startswith("line 1: ")
    assert says in problem.message


def test_a_template_longer_than_the_limit() -> None:
    assert "longer than" in problem_of("x" * (MAX_LENGTH + 1)).message


# --- the sandbox -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ name.__class__.__mro__ }}",
        "{{ name['__class__'] }}",
        "{{ name | attr('__class__') }}",
        "{{ ''.__class__.__base__.__subclasses__() }}",
    ],
)
def test_unsafe_attributes_are_refused_when_parsing(source: str) -> None:
    problem = problem_of(source)
    assert problem.location == "body"


def test_an_unsafe_attribute_named_by_a_value_fails_the_render() -> None:
    template = MessageTemplate.parse("{{ name[key] }}")
    with pytest.raises(RenderFailed, match="unsafe"):
        template.render({"name": "Ann", "key": "__class__"})


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{{ name * 1000000 }}", "repeating text"),
        ("{{ '%s' % name }}", "% formatting"),
        ("{{ 10 ** 100000000 }}", "too large"),
        ("{{ name | replace('', name * 1) }}", "repeating text"),
        ("{{ 1 / 0 }}", "division by zero"),
    ],
)
def test_a_failing_template_raises_render_failed(source: str, says: str) -> None:
    started = time.monotonic()
    template = MessageTemplate.parse(source)
    with pytest.raises(RenderFailed, match=re.escape(says)):
        template.render(ANN)
    assert time.monotonic() - started < 1.0  # refused, not computed


def test_replace_is_refused_when_it_would_build_too_much() -> None:
    template = MessageTemplate.parse("{{ name | replace('', city) }}")
    assert template.render({"name": "ab", "city": "-"}) == "-a-b-"
    with pytest.raises(RenderFailed, match="replace would build more than"):
        template.render({"name": "a" * 1000, "city": "b" * 1000})
