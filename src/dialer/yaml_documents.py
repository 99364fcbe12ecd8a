"""YAML as operators write it (campaign files, rate cards): parsed safely, errors located."""

from __future__ import annotations

from typing import Any

import yaml

from dialer.errors import InvalidInput, Problem

MAX_NESTING = 32  # these documents are a few levels deep; YAML's composer recurses per level


class StrictLoader(yaml.SafeLoader):
    """A safe loader for the files operators write, and for hostile files too.

    It refuses a key written twice in one mapping (YAML would silently keep the last one, and
    the file would take effect with half of what the operator wrote); it refuses aliases (``*name``,
    and so merge keys), which these files never need and which let a few hundred bytes expand
    to gigabytes; and it refuses nesting deeper than ``MAX_NESTING``, before the composer's
    recursion could exhaust the stack."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._refuse("aliases (*name) and merge keys are not allowed in this file")
        if self._depth >= MAX_NESTING:
            self._refuse(f"the file is nested more than {MAX_NESTING} levels deep")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _refuse(self, message: str) -> None:
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        raise yaml.composer.ComposerError(None, None, message, mark)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is written twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_strict_yaml(text: str) -> Any:
    """The document in ``text``; InvalidInput naming the line and column of what is wrong."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # a SafeLoader: builds no objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(yaml)"
        raise InvalidInput(Problem(where, f"not valid YAML: {exc.problem}")) from exc
    except yaml.YAMLError as exc:
        raise InvalidInput(Problem("(yaml)", f"not valid YAML: {exc}")) from exc
