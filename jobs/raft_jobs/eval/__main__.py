"""Command line: ``python -m raft_jobs.eval --config run.yaml``.

Exit status 0 when the reports were written, 1 when the evaluation failed (the reason, naming
the endpoint when one stayed down, is the last log line), 2 for a bad run configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from raft_api.runconfig import load_run_config
from raft_jobs.common.config_option import add_config_option

log = logging.getLogger("raft_jobs.eval")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the evaluation, return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m raft_jobs.eval", description=__doc__.splitlines()[0])
    add_config_option(parser)
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The openai/httpx loggers print every request at INFO; keep the Job log readable.
    for noisy in ("httpx", "openai", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        config = load_run_config(args.config)
    except (OSError, ValueError) as exc:
        log.error("eval failed: cannot read run config %s: %s", args.config, exc)
        return 2

    from .clients import make_client
    from .runner import evaluate

    try:
        outcome = asyncio.run(evaluate(config, make_client))
    except (RuntimeError, ValueError, OSError) as exc:  # EvalError and LLMError are RuntimeErrors
        log.error("eval failed: %s", exc)
        return 1
    log.info("eval done: reports in %s", outcome.files[0].parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
