"""Simulated stand-ins for components that cannot run on a CPU-only machine without a container engine (vLLM, KubeRay, the Kubeflow training operator). Tests and the demo only."""
