//! Models of the event bus pattern.
