//! Stress suite of the error collector pattern.
