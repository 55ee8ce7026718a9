//! Replay tokens and the commands that carry them.
//!
//! A token is `backend|check id|payload`: the payload is shuttle's encoded schedule, a
//! loom preemption bound and checkpoint, or a std run seed. The check id
//! (`file:line:column` of the `check` call, then `#` and the model's name if it has one)
//! makes a token replay only the check that failed when a test holds several.

use crate::sync::Backend;
use std::path::{Path, PathBuf};

/// Where a whole token is found, for the errors that say it was not copied whole.
const WHERE_TOKENS_COME_FROM: &str = "copy the whole RACEKIT_REPLAY=... word from the `reproduce with:` line \
     of the failure (or `Failure::replay.token`), quotes included";

/// Why a replay token (`RACEKIT_REPLAY`, [`Model::replay`](super::Model::replay)) was
/// refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayTokenError {
    /// The token is not `backend|check|payload`.
    #[error("the replay token {token:?} is not `backend|check|payload`: {WHERE_TOKENS_COME_FROM}")]
    Shape {
        /// The token as given.
        token: String,
    },
    /// The first part names no backend racekit has.
    #[error(
        "the replay token starts with {backend:?}, which is not `std`, `loom` or `shuttle`: {WHERE_TOKENS_COME_FROM}"
    )]
    Backend {
        /// The first part of the token.
        backend: String,
    },
    /// The second part is not a check's `file:line:column`.
    #[error("the replay token's check {id:?} is not `file:line:column` of a check: {WHERE_TOKENS_COME_FROM}")]
    Check {
        /// The second part of the token.
        id: String,
    },
    /// The payload does not decode for its backend.
    #[error("the {backend} replay token's payload does not decode ({why}): {WHERE_TOKENS_COME_FROM}")]
    Payload {
        /// The backend the token names.
        backend: String,
        /// What is wrong with it.
        why: String,
    },
}

impl ReplayTokenError {
    /// A payload that does not decode for `backend`.
    pub(crate) fn payload(backend: Backend, why: impl Into<String>) -> ReplayTokenError {
        ReplayTokenError::Payload { backend: backend.name().to_owned(), why: why.into() }
    }
}

/// A parsed replay token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub backend: String,
    pub id: String,
    pub payload: String,
}

impl Token {
    pub(crate) fn new(backend: Backend, id: &str, payload: String) -> Token {
        Token { backend: backend.name().to_owned(), id: id.to_owned(), payload }
    }

    /// Parses `backend|check|payload` strictly: a known backend, a check id that starts
    /// with `file:line:column`, a payload that is not empty and has no whitespace.
    pub(crate) fn parse(text: &str) -> Result<Token, ReplayTokenError> {
        let shape = || ReplayTokenError::Shape { token: text.to_owned() };
        let mut parts = text.splitn(3, '|');
        let (Some(backend), Some(id), Some(payload)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(shape());
        };
        if !["std", "loom", "shuttle"].contains(&backend) {
            return Err(ReplayTokenError::Backend { backend: backend.to_owned() });
        }
        let location = id.split_once('#').map_or(id, |(location, _name)| location);
        let mut numbers = location.rsplitn(3, ':');
        let column = numbers.next().unwrap_or_default();
        let line = numbers.next().unwrap_or_default();
        let file = numbers.next().unwrap_or_default();
        let is_number = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        if file.is_empty() || !is_number(line) || !is_number(column) {
            return Err(ReplayTokenError::Check { id: id.to_owned() });
        }
        if payload.is_empty() || payload.chars().any(char::is_whitespace) {
            return Err(shape());
        }
        Ok(Token { backend: backend.to_owned(), id: id.to_owned(), payload: payload.to_owned() })
    }

    pub(crate) fn encode(&self) -> String {
        format!("{}|{}|{}", self.backend, self.id, self.payload)
    }
}

/// Quotes `text` for a POSIX shell.
pub(crate) fn shell_quote(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The cargo invocation that reruns the current test binary's current test.
pub(crate) fn command(backend: Backend, token: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    if backend != Backend::Std {
        words.push(format!("RUSTFLAGS={}", shell_quote(backend.rustflags())));
    }
    let exe = std::env::current_exe().ok();
    let layout = exe.as_deref().and_then(BinaryLayout::of);
    if let Some(layout) = &layout {
        words.push(format!("CARGO_TARGET_DIR={}", shell_quote(&display_relative(&layout.target_dir))));
    }
    words.push(format!("RACEKIT_REPLAY={}", shell_quote(token)));
    words.push("cargo test".to_owned());
    if let Some(layout) = &layout {
        match layout.profile.as_str() {
            "debug" => {}
            "release" => words.push("--release".to_owned()),
            other => words.push(format!("--profile {other}")),
        }
        if let Ok(package) = std::env::var("CARGO_PKG_NAME") {
            words.push(format!("-p {}", shell_quote(&package)));
            if layout.stem == package.replace('-', "_") {
                words.push("--lib".to_owned());
            } else if layout.stem != "rust_out" {
                words.push(format!("--test {}", shell_quote(&layout.stem)));
            }
        } else if layout.stem != "rust_out" {
            words.push(format!("--test {}", shell_quote(&layout.stem)));
        }
    }
    if let Some(test) = current_test_name() {
        words.push(format!("-- --exact {}", shell_quote(&test)));
    }
    words.join(" ")
}

/// The name libtest gave the current test, if the check runs inside one.
pub(crate) fn current_test_name() -> Option<String> {
    let thread = std::thread::current();
    match thread.name() {
        Some(name) if name != "main" => Some(name.to_owned()),
        _ => None,
    }
}

struct BinaryLayout {
    target_dir: PathBuf,
    profile: String,
    stem: String,
}

impl BinaryLayout {
    /// `<target>/<profile>/deps/<stem>-<hash>` as cargo lays out test binaries.
    fn of(exe: &Path) -> Option<BinaryLayout> {
        let deps = exe.parent()?;
        if deps.file_name()? != "deps" {
            return None;
        }
        let profile_dir = deps.parent()?;
        let file = exe.file_stem()?.to_str()?;
        let stem = match file.rsplit_once('-') {
            Some((stem, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => stem,
            _ => file,
        };
        Some(BinaryLayout {
            target_dir: profile_dir.parent()?.to_path_buf(),
            profile: profile_dir.file_name()?.to_str()?.to_owned(),
            stem: stem.to_owned(),
        })
    }
}

fn display_relative(path: &Path) -> String {
    let base = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).or_else(|| std::env::current_dir().ok());
    base.and_then(|base| path.strip_prefix(&base).ok().map(|p| p.display().to_string()))
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_their_text() {
        let token = Token::new(Backend::Shuttle, "models/queue.rs:10:5#(2, 2)", "91a0|x".to_owned());
        assert_eq!(Token::parse(&token.encode()), Ok(token));
    }

    #[test]
    fn malformed_tokens_are_typed_errors_that_say_where_to_copy_from() {
        let shape = Token::parse("shuttle|models/queue.rs:10:5").unwrap_err();
        assert!(matches!(shape, ReplayTokenError::Shape { .. }), "{shape:?}");
        assert!(shape.to_string().contains("reproduce with:"), "{shape}");
        let backend = Token::parse("miri|a.rs:1:2|7").unwrap_err();
        assert!(matches!(backend, ReplayTokenError::Backend { .. }), "{backend:?}");
        let check = Token::parse("std|a.rs:x:2|7").unwrap_err();
        assert!(matches!(check, ReplayTokenError::Check { .. }), "{check:?}");
        let cut = Token::parse("std|a.rs:1:2|7 .").unwrap_err();
        assert!(matches!(cut, ReplayTokenError::Shape { .. }), "{cut:?}");
        assert!(Token::parse(" std|a.rs:1:2|7").is_err(), "leading whitespace is not part of a token");
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(shell_quote("plain-word"), "plain-word");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn binary_layout_reads_cargo_paths() {
        let layout = BinaryLayout::of(Path::new("/w/target/shuttle/release/deps/models-0123abcd")).unwrap();
        assert_eq!(layout.target_dir, Path::new("/w/target/shuttle"));
        assert_eq!(layout.profile, "release");
        assert_eq!(layout.stem, "models");
    }
}
