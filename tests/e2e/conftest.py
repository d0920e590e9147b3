"""End-to-end fixtures: the session's one simulated local cluster (:mod:`raft_dev.shared_cluster`,
the fixture ``cluster``, shared with sim/tests), the chart installed with the real helm, the
operator running as a local process with the chart ServiceAccount's token."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from operator_process import OperatorProcess, install, run_operator  # noqa: E402
from raft_dev.shared_cluster import VLLM_PORT  # noqa: E402
from raft_dev.storage import corpus_claim  # noqa: E402

# The shared cluster serves TrainJob as well as PyTorchJob, so trainingApi auto would pick TrainJob;
# these tests were written for the PyTorchJob path and name it (test_trainjob.py walks auto).
TRAINING_API = {"student.trainingApi": "PyTorchJob"}
_namespaces = itertools.count()


@pytest.fixture(scope="session")
def installed(cluster):
    """The chart installed with the real helm (CRDs, RBAC, ServiceAccount, peering)."""
    return install(cluster)


@pytest.fixture(scope="session")
def operator(installed, tmp_path_factory):
    """The operator process (restartable by tests), stopped at the end of the session."""
    yield from run_operator(installed, VLLM_PORT, tmp_path_factory.mktemp("operator"))


class Runs:
    """Helpers to create RaftRuns in a fresh namespace and watch them."""

    def __init__(self, cluster, operator: OperatorProcess, namespace: str) -> None:
        self.cluster, self.operator, self.namespace = cluster, operator, namespace

    def create(self, name: str, spec_overrides: dict[str, Any] | None = None, annotations: dict[str, str] | None = None,
               base: str = "demo.yaml") -> dict[str, Any]:
        """Apply ``examples/<base>`` as ``name`` with ``spec_overrides`` (dotted path → value) on top
        of :data:`TRAINING_API`."""
        body = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples" / base).read_text())
        body["metadata"] = {"name": name, "namespace": self.namespace,
                            "annotations": {**body["metadata"].get("annotations", {}), **(annotations or {})}}
        for path, value in {**TRAINING_API, **(spec_overrides or {})}.items():
            node = body["spec"]
            keys = path.split(".")
            for k in keys[:-1]:
                node = node.setdefault(k, {})
            node[keys[-1]] = value
        self.cluster.apply(body)
        return body

    def get(self, name: str) -> dict[str, Any]:
        return self.cluster.kubectl_json("get", "raftrun", name, "-n", self.namespace)

    def status(self, name: str) -> dict[str, Any]:
        return self.get(name).get("status") or {}

    def condition(self, name: str, ctype: str) -> dict[str, Any]:
        return next((c for c in self.status(name).get("conditions", []) if c["type"] == ctype), {})

    def wait_phase(self, name: str, *phases: str, timeout: float = 180) -> dict[str, Any]:
        def reached():
            status = self.status(name)
            return status if status.get("phase") in phases else None
        try:
            return self.cluster.wait_for(reached, timeout=timeout, interval=0.5,
                                         message=f"{name} did not reach {phases}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; status={json.dumps(self.status(name))[:2000]}\n"
                               f"operator log:\n{self.operator.log_tail()}") from None

    def wait_at_rest(self, name: str, timeout: float = 120) -> dict[str, Any]:
        """Wait until the run's Reconciling condition is False: an ended run may spend one pass
        Reconciling=True (reason Releasing) after its phase is written."""
        def rested():
            status = self.status(name)
            reconciling = next((c for c in status.get("conditions", []) if c["type"] == "Reconciling"), {})
            return status if reconciling.get("status") == "False" else None
        return self.cluster.wait_for(rested, timeout=timeout, interval=0.5, message=f"{name} did not come to rest")

    def children(self, kind: str, name: str) -> list[dict[str, Any]]:
        return self.cluster.kubectl_json("get", kind, "-n", self.namespace, "-l", f"raftoperator.io/run={name}")["items"]

    def events(self, name: str) -> list[dict[str, Any]]:
        return self.cluster.kubectl_json("get", "events", "-n", self.namespace,
                                         "--field-selector", f"involvedObject.name={name},involvedObject.kind=RaftRun")["items"]

    def until(self, predicate: Callable[[], Any], timeout: float = 120, message: str = "condition") -> Any:
        return self.cluster.wait_for(predicate, timeout=timeout, interval=0.5, message=message)


@pytest.fixture
def runs(installed, operator) -> Runs:
    """A fresh namespace with a corpus claim, for the RaftRuns of one test."""
    namespace = f"e2e-{next(_namespaces)}"
    installed.kubectl("create", "namespace", namespace)
    installed.apply(corpus_claim("demo-docs", namespace))
    return Runs(installed, operator, namespace)
