"""metav1.Condition bookkeeping: set a condition, keeping lastTransitionTime unless status changes."""

from __future__ import annotations

from typing import Any

Condition = dict[str, Any]
ONE_LINE_LIMIT = 600


def one_line(text: str, limit: int = ONE_LINE_LIMIT) -> str:
    """``text`` as one line: its first line and, when there are more (KubeRay appends the job's
    last log lines to its message), the last non-empty one, which usually names the error."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    joined = lines[0] if len(lines) == 1 else f"{lines[0]} … {lines[-1]}"
    return joined if len(joined) <= limit else joined[: limit - 1] + "…"


def get_condition(conditions: list[Condition], ctype: str) -> Condition | None:
    """The condition of type ``ctype``, or None."""
    return next((c for c in conditions if c.get("type") == ctype), None)


def is_true(conditions: list[Condition], ctype: str) -> bool:
    """Whether condition ``ctype`` exists with status True."""
    cond = get_condition(conditions, ctype)
    return bool(cond and cond.get("status") == "True")


def set_condition(
    conditions: list[Condition],
    ctype: str,
    status: bool | str,
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: str,
) -> bool:
    """Set condition ``ctype`` in place. Returns True when its status changed (a transition)."""
    status_text = status if isinstance(status, str) else ("True" if status else "False")
    new = {
        "type": ctype,
        "status": status_text,
        "reason": reason,
        "message": message[:32000],
        "observedGeneration": generation or 0,
        "lastTransitionTime": now,
    }
    for i, old in enumerate(conditions):
        if old.get("type") == ctype:
            changed = old.get("status") != status_text
            if not changed:
                new["lastTransitionTime"] = old.get("lastTransitionTime", now)
            conditions[i] = new
            return changed
    conditions.append(new)
    return True
