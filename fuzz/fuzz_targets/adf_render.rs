//! Text into ADF and ADF (or wiki markup) back into text.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| northstar_jira::jira::adf::fuzz::check_render(data));
