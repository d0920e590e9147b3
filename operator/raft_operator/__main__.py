"""raft-operator command line: run the Kopf operator with the project's handlers.

    raft-operator [--namespace NS ...] [--all-namespaces] [--peering NAME | --standalone]
                  [--liveness http://0.0.0.0:8081/healthz] [--log-format plain|json]
"""

from __future__ import annotations

import argparse
import logging


def configure_logging(*, verbose: bool, json_lines: bool) -> None:
    """Root logging: text, or Kopf's JSON formatter (one object per line, with the object's reference)."""
    import kopf

    if json_lines:
        kopf.configure(verbose=verbose, log_format=kopf.LogFormat.JSON, log_refkey="k8s")
    else:
        logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        # Kopf logs every successful timer tick at INFO: one line per run per interval.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> None:
    """Parse the flags and run the operator until it is stopped."""
    parser = argparse.ArgumentParser(prog="raft-operator", description="Kubernetes operator for RaftRuns.")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--namespace", "-n", action="append", default=[], help="watch this namespace (repeatable)")
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace")
    peering = parser.add_mutually_exclusive_group()
    peering.add_argument("--peering", default=None, help="peering object name: replicas elect one active operator")
    peering.add_argument("--standalone", action="store_true", help="no peering (a single replica)")
    parser.add_argument("--priority", type=int, default=0, help="peering priority of this replica")
    parser.add_argument("--liveness", default=None, help="liveness endpoint URL, e.g. http://0.0.0.0:8081/healthz")
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.add_argument("--log-format", choices=["plain", "json"], default="plain",
                        help="log lines as text or as one JSON object each (Kopf's JSON format)")
    args = parser.parse_args(argv)

    import kopf

    configure_logging(verbose=args.verbose, json_lines=args.log_format == "json")

    from . import handlers  # noqa: F401  (registers the handlers)

    kopf.run(
        clusterwide=args.all_namespaces or not args.namespace,
        namespaces=args.namespace,
        standalone=args.standalone or None,
        peering_name=args.peering,
        priority=args.priority,
        liveness_endpoint=args.liveness,
    )


if __name__ == "__main__":
    main()
