//! Benchmarks: event bus.

fn main() {}
