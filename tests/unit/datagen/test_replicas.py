"""A headless Service URL becomes one URL per teacher replica, so the pool spreads load over them."""

from __future__ import annotations

import asyncio

from raft_jobs.common.llm import LLMPool
from raft_jobs.common.replicas import replica_urls
from raft_api.runconfig import Endpoint, run_config_from_dict


def fake_dns(host: str, port: int) -> list[str]:
    table = {"demo-teacher-replicas.team.svc": ["10.0.0.7", "10.0.0.3", "10.0.0.7"], "v6.svc": ["fd00::1"]}
    if host not in table:
        raise OSError("Name or service not known")
    return sorted(set(table[host]))


def test_each_address_becomes_an_endpoint_and_unknown_names_stay() -> None:
    urls = replica_urls(["http://demo-teacher-replicas.team.svc:8000/v1", "http://v6.svc:8000/v1",
                         "http://missing.svc:8000/v1"], resolve=fake_dns)
    assert urls == ["http://10.0.0.3:8000/v1", "http://10.0.0.7:8000/v1", "http://[fd00::1]:8000/v1",
                    "http://missing.svc:8000/v1"]


def test_pool_from_a_resolving_endpoint_spreads_over_localhost_addresses() -> None:
    # "localhost" resolves to the loopback address(es) here; each becomes one replica of the pool.
    endpoint = Endpoint(endpoints=["http://localhost:8000/v1"], model="m", resolveReplicas=True)
    pool = LLMPool.from_endpoint(endpoint)
    try:
        assert pool.endpoints and all("localhost" not in u for u in pool.endpoints)
        assert all(u.endswith(":8000/v1") for u in pool.endpoints)
        plain = LLMPool.from_endpoint(Endpoint(endpoints=["http://localhost:8000/v1"], model="m"))
        assert plain.endpoints == ["http://localhost:8000/v1"]
        asyncio.run(plain.close())
    finally:
        asyncio.run(pool.close())


def test_run_config_carries_the_flag() -> None:
    cfg = run_config_from_dict({"apiVersion": "raftoperator.io/v1alpha1", "kind": "RunConfig",
                                "teacher": {"endpoints": ["http://t:8000/v1"], "model": "m", "resolveReplicas": True}})
    assert cfg.teacher.resolve_replicas is True
