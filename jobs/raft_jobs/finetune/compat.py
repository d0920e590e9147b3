"""Make an exported checkpoint read the same by older ``transformers`` (and so older vLLM images).

transformers 5 writes RoPE settings under ``rope_parameters`` and names the fast tokenizer
``TokenizersBackend``. transformers 4 knows neither: it fails on the tokenizer class and, worse,
silently falls back to the default RoPE base. Both forms are cheap to carry, so the export
writes them: ``rope_theta`` and ``rope_scaling`` beside ``rope_parameters``, and the tokenizer
class ``PreTrainedTokenizerFast``, which both majors load from ``tokenizer.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BOTH_MAJORS_TOKENIZER_CLASS = "PreTrainedTokenizerFast"
_V5_ONLY_TOKENIZER_CLASSES = {"TokenizersBackend"}


def _rewrite_json(path: Path, change: Any) -> None:
    if not path.is_file():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    if change(data):
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _add_legacy_rope(config: dict[str, Any]) -> bool:
    """Add transformers 4's ``rope_theta``/``rope_scaling`` for a flat ``rope_parameters``."""
    params = config.get("rope_parameters")
    if not isinstance(params, dict) or "rope_theta" not in params:
        return False  # absent, or per-layer-type RoPE that transformers 4 spells its own way
    config["rope_theta"] = params["rope_theta"]
    rope_type = params.get("rope_type") or "default"
    if "partial_rotary_factor" in params:
        config.setdefault("partial_rotary_factor", params["partial_rotary_factor"])
    scaling = {k: v for k, v in params.items() if k not in ("rope_theta", "partial_rotary_factor")}
    config["rope_scaling"] = None if rope_type == "default" else {**scaling, "rope_type": rope_type}
    return True


def _portable_tokenizer_class(tokenizer_config: dict[str, Any]) -> bool:
    if tokenizer_config.get("tokenizer_class") not in _V5_ONLY_TOKENIZER_CLASSES:
        return False
    tokenizer_config["tokenizer_class"] = BOTH_MAJORS_TOKENIZER_CLASS
    return True


def add_older_reader_keys(model_dir: str | Path) -> None:
    """Rewrite ``config.json`` and ``tokenizer_config.json`` in ``model_dir`` for both majors."""
    model_dir = Path(model_dir)
    _rewrite_json(model_dir / "config.json", _add_legacy_rope)
    _rewrite_json(model_dir / "tokenizer_config.json", _portable_tokenizer_class)
