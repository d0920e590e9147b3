"""Human-readable reports: ``report.md`` and a self-contained ``report.html``.

Both are rendered from ``results.json``'s content plus the disagreement list; the HTML inlines
its CSS and the PNG plots (base64), so it can be copied or mailed as one file.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .judge import RUBRIC_CRITERIA

MAX_DISAGREEMENTS_PER_MODE = 25

_COLUMNS = (
    ("judgeScore", "Judge"),
    ("judgeCoverage", "Judge coverage"),
    ("formatFollowed", "Format"),
    ("exactMatch", "EM"),
    ("f1", "F1"),
    ("rouge1", "ROUGE-1"),
    ("rouge2", "ROUGE-2"),
    ("rougeL", "ROUGE-L"),
    ("bleu", "BLEU"),
    ("precision", "Precision"),
)


def pct(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage, ``n/a`` for ``None``."""
    return "n/a" if value is None else f"{100 * value:.{digits}f}"


def signed_pct(value: float | None) -> str:
    """A relative change as ``+12.3%``, ``n/a`` for ``None``."""
    return "n/a" if value is None else f"{100 * value:+.1f}%"


def mode_label(mode: str, top_k: int | None) -> str:
    """``no RAG`` or ``RAG k=5``."""
    return "no RAG" if mode == "none" else f"RAG k={top_k}"


def ci_text(ci: Sequence[float] | None) -> str:
    """``52.0–71.0`` or ``n/a``."""
    return "n/a" if not ci else f"{pct(ci[0])}–{pct(ci[1])}"


def judge_note(results: dict[str, Any]) -> str:
    """What the reader must know next to a judge score: who judged, and how independently."""
    meta = results["meta"]
    if meta.get("judgeIsTeacher"):
        return (
            f"The judge ({meta['judgeModel']}) is the teacher, which also wrote the reference answers and "
            "the training labels: it is not an independent grader (set spec.eval.judge for another one)."
        )
    return f"The judge ({meta['judgeModel']}) is not the teacher."


def _comparison_text(c: dict[str, Any]) -> str:
    unit = "points" if c["metric"] == "judge" else "F1 points"
    ci = c.get("ci") or []
    ci_part = f", 95% CI {100 * ci[0]:+.1f} to {100 * ci[1]:+.1f}" if len(ci) == 2 else ""
    p = c.get("pValue")
    return (
        f"{100 * c['difference']:+.1f} {unit} vs {c['baseline']}{ci_part}"
        + (f", p={p:.3g}" if p is not None else "")
        if c.get("difference") is not None
        else f"no comparison with {c['baseline']}"
    )


def comparison_cells(c: dict[str, Any]) -> list[str]:
    """One paired comparison as table cells: student, baseline, metric, difference, CI, p, n, chunks."""
    ci = c.get("ci") or []
    return [
        c["student"],
        c["baseline"],
        c["metric"],
        "n/a" if c.get("difference") is None else f"{100 * c['difference']:+.1f}",
        f"{100 * ci[0]:+.1f} to {100 * ci[1]:+.1f}" if len(ci) == 2 else "n/a",
        "n/a" if c.get("pValue") is None else f"{c['pValue']:.3g}",
        str(c["n"]),
        str(c["clusters"]),
    ]


def summary_sentence(results: dict[str, Any]) -> str:
    """The headline: the student in the primary mode declared in the spec, with paired differences."""
    summary = results["summary"]
    where = mode_label(summary.get("mode", "rag"), summary.get("topK"))
    who = summary.get("model") or "no model"
    comparisons = summary.get("comparisons") or []
    if summary.get("judgeScore") is None:
        reason = summary.get("judgeWithheld") or "no verdict could be read"
        f1 = [_comparison_text(c) for c in comparisons if c["metric"] == "f1"]
        return f"No judge score for {who} with {where} (the primary mode): {reason}." + (
            f" Token F1: {'; '.join(f1)}." if f1 else ""
        )
    text = (
        f"{who} scores {pct(summary['judgeScore'])}% on the LLM judge "
        f"(95% CI {ci_text(summary.get('judgeCI'))}, resampling source chunks; judge coverage "
        f"{pct(summary.get('judgeCoverage'))}%) with {where}, the primary mode"
    )
    parts = [_comparison_text(c) for c in comparisons if c["metric"] == "judge"]
    text += f": {'; '.join(parts)}." if parts else "."
    if summary.get("judgeIsTeacher"):
        text += " The judge is the teacher, which also wrote the references and the training labels."
    return text


def _context_lines(results: dict[str, Any]) -> list[str]:
    meta = results["meta"]
    models = ", ".join(f"{m['name']} = {m['model']} ({m['role']})" for m in meta.get("models", []))
    lines = [
        f"Questions: {meta['questions']} from {meta['evalSource']}",
        f"Models: {models}",
        f"Judge: {judge_note(results)}",
        f"Primary mode (declared in the spec): {meta.get('primaryMode', 'n/a')}",
    ]
    if meta.get("chunks"):
        lines.append(
            f"Retriever: {meta['chunks']} chunks embedded with {meta['embeddingModel']} ({meta['index']})"
        )
    requests = meta.get("requests") or {}
    if requests:
        sent = sum(r.get("requests", 0) for r in requests.values())
        retries = sum(r.get("retries", 0) for r in requests.values())
        lines.append(f"Requests: {sent} ({retries} retried)")
    losses = meta.get("trainingLoss") or []
    if losses:
        lines.append(f"Student training loss: {losses[0][1]:.4f} at step {losses[0][0]:.0f} → "
                     f"{losses[-1][1]:.4f} at step {losses[-1][0]:.0f}")
    lines.append(f"Generated: {meta['createdAt']} in {meta['durationSeconds']:.0f} s")
    return lines


def _failed(row: dict[str, Any]) -> int:
    return int(row.get("errors", 0)) + int(row.get("judgeErrors", 0))


def _any_failed(results: dict[str, Any]) -> bool:
    return any(_failed(row) for row in results["results"])


def render_markdown(
    results: dict[str, Any], disagreements: Sequence[dict[str, Any]], plots: Sequence[str]
) -> str:
    """The Markdown report."""
    out = [f"# RAFT evaluation: {results['meta']['run']}", ""]
    out += [f"- {line}" for line in _context_lines(results)]
    out += ["", "## Summary", "", summary_sentence(results), ""]
    out += [
        "Scores are percentages. Judge: share of all answers the judge called correct (an unreadable verdict "
        "counts as not correct); it is withheld (n/a) when the judge coverage, the share of readable "
        f"verdicts, is below {pct(results['meta'].get('judgeCoverageThreshold', 0.9), 0)}%. Format: share of "
        "replies ending in the `<ANSWER>:` line; every score uses that final answer (the last line without "
        "it). Precision: share judged correct among the answers that are not refusals.",
        "",
        "## Results",
        "",
        "| model | role | mode | "
        + " | ".join(t for _, t in _COLUMNS)
        + " | judge 95% CI | refusals | unparseable |"
        + (" failed requests |" if _any_failed(results) else ""),
        "|" + "---|" * (len(_COLUMNS) + 6 + _any_failed(results)),
    ]
    for row in results["results"]:
        cells = [row["model"], row["role"], mode_label(row["mode"], row["topK"])]
        cells += [pct(row.get(key)) for key, _ in _COLUMNS]
        cells += [
            ci_text(row.get("judgeCI")),
            f"{row['refusals']}/{row['total']}",
            str(row["judgeUnparseable"]),
        ]
        if _any_failed(results):
            cells.append(str(_failed(row)))
        out.append("| " + " | ".join(cells) + " |")
    if any("rubric" in row for row in results["results"]):
        out += [
            "",
            "## Rubric (judge, 1–5)",
            "",
            "| model | mode | " + " | ".join(RUBRIC_CRITERIA) + " |",
            "|" + "---|" * (2 + len(RUBRIC_CRITERIA)),
        ]
        for row in results["results"]:
            rubric = row.get("rubric") or {}
            cells = [f"{rubric[c]:.2f}" if rubric.get(c) is not None else "n/a" for c in RUBRIC_CRITERIA]
            out.append(
                f"| {row['model']} | {mode_label(row['mode'], row['topK'])} | " + " | ".join(cells) + " |"
            )
    comparisons = results.get("comparisons") or []
    if comparisons:
        out += [
            "",
            "## Paired differences in the primary mode",
            "",
            "Same questions for both models; 95% CI by bootstrap over source chunks; p from a paired "
            "randomisation test over chunks.",
            "",
            "| student | baseline | metric | difference | 95% CI | p | questions | chunks |",
            "|---|---|---|---|---|---|---|---|",
        ]
        out += ["| " + " | ".join(comparison_cells(c)) + " |" for c in comparisons]
    agreement = results["meta"].get("judgeAgreement") or {}
    if agreement.get("answers"):
        out += [
            "",
            "## Judge and exact match",
            "",
            f"Over {agreement['answers']} answers with a readable verdict the judge agrees with exact match on "
            f"{pct(agreement['agreement'])}%: YES with an exact match {agreement['judgeYesEmYes']}, YES without "
            f"{agreement['judgeYesEmNo']}, NO despite an exact match {agreement['judgeNoEmYes']}, NO without "
            f"{agreement['judgeNoEmNo']}.",
        ]
    withheld = [r for r in results["results"] if r.get("judgeWithheld")]
    if withheld:
        out += ["", "## Judge scores withheld", ""]
        out += [f"- {r['model']}, {mode_label(r['mode'], r['topK'])}: {r['judgeWithheld']}" for r in withheld]
    if results["improvements"]:
        out += [
            "",
            "## Student vs baselines",
            "",
            "| student | baseline | mode | student judge | baseline judge | relative |",
            "|---|---|---|---|---|---|",
        ]
        for imp in results["improvements"]:
            out.append(
                f"| {imp['student']} | {imp['baseline']} | {mode_label(imp['mode'], imp['topK'])} | "
                f"{pct(imp['studentJudgeScore'])} | {pct(imp['baselineJudgeScore'])} | "
                f"{signed_pct(imp['relative'])} |"
            )
    recall = results.get("retrievalRecall") or {}
    if recall:
        out += [
            "",
            "## Retrieval",
            "",
            "Share of questions whose source chunk is among the retrieved ones:",
            "",
            "| top-k | recall |",
            "|---|---|",
        ]
        out += [f"| {k} | {pct(v)} |" for k, v in recall.items()]
    out += ["", "## Plots", ""] + [f"![{name}]({name})" for name in plots]
    out += ["", f"## Questions where the models disagree ({len(disagreements)})", ""]
    if not disagreements:
        out.append("No question was judged right for one model and wrong for another.")
    for (mode, top_k), items in _by_mode(disagreements):
        out += [f"### {mode_label(mode, top_k)} ({len(items)})", ""]
        for item in items[:MAX_DISAGREEMENTS_PER_MODE]:
            out += [
                f"**{_one_line(item['question'])}**",
                "",
                f"Reference: {_one_line(item['reference'])}",
                "",
            ]
            out += [f"- {a['model']} [{a['verdict']}]: {_one_line(a['answer'])}" for a in item["answers"]]
            out.append("")
        if len(items) > MAX_DISAGREEMENTS_PER_MODE:
            out += [f"… and {len(items) - MAX_DISAGREEMENTS_PER_MODE} more in answers.jsonl.", ""]
    return "\n".join(out).rstrip() + "\n"


def _by_mode(
    disagreements: Sequence[dict[str, Any]],
) -> list[tuple[tuple[str, int | None], list[dict[str, Any]]]]:
    groups: dict[tuple[str, int | None], list[dict[str, Any]]] = {}
    for item in disagreements:
        groups.setdefault((item["mode"], item["topK"]), []).append(item)
    return list(groups.items())


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;
padding:24px;color:#1f2328;line-height:1.45}
h1{font-size:1.6em;margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.meta{color:#57606a;margin:0;padding-left:18px}.headline{font-size:1.15em;background:#f6f8fa;
border-left:4px solid #0969da;padding:12px 16px;margin:16px 0}
table{border-collapse:collapse;margin:8px 0;font-size:.92em}th,td{border:1px solid #d0d7de;padding:5px 9px;
text-align:right;white-space:nowrap}th{background:#f6f8fa}td.l,th.l{text-align:left}
tr.student td{background:#eef6ff}
tr.student td:first-child{font-weight:600}
.note{color:#57606a;font-size:.9em}.pos{color:#1a7f37}.neg{color:#cf222e}
img{max-width:100%;border:1px solid #d0d7de;margin:8px 0}
details{border:1px solid #d0d7de;border-radius:6px;margin:6px 0;padding:6px 10px}summary{cursor:pointer}
.badge{display:inline-block;padding:1px 7px;border-radius:10px;font-size:.8em;font-weight:600;color:#fff}
.YES{background:#1a7f37}.NO{background:#cf222e}.UNPARSEABLE{background:#6e7781}
.ans{margin:6px 0 6px 8px}.ref{color:#57606a}.verdicts{margin-left:8px;white-space:nowrap}
h3{margin:18px 0 6px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _badge(verdict: str) -> str:
    return f'<span class="badge {_e(verdict)}">{_e(verdict)}</span>'


def _signed_cell(value: float | None) -> str:
    cls = "" if value is None else ("pos" if value > 0 else "neg" if value < 0 else "")
    return f'<td class="{cls}">{_e(signed_pct(value))}</td>'


def render_html(
    results: dict[str, Any], disagreements: Sequence[dict[str, Any]], plot_paths: Sequence[Path]
) -> str:
    """The self-contained HTML report."""
    meta = results["meta"]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>RAFT evaluation: {_e(meta['run'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>RAFT evaluation: {_e(meta['run'])}</h1><ul class='meta'>",
        *[f"<li>{_e(line)}</li>" for line in _context_lines(results)],
        "</ul>",
        f"<p class='headline'>{_e(summary_sentence(results))}</p>",
        "<h2>Results</h2><p class='note'>Scores are percentages. <b>Judge</b>: share of all answers the judge "
        "called correct (an unreadable verdict counts as not correct; n/a when the judge coverage is below "
        f"{_e(pct(meta.get('judgeCoverageThreshold', 0.9), 0))}%). <b>Format</b>: replies ending in the "
        "&lt;ANSWER&gt;: line. <b>Precision</b>: share judged correct among the answers that are not refusals. "
        "EM and F1 use SQuAD normalisation on the final answer.</p>",
        "<table><tr><th class='l'>model</th><th class='l'>role</th><th class='l'>mode</th>",
        *[f"<th>{_e(title)}</th>" for _, title in _COLUMNS],
        "<th>judge 95% CI</th><th>refusals</th><th>unparseable</th>",
        "<th title='requests that failed after their retries'>failed requests</th>"
        if _any_failed(results)
        else "",
        "</tr>",
    ]
    for row in results["results"]:
        cls = " class='student'" if row["role"] == "student" else ""
        parts.append(
            f"<tr{cls}><td class='l'>{_e(row['model'])}</td><td class='l'>{_e(row['role'])}</td>"
            f"<td class='l'>{_e(mode_label(row['mode'], row['topK']))}</td>"
            + "".join(f"<td>{_e(pct(row.get(key)))}</td>" for key, _ in _COLUMNS)
            + f"<td>{_e(ci_text(row.get('judgeCI')))}</td><td>{row['refusals']}/{row['total']}</td>"
            f"<td>{row['judgeUnparseable']}</td>"
            + (f"<td>{_failed(row)}</td>" if _any_failed(results) else "")
            + "</tr>"
        )
    parts.append("</table>")
    if any("rubric" in row for row in results["results"]):
        parts.append("<h2>Rubric (judge, 1–5)</h2><table><tr><th class='l'>model</th><th class='l'>mode</th>")
        parts += [f"<th>{_e(c)}</th>" for c in RUBRIC_CRITERIA] + ["</tr>"]
        for row in results["results"]:
            rubric = row.get("rubric") or {}
            parts.append(
                f"<tr><td class='l'>{_e(row['model'])}</td>"
                f"<td class='l'>{_e(mode_label(row['mode'], row['topK']))}</td>"
                + "".join(
                    f"<td>{rubric[c]:.2f}</td>" if rubric.get(c) is not None else "<td>n/a</td>"
                    for c in RUBRIC_CRITERIA
                )
                + "</tr>"
            )
        parts.append("</table>")
    if results["improvements"]:
        parts.append(
            "<h2>Student vs baselines</h2><p class='note'>Relative change of the judge score: "
            "(student − baseline) / baseline, in the same mode.</p><table><tr><th class='l'>student</th>"
            "<th class='l'>baseline</th><th class='l'>mode</th><th>student judge</th><th>baseline judge</th>"
            "<th>relative</th><th>relative F1</th></tr>"
        )
        for imp in results["improvements"]:
            parts.append(
                f"<tr><td class='l'>{_e(imp['student'])}</td><td class='l'>{_e(imp['baseline'])}</td>"
                f"<td class='l'>{_e(mode_label(imp['mode'], imp['topK']))}</td>"
                f"<td>{_e(pct(imp['studentJudgeScore']))}</td><td>{_e(pct(imp['baselineJudgeScore']))}</td>"
                f"{_signed_cell(imp['relative'])}{_signed_cell(imp['relativeF1'])}</tr>"
            )
        parts.append("</table>")
    comparisons = results.get("comparisons") or []
    if comparisons:
        parts.append(
            "<h2>Paired differences in the primary mode</h2><p class='note'>Same questions for both models; 95% CI "
            "by bootstrap over source chunks; p from a paired randomisation test over chunks.</p><table><tr>"
            "<th class='l'>student</th><th class='l'>baseline</th><th class='l'>metric</th><th>difference</th>"
            "<th>95% CI</th><th>p</th><th>questions</th><th>chunks</th></tr>"
        )
        for c in comparisons:
            parts.append("<tr>" + "".join(
                f"<td class='l'>{_e(cell)}</td>" if i < 3 else f"<td>{_e(cell)}</td>"
                for i, cell in enumerate(comparison_cells(c))
            ) + "</tr>")
        parts.append("</table>")
    withheld = [r for r in results["results"] if r.get("judgeWithheld")]
    if withheld:
        parts.append("<h2>Judge scores withheld</h2><ul>")
        parts += [
            f"<li>{_e(r['model'])}, {_e(mode_label(r['mode'], r['topK']))}: {_e(r['judgeWithheld'])}</li>"
            for r in withheld
        ]
        parts.append("</ul>")
    recall = results.get("retrievalRecall") or {}
    if recall:
        parts.append(
            "<h2>Retrieval</h2><p class='note'>Share of questions whose source chunk is among the retrieved "
            "ones.</p><table><tr><th>top-k</th><th>recall</th></tr>"
            + "".join(f"<tr><td>{_e(k)}</td><td>{_e(pct(v))}</td></tr>" for k, v in recall.items())
            + "</table>"
        )
    if plot_paths:
        parts.append("<h2>Plots</h2>")
        for path in plot_paths:
            data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
            parts.append(f"<img alt='{_e(Path(path).stem)}' src='data:image/png;base64,{data}'>")
    parts.append(
        f"<h2>Questions where the models disagree ({len(disagreements)})</h2><p class='note'>Questions the "
        "judge marked correct for one model and wrong for another, in the same mode. Click one to see every "
        "model's final answer.</p>"
    )
    if not disagreements:
        parts.append("<p class='note'>No question was judged right for one model and wrong for another.</p>")
    for (mode, top_k), items in _by_mode(disagreements):
        parts.append(f"<h3>{_e(mode_label(mode, top_k))} ({len(items)})</h3>")
        for item in items[:MAX_DISAGREEMENTS_PER_MODE]:
            verdicts = " ".join(f"{_e(a['model'])}&nbsp;{_badge(a['verdict'])}" for a in item["answers"])
            parts.append(
                f"<details><summary><b>{_e(item['question'])}</b> <span class='verdicts'>{verdicts}</span>"
                f"</summary><p class='ref'>Reference: {_e(item['reference'])}</p>"
            )
            for a in item["answers"]:
                refusal = " <span class='note'>(refusal)</span>" if a["refusal"] else ""
                parts.append(
                    f"<div class='ans'>{_badge(a['verdict'])} <b>{_e(a['model'])}</b>{refusal}: "
                    f"{_e(a['answer'])}</div>"
                )
            parts.append("</details>")
        if len(items) > MAX_DISAGREEMENTS_PER_MODE:
            parts.append(
                f"<p class='note'>… and {len(items) - MAX_DISAGREEMENTS_PER_MODE} more in answers.jsonl.</p>"
            )
    parts.append("</body></html>")
    return "\n".join(parts)
