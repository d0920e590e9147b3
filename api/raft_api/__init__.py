"""The RaftRun API, typed once: the spec, run.yaml, the progress reports and the run's folder
layout. The operator, the programs and ``hack/crdgen.py`` (the CRD, docs/api.md and the contract
tables of docs/architecture.md) all read these models; nothing else spells them."""
