"""How a program learns where run.yaml is: ``--config PATH``, and nothing else.

The operator's manifests run every program with ``--config`` (the path where pods mount
run.yaml), and so do the images' default commands, the tests and the benchmarks. There is no
environment variable and no default path, so a program never reads a run.yaml it was not given.
"""

from __future__ import annotations

import argparse

from raft_api.layout import RUN_CONFIG_PATH


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """Add the required ``--config PATH`` option (read back as ``args.config``) to ``parser``."""
    parser.add_argument("--config", required=True, metavar="PATH",
                        help=f"the run's run.yaml (in the run's pods: {RUN_CONFIG_PATH})")
