"""Chapter parameters: profiles and validation.

Every chapter declares its parameters once, as a ``Spec`` in its experiment module. The notebook's
``parameters`` cell lists the same names (papermill overrides them); the first code cell calls
``resolve`` on the notebook's namespace, which fills each ``None`` from the profile and rejects bad input
with a one-line ``ValueError`` that names the parameter and what is allowed, before any work starts.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Mapping

PROFILES = ("smoke", "book", "paper")
# the largest seed: every generator the book seeds (torch, numpy, random) takes it, where a seed past 2**64 - 1
# overflowed torch only after the world had been built
SEED_HIGH = 2**32 - 1

# Names IPython puts in a kernel's namespace before any cell runs; they are not parameters.
_KERNEL_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})


@dataclass(frozen=True)
class Param:
    """One parameter: its type, what it means, its allowed values and its default per profile."""

    kind: type  # int, float, str or bool
    help: str
    default: Any = None  # used by every profile unless ``by_profile`` names one
    by_profile: Mapping[str, Any] = field(default_factory=dict)
    choices: tuple | None = None  # allowed values, for str parameters
    low: float | None = None  # inclusive lower bound
    high: float | None = None  # inclusive upper bound
    open_low: bool = False  # make the lower bound exclusive: rates live in (0, 1)
    open_high: bool = False
    nullable: bool = False  # None is a meaningful value (not "use the profile's")

    def allowed(self) -> str:
        """The allowed values, in words, for error messages."""
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        kind = self.kind.__name__
        article = "an" if kind[0] in "aeiou" else "a"
        if self.low is None and self.high is None:
            text = f"{article} {kind}"
        else:
            bound = lambda v: str(v) if isinstance(v, int) else f"{v:g}"
            lo = "-inf" if self.low is None else bound(self.low)
            hi = "inf" if self.high is None else bound(self.high)
            left = "(" if self.open_low or self.low is None else "["
            right = ")" if self.open_high or self.high is None else "]"
            text = f"{article} {kind} in {left}{lo}, {hi}{right}"
        return text + (" or None" if self.nullable else "")

    def default_for(self, profile: str) -> Any:
        return self.by_profile.get(profile, self.default)

    def check(self, name: str, value: Any) -> Any:
        """Return ``value`` converted to ``kind``, or raise a one-line ValueError."""
        if value is None and self.nullable:
            return None
        if self.kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # papermill and the CLI read "-p rates 1e-3" as a number: a one-item list
        ok_type = (
            isinstance(value, bool)
            if self.kind is bool
            else isinstance(value, (int, float)) and not isinstance(value, bool)
            if self.kind is float
            else isinstance(value, self.kind) and not isinstance(value, bool)
        )
        if not ok_type:
            raise ValueError(
                f"parameter {name!r} got {value!r} ({type(value).__name__}); allowed: {self.allowed()}"
            )
        value = self.kind(value)
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"parameter {name!r} got {value!r}; allowed: {self.allowed()}")
        if self.kind in (int, float):
            bad = (isinstance(value, float) and math.isnan(value)) or (
                self.low is not None and (value < self.low or (self.open_low and value == self.low))
            ) or (
                self.high is not None and (value > self.high or (self.open_high and value == self.high))
            )
            if bad:
                raise ValueError(f"parameter {name!r} got {value!r}; allowed: {self.allowed()}")
        return value


PROFILE = Param(str, "smoke | book | paper: sets every size left as None", default="book", choices=PROFILES)


class Spec(dict):
    """The parameters of one chapter, by name. ``profile`` is always the first."""

    def __init__(self, **params: Param):
        super().__init__(profile=PROFILE, **params)

    def resolve(self, given: Mapping[str, Any]) -> SimpleNamespace:
        """Validate ``given`` (a notebook namespace or CLI values) and fill the profile's defaults.

        Unknown names are rejected, so a mistyped papermill ``-p`` never runs silently with defaults.
        """
        values = {
            k: v
            for k, v in given.items()
            if not k.startswith("_") and k not in _KERNEL_NAMES and not _is_module(v)
        }
        unknown = sorted(set(values) - set(self))
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r}; allowed: {', '.join(self)}")
        profile = PROFILE.check("profile", values.get("profile", PROFILE.default))
        out = {}
        for name, param in self.items():
            value = values.get(name)
            if value is None and not param.nullable:
                value = param.default_for(profile)
            if value is None and not param.nullable:
                raise ValueError(f"parameter {name!r} has no value for profile {profile!r}; allowed: {param.allowed()}")
            out[name] = param.check(name, value)
        return SimpleNamespace(**out)

    def describe(self, profile: str = "book") -> list[dict]:
        """Rows (name, default at ``profile``, allowed, meaning) for docs and re-run boxes."""
        return [
            dict(name=n, default=p.default_for(profile), allowed=p.allowed(), meaning=p.help)
            for n, p in self.items()
        ]


def _is_module(value: Any) -> bool:
    """Imports and helpers in a namespace are not parameters."""
    return inspect.ismodule(value) or inspect.isroutine(value) or inspect.isclass(value)


def number_list(name: str, text: Any, kind: type = float, low: float = -math.inf, high: float = math.inf,
                open_low: bool = False) -> list:
    """Parse a comma-separated parameter ("0.25,0.5,1") into distinct numbers of ``kind`` in [low, high] (or
    (low, high] with ``open_low``), or raise a one-line ValueError naming the parameter and what is allowed."""
    try:
        values = [kind(v) for v in str(text).split(",") if v.strip() != ""]
    except ValueError:
        values = []
    inside = lambda v: (low < v if open_low else low <= v) and v <= high
    if not values or not all(inside(v) for v in values) or len(set(values)) != len(values):
        left = "(" if open_low else "["
        noun = "ints" if kind is int else "numbers"
        raise ValueError(f"parameter {name!r} got {text!r}; allowed: distinct comma-separated {noun} in "
                         f"{left}{low:g}, {high:g}]")
    return values


def parse_cli_value(text: str) -> Any:
    """Read a ``-p name value`` string the way papermill does: bool, None, int, float, else str."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
