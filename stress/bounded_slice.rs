//! Stress suite of the bounded slice pattern.
