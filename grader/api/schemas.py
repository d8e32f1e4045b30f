"""The API's request and response models (pydantic v2, strict, no unknown fields).

Request models validate the bodies the routes read. Response models document what the
routes write (the OpenAPI document is generated from both) and the tests check every
response against its model, so an undocumented field cannot leak out. The `solve` and
`pool` bodies are validated by `problems.spec` (the one truth of the spec); their models
here describe the spec for the document, and a test keeps the two in agreement.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from problems.answers import MAX_ANSWER_CHARS
from problems.kinds import KINDS, MAX_SEED
from problems.spec import ACTIVATIONS, MAX_GRID_CELLS, MAX_LAYERS, MAX_SIZE

MAX_PARTS = 64
KindName = Literal[tuple(KINDS)]  # type: ignore[valid-type]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# Text that is stored or looked up may not hold NUL: PostgreSQL's text refuses it.
NO_NUL = r"^[^\x00]*$"
PartId = Annotated[str, Field(min_length=1, max_length=64)]
AnswerText = Annotated[str, Field(max_length=MAX_ANSWER_CHARS)]
Answers = Annotated[
    dict[PartId, AnswerText],
    Field(
        max_length=MAX_PARTS,
        description="The typed answer of each part, by part id (as a student would type it: "
        "`26x26x32`, `18,496`, one grid row per line...). Every part of the problem (its "
        "`parts[].id`) must be answered: a missing or unreadable part is a 422 naming it, and "
        "nothing is recorded.",
        examples=[{"shape_0": "12x12x8", "shape_1": "6x6x8"}],
    ),
]
ExternalStudent = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        pattern=NO_NUL,
        description="Your identifier of the student (an LMS user id, an email...): stored "
        "with the record, never interpreted.",
    ),
]


# ---------------------------------------------------------------- requests


class ProblemRequest(Strict):
    """Make a problem variant; its answers stay on the server."""

    kind: KindName = Field(description="A problem kind (see GET /kinds).")  # type: ignore[valid-type]
    difficulty: Annotated[int, Field(ge=1, le=3, description="1 (easy) to 3 (hard).")]
    seed: Annotated[
        int | None,
        Field(
            ge=0,
            le=MAX_SEED,
            description="The variant's seed (0 to 2**63-1): the same seed gives the same "
            "problem. Random when omitted.",
        ),
    ] = None
    student: ExternalStudent | None = None


class GradeRequest(Strict):
    """Grade an answer set of a problem made with POST /problems."""

    answers: Answers
    student: Annotated[
        ExternalStudent | None,
        Field(description="Whose answers these are; defaults to the problem's student. Must "
              "match it when the problem was made for a student."),
    ] = None


class SubmissionRequest(Strict):
    """Submit a course student's answers to an item of a problem set."""

    student: Annotated[
        str,
        Field(min_length=3, max_length=255, pattern=NO_NUL,
              description="The email of a student enrolled in the key's course."),
    ]
    answers: Answers
    attempt: Annotated[
        int | None,
        Field(ge=1, le=1000,
              description="The attempt number; the student's next attempt when omitted. An "
              "attempt already recorded is refused (409) unless this same request recorded it."),
    ] = None


# ---------------------------------------------------------------- errors


class FieldError(BaseModel):
    """One refused place of a request."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Where, as in the error's own `path`.")
    message: str


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    path: str = Field(description="Where the problem is: `layers[3].kernel`, `answers.shape_0`, "
                      "a header name (`Idempotency-Key`), or empty for the body as a whole.")
    message: str
    errors: list[FieldError] | None = Field(
        default=None,
        description="422 for a body with more than one invalid field: every one of them "
        "(the first is also the error's own `path` and `message`). Absent otherwise.")
    format_errors: list[FieldError] | None = Field(
        default=None,
        description="422 for answers that cannot be read: every such answer (nothing was "
        "recorded). Absent otherwise.")
    reason: str | None = Field(
        default=None,
        description="409 only: why the course's rules refuse the submission (not_published, "
        "not_open, past_due, no_attempts, full_marks, out_of_sequence).")


class ErrorBody(BaseModel):
    """Every 4xx (and the rare 5xx) answer of the API."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


# ---------------------------------------------------------------- problems and grades


class Part(BaseModel):
    """One answer box of a problem."""

    model_config = ConfigDict(extra="forbid")

    id: str
    prompt: str
    answer_type: Literal["int", "number", "shape", "grid", "choice", "choices", "cell",
                         "cells", "range"]
    points: float
    hint: str = Field(description="How to write the answer.")
    choices: list[str] | None = None
    grid_shape: list[int] | None = None
    tolerance: dict[str, float] | None = None
    depends_on: list[str] | None = None


class StatementBlock(BaseModel):
    """A block of the statement: `text`, `stack` (a layer-stack table whose cells name
    parts), `grid` or `field`; render by `type`."""

    model_config = ConfigDict(extra="allow")

    type: str


class ProblemOut(BaseModel):
    """A problem as a student may see it: no answers, no seed."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The problem's id: POST /problems/{id}/grade grades against it.")
    kind: str
    difficulty: int
    title: str
    statement: list[StatementBlock]
    parts: list[Part]
    max_points: float
    student: str | None
    created_at: str


class Misconception(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    explanation: str


class PartResult(BaseModel):
    """The grade of one part."""

    model_config = ConfigDict(extra="forbid")

    id: str
    score: float = Field(description="0 to 1.")
    points: float
    earned: float = Field(description="score x points")
    correct: bool
    feedback: str
    given: Any = Field(description="The answer as read (null when it could not be read).")
    misconception: Misconception | None
    format_error: str | None
    follow_through: bool = Field(
        description="Credit for a right step from the student's own wrong earlier answer.")
    cells: list[list[bool]] | None = Field(description="For grids: which cells are right.")


class GradeOut(BaseModel):
    """A recorded grade of an API problem."""

    model_config = ConfigDict(extra="forbid")

    grade_id: str
    problem_id: str
    student: str | None
    score: float
    max_score: float
    fraction: float
    valid: bool
    parts: list[PartResult]
    misconceptions: list[str]
    recorded_at: str


class SubmissionOut(BaseModel):
    """A recorded course submission with its grade."""

    model_config = ConfigDict(extra="forbid")

    submission_id: str
    set_id: str
    item_id: str
    student: str
    attempt: int
    attempts_allowed: int
    score: float = Field(description="Points earned, out of the item's points.")
    max_score: float = Field(description="The item's points.")
    fraction: float
    valid: bool
    parts: list[PartResult]
    misconceptions: list[str]
    recorded_at: str


class Kind(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    title: str
    summary: str


class KindsOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kinds: list[Kind]
    difficulties: list[int]


class ItemOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    position: int
    kind: str
    difficulty: int
    points: float


class SetOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    published: bool
    opens_at: str | None
    due_at: str | None
    attempts_allowed: int
    items: list[ItemOut]


class SetsOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    course: dict[str, str]
    sets: list[SetOut]


class VariantOut(BaseModel):
    """A course student's variant of an item (no answers, no seed) and their standing."""

    model_config = ConfigDict(extra="forbid")

    set_id: str
    item_id: str
    student: str
    title: str
    statement: list[StatementBlock]
    parts: list[Part]
    max_points: float
    points: float = Field(description="The item's points (the grade scales max_points to these).")
    attempts_used: int
    attempts_left: int
    next_attempt: int


class GradebookCell(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str
    best: float | None = Field(description="Best score over the attempts; null if none.")
    best_fraction: float | None
    attempts: int


class GradebookRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    student: dict[str, str] = Field(description="`id`, `email` and `name`.")
    items: list[GradebookCell]
    total: float
    max_total: float
    percentage: float


class GradebookOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    set: SetOut
    students: list[GradebookRow]


class SubmissionSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    submission_id: str
    set_id: str
    item_id: str
    attempt: int
    source: str
    score: float
    max_score: float
    fraction: float
    misconceptions: list[str]
    recorded_at: str


class ApiGradeSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grade_id: str
    problem_id: str
    kind: str
    difficulty: int
    score: float
    max_score: float
    fraction: float
    recorded_at: str


class StudentRecordOut(BaseModel):
    """A student's course submissions and API grades."""

    model_config = ConfigDict(extra="forbid")

    student: str = Field(description="As asked for (an email, or your own student id).")
    enrolled: bool
    name: str | None
    submissions: list[SubmissionSummary]
    api_grades: list[ApiGradeSummary]


class PingOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ok: bool


# ---------------------------------------------------------------- the spec's bodies (docs)


def _no_default(schema: dict[str, Any]) -> None:
    """For a field that may be omitted but not sent as null: no `"default": null` shown."""
    schema.pop("default", None)


def _omittable(description: str | None = None) -> Any:
    """An optional field whose absence means the spec's default (which may depend on other
    fields), and which may not be null: problems.spec refuses `"stride": null`."""
    return Field(None, description=description, json_schema_extra=_no_default)


PositiveInt = Annotated[int, Field(ge=1, le=MAX_SIZE)]
Pair = PositiveInt | Annotated[list[PositiveInt], Field(min_length=2, max_length=2)]
PaddingInt = Annotated[int, Field(ge=0, le=MAX_SIZE)]
Padding = (
    PaddingInt
    | Annotated[list[PaddingInt], Field(min_length=2, max_length=2)]
    | Literal["valid", "same"]
)


class Conv2DLayer(Strict):
    type: Literal["conv2d"]
    filters: PositiveInt
    kernel: Pair
    stride: Pair = 1
    padding: Padding = "valid"
    dilation: Pair = 1
    groups: PositiveInt = 1
    bias: bool = True


class MaxPoolLayer(Strict):
    type: Literal["maxpool2d", "minpool2d"]
    kernel: Pair
    stride: Pair = _omittable("Defaults to the kernel.")
    padding: Padding = "valid"
    dilation: Pair = 1
    ceil_mode: bool = False


class AvgPoolLayer(Strict):
    type: Literal["avgpool2d"]
    kernel: Pair
    stride: Pair = _omittable("Defaults to the kernel.")
    padding: Padding = "valid"
    ceil_mode: bool = False
    count_include_pad: bool = True


class GlobalPoolLayer(Strict):
    type: Literal["global_maxpool2d", "global_avgpool2d", "global_minpool2d"]


class PointwiseLayer(Strict):
    type: Literal[("batchnorm", "flatten", *ACTIVATIONS)]  # type: ignore[valid-type]


class DenseLayer(Strict):
    type: Literal["dense"]
    units: PositiveInt
    bias: bool = True


Layer = Annotated[
    Conv2DLayer | MaxPoolLayer | AvgPoolLayer | GlobalPoolLayer | PointwiseLayer | DenseLayer,
    Field(discriminator="type"),
]


class LayerStack(Strict):
    """A layer stack (docs/spec/layer-stack.md section 1). Sizes are JSON integers (`3.0`
    is refused); a stack that cannot be computed is refused naming the layer."""

    layout: Literal["HWC", "CHW"] = "HWC"
    input: (
        Annotated[list[PositiveInt], Field(min_length=3, max_length=3)]
        | Annotated[list[PositiveInt], Field(min_length=1, max_length=1)]
    ) = Field(description="[H, W, C] (HWC), [C, H, W] (CHW), or a 1-D [N].")
    layers: Annotated[list[Layer], Field(max_length=MAX_LAYERS)] = []


Row = Annotated[list[float], Field(min_length=1)]
Channel = Annotated[list[Row], Field(min_length=1)]
Grid = Channel | Annotated[list[Channel], Field(min_length=1)]
GRID_DOC = ("A 2-D [H][W] or 3-D [C][H][W] grid of finite numbers, every row as long as the "
            f"first, at most {MAX_GRID_CELLS:,} cells. An integer beyond 2**53 in magnitude "
            "(which a double cannot hold exactly) is refused naming its cell.")


class MaxMinPoolBody(Strict):
    """Max or min pooling of a grid by windows."""

    input: Grid = Field(description=GRID_DOC)
    op: Literal["max", "min"]
    kernel: Pair
    stride: Pair = _omittable("Defaults to the kernel.")
    padding: Padding = "valid"
    dilation: Pair = 1
    ceil_mode: bool = _omittable("With integer padding only; false when omitted.")
    global_: Literal[False] = Field(False, alias="global")


class AvgPoolBody(Strict):
    """Average pooling of a grid by windows."""

    input: Grid = Field(description=GRID_DOC)
    op: Literal["avg"]
    kernel: Pair
    stride: Pair = _omittable("Defaults to the kernel.")
    padding: Padding = "valid"
    ceil_mode: bool = _omittable("With integer padding only; false when omitted.")
    count_include_pad: bool = True
    global_: Literal[False] = Field(False, alias="global")


class GlobalPoolBody(Strict):
    """Pooling of each channel of a grid whole (no other fields)."""

    input: Grid = Field(description=GRID_DOC)
    op: Literal["max", "avg", "min"]
    global_: Literal[True] = Field(alias="global", description="Pool each channel whole.")


class PoolBody(RootModel[MaxMinPoolBody | AvgPoolBody | GlobalPoolBody]):
    """A grid to pool (docs/spec/layer-stack.md section 2): by windows, or globally."""


class ReceptiveField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: list[int]
    jump: list[int]
    start: list[int]


class LayerAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int
    type: str
    output_shape: list[int]
    params: int
    trainable_params: int
    macs: int
    activations: int
    receptive_field: ReceptiveField | None


class SolveAnswer(BaseModel):
    """The answer to a layer stack (spec section 1, "The answer")."""

    model_config = ConfigDict(extra="forbid")

    layout: Literal["HWC", "CHW"]
    layers: list[LayerAnswer]
    total_params: int
    trainable_params: int
    non_trainable_params: int
    total_macs: int


class PoolAnswer(BaseModel):
    """The pooled grid (and, for max and min, the winning cell of every output cell)."""

    model_config = ConfigDict(extra="forbid")

    output: list[list[float]] | list[list[list[float]]]
    argmax: list[list[list[int]]] | list[list[list[list[int]]]] | None = None
