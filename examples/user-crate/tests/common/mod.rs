//! What the test files of this crate share.

use racekit::model::{Failure, Model};

/// Runs `body`, which holds a planted bug, and returns the failure the checker reports.
pub fn failure_of(model: Model, body: impl Fn() + Send + Sync + 'static) -> Failure {
    match model.run(body) {
        Ok(report) => panic!("the bug escaped: every explored schedule passed\n{report}"),
        Err(failure) => failure,
    }
}
