"""The progress reports: the one typed definition of what the programs tell the operator.

Each program owns one key of the run's progress ConfigMap and writes one JSON object of the
type named here (``datagen`` → :class:`DatagenReport`, ``finetune`` → :class:`FinetuneReport`,
``eval`` → :class:`EvalReport`). The programs and the simulated controllers build their reports
with these types and send them through :func:`encode_report`; the operator reads them back with
:func:`parse_report` before folding them into the RaftRun status. The status schema's
``datagen``, ``training`` and ``results`` sections are rendered from these types
(:mod:`raft_api.status`), with the descriptions given here.

The same definition is enforced at both ends, because the channel is untrusted: a buggy or
hostile job can write anything its ServiceAccount may patch. A field is kept only when it has
its declared type: integers are never booleans or floats, numbers are finite, strings and
lists are bounded, and nothing outside the definition (so nothing deeper than it) survives.
"""

from __future__ import annotations

import json
import math
import time
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypedDict, get_args, get_origin, get_type_hints

from .k8s import Desc

STAGE_KEYS = ("datagen", "finetune", "eval")
NOT_IN_STATUS = frozenset({"updatedAt", "phase", "answersDone", "answersTotal"})  # shown in status.progress only
Stage = Literal["datagen", "finetune", "eval"]
MAX_REPORT_CHARS = 65536  # a report is read at all only when its JSON text is at most this long
MAX_INT = 2**53  # integers beyond this lose precision in JSON clients


@dataclass(frozen=True)
class MaxLength:
    """Upper bound on a string's length or a list's or map's number of items."""

    value: int


Count = int  # every integer in a report is a non-negative count
Name = Annotated[str, MaxLength(253)]
Timestamp = Annotated[str, MaxLength(32)]


class DatagenReport(TypedDict, total=False):
    """``datagen``: chunks done of the total, records written, teacher throughput."""

    chunksDone: Annotated[Count, Desc("Chunks finished.")]
    chunksTotal: Annotated[Count, Desc("Chunks in the corpus.")]
    records: Annotated[Count, Desc("RAFT records written.")]
    malformed: Annotated[Count, Desc("Teacher outputs that were malformed and skipped.")]
    retries: Annotated[Count, Desc("Requests retried.")]
    tokensPerSecond: Annotated[float, Desc("Teacher tokens per second.")]
    rejected: Annotated[dict[str, Count], MaxLength(16), Desc("Teacher chain-of-thought answers rejected, by reason: cutOff, noAnswer, teacherRefused, noQuote, quoteNotInOracle.")]
    updatedAt: Timestamp


class FinetuneReport(TypedDict, total=False):
    """``finetune``: optimizer steps, losses, throughput."""

    step: Annotated[Count, Desc("Optimizer steps done.")]
    totalSteps: Annotated[Count, Desc("Optimizer steps in total.")]
    epoch: Annotated[float, Desc("Fractional epoch.")]
    loss: Annotated[float, Desc("Training loss (latest step).")]
    firstLoss: Annotated[float, Desc("Training loss of the first step (with loss: the trend over the run).")]
    validationLoss: Annotated[float, Desc("Last validation loss.")]
    tokensPerSecond: Annotated[float, Desc("Training tokens per second, all GPUs.")]
    mfu: Annotated[float, Desc("Model FLOPs utilisation (GPU only).")]
    updatedAt: Timestamp


class ModelScore(TypedDict, total=False):
    """One model in one mode: what the results and the headline summary both say of it."""

    model: Annotated[Name, Desc("Model name: student, base, teacher.")]
    mode: Annotated[str, MaxLength(16), Desc("none (no retrieval) or rag.")]
    topK: Annotated[Count, Desc("Retrieved chunks (rag mode).")]
    judgeScore: Annotated[float, Desc("Fraction of all answers judged correct (YES); absent when the judge coverage is below the threshold.")]
    judgeCoverage: Annotated[float, Desc("Fraction of judge verdicts readable as YES or NO.")]
    formatFollowed: Annotated[float, Desc("Fraction of replies ending in the <ANSWER>: line.")]


class EvalResult(ModelScore, total=False):
    """Scores of one model in one mode (``none`` or ``rag`` with ``topK``)."""

    rouge1: Annotated[float, Desc("ROUGE-1 F.")]
    rouge2: Annotated[float, Desc("ROUGE-2 F.")]
    rougeL: Annotated[float, Desc("ROUGE-L F.")]
    bleu: Annotated[float, Desc("BLEU.")]
    exactMatch: Annotated[float, Desc("Exact match of the extracted answer.")]
    f1: Annotated[float, Desc("Token F1 of the extracted answer.")]
    refusals: Annotated[Count, Desc("Answers that refused.")]
    total: Annotated[Count, Desc("Questions asked.")]
    precision: Annotated[float, Desc("Fraction judged correct among the answers that are not refusals.")]


class Comparison(TypedDict, total=False):
    """The student against one baseline in the headline mode: paired difference, CI and test."""

    baseline: Annotated[Name, Desc("The baseline model.")]
    metric: Annotated[str, MaxLength(32), Desc("judge (correct or not) or f1.")]
    difference: Annotated[float, Desc("Mean of student minus baseline.")]
    ciLow: Annotated[float, Desc("Lower end of the 95% interval (bootstrap over source chunks).")]
    ciHigh: Annotated[float, Desc("Upper end of the 95% interval.")]
    pValue: Annotated[float, Desc("Two-sided paired randomisation test over source chunks.")]


class EvalSummary(ModelScore, total=False):
    """The student in the declared headline mode (spec.eval.primaryMode): judge score (or why there
    is none), comparisons."""

    judgeWithheld: Annotated[str, MaxLength(256), Desc("Why there is no judge score (coverage below the threshold).")]
    judgeIsTeacher: Annotated[bool, Desc("The judge is the teacher, which also wrote the references and the training labels.")]
    improvement: Annotated[dict[str, float], MaxLength(16), Desc("Relative improvement of the student's judge score over each baseline.")]
    comparisons: Annotated[list[Comparison], MaxLength(32), Desc("Paired differences with each baseline over the same questions.")]


class EvalReport(TypedDict, total=False):
    """``eval``: answers done while answering; the results and summary at the end."""

    phase: Annotated[str, MaxLength(32)]
    answersDone: Count
    answersTotal: Count
    results: Annotated[list[EvalResult], MaxLength(256)]
    summary: EvalSummary
    updatedAt: Timestamp


Report = DatagenReport | FinetuneReport | EvalReport
REPORTS: dict[str, type] = {"datagen": DatagenReport, "finetune": FinetuneReport, "eval": EvalReport}


class _Drop(Exception):
    """A value that does not have its declared type."""


def _conform(hint: Any, value: Any) -> Any:
    """``value`` reduced to what ``hint`` declares, or :class:`_Drop`."""
    bound = None
    if get_origin(hint) is Annotated:
        hint, *extras = get_args(hint)
        bound = next((e.value for e in extras if isinstance(e, MaxLength)), None)
    origin = get_origin(hint)
    if hint is bool:
        if type(value) is not bool:
            raise _Drop
        return value
    if hint is int:
        if type(value) is not int or not 0 <= value <= MAX_INT:
            raise _Drop
        return value
    if hint is float:
        if type(value) not in (int, float) or not math.isfinite(value):
            raise _Drop
        return value
    if hint is str:
        if not isinstance(value, str) or (bound is not None and len(value) > bound):
            raise _Drop
        return value
    if origin is list:
        if not isinstance(value, list):
            raise _Drop
        (item,) = get_args(hint)
        return _kept((_conform_or_none(item, v) for v in value), bound)
    if origin is dict:
        if not isinstance(value, dict):
            raise _Drop
        _, item = get_args(hint)
        pairs = ((k, _conform_or_none(item, v)) for k, v in value.items() if isinstance(k, str) and len(k) <= 63)
        return dict(_kept(((k, v) for k, v in pairs if v is not None), bound))
    if typing.is_typeddict(hint):
        if not isinstance(value, dict):
            raise _Drop
        out = {}
        for name, field_hint in _fields(hint).items():
            if name in value:
                kept = _conform_or_none(field_hint, value[name])
                if kept is not None:
                    out[name] = kept
        return out
    raise TypeError(f"no rule for {hint!r}")  # a definition error, not a bad report


def _conform_or_none(hint: Any, value: Any) -> Any:
    try:
        return _conform(hint, value)
    except _Drop:
        return None


def _kept(values: Any, bound: int | None) -> list[Any]:
    out = [v for v in values if v is not None and v != {}]
    return out[:bound] if bound is not None else out


def _fields(typed_dict: type) -> dict[str, Any]:
    return get_type_hints(typed_dict, include_extras=True)


def conform(stage: str, payload: Any) -> dict[str, Any]:
    """The part of ``payload`` that matches the stage's report type (an empty dict when none does)."""
    try:
        return _conform(REPORTS[stage], payload)
    except _Drop:
        return {}


_NOT_A_NUMBER = object()  # what NaN and Infinity parse to: no type accepts it


def parse_report(stage: str, text: Any) -> dict[str, Any] | None:
    """A stage's report from its ConfigMap text, reduced to its type; None when unreadable.

    Text over :data:`MAX_REPORT_CHARS` or nested too deep for the parser makes the whole report
    unreadable; fields of the wrong type, ``NaN`` and ``Infinity`` included, are dropped.
    """
    if stage not in REPORTS or not isinstance(text, str) or len(text) > MAX_REPORT_CHARS:
        return None
    try:
        value = json.loads(text, parse_constant=lambda _: _NOT_A_NUMBER)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    return conform(stage, value)


def encode_report(stage: str, payload: Report | dict[str, Any], *, now: float | None = None) -> str:
    """The JSON text a program writes under key ``stage``: typed fields only, ``updatedAt`` added.

    Missing values (None) and non-finite numbers (a NaN loss) are left out, so the text is
    strict JSON (no ``NaN``) that the operator accepts.
    """
    if stage not in REPORTS:
        raise ValueError(f"stage must be one of {STAGE_KEYS}, got {stage!r}")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    body = conform(stage, {**payload, "updatedAt": stamp})
    return json.dumps(body, sort_keys=True, allow_nan=False)
