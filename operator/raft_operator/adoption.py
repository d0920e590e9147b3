"""Whether an object that already holds a child's name may be taken as that child.

A create answered 409 means an object of that kind and name exists. It is this run's child only
when it is controlled by this RaftRun (an owner reference with ``controller: true`` and the
run's uid); anything else (a privileged ServiceAccount, another run's Deployment) fails the run,
so a RaftRun's name can never make the operator use someone else's object. A child the operator
creates without an owner reference (the claim kept by retention ``Retain``) matches when it
has no controller and carries the run's label.
"""

from __future__ import annotations

from typing import Any

from . import api
from .errors import PermanentError


def _controller(obj: dict[str, Any]) -> dict[str, Any] | None:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), None)


def is_ours(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether ``existing`` is the object ``wanted`` describes, as far as ownership goes."""
    want = _controller(wanted)
    have = _controller(existing)
    if want is not None:
        return have is not None and have.get("uid") == want.get("uid") and have.get("kind") == want.get("kind")
    labels = (existing.get("metadata") or {}).get("labels") or {}
    run = (wanted.get("metadata") or {}).get("labels", {}).get(api.RUN_LABEL)
    return have is None and run is not None and labels.get(api.RUN_LABEL) == run


def check(existing: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Raise :class:`PermanentError` unless ``existing`` may serve as the child ``wanted``."""
    if is_ours(existing, wanted):
        return
    kind, name = wanted["kind"], wanted["metadata"]["name"]
    owner = _controller(existing)
    held = f"controlled by {owner.get('kind')} {owner.get('name')}" if owner else "not controlled by this RaftRun"
    raise PermanentError(
        "NameTaken",
        f"{kind} {name} already exists and is {held}: delete or rename it, or give the RaftRun another name")
