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
        let mut child = command.spawn()?;
        let output = PipeLines {
            stdout: child.stdout.take().map(BufReader::new),
            stderr: child.stderr.take().map(BufReader::new),
            stdout_partial: Vec::new(),
            stderr_partial: Vec::new(),
        };
        let pid = child.id();
        Ok((TokioChild { child, pid, group_killed: false }, output))
    }
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
        if let Some(pid) = self.pid.and_then(|pid| i32::try_from(pid).ok()) {
            use nix::sys::signal::{killpg, Signal};
            use nix::unistd::Pid;
            match killpg(Pid::from_raw(pid), Signal::SIGKILL) {
                // No member left: nothing to kill.
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

/// A child's stdout and stderr, read line by line (lossy UTF-8), whichever has a line first.
#[derive(Debug)]
pub struct PipeLines {
    stdout: Option<BufReader<ChildStdout>>,
    stderr: Option<BufReader<ChildStderr>>,
    stdout_partial: Vec<u8>,
    stderr_partial: Vec<u8>,
}

/// Reads one line into `partial` (which keeps a partly read line across cancellation);
/// `None` at the end of the stream, with nothing pending.
async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    partial: &mut Vec<u8>,
) -> io::Result<Option<String>> {
    // `read_until` is cancel safe: what it read stays in `partial`.
    reader.read_until(b'\n', partial).await?;
    if partial.is_empty() {
        return Ok(None);
    }
    let mut bytes = std::mem::take(partial);
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

impl OutputSource for PipeLines {
    async fn next_line(&mut self) -> io::Result<Option<(OutputStream, String)>> {
        let PipeLines { stdout, stderr, stdout_partial, stderr_partial } = self;
        loop {
            let (stream, line) = match (stdout.as_mut(), stderr.as_mut()) {
                (None, None) => return Ok(None),
                (Some(out), None) => (OutputStream::Stdout, read_line(out, stdout_partial).await),
                (None, Some(err)) => (OutputStream::Stderr, read_line(err, stderr_partial).await),
                (Some(out), Some(err)) => tokio::select! {
                    line = read_line(out, stdout_partial) => (OutputStream::Stdout, line),
                    line = read_line(err, stderr_partial) => (OutputStream::Stderr, line),
                },
            };
            match line {
                Ok(Some(line)) => return Ok(Some((stream, line))),
                // End of this stream (or a read error, which ends it too): read the other.
                Ok(None) | Err(_) => match stream {
                    OutputStream::Stdout => *stdout = None,
                    OutputStream::Stderr => *stderr = None,
                },
            }
        }
    }
}
