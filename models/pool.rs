//! Models of the pool pattern.
