//! A body, a secret, an `X-Hub-Signature` value and a `?secret=` value; see `check_signature` for the layout.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| northstar_jira::domain::webhook::fuzz::check_signature(data));
