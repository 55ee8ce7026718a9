//! Retry with jittered exponential backoff, with injected clock and random number generator.
