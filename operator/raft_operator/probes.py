"""The teacher readiness check: a one-token completion, the way a client would use the server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from . import api
from .builders.common import Run
from .settings import Settings


def teacher_completion(run: Run, settings: Settings) -> tuple[bool, str]:
    """POST /v1/completions with max_tokens=1 to the teacher Service; (ok, detail)."""
    base = settings.endpoint_url_template.format(service=run.names.teacher, namespace=run.namespace,
                                                 port=api.SERVER_PORT).rstrip("/")
    model = run.spec["teacher"]["vllm"]["model"]
    body = json.dumps({"model": model, "prompt": "Hello", "max_tokens": 1, "temperature": 0}).encode()
    request = urllib.request.Request(f"{base}/v1/completions", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=settings.probe_timeout) as response:
            payload = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code} from {base}: {exc.read()[:200].decode(errors='replace')}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return False, f"{base}: {exc}"
    if not payload.get("choices"):
        return False, f"{base}: the completion had no choices"
    return True, "ok"
