#![doc = include_str!("../README.md")]
// BKData wire types, shared by the server and the client (feature `client`): the BKData envelope
// `{result, data, code, message, errors}` and the data pipeline API of seed 002 with its
// `{success, code, message, data}` envelope.
pub mod auth;
#[cfg(feature = "client")]
pub mod client;
pub mod databus;
pub mod dataflow;
pub mod envelope;
pub mod pipeline;

pub use envelope::{BkEnvelope, PipelineEnvelope, PipelineErrorBody};
