"""QTI 1.2 for Canvas (Classic Quizzes): a zip of `imsmanifest.xml` and, per item, an
assessment whose one question group draws one of the item's variants.

One-number variants are `numerical_question`s (the tolerance as an exact answer with a
margin); one-choice variants are `multiple_choice_question`s with per-choice feedback;
any other is a `fill_in_multiple_blanks_question` with one blank per part (per cell for a
grid), which Canvas compares as text: numbers are accepted rounded or cut to any number
of decimals (or significant figures) within their tolerance, so as their hint asks
("rounded to 2 decimal places"); text answers in the forms listed. Canvas keeps no
feedback for a wrong number or blank, so the misconceptions' answers are listed in the
general feedback instead.
Structure after gpoore/text2qti (xml_assessment.py, xml_imsmanifest.py).
"""

from __future__ import annotations

import hashlib
import io
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence

from problems.exports.common import (
    Bank,
    Variant,
    absolute_tolerance,
    accepted_texts,
    field_grid_html,
    grid_size,
    is_single_number,
    misconception_feedback,
    mistakes_html,
    number_roundings,
    number_text,
    points_text,
    question_html,
    steps_html,
    text_html,
)
from problems.kinds.base import Part

QTI_NS = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
MANIFEST_NS = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
CANVAS_NS = "http://canvas.instructure.com/xsd/cccv1p0"
# A fixed timestamp makes the zip a pure function of its contents.
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)


def ident(*parts: object) -> str:
    """A stable identifier from the things it names."""
    return "g" + hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:24]


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _material(parent: ET.Element, html_text: str) -> None:
    _sub(_sub(parent, "material"), "mattext", html_text, texttype="text/html")


def _metadata(item: ET.Element, question_type: str, points: float, ref: str) -> None:
    fields = _sub(_sub(item, "itemmetadata"), "qtimetadata")
    for label, entry in (
        ("question_type", question_type),
        ("points_possible", number_text(points)),
        ("original_answer_ids", ""),
        ("assessment_question_identifierref", ref),
    ):
        field = _sub(fields, "qtimetadatafield")
        _sub(field, "fieldlabel", label)
        _sub(field, "fieldentry", entry)


def _resprocessing(item: ET.Element) -> ET.Element:
    processing = _sub(item, "resprocessing")
    _sub(
        _sub(processing, "outcomes"),
        "decvar",
        maxvalue="100",
        minvalue="0",
        varname="SCORE",
        vartype="Decimal",
    )
    general = _sub(processing, "respcondition", **{"continue": "Yes"})
    _sub(_sub(general, "conditionvar"), "other")
    _sub(general, "displayfeedback", feedbacktype="Response", linkrefid="general_fb")
    return processing


def _feedback(item: ET.Element, feedback_ident: str, html_text: str) -> None:
    flow = _sub(_sub(item, "itemfeedback", ident=feedback_ident), "flow_mat")
    _material(flow, html_text)


def _general_feedback(variant: Variant) -> str:
    return steps_html(variant.steps, variant.problem) + mistakes_html(variant)


def numerical_item(variant: Variant, item_ident: str) -> ET.Element:
    """A one-number variant: the answer with its tolerance as a margin."""
    problem = variant.problem
    part = problem.parts[0]
    item = ET.Element("item", ident=item_ident, title=variant.name)
    _metadata(item, "numerical_question", variant.item.points, item_ident + "_ref")
    presentation = _sub(item, "presentation")
    _material(
        presentation,
        question_html(problem, lambda p: "<b>?</b>", list_placed=True, after=lambda p: ""),
    )
    response = _sub(presentation, "response_str", ident="response1", rcardinality="Single")
    _sub(_sub(response, "render_fib", fibtype="Decimal"), "response_label", ident="answer1")
    processing = _resprocessing(item)
    value = float(problem.answers[part.id])
    margin = absolute_tolerance(part, value)
    right = _sub(processing, "respcondition", **{"continue": "No"})
    either = _sub(_sub(right, "conditionvar"), "or")
    _sub(either, "varequal", number_text(value), respident="response1")
    both = _sub(either, "and")
    _sub(both, "vargte", number_text(value - margin), respident="response1")
    _sub(both, "varlte", number_text(value + margin), respident="response1")
    _sub(right, "setvar", "100", action="Set", varname="SCORE")
    _feedback(item, "general_fb", _general_feedback(variant))
    return item


def multiple_choice_item(variant: Variant, item_ident: str) -> ET.Element:
    """A one-choice variant, a misconception's feedback on each wrong choice it explains."""
    problem = variant.problem
    part = problem.parts[0]
    item = ET.Element("item", ident=item_ident, title=variant.name)
    _metadata(item, "multiple_choice_question", variant.item.points, item_ident + "_ref")
    presentation = _sub(item, "presentation")
    _material(
        presentation,
        question_html(problem, lambda p: "<b>?</b>", list_placed=True, after=lambda p: ""),
    )
    lid = _sub(presentation, "response_lid", ident="response1", rcardinality="Single")
    render = _sub(lid, "render_choice")
    choice_ids = {c: f"{item_ident}_c{k}" for k, c in enumerate(part.choices)}
    for choice, choice_id in choice_ids.items():
        _material(_sub(render, "response_label", ident=choice_id), text_html(choice))
    notes: dict[str, str] = {}
    for w in variant.wrong.get(part.id, ()):
        notes.setdefault(str(w.value), misconception_feedback(w.misconception))
    processing = _resprocessing(item)
    for choice in notes:
        if choice in choice_ids:
            shown = _sub(processing, "respcondition", **{"continue": "Yes"})
            _sub(_sub(shown, "conditionvar"), "varequal", choice_ids[choice], respident="response1")
            _sub(
                shown,
                "displayfeedback",
                feedbacktype="Response",
                linkrefid=choice_ids[choice] + "_fb",
            )
    right = _sub(processing, "respcondition", **{"continue": "No"})
    _sub(
        _sub(right, "conditionvar"),
        "varequal",
        choice_ids[str(problem.answers[part.id])],
        respident="response1",
    )
    _sub(right, "setvar", "100", action="Set", varname="SCORE")
    _feedback(item, "general_fb", _general_feedback(variant))
    for choice, note in notes.items():
        if choice in choice_ids:
            _feedback(item, choice_ids[choice] + "_fb", text_html(note))
    return item


def _blank_name(text: str, taken: set[str]) -> str:
    name = re.sub(r"\W", "_", text) or "blank"
    base, n = name, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def blanks(variant: Variant) -> list[tuple[Part, str, list[str], float]]:
    """Every blank of a multi-part variant: its part, name, accepted texts and share of the
    points (a grid part's points are split over its cells)."""
    problem = variant.problem
    taken: set[str] = set()
    out = []
    for part in problem.parts:
        correct = problem.answers[part.id]
        if part.answer_type == "grid":
            rows, cols = grid_size(part, correct)
            for r in range(rows):
                for c in range(cols):
                    out.append(
                        (
                            part,
                            _blank_name(f"{part.id}_{r}_{c}", taken),
                            number_roundings(part, float(correct[r][c])),
                            part.points / (rows * cols),
                        )
                    )
        else:
            out.append(
                (part, _blank_name(part.id, taken), accepted_texts(part, correct), part.points)
            )
    return out


def fill_in_blanks_item(variant: Variant, item_ident: str) -> ET.Element:
    """A multi-part variant: a blank per part (per grid cell), placed in the statement."""
    problem = variant.problem
    found = blanks(variant)
    names: dict[str, list[str]] = {}
    for part, name, _texts, _share in found:
        names.setdefault(part.id, []).append(name)

    def field(part: Part) -> str:
        if part.answer_type == "grid":
            rows, cols = grid_size(part, problem.answers[part.id])
            cells = iter(names[part.id])
            grid = [[next(cells) for _c in range(cols)] for _r in range(rows)]
            return field_grid_html(rows, cols, lambda r, c: f"[{grid[r][c]}]")
        return f"[{names[part.id][0]}]"

    item = ET.Element("item", ident=item_ident, title=variant.name)
    _metadata(item, "fill_in_multiple_blanks_question", variant.item.points, item_ident + "_ref")
    presentation = _sub(item, "presentation")
    _material(presentation, question_html(problem, field))
    total = sum(share for *_rest, share in found) or 1.0
    answer_ids: list[tuple[str, str, float]] = []
    for _part, name, texts, share in found:
        lid = _sub(presentation, "response_lid", ident=f"response_{name}")
        _sub(_sub(lid, "material"), "mattext", name)
        render = _sub(lid, "render_choice")
        for k, text in enumerate(texts):
            label = f"{item_ident}_{name}_{k}"
            # Plain text: Canvas compares what the student types with it.
            _sub(_sub(_sub(render, "response_label", ident=label), "material"), "mattext", text)
            answer_ids.append((name, label, 100 * share / total))
    processing = _resprocessing(item)
    for name, label, score in answer_ids:
        add = _sub(processing, "respcondition")
        _sub(_sub(add, "conditionvar"), "varequal", label, respident=f"response_{name}")
        _sub(add, "setvar", f"{score:.4f}", action="Add", varname="SCORE")
    _feedback(item, "general_fb", _general_feedback(variant))
    return item


def variant_item(variant: Variant, item_ident: str) -> ET.Element:
    """The Canvas question of a variant, by the answer types of its parts."""
    parts = variant.problem.parts
    if is_single_number(variant.problem):
        return numerical_item(variant, item_ident)
    if len(parts) == 1 and parts[0].answer_type == "choice":
        return multiple_choice_item(variant, item_ident)
    return fill_in_blanks_item(variant, item_ident)


def assessment_xml(bank: Bank, bank_ident: str, title: str) -> bytes:
    """One item's assessment: a group drawing one of its variants, worth the item's points."""
    root = ET.Element("questestinterop", xmlns=QTI_NS)
    assessment = _sub(root, "assessment", ident=bank_ident, title=title)
    field = _sub(_sub(assessment, "qtimetadata"), "qtimetadatafield")
    _sub(field, "fieldlabel", "cc_maxattempts")
    _sub(field, "fieldentry", "1")
    section = _sub(assessment, "section", ident="root_section")
    group = _sub(section, "section", ident=bank_ident + "_group", title=bank.name)
    selection = _sub(_sub(group, "selection_ordering"), "selection")
    _sub(selection, "selection_number", "1")
    _sub(_sub(selection, "selection_extension"), "points_per_item", number_text(bank.item.points))
    for variant in bank.variants:
        group.append(variant_item(variant, ident(bank_ident, variant.number, variant.problem.seed)))
    return _serialize(root)


def assessment_meta_xml(bank: Bank, bank_ident: str, title: str) -> bytes:
    """Canvas's quiz settings for the assessment (a practice quiz drawing one variant)."""
    root = ET.Element("quiz", identifier=bank_ident, xmlns=CANVAS_NS)
    description = (
        f"<p>{text_html(bank.name)}: one of {len(bank.variants)} variants, "
        f"{points_text(bank.item.points)}.</p>"
    )
    for tag, text in (
        ("title", title),
        ("description", description),
        ("shuffle_answers", "false"),
        ("scoring_policy", "keep_highest"),
        ("quiz_type", "practice_quiz"),
        ("points_possible", number_text(bank.item.points)),
        ("show_correct_answers", "true"),
        ("allowed_attempts", "1"),
    ):
        _sub(root, tag, text)
    return _serialize(root)


def manifest_xml(resources: Sequence[tuple[str, str, str]], manifest_ident: str) -> bytes:
    """`imsmanifest.xml`: per assessment its QTI file and its Canvas settings file."""
    root = ET.Element("manifest", identifier=manifest_ident, xmlns=MANIFEST_NS)
    metadata = _sub(root, "metadata")
    _sub(metadata, "schema", "IMS Content")
    _sub(metadata, "schemaversion", "1.1.3")
    _sub(root, "organizations")
    listed = _sub(root, "resources")
    for bank_ident, qti_path, meta_path in resources:
        resource = _sub(listed, "resource", identifier=bank_ident, type="imsqti_xmlv1p2")
        _sub(resource, "file", href=qti_path)
        _sub(resource, "dependency", identifierref=bank_ident + "_meta")
        meta = _sub(
            listed,
            "resource",
            identifier=bank_ident + "_meta",
            href=meta_path,
            type="associatedcontent/imscc_xmlv1p1/learning-application-resource",
        )
        _sub(meta, "file", href=meta_path)
    return _serialize(root)


def _serialize(root: ET.Element) -> bytes:
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def qti_zip(banks: Sequence[Bank], category: str) -> bytes:
    """The QTI package: a manifest and an assessment (with its Canvas settings) per bank."""
    files: list[tuple[str, bytes]] = []
    resources = []
    for bank in banks:
        seeds = ",".join(str(v.problem.seed) for v in bank.variants)
        bank_ident = ident(category, bank.index, bank.name, seeds)
        title = f"{category}: {bank.name}" if category else bank.name
        qti_path = f"{bank_ident}/{bank_ident}.xml"
        meta_path = f"{bank_ident}/assessment_meta.xml"
        files.append((qti_path, assessment_xml(bank, bank_ident, title)))
        files.append((meta_path, assessment_meta_xml(bank, bank_ident, title)))
        resources.append((bank_ident, qti_path, meta_path))
    manifest = manifest_xml(resources, ident("manifest", category, *(r[0] for r in resources)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in [("imsmanifest.xml", manifest), *files]:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()
