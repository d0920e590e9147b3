# raft-operator developer targets. `make demo` and `make test` work on a fresh machine.
.PHONY: install demo test test-fast crds lint clean-cache

install:            ## install Python deps and build the local cluster binaries (cached)
	hack/install.sh

demo:               ## local cluster + chart + operator + a demo RaftRun to Succeeded (GPU work simulated)
	hack/demo.sh

test:               ## every test, including the real local cluster end to end
	hack/test.sh

test-fast:          ## unit tests only (no cluster, no Ray, no torchrun)
	hack/test.sh -m "not e2e and not slow"

crds:               ## regenerate crds/ and docs/api.md from raft_operator/schema.py
	$$(hack/install.sh)/bin/python hack/crdgen.py

clean-cache:        ## remove the cache folder (venv, built binaries)
	rm -rf $${RAFT_CACHE:-$$HOME/.cache/raft-operator}
