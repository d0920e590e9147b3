"""``make demo``: one REAL RAFT run, from ``kubectl apply`` to Succeeded, on this machine.

Starts the local stack (:mod:`raft_dev.localrun.stack`), puts the real small model and this
repository's documents on two volumes, applies ``examples/local-real.yaml``, prints progress as
the run goes, and ends with the results and where the dataset, the model and the report are.
The outputs are kept (hard-linked) under ``$RAFT_CACHE/demo/<run>`` after the cluster is gone.

    python -m raft_dev.localrun.demo [--manifest FILE] [--timeout SECONDS] [--teardown]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from raft_api.layout import RUNS_FOLDER, RunLayout

from ..cluster import REPO_ROOT, cache_dir
from .stack import RealStack, link_tree

DOCUMENTS = (REPO_ROOT / "README.md", REPO_ROOT / "docs" / "status.md")

BANNER = """\
  A REAL run on a real node: containerd, kubelet, kube-proxy, a pod network and CoreDNS; the operator
  (the chart's pod), the API server and its controllers, the real KubeRay, Kubeflow Trainer with
  JobSet, training operator, LeaderWorkerSet and Kueue, Ray, torchrun (FSDP2 over 2 processes, gloo
  on CPU) and the datagen/finetune/eval programs all really run, every pod a container of an image
  built here. The judge and the student are SmolLM2-135M-Instruct. Standing in: a vLLM image that
  runs `transformers serve` on CPU behind vLLM's command line, and the SIMULATED teacher.
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


def record(folder: Path, outputs: Path, status: dict[str, Any], elapsed: float, total: float) -> None:
    """The committed example output: summary.md (numbers from status) and the eval plots."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for plot in sorted(Path(RunLayout(str(outputs)).eval).glob("*.png")):
        shutil.copy(plot, folder / plot.name)
    numbers = {k: status.get(k) for k in ("datagen", "training") if status.get(k)}
    (folder / "summary.md").write_text(
        f"# A real local run (`make demo`)\n\n{elapsed:.0f} s from `kubectl apply` to Succeeded, "
        f"{total:.0f} s with the cluster's start, on this machine.\n\n"
        f"## Status numbers\n\n```json\n{json.dumps(numbers, indent=2)}\n```\n\n"
        f"## Eval results (status.results)\n\n{results_table(status)}\n")


def main(argv: list[str] | None = None) -> int:
    """Run the demo; exit 0 when the run Succeeded."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", default=str(REPO_ROOT / "examples" / "local-real.yaml"))
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--cluster-name", default="raft-real")
    parser.add_argument("--record", help="also write the summary (summary.md) and the eval plots to this folder")
    parser.add_argument("--teardown", action="store_true", help="stop the cluster at the end instead of keeping it")
    args = parser.parse_args(argv)
    manifest = yaml.safe_load(Path(args.manifest).read_text())
    name = manifest["metadata"]["name"]
    spec = manifest["spec"]
    print(BANNER)
    started = time.monotonic()
    say("Starting the local cluster with a real node, the images, the chart and the operator pod")
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
            print(f"the run failed after {elapsed:.0f}s; operator log:\n{stack.operator.log_tail() if stack.operator else ''}")
            return 1
        keep = cache_dir() / "demo" / name
        link_tree(data / RUNS_FOLDER / name, keep)
        kubeconfig = stack.keep() if not args.teardown else None
    total = time.monotonic() - started
    say(f"Succeeded: {elapsed:.0f}s from kubectl apply, {total:.0f}s in all")
    if args.record:
        record(Path(args.record), keep, status, elapsed, total)
    print(json.dumps({k: status.get(k) for k in ("dataset", "training", "results") if status.get(k)}, indent=2))
    print("\n" + results_table(status))
    kept = RunLayout(str(keep))
    print(f"""
Outputs (kept after the cluster is gone):
  dataset  {kept.dataset}   (train.jsonl, eval.jsonl, manifest.json)
  model    {kept.model}     (Hugging Face checkpoint, served by the student server)
  report   {kept.report_html}   (and results.json, plots)""")
    if kubeconfig is not None:
        print(f"""
The cluster keeps running (the real node, the operator pod, the finished run):
  export KUBECONFIG={kubeconfig}
  kubectl get raftrun {name} -o yaml                       # the full status
  kubectl get pods -A -o wide                             # containers on the real node, CoreDNS
  kubectl -n raft-system logs deploy/raft-operator        # the operator
Tear down:  hack/cluster/down.sh --name {args.cluster_name}""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
