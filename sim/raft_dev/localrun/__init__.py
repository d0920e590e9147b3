"""Running the real pipeline on one machine: a local kubelet, the image table, the real small model."""
