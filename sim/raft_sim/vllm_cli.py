"""STAND-IN for vLLM's command line, ``vllm serve MODEL [options]``, in the development images.

The images built from ``sim/images/vllm-standin/Dockerfile`` install this module as their
``vllm`` executable, so that a pod runs exactly the command line the operator writes for vLLM.
What serves behind it is chosen by the image (``RAFT_VLLM_STANDIN``):

| ``RAFT_VLLM_STANDIN`` | image         | what serves                                                    |
|-----------------------|---------------|----------------------------------------------------------------|
| ``transformers``      | vllm-standin  | ``transformers serve`` on CPU, with the command's model, port  |
|                       |               | and served model name (the real model, where a GPU cluster     |
|                       |               | runs vLLM)                                                      |
| ``simulated``         | sim-teacher   | the SIMULATED vLLM-like server (:mod:`raft_sim.vllm_server`):  |
|                       |               | deterministic, well-formed RAFT questions and quoting answers  |

GPU-only options (tensor parallelism, memory utilisation) have no CPU meaning and are read but
not used; ``transformers serve`` has no ``--max-model-len`` and no API key, so neither is
enforced by the ``transformers`` stand-in. Both listen on the command's ``--host``/``--port``.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from pathlib import Path

STANDIN_ENV = "RAFT_VLLM_STANDIN"
DEFAULT_PORT = "8000"


class NotAServerCommand(ValueError):
    """The command line does not start vLLM's OpenAI server with a model."""


def is_vllm_server(argv: list[str]) -> bool:
    """Whether a command line starts vLLM's OpenAI server (``vllm serve`` or the api_server module)."""
    text = " ".join(argv)
    return "vllm.entrypoints.openai.api_server" in text or any(
        a.endswith("vllm") and i + 1 < len(argv) and argv[i + 1] == "serve" for i, a in enumerate(argv))


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
        raise NotAServerCommand("vLLM command line without a model")
    return options


def served_name(options: dict[str, str]) -> str:
    """The model name the server answers to: ``--served-model-name``, else the model."""
    return options.get("served-model-name") or options["model"]


def transformers_serve(model: str, port: str, host: str) -> list[str]:
    """``transformers serve`` pinned to ``model`` on ``host:port``, sized for a CPU."""
    return ["transformers", "serve", model, "--host", host, "--port", port,
            "--device", "cpu", "--dtype", "float32", "--continuous-batching",
            # A bounded KV cache of 256 blocks x 32 tokens: sized by default, the CPU server took
            # 13.7 GB and was OOM-killed. Measured with it: 2.2 GB, 9 tokens/s for one sequence,
            # 32 tokens/s for 8 together (SmolLM2-135M, 1 thread, a loaded 2-core machine).
            "--cb-num-blocks", "256", "--cb-block-size", "32", "--log-level", "info"]


def simulated_serve(served: str, port: str, host: str) -> list[str]:
    """The SIMULATED vLLM-like server under the served model name."""
    return [sys.executable, "-m", "raft_sim.vllm_server", "--host", host, "--port", port,
            "--served-model-name", served]


def command(argv: list[str], standin: str) -> tuple[list[str], dict[str, str]]:
    """The stand-in's command for a ``vllm`` command line, and the links its working folder needs.

    ``transformers serve`` serves a model under its path; where vLLM's served name differs, a link
    of that name in the working folder points at the model.
    """
    options = vllm_options(["vllm", *argv])
    served, port, host = served_name(options), options.get("port", DEFAULT_PORT), options.get("host", "0.0.0.0")
    if standin == "simulated":
        return simulated_serve(served, port, host), {}
    if standin == "transformers":
        links = {} if served == options["model"] else {served: options["model"]}
        return transformers_serve(served, port, host), links
    raise NotAServerCommand(f"{STANDIN_ENV}={standin!r}: expected 'transformers' or 'simulated'")


def main(argv: list[str] | None = None) -> None:
    """``vllm serve MODEL [options]`` → exec the image's stand-in server."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["--help"], ["-h"]) or argv[:2] in (["serve", "--help"], ["serve", "-h"]):
        print(f"usage: vllm serve MODEL [--served-model-name NAME] [--host H] [--port P] [vLLM options]\n"
              f"STAND-IN for vLLM ({STANDIN_ENV}=transformers|simulated); see raft_sim.vllm_cli")
        return
    if not argv or argv[0] != "serve":
        sys.exit("vllm (STAND-IN): only `vllm serve MODEL [options]` is provided")
    try:
        argv_out, links = command(argv, os.environ.get(STANDIN_ENV, "transformers"))
    except NotAServerCommand as exc:
        sys.exit(f"vllm (STAND-IN): {exc}")
    # transformers serve lists its models from the Hugging Face cache and fails (HTTP 500) while
    # that folder does not exist; vLLM creates it when it first downloads.
    hub_cache = os.environ.get("HF_HUB_CACHE") or (os.environ.get("HF_HOME") and os.path.join(os.environ["HF_HOME"], "hub"))
    if hub_cache:
        Path(hub_cache).mkdir(parents=True, exist_ok=True)
    if links:
        workdir = Path(tempfile.mkdtemp(prefix="vllm-standin-"))
        for name, target in links.items():
            (workdir / name).symlink_to(target)
        os.chdir(workdir)
    print(f"vllm (STAND-IN, {os.environ.get(STANDIN_ENV, 'transformers')}): {shlex.join(argv_out)}", flush=True)
    os.execvp(argv_out[0], argv_out)


if __name__ == "__main__":
    main()
