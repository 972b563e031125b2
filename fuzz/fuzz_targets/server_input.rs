//! Feed arbitrary bytes to every parser of what a server sends: token responses, device-code
//! answers, `az` output, JWT claims, `Retry-After` headers, and Graph JSON bodies (success
//! and error). Any panic, abort or out-of-memory is a bug; so is a time or wait outside the
//! bounds of `msgraph_keystore::retry` (checked with assertions below).

#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use msgraph_keystore::auth::{
    jwt, parse_az_output, parse_device_code_answer, parse_token_response,
};
use msgraph_keystore::graph::error::parse_error_body;
use msgraph_keystore::graph::models::{
    AppRoleAssignment, Application, NewPassword, Organization, Page, PasswordCredential,
    ServicePrincipal,
};
use msgraph_keystore::graph::{classify, decode_body};
use msgraph_keystore::retry::{self, latest_time, Retries, MAX_WAIT};

fn check_time(t: SystemTime) {
    assert!(t <= latest_time());
    let _ = chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339();
}

fn use_dates(c: &PasswordCredential) {
    let now = chrono::Utc::now();
    for d in [c.start_date_time, c.end_date_time].into_iter().flatten() {
        let _ = d.signed_duration_since(now).num_seconds();
        let _ = d.to_rfc3339();
    }
}

fuzz_target!(|data: &[u8]| {
    // A clock reading taken from the input too, so date arithmetic sees every "now".
    let now_secs = data
        .get(..5)
        .map(|b| b.iter().fold(0u64, |a, x| a << 8 | u64::from(*x)) % 253_402_300_799)
        .unwrap_or(1_700_000_000);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs);

    if let Ok(t) = parse_token_response("https://login.example/t/oauth2/v2.0/token", data, now) {
        if let Some(at) = t.expires_at {
            check_time(at);
        }
    }
    if let Ok(code) = parse_device_code_answer("e", data) {
        assert!(code.interval <= Duration::from_secs(60));
        assert!(code.lifetime <= Duration::from_secs(3600));
    }
    if let Ok(t) = parse_az_output(data) {
        if let Some(at) = t.expires_at {
            check_time(at);
        }
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(Some(at)) = jwt::expires_at(&text) {
        check_time(at);
    }
    let _ = jwt::roles(&text);
    let wait = retry::parse_retry_after(&text, now);
    if let Some(w) = wait {
        assert!(w <= MAX_WAIT);
    }
    let mut retries = Retries::within(Duration::from_secs(60));
    let _ = retries.next_wait(wait, |n| {
        retry::backoff(Duration::from_secs(1), Duration::from_secs(20), n)
    });

    let p = parse_error_body(data);
    let _ = classify(
        429,
        p.code.as_deref().unwrap_or(""),
        p.message.as_deref().unwrap_or(""),
    );
    for status in [200, 204] {
        if let Ok(page) = decode_body::<Page<Application>>("GET", "/a", status, data, None) {
            for app in page.value {
                for c in &app.password_credentials {
                    use_dates(c);
                }
            }
        }
        if let Ok(n) = decode_body::<NewPassword>("POST", "/p", status, data, None) {
            use_dates(&n.credential());
        }
        let _ = decode_body::<Page<ServicePrincipal>>("GET", "/s", status, data, None);
        let _ = decode_body::<Page<AppRoleAssignment>>("GET", "/r", status, data, None);
        let _ = decode_body::<Page<Organization>>("GET", "/o", status, data, None);
    }
});
