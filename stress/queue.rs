//! Stress suite of the queue pattern.
