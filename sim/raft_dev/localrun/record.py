"""Record the real controllers for ``tests/fixtures/recordings`` (``python -m raft_dev.localrun.record``).

On the real stack (:class:`~raft_dev.localrun.stack.RealStack`: real node, real KubeRay, Trainer
with JobSet, training operator and Kueue), the recorder (:mod:`raft_sim.recording`) follows the
children of real runs and of a RayJob KubeRay refuses:

* ``run-trainjob.json``: a run's RayJob and TrainJob (with its JobSet), both succeeding;
* ``run-pytorchjob.json``: the same run on the training operator's PyTorchJob;
* ``rayjob-entrypoint-failed.json``: a run whose datagen entrypoint exits non-zero (an empty
  corpus), replayed with the simulators' datagen failure;
* ``rayjob-validation-failed.json``: the run's RayJob under a name longer than KubeRay's 47
  characters, created directly;
* ``leaderworkerset-available.json``: a group of two pods (leader and worker) of the node's pause
  image, becoming Available (no run of this stack uses a multi-node teacher).

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

from ..cluster import REPO_ROOT, pinned_versions
from .stack import RealStack

RECORDINGS = REPO_ROOT / "tests" / "fixtures" / "recordings"
K8S_VERSION = pinned_versions()["K8S_VERSION"]  # the node's pause image is tagged with it


def record(stack: RealStack, out: Path, kinds: str, expect: str, prefix: str, start, replay: Sequence[str] = (),
           timeout: float = 1500) -> None:
    """Record ``kinds`` named ``prefix*`` in the stack's namespace into ``out`` while ``start()`` creates them."""
    args = [sys.executable, "-m", "raft_sim.recording", "--kubeconfig", str(stack.cluster.kubeconfig),
            "--namespace", stack.namespace, "--kinds", kinds, "--expect", expect, "--out", str(out),
            "--name-prefix", prefix, "--until-terminal", "--timeout", str(timeout)]
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


def pause_group(namespace: str) -> dict:
    """A LeaderWorkerSet of one group of two pause containers."""
    pod = {"spec": {"containers": [{"name": "pause", "image": f"localhost/raft-operator/pause:{K8S_VERSION}",
                                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}
    return {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
            "metadata": {"name": "rec-group", "namespace": namespace},
            "spec": {"replicas": 1, "leaderWorkerTemplate": {"size": 2, "workerTemplate": pod}}}


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

        scenarios = [  # file, kinds, kinds that must appear, run name, how it starts, replay annotations
            ("run-trainjob", "RayJob,TrainJob,JobSet", "RayJob,TrainJob", "rec-tj", run("rec-tj", "TrainJob"), ()),
            ("run-pytorchjob", "RayJob,PyTorchJob", "RayJob,PyTorchJob", "rec-pt", run("rec-pt", "PyTorchJob"), ()),
            ("rayjob-entrypoint-failed", "RayJob", "RayJob", "rec-fail", run("rec-fail", "TrainJob", "rec-empty"),
             ("sim.raftoperator.io/fail=datagen", "sim.raftoperator.io/datagen-duration-seconds=0")),
        ]
        for stem, kinds, expect, name, start, replay in scenarios:
            if not only or stem in only:
                record(stack, args.out / f"{stem}.json", kinds, expect, f"{name}-", start, replay)
        if not only or "rayjob-validation-failed" in only:
            stack.apply(run_body("rec-v", "TrainJob"))  # its RayJob's spec, under another name
            stack.cluster.wait_for(lambda: stack.cluster.kubectl(
                "get", "rayjob", "rec-v-datagen", "-n", stack.namespace, check=False).returncode == 0,
                timeout=300, interval=2, message="rec-v's RayJob")
            rayjob = stack.cluster.kubectl_json("get", "rayjob", "rec-v-datagen", "-n", stack.namespace)
            invalid = copy.deepcopy({k: rayjob[k] for k in ("apiVersion", "kind", "spec")})
            invalid["metadata"] = {"name": "a-rayjob-name-longer-than-kuberay-allows-48chars",
                                   "namespace": stack.namespace}
            record(stack, args.out / "rayjob-validation-failed.json", "RayJob", "RayJob", "a-rayjob-",
                   lambda: stack.cluster.apply(invalid), timeout=120)
        if not only or "leaderworkerset-available" in only:
            record(stack, args.out / "leaderworkerset-available.json", "LeaderWorkerSet", "LeaderWorkerSet", "rec-group",
                   lambda: stack.cluster.apply(pause_group(stack.namespace)), timeout=300)
    print(json.dumps(sorted(p.name for p in args.out.glob("*.json"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
