"""Where a run's files live: the mount points of its pods, run.yaml, and the folders below its root.

The operator mounts and names these paths, the programs read and write them, and the simulators
and benchmarks stand in for the programs; all of them take the paths from here. Every path is a
POSIX string: the operator writes them into manifests as they are, the programs wrap them in
:class:`pathlib.Path`.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

# Mount points in every workload pod.
DATA_MOUNT = "/data"  # the run's volume
CORPUS_MOUNT = "/corpus"  # a volume corpus, read-only
CONFIG_MOUNT = "/etc/raft"  # ConfigMap <run>-config

# run.yaml: its key in ConfigMap <run>-config, and where pods find it.
RUN_CONFIG_KEY = "run.yaml"
RUN_CONFIG_PATH = f"{CONFIG_MOUNT}/{RUN_CONFIG_KEY}"

RUNS_FOLDER = "runs"  # on the run's volume: one folder per run, its root

# Folders below a run's root.
DATASET_DIR = "dataset"
CHECKPOINTS_DIR = "checkpoints"
MODEL_DIR = "model"
EVAL_DIR = "eval"
CACHE_DIR = "cache"

# Files in dataset/: datagen writes them, finetune reads the splits, eval the questions and chunks.
SPLIT_FILES = {"train": "train.jsonl", "validation": "validation.jsonl"}
HF_DATASET_DIR = "hf"  # the same splits as a Hugging Face DatasetDict
EVAL_QUESTIONS_FILE = "eval.jsonl"
CHUNKS_FILE = "chunks.jsonl"
MANIFEST_FILE = "manifest.json"

# Files in eval/: eval writes them; status.results.reportPath names report.html.
RESULTS_FILE = "results.json"
ANSWERS_FILE = "answers.jsonl"
REPORT_MD_FILE = "report.md"
REPORT_HTML_FILE = "report.html"


def run_root(run_name: str) -> str:
    """The root of run ``run_name`` on its volume, as mounted in the run's pods."""
    return f"{DATA_MOUNT}/{RUNS_FOLDER}/{run_name}"


@dataclass(frozen=True)
class RunLayout:
    """The folders and files below one run's ``root``; every program writes only there."""

    root: str

    @classmethod
    def of_run(cls, run_name: str) -> RunLayout:
        """The layout of run ``run_name`` on its volume (root :func:`run_root`)."""
        return cls(run_root(run_name))

    def _below(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    @property
    def dataset(self) -> str:
        """datagen's output: the splits, hf/, eval.jsonl, chunks.jsonl, manifest.json, shards/."""
        return self._below(DATASET_DIR)

    @property
    def checkpoints(self) -> str:
        """finetune's distributed checkpoints (resumable)."""
        return self._below(CHECKPOINTS_DIR)

    @property
    def model(self) -> str:
        """finetune's final Hugging Face checkpoint, served by vLLM for eval."""
        return self._below(MODEL_DIR)

    @property
    def eval(self) -> str:
        """eval's results, answers, reports and plots."""
        return self._below(EVAL_DIR)

    @property
    def results(self) -> str:
        """eval's ``results.json``."""
        return self._below(EVAL_DIR, RESULTS_FILE)

    @property
    def report_html(self) -> str:
        """eval's self-contained HTML report."""
        return self._below(EVAL_DIR, REPORT_HTML_FILE)

    @property
    def huggingface_cache(self) -> str:
        """``HF_HOME`` of the run's pods."""
        return self._below(CACHE_DIR, "huggingface")

    @property
    def vllm_cache(self) -> str:
        """``VLLM_CACHE_ROOT`` of the run's model servers."""
        return self._below(CACHE_DIR, "vllm")

    @property
    def xdg_cache(self) -> str:
        """``XDG_CACHE_HOME`` of the run's model servers."""
        return self._below(CACHE_DIR, "xdg")
