//! Benchmarks: channels.

fn main() {}
