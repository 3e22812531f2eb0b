"""Run-time stand-ins for ``typing.NamedTuple``, ``typing.Protocol`` and a str ``enum.Enum``.

``import typing`` costs about 5 ms, and brings ``re`` and ``enum`` (about 4 ms
more), on every command-line run; that is a third of the start-up budget of
``cfi`` and ``unwind`` (bench/README.md). Modules on those paths write::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple, Protocol
    else:
        from .._typing import NamedTuple, Protocol

mypy reads the real ``typing`` classes (it treats any ``TYPE_CHECKING`` name
as true); at run time a ``class X(NamedTuple)`` body becomes a
``collections.namedtuple`` with the same fields, defaults, methods and
docstring, exactly as ``typing.NamedTuple`` builds it; ``Protocol`` is a plain
base class, and ``runtime_checkable`` makes ``isinstance`` check the declared
attributes and methods, as typing does.
"""

from __future__ import annotations

from abc import ABCMeta
from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Names a NamedTuple body may not define, and names namedtuple() sets itself (as in typing).
_PROHIBITED = frozenset({"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults",
                         "_make", "_replace", "_asdict", "_source"})
_SPECIAL = frozenset({"__module__", "__name__", "__annotations__", "__qualname__"})


class _NamedTupleMeta(type):
    def __new__(mcls, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> Any:
        fields = list(ns.get("__annotations__", {}))
        defaults = []
        for field in fields:
            if field in ns:
                defaults.append(ns[field])
            elif defaults:
                raise TypeError(f"{name}: non-default field {field!r} follows a field with a default")
        cls = namedtuple(name, fields, defaults=defaults, module=ns.get("__module__"))  # type: ignore[misc]
        cls.__qualname__ = ns.get("__qualname__", name)
        for key, value in ns.items():
            if key in _PROHIBITED:
                raise AttributeError(f"cannot overwrite NamedTuple attribute {key}")
            if key not in _SPECIAL and key not in cls._fields:
                setattr(cls, key, value)
        return cls


_NamedTupleBase = type.__new__(_NamedTupleMeta, "NamedTuple", (), {})


def NamedTuple(*args: object, **kwargs: object) -> None:  # noqa: N802 - the name typing gives it
    """Only usable as a base class here: ``class Point(NamedTuple): x: int``."""
    raise TypeError("dwarfunwind._typing.NamedTuple is only usable as a base class")


def _mro_entries(bases: tuple[object, ...]) -> tuple[type]:
    return (_NamedTupleBase,)


NamedTuple.__mro_entries__ = _mro_entries  # type: ignore[attr-defined]


class _ProtocolMeta(ABCMeta):  # ABCMeta, as typing's: a protocol may be mixed with ABCs
    def __instancecheck__(cls, instance: object) -> bool:
        members = cls.__dict__.get("_runtime_members")
        if members is None or super().__instancecheck__(instance):
            return super().__instancecheck__(instance)
        return all(hasattr(instance, name) for name in members)  # structural, as typing checks it


class Protocol(metaclass=_ProtocolMeta):
    """A plain base class standing in for ``typing.Protocol`` at run time."""

    __slots__ = ()


def runtime_checkable(cls: type) -> type:
    """``isinstance(obj, cls)`` checks that obj has every attribute and method the protocol declares."""
    members = set(cls.__dict__.get("__annotations__", {}))
    members.update(k for k, v in cls.__dict__.items() if not k.startswith("_") and callable(v))
    cls._runtime_members = frozenset(members)  # type: ignore[attr-defined]
    return cls


# ``class X(str, StrEnum)``: ``import enum`` costs ~2 ms of every start-up that walks a stack
# (perf, unwind), for StopReason alone. mypy reads a real str-Enum; at run time this stand-in
# gives the members what Enum gives a str-Enum's: str equality and hash, ``name``, ``value``,
# repr, str and format, lookup by value and by name, iteration in definition order, pickling
# and copying to the same member, and no reassignment.

#: What a member takes from StrEnum although str comes first among its bases (as Enum's do).
_MEMBER_METHODS = ("name", "value", "__repr__", "__str__", "__format__", "__reduce_ex__", "__copy__",
                   "__deepcopy__")


class _StrEnumType(type):
    def __new__(mcls, name, bases, ns):
        members = {k: v for k, v in ns.items() if not k.startswith("_") and isinstance(v, str)}
        ns = {k: v for k, v in ns.items() if k not in members}
        for base in bases:
            if isinstance(base, _StrEnumType):
                for key in _MEMBER_METHODS:
                    ns.setdefault(key, base.__dict__[key])
        cls = super().__new__(mcls, name, bases, ns)
        cls._member_map_, cls._value2member_map_ = {}, {}
        for key, value in members.items():
            member = str.__new__(cls, value)
            member._name_, member._value_ = key, value
            cls._member_map_[key] = cls._value2member_map_[value] = member
            type.__setattr__(cls, key, member)
        cls._member_names_ = list(cls._member_map_)
        return cls

    def __call__(cls, value):
        try:
            return cls._value2member_map_[value]
        except (KeyError, TypeError):
            raise ValueError(f"{value!r} is not a valid {cls.__qualname__}") from None

    def __getitem__(cls, name):
        return cls._member_map_[name]

    def __iter__(cls):
        return iter(list(cls._member_map_.values()))

    def __reversed__(cls):
        return reversed(list(cls._member_map_.values()))

    def __len__(cls):
        return len(cls._member_map_)

    def __contains__(cls, item):  # (as Python 3.12 has it: a member, or a member's value)
        return isinstance(item, cls) or item in cls._value2member_map_

    def __bool__(cls):
        return True

    def __setattr__(cls, name, value):
        if name in cls.__dict__.get("_member_map_", ()):
            raise AttributeError(f"cannot reassign member {name!r}")
        super().__setattr__(name, value)

    @property
    def __members__(cls):
        from types import MappingProxyType

        return MappingProxyType(cls._member_map_)

class StrEnum(metaclass=_StrEnumType):
    """Base of ``class X(str, StrEnum)``: what ``enum.Enum`` gives a str-Enum's members (see below)."""

    __slots__ = ()

    @property
    def name(self):
        return self._name_

    @property
    def value(self):
        return self._value_

    def __repr__(self):
        return f"<{type(self).__name__}.{self._name_}: {self._value_!r}>"

    def __str__(self):
        return f"{type(self).__name__}.{self._name_}"

    def __format__(self, spec):
        return str.__format__(str(self), spec)

    def __reduce_ex__(self, protocol):
        return type(self), (self._value_,)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self
