//! Real children through `tokio::process` (not in the shuttle build: shuttle does not model
//! processes; the models drive the manager through a fake [`Spawner`]).

use super::{ChildProcess, OutputSource, ProcessExit, ProcessSpec, Spawner};
use crate::output::OutputStream;
use std::io;
use std::process::{ExitStatus, Stdio};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

/// Spawns real children with `tokio::process`: stdin closed, stdout and stderr piped, each
/// child the leader of a new process group, killed when dropped.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioSpawner;

impl Spawner for TokioSpawner {
    type Child = TokioChild;
    type Output = PipeLines;

    fn spawn(&self, spec: &ProcessSpec) -> io::Result<(TokioChild, PipeLines)> {
        let mut command = Command::new(&spec.program);
        command.args(&spec.args).envs(spec.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &spec.current_dir {
            command.current_dir(dir);
        }
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(|error| explain_spawn_error(spec, error))?;
        let output = PipeLines {
            stdout: child.stdout.take().map(|pipe| LineReader::new(pipe, spec.max_line_bytes)),
            stderr: child.stderr.take().map(|pipe| LineReader::new(pipe, spec.max_line_bytes)),
            truncated: 0,
        };
        let pid = child.id();
        Ok((TokioChild { child, pid, group_killed: false }, output))
    }
}

/// The spawn error, saying which part of `spec` it is about: a missing working directory
/// and a missing program are both `NotFound` to the operating system.
fn explain_spawn_error(spec: &ProcessSpec, error: io::Error) -> io::Error {
    let program = std::path::Path::new(&spec.program).display();
    if let Some(dir) = spec.current_dir.as_ref().filter(|dir| !dir.is_dir()) {
        let message = format!("the working directory {} does not exist or is not a directory", dir.display());
        return io::Error::new(io::ErrorKind::NotFound, message);
    }
    let message = match error.kind() {
        io::ErrorKind::NotFound => {
            format!("the program `{program}` was not found (a name without a slash is looked up in PATH)")
        }
        io::ErrorKind::PermissionDenied => {
            format!("the program `{program}` cannot be run by this user (check its execute permission): {error}")
        }
        _ => format!("spawning `{program}` failed: {error}"),
    };
    io::Error::new(error.kind(), message)
}

/// A real child, the leader of its own process group.
#[derive(Debug)]
pub struct TokioChild {
    child: Child,
    pid: Option<u32>,
    /// Set once the group was signalled: after that the group id may name nothing, or (once
    /// every member is gone) be reused, so it is never signalled again.
    group_killed: bool,
}

impl TokioChild {
    fn kill_group(&mut self) -> io::Result<()> {
        if self.group_killed {
            return Ok(());
        }
        self.group_killed = true;
        #[cfg(unix)]
        self.signal_group(nix::sys::signal::Signal::SIGKILL)?;
        Ok(())
    }

    /// Sends `signal` to the child's process group, while the group may still be signalled.
    #[cfg(unix)]
    fn signal_group(&self, signal: nix::sys::signal::Signal) -> io::Result<()> {
        if let Some(pid) = self.pid.and_then(|pid| i32::try_from(pid).ok()) {
            match nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), signal) {
                // No member left: nothing to signal.
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(errno) => return Err(io::Error::from(errno)),
            }
        }
        Ok(())
    }
}

impl ChildProcess for TokioChild {
    fn pid(&self) -> Option<u32> {
        self.pid
    }

    fn kill(&mut self) -> io::Result<()> {
        let group = self.kill_group();
        // The leader too, in case it left the group; a no-op once it was reaped.
        match self.child.start_kill() {
            Err(error) if error.kind() != io::ErrorKind::InvalidInput => Err(error),
            _ => group,
        }
    }

    /// `SIGTERM` to the group (which holds the leader), while no `SIGKILL` was sent; on
    /// other systems, a kill.
    fn terminate(&mut self) -> io::Result<()> {
        #[cfg(unix)]
        {
            if self.group_killed {
                return Ok(());
            }
            self.signal_group(nix::sys::signal::Signal::SIGTERM)
        }
        #[cfg(not(unix))]
        self.kill()
    }

    async fn wait(&mut self) -> io::Result<ProcessExit> {
        self.child.wait().await.map(exit_of)
    }
}

impl Drop for TokioChild {
    fn drop(&mut self) {
        // Dropped unreaped (its supervisor was dropped): `kill_on_drop` kills the leader;
        // kill the rest of its group too. Its pid is still held (by it or its zombie), so the
        // group id cannot have been reused.
        let _ = self.kill_group();
    }
}

fn exit_of(status: ExitStatus) -> ProcessExit {
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&status);
    #[cfg(not(unix))]
    let signal = None;
    ProcessExit { code: status.code(), signal, killed: false }
}

/// A child's stdout and stderr, read line by line (lossy UTF-8), whichever has a line first,
/// each line cut at the spec's [`max_line_bytes`](ProcessSpec::max_line_bytes).
#[derive(Debug)]
pub struct PipeLines {
    stdout: Option<LineReader<ChildStdout>>,
    stderr: Option<LineReader<ChildStderr>>,
    /// Bytes cut from the line returned last.
    truncated: u64,
}

/// One stream, and the line being read from it: kept across cancellation.
#[derive(Debug)]
struct LineReader<R> {
    reader: BufReader<R>,
    /// The kept bytes of the line so far (at most `max` of them).
    partial: Vec<u8>,
    /// Bytes of the line so far beyond `max`: read and dropped, never held.
    dropped: u64,
    /// Whether anything of the line has been read (a line may be all dropped bytes).
    started: bool,
    max: usize,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    fn new(pipe: R, max: usize) -> Self {
        LineReader { reader: BufReader::new(pipe), partial: Vec::new(), dropped: 0, started: false, max }
    }

    /// The next line and the bytes cut from it; `None` at the end of the stream, with
    /// nothing pending. Cancel safe: every byte consumed is in `partial` or `dropped`
    /// before the next await.
    async fn read_line(&mut self) -> io::Result<Option<(String, u64)>> {
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                return Ok(self.started.then(|| self.take_line()));
            }
            let (content, consumed, ended) = match available.iter().position(|&byte| byte == b'\n') {
                Some(end) => (&available[..end], end + 1, true),
                None => (available, available.len(), false),
            };
            let kept = content.len().min(self.max.saturating_sub(self.partial.len()));
            self.partial.extend_from_slice(&content[..kept]);
            self.dropped += (content.len() - kept) as u64;
            self.started = true;
            self.reader.consume(consumed);
            if ended {
                return Ok(Some(self.take_line()));
            }
        }
    }

    fn take_line(&mut self) -> (String, u64) {
        let mut bytes = std::mem::take(&mut self.partial);
        if self.dropped == 0 && bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        self.started = false;
        (String::from_utf8_lossy(&bytes).into_owned(), std::mem::take(&mut self.dropped))
    }
}

impl OutputSource for PipeLines {
    async fn next_line(&mut self) -> io::Result<Option<(OutputStream, String)>> {
        let PipeLines { stdout, stderr, truncated } = self;
        loop {
            let (stream, line) = match (stdout.as_mut(), stderr.as_mut()) {
                (None, None) => return Ok(None),
                (Some(out), None) => (OutputStream::Stdout, out.read_line().await),
                (None, Some(err)) => (OutputStream::Stderr, err.read_line().await),
                (Some(out), Some(err)) => tokio::select! {
                    line = out.read_line() => (OutputStream::Stdout, line),
                    line = err.read_line() => (OutputStream::Stderr, line),
                },
            };
            match line {
                Ok(Some((line, cut))) => {
                    *truncated = cut;
                    return Ok(Some((stream, line)));
                }
                // End of this stream (or a read error, which ends it too): read the other.
                Ok(None) | Err(_) => match stream {
                    OutputStream::Stdout => *stdout = None,
                    OutputStream::Stderr => *stderr = None,
                },
            }
        }
    }

    fn truncated_bytes(&self) -> u64 {
        self.truncated
    }
}
