//! Stress suites.
