//! Running the host's network tools (`ip`, `nft`, `iptables`): one place that turns a
//! failed run into an error naming the command and carrying the tool's own message.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A tool that could not be run or that reported a failure.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
}

impl CommandError {
    /// The tool's message (empty when it could not be run).
    pub fn stderr(&self) -> &str {
        match self {
            Self::Spawn { .. } => "",
            Self::Failed { stderr, .. } => stderr,
        }
    }
}

/// How long a tool may run before it is killed: the sync thread must not hang on one
/// (an `iptables` waiting for the xtables lock gives up after 5 s by itself).
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Runs `program ARGS` (with `stdin` as its input, if any) and returns its stdout; kills it
/// after [`TIMEOUT`].
pub fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, CommandError> {
    let command = format!("{program} {}", args.join(" "));
    let spawn_error = |source| CommandError::Spawn {
        command: command.clone(),
        source,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A tool that exits early closes the pipe; its exit status says why.
        let _ = pipe.write_all(text.as_bytes());
    }
    // The outputs are read on threads of their own, so that a tool writing more than a
    // pipe holds cannot block while we wait for it to exit.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + TIMEOUT;
    // `None`: killed at the deadline.
    let exited = loop {
        match child.try_wait().map_err(spawn_error)? {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(POLL),
        }
    };
    let (stdout, stderr) = (collect(stdout), collect(stderr));
    match exited {
        Some(status) if status.success() => Ok(stdout),
        _ => Err(CommandError::Failed {
            command,
            status: exited.map_or_else(
                || format!("killed after {TIMEOUT:?}"),
                |status| status.to_string(),
            ),
            stderr: stderr.trim().to_owned(),
        }),
    }
}

/// How often a running tool is checked for its exit.
const POLL: Duration = Duration::from_millis(5);

fn drain(pipe: Option<impl Read + Send + 'static>) -> Option<JoinHandle<String>> {
    let mut pipe = pipe?;
    std::thread::Builder::new()
        .name("node-local-tool-output".into())
        .spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .ok()
}

fn collect(reader: Option<JoinHandle<String>>) -> String {
    reader
        .and_then(|handle| handle.join().ok())
        .unwrap_or_default()
}

/// Whether `program` can be run at all (it is installed and executable).
pub fn available(program: &str, probe: &[&str]) -> bool {
    Command::new(program)
        .args(probe)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn output_status_and_errors() {
        assert_eq!(
            run("sh", &["-c", "cat; echo done"], Some("in\n")).unwrap(),
            "in\ndone\n"
        );
        // More than a pipe holds, on both outputs, does not block.
        let big = run(
            "sh",
            &[
                "-c",
                "head -c 200000 /dev/zero; head -c 200000 /dev/zero >&2",
            ],
            None,
        )
        .unwrap();
        assert_eq!(big.len(), 200_000);
        let error = run("sh", &["-c", "echo oops >&2; exit 3"], None).unwrap_err();
        assert_eq!(error.stderr(), "oops");
        assert!(error.to_string().contains("exit status: 3"), "{error}");
        assert!(matches!(
            run("/nonexistent/tool", &[], None),
            Err(CommandError::Spawn { .. })
        ));
    }
}
