"""CNN arithmetic: parse layer stacks and grids, solve them exactly, and make and grade
problems about them. Pure Python and numpy: no Flask, no database."""

from problems.errors import SpecError

__all__ = ["SpecError"]
