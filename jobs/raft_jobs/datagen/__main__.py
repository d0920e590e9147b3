"""``python -m raft_jobs.datagen --config run.yaml``: generate the RAFT dataset of a run."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from raft_api.runconfig import RunConfigError, load_run_config
from raft_jobs.common.config_option import add_config_option

from .pipeline import DatagenError, DatagenOptions, run_datagen


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run datagen, print the manifest's counts; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m raft_jobs.datagen", description=__doc__)
    add_config_option(parser)
    parser.add_argument(
        "--executor",
        choices=("ray", "local"),
        default=os.environ.get("RAFT_DATAGEN_EXECUTOR", "ray"),
        help="ray: one Ray actor per worker (RAY_ADDRESS or a local Ray); local: all workers in this process",
    )
    parser.add_argument("--workers", type=int, help="override datagen.workers")
    parser.add_argument("--batch-chunks", type=int, default=16, help="checkpoint after this many finished chunks")
    parser.add_argument("--batch-seconds", type=float, default=2.0, help="…or after this many seconds")
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)

    try:
        config = load_run_config(args.config)
        if args.workers:
            config.datagen.workers = args.workers
        manifest = run_datagen(config, DatagenOptions(executor=args.executor, batch_chunks=args.batch_chunks, batch_seconds=args.batch_seconds))
    except (DatagenError, RunConfigError) as exc:
        logging.getLogger("raft_jobs.datagen").error("%s", exc)
        print(f"datagen failed: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"counts": manifest["counts"], "ratios": manifest["ratios"],
                      "tokensPerSecond": manifest["tokensPerSecond"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
