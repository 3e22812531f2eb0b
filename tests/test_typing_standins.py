"""dwarfunwind._typing.StrEnum (the run-time StopReason base that spares ``import enum``) against enum.Enum."""

import copy
import enum
import json
import pickle

import pytest

from dwarfunwind._typing import StrEnum
from dwarfunwind.unwind.frame import StopReason


class Real(str, enum.Enum):
    FIRST = "first"
    SECOND_ONE = "second-one"

    def shout(self) -> str:
        return self.value.upper()


class Fake(str, StrEnum):
    FIRST = "first"
    SECOND_ONE = "second-one"

    def shout(self) -> str:
        return self.value.upper()


def behaviour(cls):
    """Everything a caller can observe of a str-Enum class, with the class name taken out."""
    a, b = cls.FIRST, cls.SECOND_ONE
    name = cls.__name__
    out = {
        "eq": (a == "first", a != "second-one", a == b, "first" == a),
        "hash": hash(a) == hash("first"),
        "name/value": (a.name, a.value, b.name, b.value),
        "repr": repr(b).replace(name, "X"), "str": str(b).replace(name, "X"),
        "format": (f"{b}".replace(name, "X"), f"{b:>30}".replace(name, "X"), ("%s" % b).replace(name, "X")),
        "by value": cls("second-one") is b, "by name": cls["FIRST"] is a,
        "iter": [m.name for m in cls], "reversed": [m.name for m in reversed(cls)], "len": len(cls),
        "members": list(cls.__members__), "contains": (a in cls,),
        "isinstance": (isinstance(a, str), isinstance(a, cls)),
        "pickle": pickle.loads(pickle.dumps(b)) is b, "copy": (copy.copy(a) is a, copy.deepcopy(a) is a),
        "json": json.dumps([a, b]), "method": b.shout(), "dict key": {a: 1}["first"],
        "str methods": (a.upper(), b.startswith("second"), a + "!"),
    }
    for bad in ("nope", 3, None):
        with pytest.raises(ValueError):
            cls(bad)
    with pytest.raises(KeyError):
        cls["NOPE"]
    with pytest.raises(AttributeError):
        cls.FIRST = "other"
    return out


def test_str_enum_stand_in_behaves_as_enum():
    assert behaviour(Fake) == behaviour(Real)


def test_stop_reason_members_are_the_documented_strings():
    assert StopReason("stack-copy-end") is StopReason.STACK_COPY_END and StopReason.OUTERMOST == "outermost"
    assert all(isinstance(r.describe(), str) and r.describe() for r in StopReason)
