"""The operator's writes per kind (raft_operator.permissions) are exactly what the reconciler does."""

from __future__ import annotations

from typing import Any

import pytest

from harness import FakeCluster, raftrun
from raft_operator import child_kinds, permissions
from raft_operator.apply import Applier
from raft_operator.reconciler import Plan, Ref

from test_reconciler import RAYJOB, TEACHER, drive_to_success, servers_up, to_datagen, to_eval, to_finetune


class Recording(FakeCluster):
    """A fake cluster that notes every (kind, verb) the plans ask for."""

    def __init__(self, run: dict[str, Any], seen: set[tuple[str, str]], served: frozenset[str] | None = None) -> None:
        super().__init__(run, served=served)
        self.seen = seen

    def step(self, seconds: float = 10) -> Plan:
        plan = super().step(seconds)
        self.seen |= {(m["kind"], "create") for m in plan.create}
        self.seen |= {(ref.kind, "patch") for ref, _ in plan.patch}
        self.seen |= {(ref.kind, "delete") for ref in plan.delete}
        return plan


def exercised() -> set[tuple[str, str]]:
    """Every write of every path through the reconciler: each stage, suspended and resumed, and
    retention; fine-tuning as a TrainJob and a multi-node teacher as a LeaderWorkerSet."""
    seen: set[tuple[str, str]] = set()
    c = Recording(raftrun(), seen, served=frozenset({"TrainJob", "PyTorchJob"}))
    to_finetune(c)
    c.run["spec"]["suspend"] = True
    c.step()
    body = raftrun()
    body["spec"]["teacher"]["vllm"].update(tensorParallelSize=8, pipelineParallelSize=2)
    c = Recording(body, seen, served=frozenset({"PyTorchJob", "LeaderWorkerSet"}))
    c.step()
    c.set_status("LeaderWorkerSet", TEACHER,
                 {"replicas": 1, "readyReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]})
    c.step()
    c.rayjob(RAYJOB, "Complete", "SUCCEEDED")
    c.step()
    for stage, advance in [("datagen", to_datagen), ("finetune", to_finetune),
                           ("eval", lambda c: (to_eval(c), servers_up(c)))]:
        c = Recording(raftrun(), seen)
        advance(c)
        c.run["spec"]["suspend"] = True
        c.step()
        c.run["spec"]["suspend"] = False
        c.step()
        drive_to_success(c)
    spec = raftrun()["spec"]
    spec["storage"]["retentionPolicy"] = "Delete"
    c = Recording(raftrun(spec=spec), seen)
    c.step()
    c.run["spec"]["storage"]["retentionPolicy"] = "Retain"
    c.step()
    return seen


def test_the_table_lists_exactly_the_writes_the_code_makes() -> None:
    table = {(kind, verb) for kind, verbs in permissions.WRITES.items() for verb in verbs}
    applied = {(kind, verb) for kind, verb in table if child_kinds.of(kind).index}  # the Secret: server_keys
    assert exercised() == applied, "permissions.WRITES differs from what the reconciler does"


@pytest.mark.parametrize(("kind", "verb"), [("ConfigMap", "delete"), ("Role", "patch"), ("RoleBinding", "delete"),
                                            ("Job", "delete"), ("PersistentVolumeClaim", "delete")])
def test_the_applier_refuses_writes_outside_the_table(kind: str, verb: str) -> None:
    applier = Applier(api_client=object())  # never reached
    ref = Ref(kind, "x")
    with pytest.raises(PermissionError, match="permissions.WRITES"):
        {"patch": lambda: applier.patch("ns", ref, {}), "delete": lambda: applier.delete("ns", ref)}[verb]()


class NoNetwork(Applier):
    """An applier that checks permissions and sends nothing."""

    def __init__(self) -> None:
        super().__init__(api_client=object())

    def _call(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.mark.parametrize(("kind", "verb"), sorted((k, v) for k, verbs in permissions.WRITES.items() for v in verbs
                                                  if child_kinds.of(k).index))
def test_the_operator_fails_without_each_write(monkeypatch: pytest.MonkeyPatch, kind: str, verb: str) -> None:
    """Take one verb away (as a narrower chart would) and some path of the reconciler cannot be applied."""
    monkeypatch.setitem(permissions.WRITES, kind, permissions.WRITES[kind] - {verb})
    applier = NoNetwork()
    original = Recording.step

    def step_and_apply(self: Recording, seconds: float = 10) -> Plan:
        plan = original(self, seconds)
        applier.apply("team", plan)
        return plan

    monkeypatch.setattr(Recording, "step", step_and_apply)
    with pytest.raises(PermissionError, match=f"does not {verb} {kind}"):
        exercised()
