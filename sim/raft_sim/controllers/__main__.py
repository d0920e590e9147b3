"""``python -m raft_sim.controllers``: run the SIMULATED controllers (see :mod:`raft_sim.controllers`)."""

from .manager import main

raise SystemExit(main())
