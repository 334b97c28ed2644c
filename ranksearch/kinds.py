"""Things that come in kinds (pruners, samplers): one registry each, chosen by a name with settings.

A kind is written ``name`` or ``name:key=value,key=value`` (``moasha:eta=3,epsilon=0.02``), on
the command line and in a configuration file alike. Its settings are the keyword arguments of
the class or function registered under the name, each parsed as the type of its default; the
kind's docstring ``Args:`` section says what each means. Anything unknown or malformed is one
``ValueError`` naming the kind, the setting and what it accepts.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any, Callable

_SPEC = re.compile(r"^([a-z][a-z0-9_-]*)(?::(.*))?$")


_WORDS = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a word", "None": "none"}


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    types: tuple[str, ...]  # from the annotation: "int", "float", "bool", "str", "None"

    @classmethod
    def of(cls, param: inspect.Parameter) -> "Setting":
        note = param.annotation if isinstance(param.annotation, str) else getattr(param.annotation, "__name__", "")
        types = tuple(t.strip() for t in note.split("|") if t.strip()) or (type(param.default).__name__,)
        return cls(param.name, param.default, types)

    def parse(self, text: str, where: str) -> Any:
        t = text.strip()
        if t.lower() == "none" and "None" in self.types:
            return None
        for kind in self.types:
            if kind == "bool" and t.lower() in ("true", "false", "yes", "no"):
                return t.lower() in ("true", "yes")
            if kind == "int" and re.fullmatch(r"[-+]?\d+", t):
                return int(t)
            if kind == "float":
                try:
                    return float(t)
                except ValueError:
                    continue
            if kind == "str":
                return t
        want = " or ".join(_WORDS.get(k, k) for k in self.types)
        raise ValueError(f"{where}: {self.name} must be {want}, got {text!r}")

    def describe(self) -> str:
        """``name=default`` as help shows it, a float to 4 significant digits (grace=0.3333)."""
        return f"{self.name}={self.default:.4g}" if isinstance(self.default, float) else f"{self.name}={self.default}"


@dataclass(frozen=True)
class Kind:
    name: str
    make: Callable[..., Any]
    settings: tuple[Setting, ...]
    fixed: tuple[str, ...]  # arguments the caller passes (a sampler's seed), never a user setting

    @property
    def summary(self) -> str:
        return (inspect.getdoc(self.make) or "").split("\n")[0]


class Registry:
    """Kinds of one thing (``what``: "pruner", "sampler"), each a class or function with keyword settings."""

    def __init__(self, what: str, fixed: tuple[str, ...] = ()) -> None:
        self.what, self.fixed, self.kinds = what, fixed, {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def add(make: Callable[..., Any]) -> Callable[..., Any]:
            if name in self.kinds:
                raise ValueError(f"a {self.what} named {name!r} is already registered")
            params = inspect.signature(make).parameters.values()
            settings = tuple(Setting.of(p) for p in params
                             if p.name not in self.fixed and p.default is not inspect.Parameter.empty)
            self.kinds[name] = Kind(name, make, settings, self.fixed)
            return make
        return add

    def names(self) -> tuple[str, ...]:
        return tuple(self.kinds)

    def parse(self, text: object) -> tuple[Kind, dict[str, Any]]:
        """The kind and its settings that ``text`` names; ValueError in one line otherwise."""
        match = _SPEC.match(text) if isinstance(text, str) else None
        if match is None or match[1] not in self.kinds:
            raise ValueError(f"{self.what} must be one of {', '.join(self.kinds)} (optionally with settings, "
                             f"such as {self.example()}), got {text!r}")
        kind = self.kinds[match[1]]
        known = {s.name: s for s in kind.settings}
        values: dict[str, Any] = {}
        for part in filter(None, (match[2] or "").split(",")):
            key, eq, value = part.partition("=")
            key = key.strip()
            if not eq or key not in known:
                listed = ", ".join(s.describe() for s in kind.settings) or "none"
                raise ValueError(f"{self.what} {kind.name} has no setting {key!r} (write key=value); "
                                 f"its settings and defaults: {listed}")
            values[key] = known[key].parse(value, f"{self.what} {kind.name}")
        return kind, values

    def check(self, text: object) -> None:
        """Parse ``text`` and build the kind once, so its own checks of the values run now."""
        kind, values = self.parse(text)
        fixed = {name: None for name in kind.fixed}
        try:
            kind.make(**fixed, **values)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{self.what} {text}: {e}") from None

    def make(self, text: str, **fixed: Any) -> Any:
        kind, values = self.parse(text)
        return kind.make(**fixed, **values)

    def example(self) -> str:
        for kind in self.kinds.values():
            if kind.settings:
                s = kind.settings[0]
                return f"{kind.name}:{s.name}={s.default}"
        return next(iter(self.kinds), self.what)

    def help(self) -> str:
        """One line per kind, with its settings and defaults, for --help."""
        return "; ".join(f"{k.name} ({', '.join(s.describe() for s in k.settings) or 'no settings'})"
                         for k in self.kinds.values())
