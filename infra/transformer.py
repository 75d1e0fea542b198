"""EventBridge's input transformer, emulated: a target's InputPathsMap picks
values out of the event with JSONPaths, and its InputTemplate receives them
in place of `<name>` placeholders.

How a value is written depends on where its placeholder stands, as
EventBridge writes it:

- outside a JSON string (`{"score": <score>}`), as JSON: a string quoted,
  a number, true/false, null, an object or an array as they are;
- inside a JSON string (`"CVSS <score>"`), as text: a string without its
  quotes (its own quotes and backslashes escaped, so the string stays valid
  JSON), a number, true/false or null as their JSON text, an object or an
  array as JSON with its inner quotes removed (`[a,b]`);
- a path that is not in the event gives the empty string (`""` outside a
  string, nothing inside one), as EventBridge does.

A template in curly braces is a JSON object and must come out as valid JSON
(minified, as EventBridge passes it); any other template is text, written as
it comes out. A placeholder that is neither a key of InputPathsMap nor a
predefined variable is refused, as PutTargets refuses it. JSONPaths are the
subset EventBridge evaluates: dot notation (names with dashes and
underscores) and array indices."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_MISSING = object()
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_PATH_STEP = re.compile(r"\.([A-Za-z0-9_\-/]+)|\[(\d+)\]")
PREDEFINED = (
    "aws.events.rule-arn",
    "aws.events.rule-name",
    "aws.events.event.ingestion-time",
    "aws.events.event",
    "aws.events.event.json",
)


class TransformError(ValueError):
    """The template cannot be filled with this event into what it promises."""


def select(event: Any, path: str) -> Any:
    """The value at a JSONPath of the event, or _MISSING."""
    if not path.startswith("$"):
        raise TransformError(f"a JSONPath starts with $: {path}")
    position, value = 1, event
    while position < len(path):
        step = _PATH_STEP.match(path, position)
        if step is None:
            raise TransformError(f"unsupported JSONPath {path}")
        name, index = step.groups()
        if name is not None:
            value = value.get(name, _MISSING) if isinstance(value, dict) else _MISSING
        else:
            number = int(index)
            value = value[number] if isinstance(value, list) and number < len(value) else _MISSING
        if value is _MISSING:
            return _MISSING
        position = step.end()
    return value


def _as_json(value: Any) -> str:
    if value is _MISSING:
        return '""'
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _as_text(value: Any) -> str:
    if value is _MISSING:
        return ""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)[1:-1]
    if isinstance(value, (dict, list)):
        return _as_json(value).replace('"', "")
    return _as_json(value)


@dataclass(frozen=True)
class InputTransformer:
    paths: dict[str, str]
    template: str

    @classmethod
    def of(cls, spec: dict[str, Any]) -> InputTransformer:
        transformer = cls(dict(spec.get("InputPathsMap") or {}), str(spec["InputTemplate"]))
        for name in _PLACEHOLDER.findall(transformer.template):
            if name not in transformer.paths and name not in PREDEFINED:
                raise TransformError(f"InputTemplate contains invalid placeholder {name}.")
        reserved = [name for name in transformer.paths if name.lower().startswith("aws.")]
        if reserved:
            raise TransformError(f"InputPathsMap keys cannot start with aws.: {', '.join(reserved)}")
        return transformer

    @property
    def is_json(self) -> bool:
        return self.template.strip().startswith("{")

    def apply(self, event: dict[str, Any], rule_arn: str, rule_name: str) -> str:
        """The text EventBridge sends the target for `event`."""
        values = {name: select(event, path) for name, path in self.paths.items()}
        values.update(
            {
                "aws.events.rule-arn": rule_arn,
                "aws.events.rule-name": rule_name,
                "aws.events.event.ingestion-time": event.get("time", _MISSING),
                "aws.events.event": {
                    ("detailType" if key == "detail-type" else key): value
                    for key, value in event.items()
                    if key != "detail"
                },
                "aws.events.event.json": event,
            }
        )
        filled = self._fill(values)
        if not self.is_json:
            return filled
        try:
            return json.dumps(json.loads(filled), ensure_ascii=False, separators=(",", ":"))
        except json.JSONDecodeError as error:
            raise TransformError(f"the filled template is not valid JSON: {error}") from None

    def _fill(self, values: dict[str, Any]) -> str:
        """Walks the template once, knowing at each placeholder whether it
        stands inside a JSON string."""
        out: list[str] = []
        template, position, in_string = self.template, 0, False
        while position < len(template):
            char = template[position]
            if char == "<":
                found = _PLACEHOLDER.match(template, position)
                if found and found.group(1) in values:
                    value = values[found.group(1)]
                    out.append(_as_text(value) if in_string or not self.is_json else _as_json(value))
                    position = found.end()
                    continue
            if char == "\\" and in_string:
                out.append(template[position : position + 2])
                position += 2
                continue
            if char == '"':
                in_string = not in_string
            out.append(char)
            position += 1
        return "".join(out)
