//! Stress suite of the lifecycle pattern.
