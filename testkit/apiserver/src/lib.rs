//! A Kubernetes API server for tests and benchmarks (work in progress).
