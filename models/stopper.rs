//! Models of the stopper pattern.
