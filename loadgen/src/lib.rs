//! The library side of the load generator: the chaos run, shared by `northstar-loadgen chaos`
//! (the full run of `scripts/chaos`) and the short run in the end-to-end tests.
pub mod chaos;
