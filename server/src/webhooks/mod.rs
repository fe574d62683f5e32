//! Jira's side of the sync: webhooks received on the sidecar are verified and stored before they
//! are answered (`receive`), processed from that inbox by workers on every replica (`inbox`),
//! rate-limited per configuration (`limit`), and applied to events and tickets by one set of rules (`apply`) that reconciliation
//! (`reconcile`) also uses for what no webhook brought.
pub mod apply;
pub mod inbox;
pub mod limit;
pub mod receive;
pub mod reconcile;
