"""Request bodies: JSON parsed and checked against the fields a resource accepts (pure).

Each handler declares its fields and their types; anything else (bad JSON, a field the
resource does not have, a wrong type) is refused before any state changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from gitserver.web.api.protocol import ApiError, bad_request, invalid_params

# The JSON types a field may have: one of these, or a tuple of them (None allows null).
FieldType = type | None | tuple[type | None, ...]


def parse_json(raw: bytes) -> object:
    """The body as JSON (None if empty)."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"Request body is not valid JSON: {exc}.") from None


def fields(
    body: object, allowed: Mapping[str, FieldType], *, required: tuple[str, ...] = ()
) -> dict[str, object]:
    """The body's fields, each of an allowed name and type; `required` ones must be present."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise invalid_params("Request body must be a JSON object.")
    for name, value in body.items():
        if name not in allowed:
            raise invalid_params(
                f"Unknown field {name!r}; this resource takes: {', '.join(allowed) or 'none'}."
            )
        if not _is(value, allowed[name]):
            raise invalid_params(f"Field {name!r} must be {_describe(allowed[name])}.")
    missing = [name for name in required if body.get(name) is None]
    if missing:
        raise invalid_params(f"Missing required field {missing[0]!r}.")
    return dict(body)


def string_map(body: object) -> dict[str, str | None]:
    """A `{KEY: "value" | null}` body (config vars)."""
    if not isinstance(body, dict) or not body:
        raise invalid_params("Request body must be a non-empty JSON object of config vars.")
    for key, value in body.items():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise invalid_params(f"Config var {key!r} must be a string or null.")
    return {key: None if value is None else _scalar_text(value) for key, value in body.items()}


def list_of_objects(value: object, name: str) -> list[dict[str, object]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise invalid_params(f"Field {name!r} must be a list of objects.")
    return list(value)


def name_or_id(value: object, name: str) -> str:
    """A `"name"` or `{"name": …}`/`{"id": …}` reference (stack, plan, release)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        ref = value.get("name") or value.get("id")
        if isinstance(ref, str) and set(value) <= {"name", "id"}:
            return ref
    raise invalid_params(f"Field {name!r} must be a name or an object with a name or id.")


def _scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _is(value: object, kind: FieldType) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        if k is None and value is None:
            return True
        if k is int and isinstance(value, bool):
            continue
        if k is not None and isinstance(value, k):
            return True
    return False


def _describe(kind: FieldType) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_TYPE_NAMES.get(k) or str(k) for k in kinds)


_TYPE_NAMES: dict[type | None, str] = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    dict: "an object",
    list: "a list",
    float: "a number",
    None: "null",
}


__all__ = ["ApiError", "fields", "list_of_objects", "name_or_id", "parse_json", "string_map"]
