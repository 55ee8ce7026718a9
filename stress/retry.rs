//! Stress suite of the retry pattern.
