"""The image table of local runs: which local program stands for which image."""

from __future__ import annotations

import pytest

from raft_sim.localrun.images import (IMAGE_PROFILE, ImageNotAvailable, is_vllm_server, local_program, repository,
                                      vllm_options)
from raft_sim.localrun.kubelet import expand


def test_repository_is_the_last_path_part_without_tag_or_digest():
    assert repository("ghcr.io/raft-operator/datagen:0.1.0") == "datagen"
    assert repository("vllm/vllm-openai@sha256:abc") == "vllm-openai"
    assert repository("localhost:5000/x/eval") == "eval"


def test_project_images_run_their_own_command_with_the_projects_python_first():
    program = local_program("ghcr.io/raft-operator/trainer:1", ["/bin/sh", "-c", "exec torchrun -m x"], "127.0.1.9")
    assert program.argv == ["/bin/sh", "-c", "exec torchrun -m x"]
    assert program.env["PATH"].split(":")[0].endswith("bin")
    assert program.files == {"/etc/profile": IMAGE_PROFILE}


@pytest.mark.parametrize("argv", [
    ["vllm", "serve", "/data/models/m", "--served-model-name", "run-student", "--port", "8000", "--max-model-len", "8192"],
    ["python3", "-m", "vllm.entrypoints.openai.api_server", "--model", "/data/models/m",
     "--served-model-name", "run-student", "--port=8000", "--tensor-parallel-size", "2"],
])
def test_vllm_becomes_transformers_serve_on_the_pod_address_under_the_served_name(argv):
    program = local_program("vllm/vllm-openai:v0.33.0", argv, "127.0.1.7")
    assert program.argv[1:5] == ["serve", "run-student", "--host", "127.0.1.7"]
    assert program.argv[program.argv.index("--port") + 1] == "8000"
    assert program.links == {"run-student": "/data/models/m"}
    assert program.env["OMP_NUM_THREADS"] == "1"


def test_a_served_name_equal_to_the_model_needs_no_link():
    program = local_program("vllm/vllm-openai:v0.33.0", ["vllm", "serve", "/data/m", "--port", "8000"], "127.0.1.7")
    assert program.links == {} and "/data/m" in program.argv


def test_other_commands_in_the_vllm_image_run_as_they_are():
    assert not is_vllm_server(["python3", "-c", "print(1)"])
    program = local_program("vllm/vllm-openai:v0.33.0", ["python3", "-c", "print(1)"], "127.0.1.7")
    assert program.argv == ["python3", "-c", "print(1)"]


def test_the_simulated_teacher_image_is_the_simulated_server():
    program = local_program("raft-operator/sim-vllm:local", ["vllm", "serve", "teacher", "--port", "8000"], "127.0.1.8")
    assert program.argv[1:3] == ["-m", "raft_sim.vllm_server"]
    assert program.argv[program.argv.index("--served-model-name") + 1] == "teacher"


def test_unknown_images_are_refused_like_an_image_pull_error():
    with pytest.raises(ImageNotAvailable, match="no local program"):
        local_program("docker.io/library/busybox:1", ["sh"], "127.0.1.9")
    with pytest.raises(ImageNotAvailable, match="without a model"):
        vllm_options(["vllm", "serve", "--port", "8000"])


def test_kubernetes_variable_expansion():
    env = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)-$(C)-$$(A)", env) == "1-two-$(C)-$(A)"
