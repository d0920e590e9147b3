"""``python -m raft_jobs.finetune --config run.yaml`` (under torchrun for more than one rank)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from raft_api.runconfig import RunConfigError, load_run_config

from ..common.config_option import add_config_option
from .errors import FinetuneError

log = logging.getLogger("raft_jobs.finetune")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status (2 for a bad input, see FinetuneError)."""
    parser = argparse.ArgumentParser(prog="python -m raft_jobs.finetune", description=__doc__)
    add_config_option(parser)
    args = parser.parse_args(argv)
    rank = os.environ.get("RANK", "0")
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s [rank {rank}] %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    from . import distributed
    from .recipe import run

    try:
        config = load_run_config(args.config)
        info = distributed.init_distributed()
        try:
            run(config, info)
        finally:
            distributed.shutdown()
    except (FinetuneError, RunConfigError) as exc:
        log.error("finetune failed: %s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
