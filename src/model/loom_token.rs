//! The payload of a loom replay token: the preemption bound and the failing execution's
//! checkpoint itself, deflated and base64-encoded, so that the token alone replays the
//! failure on another machine, from a CI log, or after the target directory is deleted.
//!
//! Format: `<bound>,<checkpoint>`, where `<checkpoint>` is URL-safe unpadded base64 of the
//! deflated JSON checkpoint loom wrote (no `|`, quote or whitespace: the token stays one
//! shell word), or empty when no checkpoint could be captured (the replay then explores
//! the bound again).

use super::ReplayTokenError;
use crate::sync::Backend;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::path::{Path, PathBuf};

/// How hard deflate works on a checkpoint (a few KB of repetitive JSON).
const COMPRESSION_LEVEL: u8 = 9;

/// A checkpoint larger than this, inflated, is refused as not one of racekit's.
const LARGEST_CHECKPOINT: usize = 64 << 20;

/// The payload for a failure at `bound`, carrying the checkpoint file's contents.
pub(crate) fn encode(bound: usize, checkpoint: &Path) -> Result<String, String> {
    let json = std::fs::read(checkpoint).map_err(|e| format!("cannot read {}: {e}", checkpoint.display()))?;
    let deflated = miniz_oxide::deflate::compress_to_vec(&json, COMPRESSION_LEVEL);
    Ok(format!("{bound},{}", URL_SAFE_NO_PAD.encode(deflated)))
}

/// A decoded payload: the bound, and the checkpoint written to a file of its own for loom
/// to read (`None` when the token carries none). The file is removed on drop.
pub(crate) struct Decoded {
    pub bound: usize,
    pub checkpoint: Option<TempCheckpoint>,
}

/// A checkpoint file that is removed when dropped.
pub(crate) struct TempCheckpoint(pub PathBuf);

impl Drop for TempCheckpoint {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Decodes `payload` and writes its checkpoint to a temporary file.
pub(crate) fn decode(payload: &str) -> Result<Decoded, ReplayTokenError> {
    let invalid = |why: &str| ReplayTokenError::payload(Backend::Loom, why);
    let (bound, encoded) = payload.split_once(',').ok_or_else(|| invalid("no `,` after the preemption bound"))?;
    let bound = bound.parse::<usize>().map_err(|_| invalid("the preemption bound is not a number"))?;
    if encoded.is_empty() {
        return Ok(Decoded { bound, checkpoint: None });
    }
    let deflated = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| invalid("the checkpoint is not base64"))?;
    let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&deflated, LARGEST_CHECKPOINT)
        .map_err(|_| invalid("the checkpoint does not inflate"))?;
    let path =
        std::env::temp_dir().join(format!("racekit-loom-replay-{}-{:x}.json", std::process::id(), fastrand::u64(..)));
    std::fs::write(&path, json).map_err(|e| invalid(&format!("cannot write {}: {e}", path.display())))?;
    Ok(Decoded { bound, checkpoint: Some(TempCheckpoint(path)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_travels_in_the_payload() {
        let original = std::env::temp_dir().join(format!("racekit-loom-token-test-{}.json", std::process::id()));
        std::fs::write(&original, br#"{"preemption_bound":2,"pos":0,"branches":{"entries":[]}}"#).unwrap();
        let payload = encode(2, &original).unwrap();
        std::fs::remove_file(&original).unwrap();
        assert!(!payload.contains(['|', '\'', ' ', '/']), "one shell word: {payload}");
        let decoded = decode(&payload).unwrap();
        assert_eq!(decoded.bound, 2);
        let path = decoded.checkpoint.as_ref().unwrap().0.clone();
        assert!(std::fs::read_to_string(&path).unwrap().contains("preemption_bound"));
        drop(decoded);
        assert!(!path.exists(), "the temporary checkpoint is removed");
    }

    #[test]
    fn a_garbled_payload_is_a_typed_error() {
        assert!(matches!(decode("two,AAAA"), Err(ReplayTokenError::Payload { .. })));
        assert!(matches!(decode("2,not base64!"), Err(ReplayTokenError::Payload { .. })));
        assert!(matches!(decode("2"), Err(ReplayTokenError::Payload { .. })));
    }
}
