//! Models of the retry pattern.
