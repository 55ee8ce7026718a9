//! Benchmarks: log store.

fn main() {}
