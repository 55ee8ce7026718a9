//! Models of the process pattern.
