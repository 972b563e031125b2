//! Response bodies are bounded (issue 11, item 6): a token answer over 64 KiB or a Graph
//! answer over 4 MiB is refused with one clear error (exit 69), whether the size is announced
//! by `Content-Length` (refused before the body is read) or only found while reading a
//! chunked body; answers up to the limit are read whole. The scripted servers below write raw
//! HTTP/1.1 so the framing (Content-Length, chunked, a body that never comes) is exactly the
//! one under test.

use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use msgraph_keystore::auth::{AccessToken, AuthError, ClientSecretSource, TokenSource};
use msgraph_keystore::exit::{ExitCode, UserFacing};
use msgraph_keystore::graph::{GraphClient, GraphError, RetryPolicy};
use msgraph_keystore::http_body::{MAX_GRAPH_BODY, MAX_TOKEN_BODY};
use msgraph_keystore::net::{build_client, HttpOptions};
use msgraph_keystore::secret::{secret_string, ExposeSecret, SecretString};

/// How the scripted server frames its one answer.
#[derive(Clone)]
enum Framing {
    /// `Content-Length: declared`, then `body` (which may be shorter: a body that never
    /// comes, to prove nothing was waited for).
    Length { declared: usize, body: Vec<u8> },
    /// `Transfer-Encoding: chunked`, `body` in chunks of `chunk` bytes.
    Chunked { body: Vec<u8>, chunk: usize },
}

/// A server on 127.0.0.1 that answers every request with `status` and `framing`, then holds
/// the connection open (so a client that waits for more bytes would wait until its timeout).
async fn serve(status: u16, framing: Framing) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let framing = framing.clone();
            tokio::spawn(answer(stream, status, framing));
        }
    });
    format!("http://{addr}")
}

async fn answer(mut stream: TcpStream, status: u16, framing: Framing) {
    // Read the request head and any Content-Length body, so the client is not cut off.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
        if let Some(i) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&seen[..head_end]).to_ascii_lowercase();
    let wanted: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while seen.len() < head_end + wanted {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    let mut out = format!(
        "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\nrequest-id: scripted\r\n"
    )
    .into_bytes();
    match framing {
        Framing::Length { declared, body } => {
            out.extend_from_slice(format!("content-length: {declared}\r\n\r\n").as_bytes());
            out.extend_from_slice(&body);
        }
        Framing::Chunked { body, chunk } => {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
            for part in body.chunks(chunk.max(1)) {
                out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                out.extend_from_slice(part);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
    }
    // The client may stop reading and close: a failed write is expected then.
    let _ = stream.write_all(&out).await;
    let _ = stream.flush().await;
    tokio::time::sleep(Duration::from_secs(20)).await;
}

/// `json` padded with spaces after its closing brace to exactly `len` bytes (still valid JSON).
fn padded(json: serde_json::Value, len: usize) -> Vec<u8> {
    let mut body = serde_json::to_vec(&json).expect("json");
    assert!(body.len() <= len, "{} > {len}", body.len());
    body.resize(len, b' ');
    body
}

fn http() -> reqwest::Client {
    build_client(&HttpOptions {
        request_timeout: Duration::from_secs(8),
        ..HttpOptions::default()
    })
    .expect("http")
}

struct FixedToken;

#[async_trait::async_trait]
impl TokenSource for FixedToken {
    fn describe(&self) -> String {
        "fixed test token".into()
    }
    async fn token(&self, _scope: &str) -> Result<AccessToken, AuthError> {
        Ok(AccessToken {
            token: SecretString::from("header.payload.sig"),
            expires_at: None,
        })
    }
}

fn graph(host: &str) -> GraphClient {
    GraphClient::new(
        http(),
        Arc::new(FixedToken),
        &format!("{host}/v1.0"),
        "https://graph.microsoft.com/.default",
        Instant::now() + Duration::from_secs(30),
    )
    .expect("client")
    .with_retry_policy(RetryPolicy {
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        consistent_reads: 1,
        consistent_read_interval: Duration::from_millis(1),
    })
}

fn token_source(host: &str) -> ClientSecretSource {
    ClientSecretSource::new(
        http(),
        host,
        "tenant-1",
        "client-1",
        secret_string("client-secret-value"),
    )
    .expect("source")
}

fn app_page(len: usize) -> Vec<u8> {
    padded(
        serde_json::json!({"value": [{"id": "obj-1", "appId": "app-1", "displayName": "big"}]}),
        len,
    )
}

fn token_answer(len: usize) -> Vec<u8> {
    padded(
        serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ.big.answer"}),
        len,
    )
}

/// A Graph error that is the size refusal: a decode error, exit 69, naming the limit.
fn assert_graph_refused(err: &GraphError, says: &str) {
    assert!(matches!(err, GraphError::Decode { .. }), "{err:?}");
    assert_eq!(err.exit_code(), ExitCode::Unavailable, "{err}");
    let text = err.to_string();
    assert!(text.contains(says) && text.contains("4 MiB"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
}

#[tokio::test]
async fn a_graph_answer_announcing_more_than_4_mib_is_refused_before_reading() {
    // The server announces one byte over the limit and sends no body at all: a client that
    // read (or waited for) the body would end in a timeout, not in this refusal.
    let host = serve(
        200,
        Framing::Length {
            declared: MAX_GRAPH_BODY + 1,
            body: Vec::new(),
        },
    )
    .await;
    let started = Instant::now();
    let err = graph(&host)
        .find_applications_by_display_name("big")
        .await
        .expect_err("over the limit");
    assert_graph_refused(&err, "announces 4194305 bytes (Content-Length)");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "waited for a body"
    );
}

#[tokio::test]
async fn a_chunked_graph_answer_past_4_mib_is_refused() {
    let host = serve(
        200,
        Framing::Chunked {
            body: app_page(MAX_GRAPH_BODY + 1),
            chunk: 64 * 1024,
        },
    )
    .await;
    let err = graph(&host)
        .find_applications_by_display_name("big")
        .await
        .expect_err("over the limit");
    assert_graph_refused(&err, "larger than the 4 MiB accepted");
}

#[tokio::test]
async fn a_graph_error_body_past_the_limit_is_refused_too() {
    let host = serve(
        400,
        Framing::Chunked {
            body: vec![b'x'; MAX_GRAPH_BODY + 10],
            chunk: 1 << 20,
        },
    )
    .await;
    let err = graph(&host)
        .find_applications_by_display_name("big")
        .await
        .expect_err("over the limit");
    assert_graph_refused(&err, "larger than the 4 MiB accepted");
}

#[tokio::test]
async fn graph_answers_of_exactly_4_mib_are_read_whole() {
    for framing in [
        Framing::Length {
            declared: MAX_GRAPH_BODY,
            body: app_page(MAX_GRAPH_BODY),
        },
        // Odd chunk sizes make the buffer grow several times on the way.
        Framing::Chunked {
            body: app_page(MAX_GRAPH_BODY),
            chunk: 10_007,
        },
    ] {
        let host = serve(200, framing).await;
        let apps = graph(&host)
            .find_applications_by_display_name("big")
            .await
            .expect("at the limit");
        assert_eq!(apps.len(), 1);
        assert_eq!(apps[0].app_id, "app-1");
    }
}

/// A token error that is the size refusal: "unexpected answer", exit 69, naming the limit.
fn assert_token_refused(err: &AuthError, says: &str) {
    assert!(matches!(err, AuthError::BadResponse { .. }), "{err:?}");
    assert_eq!(err.exit_code(), ExitCode::Unavailable, "{err}");
    let text = err.to_string();
    assert!(text.contains(says) && text.contains("64 KiB"), "{text}");
}

#[tokio::test]
async fn token_answers_past_64_kib_are_refused_announced_or_chunked() {
    let announced = serve(
        200,
        Framing::Length {
            declared: MAX_TOKEN_BODY + 1,
            body: Vec::new(),
        },
    )
    .await;
    let started = Instant::now();
    let err = token_source(&announced)
        .token("https://graph.microsoft.com/.default")
        .await
        .expect_err("over the limit");
    assert_token_refused(&err, "announces 65537 bytes (Content-Length)");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "waited for a body"
    );

    let chunked = serve(
        200,
        Framing::Chunked {
            body: token_answer(MAX_TOKEN_BODY + 1),
            chunk: 1000,
        },
    )
    .await;
    let err = token_source(&chunked)
        .token("https://graph.microsoft.com/.default")
        .await
        .expect_err("over the limit");
    assert_token_refused(&err, "larger than the 64 KiB accepted");
}

#[tokio::test]
async fn token_answers_of_exactly_64_kib_give_a_token() {
    for framing in [
        Framing::Length {
            declared: MAX_TOKEN_BODY,
            body: token_answer(MAX_TOKEN_BODY),
        },
        Framing::Chunked {
            body: token_answer(MAX_TOKEN_BODY),
            chunk: 997,
        },
    ] {
        let host = serve(200, framing).await;
        let t = token_source(&host)
            .token("https://graph.microsoft.com/.default")
            .await
            .expect("at the limit");
        assert_eq!(t.token.expose_secret(), "eyJ.big.answer");
    }
}

/// Writing an executable while another thread forks can fail with "text file busy": the
/// tests that start processes take turns.
static PROCESS_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn run(args: &[&str]) -> Output {
    let mut cmd = Command::cargo_bin("msgraph-keystore").expect("binary");
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .env("AZURE_TENANT_ID", "tenant-1")
        .env("AZURE_CLIENT_ID", "client-1")
        .env("AZURE_CLIENT_SECRET", "client-secret-value")
        .args(args)
        .write_stdin("")
        .timeout(Duration::from_secs(60));
    cmd.output().expect("run the binary")
}

/// What a user sees: one `ERROR: …, with exit code 69` line naming the limit, nothing written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_refuses_an_oversized_token_answer_with_one_line_and_exit_69() {
    let _turn = PROCESS_LOCK.lock().await;
    let host = serve(
        200,
        Framing::Chunked {
            body: token_answer(MAX_TOKEN_BODY * 4),
            chunk: 8192,
        },
    )
    .await;
    let dir = tempfile::tempdir().expect("tmp");
    let secret_file = dir.path().join("client-secret");
    let secret_arg = secret_file.to_string_lossy().into_owned();
    let args = [
        "provision",
        "--app-name",
        "es-bodies",
        "--secret-file",
        &secret_arg,
        "--auth",
        "client-secret",
        "--access-token-host",
        &host,
        "--graph-host",
        &format!("{host}/v1.0"),
        "--timeout",
        "30s",
    ]
    .map(str::to_string);
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    })
    .await
    .expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("ERROR:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("larger than the 64 KiB accepted"),
        "{stderr}"
    );
    assert!(errors[0].ends_with("with exit code 69"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!secret_file.exists(), "nothing written");
}

/// The buffer never moves for an honest `Content-Length` (a move would leave a copy if it
/// were not wiped); a chunked body moves a few times, each old buffer wiped. Prints how many
/// chunks were ours alone to wipe (the rest shared hyper's read buffer).
#[tokio::test]
async fn an_honest_content_length_is_read_without_moving_the_buffer() {
    use msgraph_keystore::http_body::read_body_counted;
    let body = app_page(1 << 20);
    for (framing, moves_at_most) in [
        (
            Framing::Length {
                declared: body.len(),
                body: body.clone(),
            },
            0,
        ),
        // 16 KiB doubling to 1 MiB: six moves.
        (
            Framing::Chunked {
                body: body.clone(),
                chunk: 4096,
            },
            6,
        ),
    ] {
        let host = serve(200, framing).await;
        let response = http().get(&host).send().await.expect("answer");
        let (read, stats) = read_body_counted(response, MAX_GRAPH_BODY)
            .await
            .expect("read");
        assert_eq!(read.as_slice(), body.as_slice());
        assert!(stats.moves <= moves_at_most, "{stats:?}");
        assert!(stats.chunks > 0 && stats.wiped <= stats.chunks, "{stats:?}");
        println!("{stats:?}");
    }
}

/// Compiles only if the value is a `SecretString`: the decoded secret is never a `String`.
fn is_secret_string(s: &SecretString) -> &SecretString {
    s
}

/// `addPassword`'s `secretText` (Graph's documented answer) and a token answer's
/// `access_token` decode straight into `SecretString`s, and every struct that holds one
/// prints a redaction in `Debug`.
#[test]
fn decoded_secrets_are_secret_strings_and_debug_is_redacted() {
    use msgraph_keystore::auth::{parse_az_output, parse_token_response};
    use msgraph_keystore::graph::decode_body;
    use msgraph_keystore::graph::models::NewPassword;
    use msgraph_keystore::provision::NewSecret;

    let fixture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/graph-samples/add-password-response.json"
    ))
    .expect("fixture");
    let value = "[6gyXA5S20@MN+WRXAJ]I-TO7g1:h2P8";
    let p: NewPassword =
        decode_body("POST", "/applications/x/addPassword", 200, &fixture, None).expect("decode");
    assert_eq!(is_secret_string(&p.secret_text).expose_secret(), value);
    let shown = format!("{p:?}");
    assert!(
        !shown.contains("6gyXA5S20") && shown.contains("REDACTED"),
        "{shown}"
    );

    let new = NewSecret {
        key_id: p.key_id.clone(),
        display_name: p.display_name.clone(),
        end_date_time: p.end_date_time,
        value: p.secret_text,
    };
    let shown = format!("{new:?}");
    assert!(!shown.contains("6gyXA5S20"), "{shown}");
    assert_eq!(is_secret_string(&new.value).expose_secret(), value);

    let token = parse_token_response(
        "e",
        br#"{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0eXAi.s3cr3t.sig"}"#,
        std::time::SystemTime::now(),
    )
    .expect("token");
    assert_eq!(
        is_secret_string(&token.token).expose_secret(),
        "eyJ0eXAi.s3cr3t.sig"
    );
    assert!(!format!("{token:?}").contains("s3cr3t"));

    let az = parse_az_output(br#"{"accessToken":"eyJ.az-s3cr3t.sig","expires_on":1700000000}"#)
        .expect("az");
    assert_eq!(
        is_secret_string(&az.token).expose_secret(),
        "eyJ.az-s3cr3t.sig"
    );
    assert!(!format!("{az:?}").contains("s3cr3t"));

    // An empty or missing token is still refused, as before.
    for body in [
        &br#"{"access_token":""}"#[..],
        br#"{"access_token":null}"#,
        b"{}",
    ] {
        let err =
            parse_token_response("e", body, std::time::SystemTime::now()).expect_err("no token");
        assert!(err.to_string().contains("no access_token"), "{err}");
    }
}

/// A fake `az` that prints 200 KB: refused (exit 69) without keeping or echoing it, and
/// without waiting for the two-minute timeout (the rest of its output is drained).
#[cfg(unix)]
#[tokio::test]
async fn azure_cli_output_past_64_kib_is_refused() {
    use msgraph_keystore::auth::AzureCliSource;
    use std::os::unix::fs::PermissionsExt;
    let _turn = PROCESS_LOCK.lock().await;
    let dir = tempfile::tempdir().expect("tmp");
    let script = dir.path().join("az.tmp");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf '{\"accessToken\": \"'\nyes s3cr3t | head -c 200000\nprintf '\"}'\n",
    )
    .expect("write az");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let az = dir.path().join("az");
    std::fs::rename(&script, &az).expect("rename");
    let started = Instant::now();
    let err = AzureCliSource::new(az, None)
        .expect("source")
        .token("https://graph.microsoft.com/.default")
        .await
        .expect_err("too much output");
    assert!(matches!(err, AuthError::BadResponse { .. }), "{err:?}");
    assert_eq!(err.exit_code(), ExitCode::Unavailable);
    let text = err.to_string();
    assert!(
        text.contains("larger than the 64 KiB accepted") && !text.contains("s3cr3t"),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}
