//! Event bus: handlers per event type, a fixed worker pool fed by a bounded queue, and a backpressure policy the caller chooses.
