//! Models of the lifecycle pattern.
