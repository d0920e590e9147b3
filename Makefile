# raft-operator developer targets. `make demo` and `make test` work on a fresh machine.
.PHONY: install demo demo-sim test test-fast crds lint clean-cache

install:            ## install Python deps and build the local cluster binaries (cached)
	hack/install.sh

demo:               ## one REAL RaftRun on this machine: real programs, real small model, from kubectl apply to Succeeded
	hack/demo.sh

demo-sim:           ## the fast simulated demo: local cluster + chart + operator, GPU work simulated
	hack/demo-sim.sh

test:               ## every test, tier by tier: unit, integration, e2e (simulated cluster), realrun (real node)
	hack/test.sh

test-fast:          ## the unit tier only: tests/unit and sim/tests' unmarked tests (no cluster, no Ray, no torchrun)
	hack/test.sh -m "not e2e and not slow"

crds:               ## regenerate crds/, docs/api.md and docs/architecture.md tables from api/raft_api
	$$(hack/install.sh)/bin/python hack/crdgen.py

clean-cache:        ## remove the cache folder (venv, built binaries)
	rm -rf $${RAFT_CACHE:-$$HOME/.cache/raft-operator}
