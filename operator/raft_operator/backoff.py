"""Per-run exponential backoff for reconcile errors that a retry may fix."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Backoff:
    """Delays doubling from ``base`` to ``cap`` seconds per run; one success resets the run."""

    base: float = 1.0
    cap: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, int] = field(default_factory=dict)
    _next: dict[str, float] = field(default_factory=dict)

    def ready(self, key: str) -> bool:
        """Whether ``key`` may be reconciled now (no backoff pending)."""
        return self.clock() >= self._next.get(key, 0.0)

    def failed(self, key: str) -> float:
        """Record a failure; returns the delay before the next attempt."""
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = min(self.cap, self.base * 2 ** (failures - 1))
        self._next[key] = self.clock() + delay
        return delay

    def failures(self, key: str) -> int:
        """Consecutive failures of ``key``."""
        return self._failures.get(key, 0)

    def succeeded(self, key: str) -> None:
        """Forget ``key``'s failures."""
        self._failures.pop(key, None)
        self._next.pop(key, None)
