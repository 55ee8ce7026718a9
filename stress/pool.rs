//! Stress suite of the pool pattern.
