//! Stopper: tasks admitted until quiesce, cancel-on-quiesce tokens, closers run exactly once, idempotent stop.
