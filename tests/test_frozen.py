"""cheap_init: a frozen dataclass's faster __init__ behaves as the generated one."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from problems.frozen import cheap_init
from problems.kinds.base import Part, PartResult, Problem, SelfTest
from problems.pooling import Pooled
from problems.solver import LayerResult, ReceptiveField, Solution
from problems.spec import Stack


def _twin(cheap: bool) -> type:
    @dataclasses.dataclass(frozen=True)
    class Row:
        name: str
        count: int = 2
        kind: str = dataclasses.field(default="row", init=False)
        tags: tuple[str, ...] = ()

        def __post_init__(self) -> None:
            if self.count < 0:
                raise ValueError("count")

    return cheap_init(Row) if cheap else Row


def test_same_signature_fields_defaults_and_post_init_as_the_generated_init() -> None:
    fast, plain = _twin(True), _twin(False)
    assert inspect.signature(fast) == inspect.signature(plain)
    for args, kwargs in ((("a",), {}), (("a", 5), {"tags": ("x",)}), ((), {"name": "b", "count": 0})):
        mine, theirs = fast(*args, **kwargs), plain(*args, **kwargs)
        assert dataclasses.asdict(mine) == dataclasses.asdict(theirs)
        assert repr(mine).replace("Row", "") == repr(theirs).replace("Row", "")
    with pytest.raises(ValueError):
        fast("a", -1)
    with pytest.raises(TypeError):
        fast()
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast("a").name = "b"  # type: ignore[misc]
    assert fast("a") == fast("a") and hash(fast("a")) == hash(fast("a"))
    assert dataclasses.replace(fast("a"), count=3) == fast("a", 3)


def test_refuses_default_factories_and_unfrozen_classes() -> None:
    @dataclasses.dataclass(frozen=True)
    class Listed:
        items: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass
    class Loose:
        name: str

    for cls in (Listed, Loose):
        with pytest.raises(TypeError):
            cheap_init(cls)


@pytest.mark.parametrize("cls", [Part, PartResult, Problem, SelfTest, LayerResult, ReceptiveField, Solution, Stack, Pooled])
def test_the_decorated_classes_take_their_fields_in_order(cls: type) -> None:
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    assert list(inspect.signature(cls).parameters) == names
