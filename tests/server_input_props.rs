//! CI-sized property run over everything a server sends (issue 8, item 7): token responses,
//! device-code answers, `az` output, JWT claims, Graph JSON bodies (success and error) and
//! `Retry-After` headers. Properties: never a panic; every time or duration that comes out is
//! bounded (`retry::MAX_WAIT`, `retry::MAX_TOKEN_LIFETIME`, `retry::latest_time`) and can be
//! shown as a date; errors never quote the input. The coverage-guided campaign over the same
//! entry points is `fuzz/fuzz_targets/server_input.rs`.

mod seed_support;

use std::time::{Duration, SystemTime};

use base64::Engine;
use msgraph_keystore::auth::{
    jwt, parse_az_output, parse_device_code_answer, parse_token_response,
};
use msgraph_keystore::graph::error::parse_error_body;
use msgraph_keystore::graph::models::{
    AppRoleAssignment, Application, NewPassword, Organization, Page, PasswordCredential,
    ServicePrincipal,
};
use msgraph_keystore::graph::{classify, decode_body};
use msgraph_keystore::retry::{
    self, latest_time, parse_retry_after, Retries, MAX_TOKEN_LIFETIME, MAX_WAIT,
};
use proptest::prelude::*;
use serde_json::{json, Value};

/// A marker no error message may repeat (it stands for a token or secret in the input).
const SECRET: &str = "S3cr3tMarker";

/// Numbers and number-like values a server might put in a time field.
fn odd_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN/inf", |f| f.is_finite())
            .prop_map(Value::from),
        (0u64..100_000).prop_map(Value::from),
        "-?[0-9]{1,40}(\\.[0-9]{0,12})?(e[+-]?[0-9]{1,4})?".prop_map(Value::from),
        "[ a-zA-Z0-9.+-]{0,12}".prop_map(Value::from),
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        Just(json!([3599])),
        Just(json!({"s": 1})),
    ]
}

/// A date-time a Graph object might carry: valid, out of range, or not a date at all.
fn odd_date() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-300_000i64..300_000, 1u32..13, 1u32..29, 0u32..24).prop_map(|(y, m, d, h)| {
            Value::from(format!("{y:04}-{m:02}-{d:02}T{h:02}:00:00Z"))
        }),
        Just(Value::from("+275760-09-13T00:00:00Z")),
        Just(Value::from("9999-12-31T23:59:59.9999999Z")),
        Just(Value::from("0001-01-01T00:00:00Z")),
        "[0-9TZ:.+-]{0,30}".prop_map(Value::from),
        odd_number(),
    ]
}

fn check_time(t: SystemTime) {
    assert!(t <= latest_time(), "{t:?} is past the latest time");
    // Whatever the tool does with it later: show it as a date.
    let shown = chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339();
    assert!(!shown.is_empty());
}

fn no_secret(text: &str) {
    assert!(!text.contains(SECRET), "quotes the input: {text}");
}

fn token_body() -> impl Strategy<Value = Vec<u8>> {
    let structured = (
        odd_number(),
        odd_number(),
        odd_number(),
        prop_oneof![Just(Value::from(SECRET)), Just(Value::Null), odd_number()],
        any::<u8>(),
    )
        .prop_map(|(expires_in, expires_on, ext, token, mask)| {
            let mut body = json!({"token_type": "Bearer"});
            let fields = [
                ("expires_in", expires_in),
                ("expires_on", expires_on),
                ("ext_expires_in", ext),
                ("access_token", token),
            ];
            for (i, (name, value)) in fields.into_iter().enumerate() {
                if mask & (1 << i) != 0 {
                    body[name] = value;
                }
            }
            body.to_string().into_bytes()
        });
    prop_oneof![
        3 => structured,
        1 => proptest::collection::vec(any::<u8>(), 0..200),
        1 => "\\{\"access_token\":\"S3cr3tMarker\",\"expires_in\":[-+0-9.e]{0,30}\\}?"
            .prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(seed_support::proptest_config("server_input_props", 512))]

    #[test]
    fn token_responses_give_a_bounded_token_or_a_clean_error(body in token_body(), now_secs in 0u64..8_000_000_000) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs);
        match parse_token_response("https://login.example/t/oauth2/v2.0/token", &body, now) {
            Ok(t) => {
                if let Some(at) = t.expires_at {
                    check_time(at);
                    if let Ok(ahead) = at.duration_since(now) {
                        // From expires_in (≤ a day) or expires_on (any bounded time).
                        prop_assert!(ahead <= MAX_TOKEN_LIFETIME || at <= latest_time());
                    }
                }
            }
            Err(e) => no_secret(&e.to_string()),
        }
    }

    #[test]
    fn retry_after_headers_are_bounded(value in prop_oneof![
        "[ -~]{0,40}",
        "[0-9]{1,400}(\\.[0-9]{0,20})?",
        (0u64..253_402_300_800).prop_map(|s| {
            httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(s))
        }),
    ], now_secs in 0u64..253_402_300_799, budget_ms in 0u64..100_000) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs);
        let wait = parse_retry_after(&value, now);
        if let Some(w) = wait {
            prop_assert!(w <= MAX_WAIT);
        }
        let mut retries = Retries::within(Duration::from_millis(budget_ms));
        match retries.next_wait(wait, |n| retry::backoff(Duration::from_millis(1), Duration::from_millis(10), n)) {
            Ok(w) => prop_assert!(w <= Duration::from_millis(budget_ms)),
            Err(refused) => prop_assert!(!refused.to_string().is_empty()),
        }
    }

    #[test]
    fn device_code_answers_bound_interval_and_lifetime(interval in odd_number(), expires_in in odd_number(), mask in any::<u8>()) {
        let mut body = json!({
            "device_code": SECRET,
            "user_code": "ABCD",
            "verification_uri": "https://microsoft.com/devicelogin",
        });
        if mask & 1 != 0 { body["interval"] = interval; }
        if mask & 2 != 0 { body["expires_in"] = expires_in; }
        match parse_device_code_answer("e", body.to_string().as_bytes()) {
            Ok(code) => {
                prop_assert!(code.interval <= Duration::from_secs(60));
                prop_assert!(code.lifetime <= Duration::from_secs(3600));
                no_secret(&format!("{code:?}"));
            }
            Err(e) => no_secret(&e.to_string()),
        }
    }

    #[test]
    fn jwt_exp_of_any_kind_is_a_bounded_time(exp in odd_number(), raw in proptest::collection::vec(any::<u8>(), 0..64)) {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let token = format!("h.{}.s", e.encode(json!({"exp": exp, "tid": "t"}).to_string()));
        if let Ok(Some(at)) = jwt::expires_at(&token) {
            check_time(at);
        }
        let garbage = format!("h.{}.s", e.encode(&raw));
        let _ = jwt::expires_at(&garbage);
        let _ = jwt::roles(&garbage);
    }

    #[test]
    fn az_output_of_any_kind_never_panics(expires_on in odd_number(), local in odd_date()) {
        let out = json!({"accessToken": SECRET, "expires_on": expires_on, "expiresOn": local});
        if let Ok(t) = parse_az_output(out.to_string().as_bytes()) {
            if let Some(at) = t.expires_at {
                check_time(at);
            }
        }
    }

    #[test]
    fn graph_success_bodies_decode_or_fail_cleanly(end in odd_date(), start in odd_date(), hint in odd_number(), raw in proptest::collection::vec(any::<u8>(), 0..120), status in prop_oneof![Just(200u16), Just(201), Just(204)]) {
        let cred = json!({"keyId": "k", "endDateTime": end, "startDateTime": start, "hint": hint, "secretText": SECRET});
        let app = json!({"id": "o", "appId": "a", "displayName": "n", "passwordCredentials": [cred.clone()]});
        let page = json!({"value": [app.clone()], "@odata.nextLink": hint});
        for body in [cred.to_string().into_bytes(), app.to_string().into_bytes(), page.to_string().into_bytes(), raw.clone()] {
            let outcomes = [
                decode_body::<Page<Application>>("GET", "/applications", status, &body, None).map(|p| {
                    for a in p.value { for c in a.password_credentials { use_dates(&c); } }
                }).map_err(|e| e.to_string()),
                decode_body::<NewPassword>("POST", "/x/addPassword", status, &body, None).map(|n| use_dates(&n.credential())).map_err(|e| e.to_string()),
                decode_body::<PasswordCredential>("GET", "/x", status, &body, None).map(|c| use_dates(&c)).map_err(|e| e.to_string()),
                decode_body::<Page<ServicePrincipal>>("GET", "/sp", status, &body, None).map(drop).map_err(|e| e.to_string()),
                decode_body::<Page<AppRoleAssignment>>("GET", "/a", status, &body, None).map(drop).map_err(|e| e.to_string()),
                decode_body::<Page<Organization>>("GET", "/organization", status, &body, None).map(drop).map_err(|e| e.to_string()),
            ];
            for o in outcomes {
                if let Err(e) = o { no_secret(&e); }
            }
        }
    }

    #[test]
    fn graph_error_bodies_parse_and_classify(code in "[ -~]{0,30}", message in "\\PC{0,600}", status in 100u16..600, raw in proptest::collection::vec(any::<u8>(), 0..300), inner in odd_number()) {
        let body = json!({"error": {"code": code, "message": message, "innerError": {"date": inner, "request-id": inner}, "details": [{"code": inner}]}});
        for bytes in [body.to_string().into_bytes(), raw] {
            let p = parse_error_body(&bytes);
            if let Some(m) = &p.message {
                prop_assert!(m.chars().count() <= 401);
            }
            let _ = classify(status, p.code.as_deref().unwrap_or(""), p.message.as_deref().unwrap_or(""));
        }
    }
}

/// What the tool does with a credential's dates: compare with now, show them.
fn use_dates(c: &PasswordCredential) {
    let now = chrono::Utc::now();
    for d in [c.start_date_time, c.end_date_time].into_iter().flatten() {
        let _ = d <= now;
        let _ = d.signed_duration_since(now).num_seconds();
        let _ = d.to_rfc3339();
        let _ = d.format("%Y-%m-%d").to_string();
    }
}
