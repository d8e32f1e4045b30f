"""Global max and global average pooling of a few activation maps, and which of the two
flags a single strong activation (a rip in the fabric) rather than a spread one (wrinkles)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from problems.answers import Tolerance
from problems.kinds.base import (
    Draft,
    Part,
    Problem,
    SelfTest,
    Step,
    WrongModel,
    format_number,
    self_test_answers,
)
from problems.kinds.draws import Draws
from problems.kinds.stacks import pick, text_block
from problems.pooling import global_pool

NAME = "global_pooling"
TITLE = "Global pooling"
SUMMARY = "Global max and average of activation maps: which one flags a single strong spot."

MAX_POOL = "global max pooling"
AVG_POOL = "global average pooling"
NUMBER_TOLERANCE = Tolerance(absolute=0.01, relative=1e-3)
CLAIMED_MISCONCEPTIONS = ("global_avg_flags_spike", "max_for_avg", "avg_for_max")

# Roles of the maps: the rip (one cell far above a quiet background), the wrinkles (many
# moderate values) and, with three channels, a quiet map that is neither.
RIP, WRINKLES, QUIET = "rip", "wrinkles", "quiet"


def _channel(index: int) -> str:
    return f"channel {index}"


def max_id(index: int) -> str:
    """Part id of a channel's global max."""
    return f"max_{index}"


def avg_id(index: int) -> str:
    """Part id of a channel's global average."""
    return f"avg_{index}"


# ---------------------------------------------------------------- generating

def _rip_map(draws: Draws, side: int, difficulty: int) -> np.ndarray:
    """A quiet background with one strong cell."""
    grid = draws.integers(0, 3 if difficulty == 1 else 4, (side, side))
    spike = draws.between(8, 10) if difficulty == 1 else draws.between(12, 21)
    grid[draws.below(side), draws.below(side)] = spike
    return grid


def _wrinkles_map(draws: Draws, side: int, difficulty: int) -> np.ndarray:
    """Moderate values nearly everywhere, none of them strong."""
    top = 7 if difficulty == 1 else 8
    grid = draws.integers(3, top, (side, side))
    # A few calm cells, so the map is not a flat sheet of noise.
    for _ in range(draws.between(1, side)):
        grid[draws.below(side), draws.below(side)] = draws.between(0, 3)
    return grid


def _quiet_map(draws: Draws, side: int) -> np.ndarray:
    """Low values everywhere: neither a rip nor wrinkles."""
    return draws.integers(0, 3, (side, side))


def _max_story_holds(maps: np.ndarray, roles: list[str], gmax: list[float]) -> bool:
    """The half of the story the global maxima tell: no map is flat, the rip has the
    unique largest max (by a margin), and a single cell comes near its spike."""
    rip = roles.index(RIP)
    lows = maps.reshape(len(roles), -1).min(axis=1).tolist()
    if any(low == high for low, high in zip(lows, gmax, strict=True)):
        return False  # a flat map: one value everywhere
    if any(gmax[rip] < gmax[c] + 3 for c in range(len(roles)) if c != rip):
        return False
    return int((maps[rip] >= gmax[rip] / 2).sum()) == 1


def _avg_story_holds(roles: list[str], gavg: list[float]) -> bool:
    """The other half: the wrinkles have the unique largest average, by a margin."""
    wrinkles = roles.index(WRINKLES)
    return all(gavg[wrinkles] >= gavg[c] + 1 for c in range(len(roles)) if c != wrinkles)


def _draw(draws: Draws, difficulty: int) -> tuple[np.ndarray, list[str], list[float], list[float]]:
    """Maps (float64) and their roles (shuffled) for which the story holds, with their
    global max and average pooled by `global_pool`."""
    if difficulty == 1:
        side, count = pick(draws, (3, 4)), 2
    elif difficulty == 2:
        side, count = pick(draws, (4, 5)), pick(draws, (2, 3))
    else:
        side, count = pick(draws, (5, 6)), 3
    roles = draws.shuffled([RIP, WRINKLES, QUIET][:count])
    maps = np.empty((count, side, side))
    for _attempt in range(200):
        for c, role in enumerate(roles):
            maps[c] = (_rip_map(draws, side, difficulty) if role == RIP
                       else _wrinkles_map(draws, side, difficulty) if role == WRINKLES
                       else _quiet_map(draws, side))
        # The point of the problem must hold, read off the pooled values (the averages are
        # pooled only for maps whose maxima tell their half).
        gmax = global_pool(maps, "max", with_argmax=False).output.tolist()
        if not _max_story_holds(maps, roles, gmax):
            continue
        gavg = global_pool(maps, "avg").output.tolist()
        if _avg_story_holds(roles, gavg):
            return maps, roles, gmax, gavg
    raise RuntimeError("no maps for which the story holds")  # pragma: no cover


def generate(rng: np.random.Generator, difficulty: int) -> Draft:
    """Two or three small maps; per channel its global max and average, then which channel
    has the larger average and which pooling flags the rip."""
    pooled_maps, roles, gmax, gavg = _draw(Draws(rng), difficulty)
    maps = pooled_maps.astype(int).tolist()
    count, side = len(roles), len(maps[0])
    channels = tuple(_channel(c) for c in range(count))
    parts: list[Part] = []
    answers: dict[str, Any] = {}
    for c, channel in enumerate(channels):
        parts.append(Part(max_id(c), f"Global max of {channel}", "number",
                          tolerance=NUMBER_TOLERANCE))
        parts.append(Part(avg_id(c), f"Global average of {channel}", "number",
                          tolerance=NUMBER_TOLERANCE))
        answers[max_id(c)] = gmax[c]
        answers[avg_id(c)] = gavg[c]
    parts.append(Part("larger_avg", f"Which channel has the {'larger' if count == 2 else 'largest'}"
                      " global average?", "choice", choices=channels))
    answers["larger_avg"] = channels[gavg.index(max(gavg))]  # the first largest, as np.argmax
    rip, wrinkles = roles.index(RIP), roles.index(WRINKLES)
    parts.append(Part(
        "detector",
        f"A classifier should fire on the rip ({channels[rip]}) but not on the wrinkles "
        f"({channels[wrinkles]}). Which pooling gives the rip channel the larger value?",
        "choice", choices=(MAX_POOL, AVG_POOL),
    ))
    # Which pooling ranks the rip above the wrinkles, read off the pooled values.
    answers["detector"] = MAX_POOL if gmax[rip] > gmax[wrinkles] else AVG_POOL
    if not gavg[rip] < gavg[wrinkles] or answers["detector"] != MAX_POOL:  # pragma: no cover
        raise RuntimeError("the maps do not tell the story")  # _draw's checks rule this out
    labels = [channel.capitalize() for channel in channels]
    story = (
        f"A fabric-inspection network ends in {count} activation maps of {side}x{side}. "
        f"{labels[rip]} responds to a rip: one cell far stronger than the rest. "
        f"{labels[wrinkles]} responds to wrinkles: many moderate values."
    )
    if count == 3:
        story += f" {labels[roles.index(QUIET)]} sees nothing in particular."
    statement = (
        text_block(story + " Global max pooling keeps each map's largest value; global average "
                   "pooling its mean. Averages to 2 decimal places or as fractions."),
        *({"type": "grid", "label": labels[c], "values": [row[:] for row in maps[c]]}
          for c in range(count)),
    )
    params = {"maps": maps, "roles": roles}
    return Draft(f"Global pooling of {count} activation maps", statement, tuple(parts), answers,
                 params)


# ---------------------------------------------------------------- misconceptions

def wrong_models(problem: Problem) -> Iterable[WrongModel]:
    """Max and average swapped per channel, and the belief that the average flags a spike."""
    answers = problem.answers
    count = len(problem.params["roles"])
    yield "max_for_avg", {avg_id(c): answers[max_id(c)] for c in range(count)}
    yield "avg_for_max", {max_id(c): answers[avg_id(c)] for c in range(count)}
    rip = problem.params["roles"].index(RIP)
    # The spike is taken to raise the average most: the rip channel "has" the largest one.
    yield "global_avg_flags_spike", {"detector": AVG_POOL, "larger_avg": _channel(rip)}


def self_test(problem: Problem) -> SelfTest:
    """The generic self-test, with an unreadable number whose message states the format
    (the generic "1/0" is refused as a division by zero, without saying what is expected)."""
    return self_test_answers(problem, unreadable={"number": "about four"})


# ---------------------------------------------------------------- the worked solution

def worked(problem: Problem) -> list[Step]:
    """Each map's max (its winning cell) and average (all cells), then the comparison."""
    maps = np.asarray(problem.params["maps"], dtype=np.float64)
    roles = problem.params["roles"]
    argmax = global_pool(maps, "max").argmax
    if argmax is None:  # pragma: no cover - max pooling always has its winning cells
        raise RuntimeError("global max pooling without argmax")
    answers = problem.answers
    steps = []
    for c, grid in enumerate(problem.params["maps"]):
        side = len(grid)
        values = [format_number(v) for row in grid for v in row]
        gmax, gavg = answers[max_id(c)], answers[avg_id(c)]
        cell = [int(v) for v in argmax[c]]
        steps.append(Step(
            f"Global max of {_channel(c)}",
            f"The largest of the {side * side} values, at row {cell[0]}, column {cell[1]}.",
            (f"\\max(\\text{{{_channel(c)}}}) = {format_number(gmax)}",),
            {"values": grid, "highlight": [cell], "result": gmax},
        ))
        total = sum(v for row in grid for v in row)
        relation = "=" if float(format_number(gavg)) == gavg else "\\approx"
        steps.append(Step(
            f"Global average of {_channel(c)}",
            f"The sum of all {side * side} values divided by {side * side}.",
            (f"\\frac{{{' + '.join(values)}}}{{{side * side}}} = \\frac{{{total}}}{{{side * side}}}"
             f" {relation} {format_number(gavg)}",),
            {"values": grid, "highlight": [[r, k] for r in range(side) for k in range(side)],
             "result": gavg},
        ))
    rip, wrinkles = roles.index(RIP), roles.index(WRINKLES)
    steps.append(Step(
        "Rip versus wrinkles",
        f"The rip's single strong cell sets its global max ({format_number(answers[max_id(rip)])}"
        f" against {format_number(answers[max_id(wrinkles)])} for the wrinkles), but spread "
        f"over {len(problem.params['maps'][rip]) ** 2} cells it barely moves the average "
        f"({format_number(answers[avg_id(rip)])} against "
        f"{format_number(answers[avg_id(wrinkles)])}). So {answers['larger_avg']} has the "
        f"{'larger' if len(roles) == 2 else 'largest'} average, and {MAX_POOL} is what flags "
        "the rip.",
        (f"\\max_{{\\text{{rip}}}} = {format_number(answers[max_id(rip)])} > "
         f"\\max_{{\\text{{wrinkles}}}} = {format_number(answers[max_id(wrinkles)])}",
         f"\\bar{{x}}_{{\\text{{rip}}}} = {format_number(answers[avg_id(rip)])} < "
         f"\\bar{{x}}_{{\\text{{wrinkles}}}} = {format_number(answers[avg_id(wrinkles)])}"),
    ))
    return steps
