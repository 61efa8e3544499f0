"""A small named registry used for models and augmentation presets."""

from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

from visionflow.errors import ConfigError

T = TypeVar("T")


def located(where: str):
    """The object a "module:attribute" path names (attributes may be dotted), its module imported."""
    import importlib

    module, _, attr = where.partition(":")
    found = importlib.import_module(module)
    for name in filter(None, attr.split(".")):
        found = getattr(found, name)
    return found


def closest(name: str, choices: list[str]) -> str | None:
    """Returns the choice closest to `name`, or None when nothing is close."""
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return match[0] if match else None


def unknown_message(kind: str, name: str, choices: list[str]) -> str:
    """The one-line error for an unknown name: the valid choices and the closest one."""
    hint = closest(name, choices)
    did_you_mean = f" Did you mean '{hint}'?" if hint else ""
    return f"Unknown {kind} '{name}'.{did_you_mean} Choose one of: {', '.join(sorted(choices))}."


class Registry(Generic[T]):
    """Maps names to objects; rejects duplicates and suggests the closest name on a miss.

    Example:
        >>> presets = Registry("augmentation preset")
        >>> @presets.register("none")
        ... def none(): ...
        >>> presets.get("nome")  # raises ConfigError: Did you mean 'none'?
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers an object under `name`.

        Raises:
            ValueError: if `name` is already registered.
        """

        def decorator(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"A {self.kind} named '{name}' is already registered.")
        self._items[name] = obj

    def get(self, name: str) -> T:
        if name not in self._items:
            raise ConfigError(unknown_message(self.kind, name, list(self._items)))
        return self._items[name]

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
