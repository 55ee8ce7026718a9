//! Stress suite of the stopper pattern.
