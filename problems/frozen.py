"""Frozen dataclasses that are cheap to make.

A frozen dataclass's generated `__init__` sets each field through `object.__setattr__`,
about 0.1 microsecond a field. Parts, results and solver rows are made dozens of times per
variant, thousands of variants a second, so `cheap_init` gives a frozen dataclass an
`__init__` that writes the new instance's `__dict__` directly: the same parameters, the
same defaults, the same `__post_init__` call, about three times faster. The instances are
as frozen as before (`__setattr__` still refuses).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def cheap_init(cls: type[T]) -> type[T]:
    """Replace the generated `__init__` of frozen dataclass `cls` (decorate above
    `@dataclass(frozen=True)`). Fields with a default factory or keyword-only fields are
    not supported: the dataclass's own `__init__` is then the right one."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__}: cheap_init is for frozen dataclasses without slots")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    namespace: dict[str, Any] = {}
    arguments, lines = [], []
    for f in fields:
        if f.default_factory is not dataclasses.MISSING or f.kw_only:
            raise TypeError(f"{cls.__name__}.{f.name}: cheap_init takes plain defaults only")
        if f.init:
            if f.default is dataclasses.MISSING:
                arguments.append(f.name)
            else:
                namespace[f"_default_{f.name}"] = f.default
                arguments.append(f"{f.name}=_default_{f.name}")
            lines.append(f"    __fields[{f.name!r}] = {f.name}")
        else:  # not a parameter: its default, as the generated __init__ sets it
            namespace[f"_default_{f.name}"] = f.default
            lines.append(f"    __fields[{f.name!r}] = _default_{f.name}")
    if hasattr(cls, "__post_init__"):
        lines.append("    self.__post_init__()")
    source = (f"def __init__(self, {', '.join(arguments)}):\n"
              "    __fields = self.__dict__\n" + "\n".join(lines) + "\n")
    exec(source, namespace)  # noqa: S102 - generated from the field names, as dataclasses does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = {f.name: f.type for f in fields if f.init} | {"return": None}
    setattr(cls, "__init__", init)  # noqa: B010 - assigning a method, which mypy refuses
    return cls
