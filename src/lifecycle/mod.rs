//! Ordered component lifecycle: start in order, roll back in reverse on failure, stop in reverse.
