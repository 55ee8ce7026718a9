//! Models of the log store pattern.
