"""Measurement probes: host memory (kernel high-water mark), GPU memory (TF allocator, NVML), timing."""
