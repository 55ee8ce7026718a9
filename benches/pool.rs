//! Benchmarks: pool.

fn main() {}
