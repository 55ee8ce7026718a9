//! Benchmarks: locks.

fn main() {}
