//! Benchmarks: decision matrix.

fn main() {}
