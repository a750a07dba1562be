//! The AWS Lambda Runtime Interface Emulator (`aws-lambda-rie`, installed by
//! scripts/tools.sh) running a binary as its bootstrap, and what the tests send
//! it: the `lambda_rie` tests run the release binary in it, the image test the
//! image's.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

/// Where the emulator is: `AWS_LAMBDA_RIE`, else `.tools/bin/aws-lambda-rie`.
/// The tests that start it are `#[ignore]`d for a plain `cargo test` and run
/// by `./scripts/test.sh` (`--include-ignored`), which installs it; a missing
/// emulator then fails them.
pub(crate) fn rie_path() -> PathBuf {
    tool(
        "the Lambda runtime interface emulator",
        "AWS_LAMBDA_RIE",
        repo().join(".tools/bin/aws-lambda-rie"),
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The emulator serves its runtime API on a fixed port (9001), so only one may
/// run at a time: every emulator holds this lock while it lives.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The emulator running the `author-stats` binary as its bootstrap.
pub(crate) struct Emulator {
    pub port: u16,
    child: tokio::process::Child,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.kill_group();
        let _ = self.child.start_kill();
    }
}

impl Emulator {
    /// The emulator around the test build of the binary.
    pub(crate) async fn start(env: &[(&str, String)]) -> Emulator {
        Self::launch(env, |port| {
            let mut cmd = tokio::process::Command::new(rie_path());
            cmd.arg("--runtime-interface-emulator-address")
                .arg(format!("127.0.0.1:{port}"))
                .arg(env!("CARGO_BIN_EXE_author-stats"));
            cmd
        })
        .await
    }

    /// Starts whatever `command` builds for a port; it must serve the invoke API there.
    /// The emulator with what it and the function print appended to `log`.
    pub(crate) async fn start_logged(env: &[(&str, String)], log: &std::path::Path) -> Emulator {
        Self::launch_logged(
            env,
            |port| {
                let mut cmd = tokio::process::Command::new(rie_path());
                cmd.arg("--runtime-interface-emulator-address")
                    .arg(format!("127.0.0.1:{port}"))
                    .arg(env!("CARGO_BIN_EXE_author-stats"));
                cmd
            },
            Some(log.into()),
        )
        .await
    }

    pub(crate) async fn launch(
        env: &[(&str, String)],
        command: impl FnOnce(u16) -> tokio::process::Command,
    ) -> Emulator {
        Self::launch_logged(env, command, None).await
    }

    async fn launch_logged(
        env: &[(&str, String)],
        command: impl FnOnce(u16) -> tokio::process::Command,
        log: Option<PathBuf>,
    ) -> Emulator {
        let turn = ONE_AT_A_TIME.lock().await;
        let port = free_port();
        let mut cmd = command(port);
        // Its own process group, so stopping it also stops what it started.
        cmd.process_group(0)
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        // AUTHOR_STATS_RIE_LOG=FILE keeps what the emulator and the function print
        // (docs/operations.md pastes from it); otherwise it is dropped.
        match log.or_else(|| std::env::var_os("AUTHOR_STATS_RIE_LOG").map(PathBuf::from)) {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap();
                cmd.stdout(file.try_clone().unwrap()).stderr(file);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start aws-lambda-rie");
        for _ in 0..600 {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Emulator {
                    port,
                    child,
                    _turn: turn,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("aws-lambda-rie did not listen on {port}");
    }

    fn kill_group(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }

    /// Stops the emulator (and the function it started) and waits for it to exit.
    pub(crate) async fn stop(mut self) {
        self.kill_group();
        let _ = self.child.wait().await;
    }

    /// Invokes the function with `event` and returns the reply body as JSON.
    pub(crate) async fn invoke(&self, event: &str) -> serde_json::Value {
        let body = http_post(
            self.port,
            "/2015-03-31/functions/function/invocations",
            event,
        )
        .await;
        serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "reply is not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        })
    }
}

/// A minimal HTTP/1.1 POST (the emulator's invoke API), reading to close.
pub(crate) async fn http_post(port: u16, path: &str, body: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP headers");
    let headers = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let payload = raw[split + 4..].to_vec();
    if headers.contains("transfer-encoding: chunked") {
        dechunk(&payload)
    } else {
        payload
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
    out
}

/// Asserts that an error reply's message contains `text`.
pub(crate) fn assert_message(reply: &serde_json::Value, text: &str) {
    let message = reply["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains(text), "{reply}");
}

/// The function's environment for the test server.
pub(crate) fn function_env(
    server: &S3Server,
    extra: &[(&str, &str)],
) -> Vec<(&'static str, String)> {
    let mut env = server.env();
    env.extend([
        ("SOURCE_BUCKET", SOURCE_BUCKET.to_string()),
        ("CHARTS_BUCKET", CHARTS_BUCKET.to_string()),
        ("S3_FORCE_PATH_STYLE", "true".to_string()),
        ("MAX_BAD_RECORD_SHARE", "0.2".to_string()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_string()),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", "60".to_string()),
    ]);
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push((leak(k), v.to_string()));
    }
    env
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

pub(crate) fn event(name: &str) -> String {
    std::fs::read_to_string(repo().join("events").join(name)).unwrap()
}
