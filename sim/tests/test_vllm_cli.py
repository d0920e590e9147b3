"""The vLLM stand-in of the development images (raft_sim.vllm_cli): the operator's `vllm serve`
command line, served by `transformers serve` on CPU or by the SIMULATED teacher."""

from __future__ import annotations

import pytest

from raft_operator.builders import vllm_server
from raft_sim.vllm_cli import NotAServerCommand, command, is_vllm_server, vllm_options


def operator_argv(served: str = "run-student", model: str = "/data/models/m") -> list[str]:
    """The arguments the operator gives `vllm serve` (after the image's `vllm` executable)."""
    server = vllm_server.VllmServer(
        name="s", component="student", model=model, served_model_name=served, replicas=1, gpus=1,
        tensor_parallel_size=1, max_model_len=8192, gpu_memory_utilization=0.9, shm_size="1Gi",
        image="localhost/raft-operator/vllm-standin:local", startup_timeout_seconds=300)
    return [*vllm_server.COMMAND[1:], *vllm_server.args(server)]


def test_the_operators_command_line_becomes_transformers_serve_under_the_served_name():
    argv, links = command(operator_argv(), "transformers")
    assert argv[:3] == ["transformers", "serve", "run-student"]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert argv[argv.index("--port") + 1] == "8000"
    assert links == {"run-student": "/data/models/m"}


def test_a_served_name_equal_to_the_model_needs_no_link():
    argv, links = command(operator_argv(served="/data/m", model="/data/m"), "transformers")
    assert links == {} and argv[2] == "/data/m"


def test_the_simulated_teacher_serves_the_served_name():
    argv, links = command(operator_argv(served="teacher"), "simulated")
    assert argv[1:3] == ["-m", "raft_sim.vllm_server"] and links == {}
    assert argv[argv.index("--served-model-name") + 1] == "teacher"


def test_the_api_server_module_form_is_read_too():
    argv = ["python3", "-m", "vllm.entrypoints.openai.api_server", "--model", "/data/m", "--port=9000"]
    assert is_vllm_server(argv)
    assert vllm_options(argv)["port"] == "9000" and vllm_options(argv)["model"] == "/data/m"
    assert not is_vllm_server(["python3", "-c", "print(1)"])


def test_a_command_without_a_model_or_an_unknown_stand_in_is_refused():
    with pytest.raises(NotAServerCommand, match="without a model"):
        command(["serve", "--port", "8000"], "transformers")
    with pytest.raises(NotAServerCommand, match="expected"):
        command(operator_argv(), "something-else")
