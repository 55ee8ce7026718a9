//! Benchmarks: counters.

fn main() {}
