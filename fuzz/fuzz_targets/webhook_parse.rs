//! A Jira webhook body, as it arrives after the signature check.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| northstar_jira::domain::webhook::fuzz::check_parse(data));
