"""One builder module per child kind: each turns a RaftRun into the manifests of its children."""
