"""Record the real controllers for ``tests/fixtures/recordings`` (``python -m raft_sim.localrun.record``).

On the real stack (:class:`~raft_sim.localrun.stack.RealStack`: real node, real KubeRay, Trainer
with JobSet, training operator and Kueue), the recorder (:mod:`raft_sim.recording`) follows the
children of real runs and of a RayJob KubeRay refuses:

* ``run-trainjob.json``: a run's RayJob and TrainJob (with its JobSet), both succeeding;
* ``run-pytorchjob.json``: the same run on the training operator's PyTorchJob;
* ``rayjob-entrypoint-failed.json``: a run whose datagen entrypoint exits non-zero (an empty
  corpus), replayed with the simulators' datagen failure;
* ``rayjob-validation-failed.json``: the run's RayJob under a name longer than KubeRay's 47
  characters, created directly.

The runs are those of ``tests/realrun`` (:func:`manifest`), so the recorded manifests are the
operator's own.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from ..cluster import REPO_ROOT
from .stack import RealStack

RECORDINGS = REPO_ROOT / "tests" / "fixtures" / "recordings"


def record(stack: RealStack, out: Path, kinds: str, expect: str, start, replay: Sequence[str] = (),
           timeout: float = 1500) -> None:
    """Record ``kinds`` in the stack's namespace into ``out`` while ``start()`` creates the objects."""
    args = [sys.executable, "-m", "raft_sim.recording", "--kubeconfig", str(stack.cluster.kubeconfig),
            "--namespace", stack.namespace, "--kinds", kinds, "--expect", expect, "--out", str(out),
            "--until-terminal", "--timeout", str(timeout)]
    for annotation in replay:
        args += ["--replay-annotation", annotation]
    recorder = subprocess.Popen(args)
    time.sleep(3)  # the recorder lists and watches before the first object exists
    start()
    if recorder.wait(timeout=timeout + 60) != 0:
        raise RuntimeError(f"the recording {out.name} stopped before every object ended")


def run_body(name: str, training_api: str, corpus: str = "rec-docs") -> dict:
    """The smallest real run (the one tests/realrun applies), on the given corpus claim; no
    retries on another corpus than the documents (that run fails by design)."""
    sys.path.insert(0, str(REPO_ROOT / "tests" / "realrun"))
    from realrun_support import manifest  # noqa: PLC0415 - the tests' own manifest, one home

    body = manifest(name, training_api)
    body["spec"]["corpus"] = {"volume": {"claimName": corpus}}
    body["spec"]["storage"] = {"existingClaim": "rec-data"}
    if corpus != "rec-docs":
        body["spec"]["failurePolicy"] = {"backoffLimit": 0}
    return body


def main(argv: list[str] | None = None) -> int:
    """Record every scenario of the module docstring (about 15 minutes on 2 cores)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RECORDINGS)
    parser.add_argument("--only", default="", help="comma-separated file stems to record (default: all)")
    args = parser.parse_args(argv)
    only = {s for s in args.only.split(",") if s}
    args.out.mkdir(parents=True, exist_ok=True)
    with RealStack("raft-record") as stack:
        stack.data_claim("rec-data")
        stack.corpus_claim("rec-docs", [REPO_ROOT / "docs" / "status.md"])
        stack.corpus_claim("rec-empty", [])

        def run(name: str, training_api: str, corpus: str = "rec-docs"):
            def start() -> None:
                stack.apply(run_body(name, training_api, corpus))
            return start

        scenarios = [
            ("run-trainjob", "RayJob,TrainJob,JobSet", "RayJob,TrainJob", run("rec", "TrainJob"), ()),
            ("run-pytorchjob", "RayJob,PyTorchJob", "RayJob,PyTorchJob", run("rec-legacy", "PyTorchJob"), ()),
            ("rayjob-entrypoint-failed", "RayJob", "RayJob", run("rec-fail", "TrainJob", "rec-empty"),
             ("sim.raftoperator.io/fail=datagen",)),
        ]
        for stem, kinds, expect, start, replay in scenarios:
            if not only or stem in only:
                record(stack, args.out / f"{stem}.json", kinds, expect, start, replay)
        if not only or "rayjob-validation-failed" in only:
            rayjob = stack.cluster.kubectl_json("get", "rayjob", "rec-datagen", "-n", stack.namespace)
            invalid = copy.deepcopy({k: rayjob[k] for k in ("apiVersion", "kind", "spec")})
            invalid["metadata"] = {"name": "a-rayjob-name-longer-than-kuberay-allows-48chars",
                                   "namespace": stack.namespace}
            record(stack, args.out / "rayjob-validation-failed.json", "RayJob", "RayJob",
                   lambda: stack.cluster.apply(invalid), timeout=120)
    print(json.dumps(sorted(p.name for p in args.out.glob("*.json"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
