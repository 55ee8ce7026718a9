//! Benchmarks: stopper.

fn main() {}
