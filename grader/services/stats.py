"""Item statistics of a problem set, as item analysis computes them (Moodle's formulas).

Which attempt: facility, SD, discrimination, the per-variant table and the "first" histogram
use each student's FIRST attempt at an item (as Moodle's defaults do: later attempts have
seen feedback); the "best" figures use the best attempt, as the gradebook does. Every
attempt is scored by its current grade (the latest `Grade` row). Only enrolled students
count.

Formulas, for item i over the n students who attempted it (population moments):
- mean score  = mean of the first-attempt scores x_u (points);
- facility    = mean of x_u / points (0..1; higher = easier);
- SD          = population standard deviation of x_u / points;
- discrimination = cov(x, r) / sqrt(var(x) var(r)): the point-biserial (Pearson) correlation
  between the item score and the REST-OF-TEST score r_u = sum over the set's other items of
  u's first-attempt scores (0 where u has not attempted the item). Moodle shows it as
  100 times this ("discrimination index"). Undefined (None) below 2 students or when x or r
  does not vary; computed from 2 students, but shown (`discrimination_shown`) only from
  MIN_STUDENTS, the threshold of the variant comparison: from fewer it is mostly noise;
- histogram   = counts of fractions in 10 bins [0, .1), [.1, .2), ..., [.9, 1] (1.0 in the last);
- misconceptions = over every attempt's current grade: how many submissions and how many
  distinct students the misconception was diagnosed in;
- per variant (kind, difficulty, seed): n and mean first-attempt fraction, its difference from
  the item's facility, and an ADJUSTED difference that discounts the students' ability:
  residual e_u = x_u / points - (mean of u's first-attempt fractions on the set's other
  items), adjusted = mean(e_u over the variant) - mean(e_u over the item). A variant is
  flagged when the item has at least MIN_STUDENTS students and its difference d (the
  adjusted one when all its students attempted another item, else the raw one) has
  |d| >= FLAG_GAP and |d| >= 2 sd(d) / sqrt(n_variant) (two standard errors).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from grader import db
from grader.models import ProblemSet
from grader.services.gradebook import Column, columns_of, latest_grades, students_of
from problems.misconceptions import MISCONCEPTIONS

BINS = 10
MIN_STUDENTS = 10
FLAG_GAP = 0.25
TOP_MISCONCEPTIONS = 5


@dataclass(frozen=True)
class Attempt:
    """One submission as the statistics see it."""

    user_id: int
    item_id: int
    attempt: int
    score: float
    fraction: float
    variant: tuple[str, int, int]
    misconceptions: tuple[str, ...]


@dataclass(frozen=True)
class MisconceptionCount:
    id: str
    name: str
    explanation: str
    submissions: int
    students: int


@dataclass(frozen=True)
class VariantStat:
    kind: str
    difficulty: int
    seed: int
    n: int
    mean_fraction: float
    difference: float
    adjusted: float | None
    flagged: bool


@dataclass(frozen=True)
class ItemStats:
    column: Column
    n: int  # students with at least one attempt
    mean_score: float | None  # first attempt, points
    facility: float | None  # first attempt, 0..1
    sd: float | None  # first attempt fraction, population SD
    mean_best_score: float | None
    facility_best: float | None
    full_marks: int  # students whose best is full marks
    mean_attempts: float | None
    discrimination: float | None  # correlation, -1..1
    histogram_first: tuple[int, ...]
    histogram_best: tuple[int, ...]
    misconceptions: tuple[MisconceptionCount, ...]
    variants: tuple[VariantStat, ...]  # hardest (lowest mean) first

    @property
    def flagged_variants(self) -> list[VariantStat]:
        return [v for v in self.variants if v.flagged]

    @property
    def discrimination_shown(self) -> float | None:
        """The discrimination to show: None below MIN_STUDENTS students (too few to mean
        anything) or when it is undefined."""
        return self.discrimination if self.n >= MIN_STUDENTS else None

    @property
    def discrimination_note(self) -> str:
        """Why no discrimination is shown ("" when one is)."""
        if self.n < MIN_STUDENTS:
            return f"shown from {MIN_STUDENTS} students who attempted the item ({self.n} so far)"
        if self.discrimination is None:
            return "undefined: the item scores or the rest-of-set scores do not vary"
        return ""

    @property
    def discrimination_index(self) -> float | None:
        """Moodle's display: 100 x the correlation (when shown)."""
        shown = self.discrimination_shown
        return None if shown is None else 100.0 * shown


@dataclass(frozen=True)
class SetStats:
    problem_set_title: str
    students: int  # enrolled
    participants: int  # enrolled students with at least one submission
    mean_best_percentage: float | None
    median_best_percentage: float | None
    items: tuple[ItemStats, ...]
    misconceptions: tuple[MisconceptionCount, ...] = field(default=())


# ---------------------------------------------------------------- small numerics


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def pstdev(values: Sequence[float]) -> float | None:
    m = mean(values)
    if m is None:
        return None
    return math.sqrt(sum((v - m) ** 2 for v in values) / len(values))


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r (population moments); None below 2 pairs or when either does not vary."""
    n = len(xs)
    if n < 2 or n != len(ys):
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / n
    vx = sum((x - mx) ** 2 for x in xs) / n
    vy = sum((y - my) ** 2 for y in ys) / n
    if vx <= 1e-12 or vy <= 1e-12:
        return None
    return max(-1.0, min(1.0, cov / math.sqrt(vx * vy)))


def histogram(fractions: Sequence[float], bins: int = BINS) -> tuple[int, ...]:
    """Counts in `bins` equal bins over [0, 1]; 1.0 falls in the last bin."""
    counts = [0] * bins
    for f in fractions:
        counts[min(max(int(f * bins + 1e-9), 0), bins - 1)] += 1
    return tuple(counts)


# ---------------------------------------------------------------- the statistics


def load_attempts(problem_set: ProblemSet, session: Session) -> list[Attempt]:
    """Every enrolled student's submission to the set, scored by its current grade."""
    students = {u.id for u in students_of(session, problem_set.course_id)}
    item_ids = [i.id for i in problem_set.items]
    return [
        Attempt(
            sub.user_id,
            sub.item_id,
            sub.attempt,
            float(g.score),
            float(g.fraction),
            (sub.kind, sub.difficulty, int(sub.seed)),
            tuple(g.misconceptions or ()),
        )
        for sub, g in latest_grades(session, item_ids)
        if sub.user_id in students
    ]


def _misconceptions(attempts: Sequence[Attempt]) -> tuple[MisconceptionCount, ...]:
    submissions: dict[str, int] = defaultdict(int)
    students: dict[str, set[int]] = defaultdict(set)
    for a in attempts:
        for mid in set(a.misconceptions):
            submissions[mid] += 1
            students[mid].add(a.user_id)
    ranked = sorted(submissions, key=lambda m: (-len(students[m]), -submissions[m], m))
    out = []
    for mid in ranked:
        known = MISCONCEPTIONS.get(mid)
        out.append(
            MisconceptionCount(
                mid,
                known.name if known else mid,
                known.explanation if known else "",
                submissions[mid],
                len(students[mid]),
            )
        )
    return tuple(out)


def set_stats(problem_set: ProblemSet, session: Session | None = None) -> SetStats:
    """Per-item statistics of a problem set (see the module docstring for the formulas)."""
    s = session or db.session()
    columns = columns_of([problem_set])
    enrolled = students_of(s, problem_set.course_id)
    attempts = load_attempts(problem_set, s)

    first: dict[tuple[int, int], Attempt] = {}
    best: dict[tuple[int, int], Attempt] = {}
    count: dict[tuple[int, int], int] = defaultdict(int)
    by_item: dict[int, list[Attempt]] = defaultdict(list)
    for a in attempts:
        key = (a.user_id, a.item_id)
        count[key] += 1
        by_item[a.item_id].append(a)
        if key not in first or a.attempt < first[key].attempt:
            first[key] = a
        if key not in best or a.score > best[key].score:
            best[key] = a
    participants = sorted({a.user_id for a in attempts})

    # Each participant's first-attempt score and fraction per item (for rest-of-test).
    first_score: dict[int, dict[int, float]] = defaultdict(dict)
    first_fraction: dict[int, dict[int, float]] = defaultdict(dict)
    for (user_id, item_id), a in first.items():
        first_score[user_id][item_id] = a.score
        first_fraction[user_id][item_id] = a.fraction

    items = []
    for column in columns:
        users = [u for u in participants if (u, column.item_id) in first]
        xs = [first[(u, column.item_id)].fraction for u in users]
        scores = [first[(u, column.item_id)].score for u in users]
        rest = [sum(v for i, v in first_score[u].items() if i != column.item_id) for u in users]
        bests = [best[(u, column.item_id)] for u in users]
        residual: dict[int, float | None] = {}
        for u, x in zip(users, xs, strict=True):
            others = [v for i, v in first_fraction[u].items() if i != column.item_id]
            residual[u] = x - sum(others) / len(others) if others else None
        items.append(
            ItemStats(
                column=column,
                n=len(users),
                mean_score=mean(scores),
                facility=mean(xs),
                sd=pstdev(xs),
                mean_best_score=mean([b.score for b in bests]),
                facility_best=mean([b.fraction for b in bests]),
                full_marks=sum(1 for b in bests if b.fraction >= 1 - 1e-9),
                mean_attempts=mean([count[(u, column.item_id)] for u in users]),
                discrimination=correlation(scores, rest),
                histogram_first=histogram(xs),
                histogram_best=histogram([b.fraction for b in bests]),
                misconceptions=_misconceptions(by_item[column.item_id])[:TOP_MISCONCEPTIONS],
                variants=_variants([first[(u, column.item_id)] for u in users], residual),
            )
        )

    totals = []
    max_total = sum(c.points for c in columns)
    for u in participants:
        total = sum(best[(u, c.item_id)].score for c in columns if (u, c.item_id) in best)
        totals.append(100.0 * total / max_total if max_total else 0.0)
    return SetStats(
        problem_set.title,
        len(enrolled),
        len(participants),
        mean(totals),
        median(totals),
        tuple(items),
        _misconceptions(attempts)[:10],
    )


def _variants(
    firsts: Sequence[Attempt], residual: dict[int, float | None]
) -> tuple[VariantStat, ...]:
    if not firsts:
        return ()
    item_mean = sum(a.fraction for a in firsts) / len(firsts)
    raw_sd = pstdev([a.fraction for a in firsts]) or 0.0
    known = [r for r in residual.values() if r is not None]
    resid_mean = mean(known)
    resid_sd = pstdev(known) or 0.0
    groups: dict[tuple[str, int, int], list[Attempt]] = defaultdict(list)
    for a in firsts:
        groups[a.variant].append(a)
    out = []
    for (kind, difficulty, seed), group in groups.items():
        n = len(group)
        m = sum(a.fraction for a in group) / n
        resids = [residual[a.user_id] for a in group]
        adjusted = None
        if resid_mean is not None and all(r is not None for r in resids):
            adjusted = sum(r for r in resids if r is not None) / n - resid_mean
        d, sd = (adjusted, resid_sd) if adjusted is not None else (m - item_mean, raw_sd)
        flagged = (
            len(firsts) >= MIN_STUDENTS and abs(d) >= FLAG_GAP and abs(d) >= 2 * sd / math.sqrt(n)
        )
        out.append(VariantStat(kind, difficulty, seed, n, m, m - item_mean, adjusted, flagged))
    out.sort(key=lambda v: (v.mean_fraction, v.seed))
    return tuple(out)


# ---------------------------------------------------------------- the chart


_TEXT = 'font-size="11" fill="#333"'


def histogram_svg(first: Sequence[int], best: Sequence[int], label: str = "") -> Markup:
    """A grouped bar chart (first attempt, best attempt) of 10-bin score histograms, as inline
    SVG: no JavaScript, no external file, and it prints."""
    width, height = 440, 200
    left, right, top, bottom = 32, 18, 24, 32
    plot_w, plot_h = width - left - right, height - top - bottom
    bins = len(first)
    top_count = max([1, *first, *best])
    group_w = plot_w / bins
    bar_w = (group_w - 4) / 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="histogram" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(_histogram_label(first, best, label))}">',
        f"<title>{escape(label or 'Score histogram')}</title>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#555" stroke-width="1"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" '
        'stroke="#555" stroke-width="1"/>',
        f'<text x="{left - 4}" y="{top + 4}" {_TEXT} text-anchor="end">{top_count}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" {_TEXT} text-anchor="end">0</text>',
    ]
    for b in range(bins):
        x0 = left + b * group_w + 2
        for offset, counts, colour, name in (
            (0, first, "#9ab7d3", "first"),
            (1, best, "#1f5f99", "best"),
        ):
            h = plot_h * counts[b] / top_count
            low, high = 100 * b // bins, 100 * (b + 1) // bins
            tip = (
                f"{name} attempt, {low}-{high}%: {counts[b]} student{'s' if counts[b] != 1 else ''}"
            )
            parts.append(
                f'<rect x="{x0 + offset * bar_w:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(tip)}</title></rect>"
            )
    for b in range(0, bins + 1, 2):
        x = left + b * group_w
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 13}" font-size="11" text-anchor="middle" '
            f'fill="#333">{100 * b // bins}%</text>'
        )
    parts += [
        f'<rect x="{left + 4}" y="4" width="10" height="10" fill="#9ab7d3"/>',
        f'<text x="{left + 18}" y="13" font-size="11" fill="#333">first attempt</text>',
        f'<rect x="{left + 110}" y="4" width="10" height="10" fill="#1f5f99"/>',
        f'<text x="{left + 124}" y="13" font-size="11" fill="#333">best attempt</text>',
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 3}" font-size="11" text-anchor="middle" '
        'fill="#333">score (fraction of the item\'s points)</text>',
        "</svg>",
    ]
    return Markup("".join(parts))


def _histogram_label(first: Sequence[int], best: Sequence[int], label: str) -> str:
    bins = len(first)
    text = ", ".join(
        f"{100 * b // bins}-{100 * (b + 1) // bins}%: {first[b]} first, {best[b]} best"
        for b in range(bins)
        if first[b] or best[b]
    )
    return f"{label} score histogram. {text or 'no attempts'}".strip()
