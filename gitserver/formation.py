"""Formation rules, pure: which dynos a release runs, `ps:scale` arguments, crash backoff."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gitserver.errors import InvalidFormation

# The release phase runs once per release, never as a formation dyno (heroku-reference §9).
NOT_SCALABLE = frozenset({"release"})
MAX_QUANTITY = 10
_SCALE = re.compile(r"^(?P<type>[A-Za-z0-9_-]+)(?P<op>=|\+|-)(?P<n>\d+)(?::(?P<size>[\w-]+))?$")
_DYNO = re.compile(r"^(?P<type>[A-Za-z0-9_-]+)\.(?P<n>\d+)$")


@dataclass(frozen=True)
class DynoSpec:
    """One dyno the formation asks for."""

    name: str  # "web.1"
    type: str
    command: str


@dataclass(frozen=True)
class ScaleChange:
    type: str
    op: str  # "=", "+" or "-"
    amount: int


def quantities(process_types: Mapping[str, str], scaled: Mapping[str, int]) -> dict[str, int]:
    """Every scalable type of the release with its quantity; never scaled: web 1, others 0."""
    return {
        kind: scaled.get(kind, 1 if kind == "web" else 0)
        for kind in sorted(process_types)
        if kind not in NOT_SCALABLE
    }


def desired_dynos(process_types: Mapping[str, str], scaled: Mapping[str, int]) -> list[DynoSpec]:
    return [
        DynoSpec(f"{kind}.{n}", kind, process_types[kind])
        for kind, count in quantities(process_types, scaled).items()
        for n in range(1, count + 1)
    ]


def parse_scale(args: Sequence[str]) -> list[ScaleChange]:
    """`web=2 worker+1 clock-1` (a `:SIZE` suffix is accepted: every dyno here is one size)."""
    if not args:
        raise InvalidFormation(
            "No process types given.", hint="Usage: ps:scale web=1 worker=2 (or web+1, web-1)."
        )
    changes = []
    for arg in args:
        match = _SCALE.match(arg)
        if not match:
            raise InvalidFormation(
                f"{arg!r} is not of the form TYPE=N, TYPE+N or TYPE-N.",
                hint="For example: cedarbox ps:scale web=2 worker=1",
            )
        changes.append(ScaleChange(match["type"], match["op"], int(match["n"])))
    return changes


def apply_scale(
    changes: Sequence[ScaleChange],
    process_types: Mapping[str, str],
    scaled: Mapping[str, int],
) -> dict[str, int]:
    """The new quantities of the types named; refuses unknown types and out-of-range sizes."""
    current = quantities(process_types, scaled)
    result: dict[str, int] = {}
    for change in changes:
        if change.type not in current:
            raise InvalidFormation(
                f"No such process type {change.type!r}"
                + (" (the release phase is not scalable)." if change.type in NOT_SCALABLE else "."),
                hint=_types_hint(process_types),
            )
        before = result.get(change.type, current[change.type])
        after = {"=": change.amount, "+": before + change.amount, "-": before - change.amount}[
            change.op
        ]
        if not 0 <= after <= MAX_QUANTITY:
            raise InvalidFormation(
                f"Cannot scale {change.type} to {after}.",
                hint=f"Quantities go from 0 to {MAX_QUANTITY} per process type.",
            )
        result[change.type] = after
    return result


def check_target(target: str, process_types: Mapping[str, str]) -> str:
    """A `ps:restart`/`ps:stop` target: "" (all), a process type or a dyno name like web.1."""
    if not target:
        return target
    match = _DYNO.match(target)
    kind = match["type"] if match else target
    if kind not in process_types or kind in NOT_SCALABLE:
        raise InvalidFormation(
            f"No such process type or dyno {target!r}.", hint=_types_hint(process_types)
        )
    return target


def target_matches(target: str, dyno_name: str) -> bool:
    return not target or target == dyno_name or dyno_name.startswith(target + ".")


def restart_delay(crashes: int, base: float, maximum: float) -> float:
    """Seconds before restarting after the `crashes`-th crash in a row: Heroku restarts at once
    after the first, then waits a growing cool-off."""
    if crashes <= 1:
        return 0.0
    return float(min(base * 2 ** (crashes - 2), maximum))


def describe_formation(process_types: Mapping[str, str], scaled: Mapping[str, int]) -> str:
    """`web=1 worker=0`, as `ps:scale` with no arguments prints it."""
    return " ".join(f"{k}={n}" for k, n in quantities(process_types, scaled).items())


def _types_hint(process_types: Mapping[str, str]) -> str:
    kinds = [k for k in sorted(process_types) if k not in NOT_SCALABLE]
    if not kinds:
        return "The current release declares no process types: add a Procfile and push."
    return f"The Procfile declares: {', '.join(kinds)}."
