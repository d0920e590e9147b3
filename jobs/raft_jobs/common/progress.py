"""The progress channel from the workload programs back to the operator.

Each program owns one key of the run's progress ConfigMap (``<run>-progress``): ``datagen``,
``finetune`` or ``eval``, holding one JSON object. The run's ServiceAccount may ``get`` and
``patch`` that ConfigMap and nothing else (a Role limited by ``resourceNames``). The operator
folds the keys into the RaftRun status.

Outside a cluster (no ServiceAccount token) or without ``progress.configMap`` the reporter
only logs, so every program runs unchanged on a laptop. A failed report is logged and
dropped: progress must never fail a run.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from raft_api.progress import STAGE_KEYS, Report, encode_report
from raft_api.runconfig import ProgressConfig

log = logging.getLogger(__name__)

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ProgressReporter:
    """Throttled writer of one stage's progress object into the run's progress ConfigMap."""

    def __init__(
        self,
        stage: str,
        config: ProgressConfig | None,
        *,
        api_server: str | None = None,
        token: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        if stage not in STAGE_KEYS:
            raise ValueError(f"stage must be one of {STAGE_KEYS}, got {stage!r}")
        self.stage = stage
        self.config = config or ProgressConfig()
        self._lock = threading.Lock()
        self._last_sent = 0.0
        self._api_server = api_server or _in_cluster_api_server()
        self._token = token or _read(SA_DIR / "token")
        self._ca_file = ca_file or (str(SA_DIR / "ca.crt") if (SA_DIR / "ca.crt").exists() else None)

    @property
    def enabled(self) -> bool:
        """True when reports go to a ConfigMap (in a cluster, with a channel configured)."""
        return bool(self.config.config_map and self._api_server and self._token)

    def report(self, payload: Report, *, force: bool = False) -> bool:
        """Send ``payload`` unless the last send was under ``intervalSeconds`` ago.

        The payload is written as its stage's report type (``raft_api.progress``): fields outside
        it, missing values and non-finite numbers are left out. ``force`` sends regardless (use
        it for the final report). Returns whether it was sent.
        """
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last_sent < self.config.interval_seconds:
                return False
            self._last_sent = now
        text = encode_report(self.stage, payload)
        log.info("progress %s: %s", self.stage, text)
        if not self.enabled:
            return False
        try:
            self._patch({"data": {self.stage: text}})
            return True
        except Exception as exc:  # noqa: BLE001 - progress is best effort by design
            log.warning("progress report for %s not sent: %s", self.stage, exc)
            return False

    def _patch(self, patch: dict[str, Any]) -> None:
        namespace = self.config.namespace or _read(SA_DIR / "namespace") or "default"
        url = f"{self._api_server}/api/v1/namespaces/{namespace}/configmaps/{self.config.config_map}"
        request = urllib.request.Request(
            url,
            data=json.dumps(patch).encode(),
            method="PATCH",
            headers={
                "Authorization": f"Bearer {self._token}",
                "Content-Type": "application/merge-patch+json",
                "Accept": "application/json",
            },
        )
        context = ssl.create_default_context(cafile=self._ca_file) if self._ca_file else None
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            response.read()


def _in_cluster_api_server() -> str | None:
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        return None
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"https://{host}:{port}"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
