"""The one error type the finetune program reports without a traceback."""

from __future__ import annotations


class FinetuneError(RuntimeError):
    """A problem with the run's inputs (dataset, tokenizer, config) that the user must fix.

    ``python -m raft_jobs.finetune`` logs its message and exits with status 2, a permanent
    failure for a PyTorchJob with ``restartPolicy: ExitCode`` (restarting would not help).
    """
