"""Carry out a plan against the API server: create-if-absent, merge patches, deletes."""

from __future__ import annotations

import json
import logging
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from . import adoption, child_kinds, metrics, permissions
from .errors import PERMANENT_ON_CREATE, PERMANENT_ON_WRITE, refused
from .plan import Plan, Ref

log = logging.getLogger(__name__)

class Applier:
    """Sends a plan's writes with one API client."""

    def __init__(self, api_client: client.ApiClient | None = None) -> None:
        self.api = api_client or client.ApiClient()

    def _call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if not hasattr(self.api, "param_serialize"):  # clients from the older OpenAPI generator
            return self.api.call_api(
                path, method, header_params=headers, body=body, response_type="object",
                auth_settings=["BearerToken"], _return_http_data_only=True, _preload_content=True,
            )
        # Newer clients: call_api() only sends; auth, URL and errors are the caller's.
        method, url, headers, body, _ = self.api.param_serialize(
            method, path, header_params=headers, body=body, auth_settings=["BearerToken"])
        response = self.api.call_api(method, url, header_params=headers, body=body)
        response.read()
        if not 200 <= response.status <= 299:
            raise ApiException(http_resp=response)
        return json.loads(response.data) if response.data else None

    def read(self, path: str) -> dict[str, Any] | None:
        """GET ``path``; None when it does not exist (404)."""
        try:
            return self._call("GET", path)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, namespace: str, manifest: dict[str, Any]) -> None:
        """POST. A name already taken (409) is fine only when that object is this run's child
        (:mod:`raft_operator.adoption`); a refusal no retry changes raises PermanentError."""
        permissions.require(manifest["kind"], permissions.CREATE)
        path = child_kinds.of(manifest["kind"]).collection_path(namespace)
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        metrics.API_WRITES.labels("create", kind).inc()
        try:
            self._call("POST", path, manifest)
            log.info("created %s/%s", kind, name)
        except ApiException as exc:
            if exc.status != 409:
                raise refused("creating", kind, name, exc, PERMANENT_ON_CREATE) from None
            permissions.require(kind, permissions.GET)
            existing = self.read(f"{path}/{name}")
            if existing is None:
                raise  # deleted meanwhile: the next pass creates it
            adoption.check(existing, manifest)

    def patch(self, namespace: str, ref: Ref, patch: dict[str, Any]) -> None:
        """JSON merge patch."""
        permissions.require(ref.kind, permissions.PATCH)
        path = f"{child_kinds.of(ref.kind).collection_path(namespace)}/{ref.name}"
        metrics.API_WRITES.labels("patch", ref.kind).inc()
        try:
            self._call("PATCH", path, patch, "application/merge-patch+json")
            log.info("patched %s/%s %s", ref.kind, ref.name, json.dumps(patch, sort_keys=True))
        except ApiException as exc:
            raise refused("patching", ref.kind, ref.name, exc, PERMANENT_ON_WRITE) from None

    def delete(self, namespace: str, ref: Ref) -> None:
        """DELETE with background propagation; an object already gone (404) is fine."""
        permissions.require(ref.kind, permissions.DELETE)
        path = f"{child_kinds.of(ref.kind).collection_path(namespace)}/{ref.name}"
        metrics.API_WRITES.labels("delete", ref.kind).inc()
        try:
            self._call("DELETE", path, {"propagationPolicy": "Background"})
        except ApiException as exc:
            if exc.status != 404:
                raise refused("deleting", ref.kind, ref.name, exc, PERMANENT_ON_WRITE) from None

    def apply(self, namespace: str, plan: Plan) -> None:
        """Every write of the plan, creates first (children before the things that use them)."""
        for manifest in plan.create:
            self.create(namespace, manifest)
        for ref, patch in plan.patch:
            self.patch(namespace, ref, patch)
        for ref in plan.delete:
            self.delete(namespace, ref)


def status_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A merge patch turning status ``old`` into ``new`` (None deletes a key); empty when equal."""
    patch: dict[str, Any] = {}
    for key in set(old) | set(new):
        if key not in new:
            patch[key] = None
        elif json.dumps(old.get(key), sort_keys=True) != json.dumps(new[key], sort_keys=True):
            patch[key] = new[key]
    return patch
