"""Preflight: before any GPU is asked for, check that what the run names exists.

The claims (corpus, existing storage, model cache), the Secrets and their keys, the storage class, the priority class and, when Kueue is
installed, the LocalQueue. A run with something missing stays Pending with the list (each item
names the field and the fix) and creates nothing; it goes on once everything is there. A check
the operator may not make (403: a namespaced install cannot read cluster-scoped classes) is
skipped: the pods then report the problem themselves.
"""

from __future__ import annotations

from typing import Any, Callable

from kubernetes.client.rest import ApiException

from raft_api.spec import ImagePullSecret, SecretKeyRef

from .permissions import KUEUE_GROUP
from .run import Run

Reader = Callable[[str], "dict[str, Any] | None"]  # GET a path; None when it does not exist (404)
# What the preflight reads (RBAC) is listed in raft_operator.permissions.


def _get(read: Reader, path: str) -> dict[str, Any] | None | bool:
    """The object, None when absent, or True when the operator may not look (403)."""
    try:
        return read(path)
    except ApiException as exc:
        if exc.status == 403:
            return True
        raise


def _claim(read: Reader, ns: str, name: str, field: str) -> list[str]:
    if _get(read, f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{name}") is None:
        return [f"PersistentVolumeClaim {name} ({field}) not found in namespace {ns}: create it or fix {field}"]
    return []


def _secret(read: Reader, ns: str, ref: SecretKeyRef | ImagePullSecret | None, field: str) -> list[str]:
    """The Secret ``ref`` names exists and, for a SecretKeyRef, has its key."""
    if not ref:
        return []
    secret = _get(read, f"/api/v1/namespaces/{ns}/secrets/{ref.name}")
    if secret is None:
        return [f"Secret {ref.name} ({field}.name) not found in namespace {ns}: create it or fix {field}.name"]
    if isinstance(ref, SecretKeyRef) and isinstance(secret, dict):
        keys = set(secret.get("data") or {}) | set(secret.get("stringData") or {})
        if ref.key not in keys:
            return [f"Secret {ref.name} has no key {ref.key} ({field}.key): add it or fix {field}.key"]
    return []


def _cluster_object(read: Reader, path: str, what: str, name: str, field: str) -> list[str]:
    if _get(read, f"{path}/{name}") is None:
        return [f"{what} {name} ({field}) not found: create it or fix {field}"]
    return []


def _queue(read: Reader, ns: str, name: str | None) -> list[str]:
    if not name:
        return []
    group = _get(read, f"/apis/{KUEUE_GROUP}")
    if group is None:
        return [f"spec.scheduling.queueName is {name} but Kueue is not installed: the jobs would wait suspended "
                "for ever; install Kueue or remove spec.scheduling.queueName"]
    if not isinstance(group, dict):
        return []
    version = (group.get("preferredVersion") or {}).get("groupVersion") or f"{KUEUE_GROUP}/v1beta1"
    if _get(read, f"/apis/{version}/namespaces/{ns}/localqueues/{name}") is None:
        return [f"Kueue LocalQueue {name} (spec.scheduling.queueName) not found in namespace {ns}: "
                "create it or fix spec.scheduling.queueName"]
    return []


def missing(run: Run, read: Reader) -> list[str]:
    """What the run names that does not exist, one line each naming the field and the fix."""
    spec, ns = run.spec, run.namespace
    out: list[str] = []
    volume = spec.corpus.volume
    if volume:
        out += _claim(read, ns, volume.claim_name, "spec.corpus.volume.claimName")
    storage = spec.storage
    if storage.existing_claim:
        out += _claim(read, ns, storage.existing_claim, "spec.storage.existingClaim")
    if storage.model_cache:
        out += _claim(read, ns, storage.model_cache.claim_name, "spec.storage.modelCache.claimName")
    if storage.storage_class_name:
        out += _cluster_object(read, "/apis/storage.k8s.io/v1/storageclasses", "StorageClass",
                               storage.storage_class_name, "spec.storage.storageClassName")
    external, judge = spec.teacher.external, spec.eval.judge
    out += _secret(read, ns, external and external.api_key_secret_ref, "spec.teacher.external.apiKeySecretRef")
    out += _secret(read, ns, judge and judge.api_key_secret_ref, "spec.eval.judge.apiKeySecretRef")
    scheduling = spec.scheduling
    out += _secret(read, ns, scheduling.hugging_face_token_secret_ref, "spec.scheduling.huggingFaceTokenSecretRef")
    for i, ref in enumerate(scheduling.image_pull_secrets or []):
        out += _secret(read, ns, ref, f"spec.scheduling.imagePullSecrets[{i}]")
    if scheduling.priority_class_name:
        out += _cluster_object(read, "/apis/scheduling.k8s.io/v1/priorityclasses", "PriorityClass",
                               scheduling.priority_class_name, "spec.scheduling.priorityClassName")
    out += _queue(read, ns, scheduling.queue_name)
    return out
