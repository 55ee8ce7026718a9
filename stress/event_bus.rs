//! Stress suite of the event bus pattern.
