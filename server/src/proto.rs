//! The protobuf contract on the server side: the messages (generated once, in the client
//! crate), the service traits generated here, and the descriptor set that reflection serves.
pub use northstar_jira_client::proto::*;

#[allow(clippy::all, missing_docs)]
mod services {
    tonic::include_proto!("northstar.jira.v1");
}
pub use services::*;

/// Every file of the contract, for tonic-reflection and for tests that walk the contract.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/northstar_jira_descriptor.bin"));

/// The fully qualified names of the contract's services, read from the descriptor set.
pub fn service_names() -> Vec<String> {
    use prost::Message as _;
    let fds = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)
        .expect("the descriptor set is written by build.rs from the same protos");
    fds.file
        .iter()
        .filter(|f| f.package() == "northstar.jira.v1")
        .flat_map(|f| f.service.iter().map(move |s| format!("{}.{}", f.package(), s.name())))
        .collect()
}
