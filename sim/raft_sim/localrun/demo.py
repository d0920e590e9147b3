"""``make demo``: one REAL RAFT run, from ``kubectl apply`` to Succeeded, on this machine.

Starts the local stack (:mod:`raft_sim.localrun.stack`), puts the real small model and this
repository's documents on two volumes, applies ``examples/local-real.yaml``, prints progress as
the run goes, and ends with the results and where the dataset, the model and the report are.
The outputs are kept (hard-linked) under ``$RAFT_CACHE/demo/<run>`` after the cluster is gone.

    python -m raft_sim.localrun.demo [--manifest FILE] [--timeout SECONDS] [--keep-cluster]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from ..cluster import REPO_ROOT, cache_dir
from .stack import RealStack, link_tree

DOCUMENTS = (REPO_ROOT / "README.md", REPO_ROOT / "docs" / "status.md")

BANNER = """\
  A REAL run: the operator, the API server and its controllers, Ray, torchrun (FSDP2 over 2 processes,
  gloo on CPU) and the datagen/finetune/eval programs all really run; each pod's containers run as
  local processes exactly as their manifests say (raft_sim.localrun.kubelet). The teacher, the judge
  and the student are SmolLM2-135M-Instruct. Standing in: `transformers serve` on CPU where a GPU
  cluster runs vLLM, and SIMULATED KubeRay / training-operator controllers that follow the real pods.
"""


def say(text: str) -> None:
    """A step heading."""
    print(f"\n\033[1;36m==> {text}\033[0m", flush=True)


def describe(status: dict[str, Any], started: float) -> str:
    """One progress line."""
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), "?")
    return (f"{time.monotonic() - started:6.0f}s  phase={status.get('phase', '-'):<15} "
            f"stage={status.get('stage', '-'):<9} ready={ready:<5} {status.get('progress', '')}")


def results_table(status: dict[str, Any]) -> str:
    """The eval results on status as a text table."""
    rows = ((status.get("results") or {}).get("models") or [])
    if not rows:
        return "(no eval results on status)"
    keys = ["model", "mode", "topK", "judgeScore", "exactMatch", "f1", "rougeL", "refusals", "total"]
    lines = [" | ".join(keys), " | ".join("---" for _ in keys)]
    for row in rows:
        cells = []
        for key in keys:
            value = row.get(key, "")
            cells.append(f"{value:.3f}" if isinstance(value, float) else str(value))
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; exit 0 when the run Succeeded."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", default=str(REPO_ROOT / "examples" / "local-real.yaml"))
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--cluster-name", default="raft-real")
    args = parser.parse_args(argv)
    manifest = yaml.safe_load(Path(args.manifest).read_text())
    name = manifest["metadata"]["name"]
    spec = manifest["spec"]
    print(BANNER)
    started = time.monotonic()
    say("Starting the local cluster with a local node, the chart and the operator")
    with RealStack(args.cluster_name) as stack:
        say(f"Volumes: the model on claim {spec['storage']['existingClaim']}, "
            f"{len(DOCUMENTS)} documents on claim {spec['corpus']['volume']['claimName']}")
        data = stack.data_claim(spec["storage"]["existingClaim"])
        stack.corpus_claim(spec["corpus"]["volume"]["claimName"], DOCUMENTS)
        say(f"kubectl apply -f {Path(args.manifest).relative_to(REPO_ROOT) if Path(args.manifest).is_relative_to(REPO_ROOT) else args.manifest}")
        applied = time.monotonic()
        stack.apply(manifest)
        status = stack.watch(name, args.timeout, on_change=lambda s: print(describe(s, applied), flush=True))
        elapsed = time.monotonic() - applied
        print(stack.cluster.kubectl("get", "raftrun", name, "-n", stack.namespace).stdout)
        if status.get("phase") != "Succeeded":
            print(json.dumps(status, indent=2))
            print(stack.pod_logs())
            print(f"the run failed after {elapsed:.0f}s; operator log: {stack.operator.log_path if stack.operator else ''}")
            return 1
        keep = cache_dir() / "demo" / name
        link_tree(data / "runs" / name, keep)
    say(f"Succeeded: {elapsed:.0f}s from kubectl apply, {time.monotonic() - started:.0f}s in all")
    print(json.dumps({k: status.get(k) for k in ("dataset", "training", "results") if status.get(k)}, indent=2))
    print("\n" + results_table(status))
    print(f"""
Outputs (kept after the cluster is gone):
  dataset  {keep / 'dataset'}   (train.jsonl, eval.jsonl, manifest.json)
  model    {keep / 'model'}     (Hugging Face checkpoint, served by the student server)
  report   {keep / 'eval' / 'report.html'}   (and results.json, plots)""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
