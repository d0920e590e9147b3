"""Names shared by every part of the operator: the RaftRun API, labels, child names, phases."""

from __future__ import annotations

# Where workloads find things: defined once in raft_api.layout, named here for the operator's modules.
from raft_api.layout import CONFIG_MOUNT, CORPUS_MOUNT, DATA_MOUNT, RUN_CONFIG_KEY, RUN_CONFIG_PATH, RunLayout, run_root

GROUP = "raftoperator.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "RaftRun"
PLURAL = "raftruns"

MANAGER = "raft-operator"  # app.kubernetes.io/managed-by of every child (the applier POSTs and merge-PATCHes)
RUN_LABEL = f"{GROUP}/run"
# The Kueue LocalQueue of a child: set by the builders from spec.scheduling.queueName, or by Kueue's
# webhook in a namespace with a LocalQueue named "default". Either way Kueue admits the child.
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"

# Phases of status.phase outside the stages, and status.stage once every stage finished; each
# stage's own names are raft_api.status.STAGE_NAMES.
from raft_api.status import DONE, FAILED, PENDING, RUN_CONDITIONS, SUCCEEDED, SUSPENDED  # noqa: E402

TERMINAL_PHASES = frozenset({SUCCEEDED, FAILED})

# Condition types (status.conditions[].type) of the whole run; each stage names its own.
READY, SUCCEEDED_CONDITION, STALLED, RECONCILING = RUN_CONDITIONS  # Reconciling (kstatus): True while a stage runs
KUEUE_DEADLINES = "KueueDeadlines"  # a queued run's start-up deadlines fit Kueue's waitForPodsReady timeout
ADDONS_COMPATIBLE = "AddonsCompatible"  # the add-ons the run uses serve every field it sets

SERVER_PORT = 8000  # every model server's HTTP port


class ChildNames:
    """Deterministic names of a run's children (see docs/architecture.md)."""

    def __init__(self, run_name: str) -> None:
        self.run = run_name
        self.service_account = f"{run_name}-workload"
        self.progress = f"{run_name}-progress"
        self.config = f"{run_name}-config"
        self.pvc = f"{run_name}-data"
        self.teacher = f"{run_name}-teacher"
        self.teacher_replicas = f"{run_name}-teacher-replicas"  # headless: one address per ready pod
        self.datagen = f"{run_name}-datagen"
        self.finetune = f"{run_name}-finetune"
        self.serve_student = f"{run_name}-serve-student"
        self.serve_base = f"{run_name}-serve-base"
        self.eval = f"{run_name}-eval"
