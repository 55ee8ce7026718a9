//! Stress suite of the process pattern.
