"""Which local program stands for which container image when pods run as local processes.

There is no container engine on the machines this project is tested on, so the local kubelet
runs each container's own command (after Kubernetes' ``$(VAR)`` expansion) on the machine,
with one of these substitutions for the image's file system:

| image (repository's last part) | what runs                                                          |
|--------------------------------|--------------------------------------------------------------------|
| ``datagen``, ``trainer``,      | the container's command and args unchanged, with the project's      |
| ``eval``, ``operator`` (the    | Python environment first on ``PATH`` (``python``, ``torchrun``,     |
| project's images)              | ``ray`` are the ones the images install), and an ``/etc/profile``  |
|                                | that keeps ``PATH``, as the images' Ubuntu base does (KubeRay starts |
|                                | Ray in a login shell)                                               |
| ``vllm-openai`` (vLLM)         | ``transformers serve`` on CPU, pinned to the vLLM command's model   |
|                                | and listening on the pod's address and the same port. It serves    |
|                                | the model under vLLM's ``--served-model-name`` (a link of that name |
|                                | in its working folder points at the model). GPU-only flags (tensor  |
|                                | parallelism, memory utilization) have no CPU meaning; transformers  |
|                                | serve has no ``--max-model-len``, so it is not enforced             |
| ``sim-vllm`` (SIMULATED        | the SIMULATED vLLM-like server (:mod:`raft_sim.vllm_server`) on the  |
| teacher, named as such)        | pod's address and port, under the served model name: deterministic |
|                                | well-formed questions and answers quoting the document. Used where a |
|                                | real small model cannot write RAFT's format (see README)            |
| anything else                  | refused: the container waits in ``ErrImagePull``, as a kubelet       |
|                                | reports an image it cannot get                                       |

``transformers serve`` stands where vLLM stands on a GPU cluster: it speaks the same
OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/models, /health).
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_IMAGES = frozenset({"datagen", "trainer", "eval", "operator"})
VLLM_IMAGES = frozenset({"vllm-openai"})
SIMULATED_VLLM_IMAGES = frozenset({"sim-vllm"})
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IMAGE_PROFILE = "# /etc/profile of the project's images (local stand-in): PATH stays as the image sets it.\n"


class ImageNotAvailable(Exception):
    """The image has no local program; the kubelet reports it like an image pull error."""


@dataclass(frozen=True)
class LocalProgram:
    """What to execute for one container, and what the image would have provided around it.

    ``links`` maps names in the working folder to paths (how a served model name reaches its files);
    ``files`` maps container paths to the content of files the image has there.
    """

    argv: list[str]
    env: dict[str, str]
    links: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


def repository(image: str) -> str:
    """The last part of an image reference's repository: ``ghcr.io/a/datagen:v1`` → ``datagen``."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def python_bin() -> Path:
    """The folder of the project's Python environment (the one running the kubelet)."""
    return Path(sys.executable).parent


def local_program(image: str, argv: list[str], pod_ip: str) -> LocalProgram:
    """The local stand-in for ``argv`` in ``image`` (see the module docstring)."""
    repo = repository(image)
    env = {"PATH": f"{python_bin()}:{SYSTEM_PATH}"}
    if repo in PROJECT_IMAGES:
        if not argv:
            raise ImageNotAvailable(f"image {image}: a container of the project's images needs a command")
        return LocalProgram(argv=argv, env=env, files={"/etc/profile": IMAGE_PROFILE})
    if repo in VLLM_IMAGES:
        options = vllm_options(argv)
        served = options.get("served-model-name") or options["model"]
        links = {} if served == options["model"] else {served: options["model"]}
        return LocalProgram(argv=transformers_serve(served, options.get("port", "8000"), pod_ip), links=links,
                            env={**env, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                                 # Several servers share a few cores: more threads each would spin
                                 # against each other (measured: 2 threads 15x slower than 1 under load).
                                 "OMP_NUM_THREADS": "1"})
    if repo in SIMULATED_VLLM_IMAGES:
        options = vllm_options(argv)
        served = options.get("served-model-name") or options["model"]
        return LocalProgram(env=env, argv=[str(python_bin() / "python"), "-m", "raft_sim.vllm_server", "--host", pod_ip,
                                           "--port", options.get("port", "8000"), "--served-model-name", served])
    raise ImageNotAvailable(
        f"image {image!r} has no local program (known: {sorted(PROJECT_IMAGES | VLLM_IMAGES | SIMULATED_VLLM_IMAGES)}); "
        "see raft_sim.localrun.images")


def vllm_options(argv: list[str]) -> dict[str, str]:
    """The options of a vLLM server command line (``vllm serve MODEL ...`` or the api_server module)."""
    args = list(argv)
    if len(args) >= 3 and args[0] in ("/bin/sh", "/bin/bash", "sh", "bash") and args[1] == "-c":
        args = shlex.split(args[2])
    options: dict[str, str] = {}
    if "serve" in args:
        rest = args[args.index("serve") + 1:]
        if rest and not rest[0].startswith("-"):
            options["model"] = rest[0]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            key, sep, value = arg[2:].partition("=")
            if not sep and i + 1 < len(args) and not args[i + 1].startswith("--"):
                value = args[i + 1]
                i += 1
            options[key] = value
        i += 1
    if "model" not in options:
        raise ImageNotAvailable("vLLM command line without a model")
    return options


def transformers_serve(model: str, port: str, pod_ip: str) -> list[str]:
    """``transformers serve`` pinned to ``model`` on the pod's address."""
    return [str(python_bin() / "transformers"), "serve", model, "--host", pod_ip, "--port", port,
            "--device", "cpu", "--dtype", "float32", "--log-level", "info"]
