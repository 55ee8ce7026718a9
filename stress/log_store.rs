//! Stress suite of the log store pattern.
