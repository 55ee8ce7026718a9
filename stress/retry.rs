//! Stress suite of the retry pattern: proptest properties of the schedule on a manual clock
//! (with the mutants each property must reject), the async loop under tokio's paused time,
//! and blocking loops on real threads cancelled at random moments.

mod paused_time;
mod schedule_properties;
mod threads;
