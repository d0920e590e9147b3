"""Where workloads find things (being filled in)."""

DATA_MOUNT = "/data"
