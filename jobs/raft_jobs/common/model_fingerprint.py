"""What a served model must read from an exported checkpoint, and the check that it does.

The finetune export writes ``raft-export.json`` next to the checkpoint: the config values that
decide the model's outputs (shape, RoPE base and scaling, vocabulary) and the token ids of a
probe text, as the trainer's ``transformers`` reads them. Before a student server starts, an
init container in the server's own image runs this module as a script on the checkpoint
directory: it reads the same values with *that image's* ``transformers`` and exits non-zero
with one line naming every difference. A server whose ``transformers`` silently reads a
different RoPE base, say, so never serves the wrong model.

This file imports only the standard library and ``transformers``, so it runs in the vLLM
image unchanged (``python3 -c <this file> <model dir>``).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

FINGERPRINT_FILE = "raft-export.json"
FORMAT = 1
PROBE_TEXT = "Retrieval augmented fine tuning: 42 documents, one question? Ünïcödé ok."
TERMINATION_LOG = "/dev/termination-log"
_SHAPE_KEYS = ("model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
               "num_key_value_heads", "head_dim", "max_position_embeddings", "tie_word_embeddings",
               "partial_rotary_factor")


def rope(config: Any, transformers_major: int) -> dict[str, Any]:
    """The RoPE settings the model code of that ``transformers`` major uses, as one flat dict.

    transformers 5 reads ``rope_parameters``; 4 reads ``rope_theta`` and ``rope_scaling`` (and
    keeps an unknown ``rope_parameters`` key as an attribute it never uses).
    """
    params = getattr(config, "rope_parameters", None)
    if transformers_major >= 5 and isinstance(params, dict) and "rope_theta" in params:
        out = dict(params)
    else:
        out = dict(getattr(config, "rope_scaling", None) or {})
        theta = getattr(config, "rope_theta", None)
        if theta is not None:
            out["rope_theta"] = theta
    out["rope_type"] = out.get("rope_type") or out.pop("type", None) or "default"
    out.pop("type", None)
    return dict(sorted(out.items()))


def describe(config: Any, tokenizer: Any) -> dict[str, Any]:
    """The fingerprint of a loaded config and tokenizer, as the installed ``transformers`` reads them."""
    import transformers

    major = int(transformers.__version__.split(".")[0])
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    shape = {k: getattr(text_config, k) for k in _SHAPE_KEYS if getattr(text_config, k, None) is not None}
    return {
        "format": FORMAT,
        "config": shape,
        "rope": rope(text_config, major),
        "tokenizer": {"probe": PROBE_TEXT, "ids": list(tokenizer(PROBE_TEXT)["input_ids"]),
                      "eos": tokenizer.eos_token, "bos": tokenizer.bos_token},
    }


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-6)
        except (TypeError, ValueError):
            return False
    return a == b


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """``section.key: export X, served Y`` for every value the reader gets differently."""
    out = []
    for section in ("config", "rope", "tokenizer"):
        want, got = expected.get(section) or {}, actual.get(section) or {}
        for key in sorted(set(want) | set(got)):
            if section == "tokenizer" and key == "probe":
                continue
            if not _same(want.get(key), got.get(key)):
                out.append(f"{section}.{key}: export {want.get(key)!r}, served {got.get(key)!r}")
    return out


def check(model_dir: str | Path) -> list[str]:
    """Load ``model_dir`` with the installed ``transformers`` and compare with its fingerprint."""
    from transformers import AutoConfig, AutoTokenizer

    fingerprint = Path(model_dir) / FINGERPRINT_FILE
    if not fingerprint.is_file():
        return [f"{fingerprint} is missing: the checkpoint was not written by the finetune export"]
    expected = json.loads(fingerprint.read_text(encoding="utf-8"))
    try:
        actual = describe(AutoConfig.from_pretrained(str(model_dir)), AutoTokenizer.from_pretrained(str(model_dir)))
    except Exception as exc:  # noqa: BLE001 - any load error is the answer
        return [f"cannot load the checkpoint: {type(exc).__name__}: {exc}"]
    return differences(expected, actual)


def main(argv: list[str]) -> int:
    """Script entry: exit 1 with one line (also the pod's termination message) on any difference."""
    import transformers

    problems = check(argv[0])
    if not problems:
        print(f"model config check passed with transformers {transformers.__version__}")
        return 0
    line = (f"served model config differs from the export (this server's transformers "
            f"{transformers.__version__}): " + "; ".join(problems))[:3500]
    print(line, file=sys.stderr)
    try:
        Path(TERMINATION_LOG).write_text(line, encoding="utf-8")
    except OSError:
        pass
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
