//! Integration tests: the real server, started in-process on loopback port 0 (or as
//! the real binary), asked real questions over UDP, TCP and HTTP.
#![allow(clippy::unwrap_used)]

#[path = "../support/mod.rs"]
mod support;

mod autopath;
mod cache;
mod check;
mod deploy;
mod distributions;
mod dns64;
mod forward;
mod forward_protection;
mod hosts_whoami_wire;
mod http;
mod k8s_external;
mod kubernetes;
mod kubernetes_api;
mod kubernetes_api_outage;
mod lameduck;
mod log_classes;
mod loop_detection;
mod malformed;
mod node_local;
mod node_local_deploy;
mod overload;
mod plugins;
mod pod_view;
mod pressure;
mod protocol;
mod reload;
mod reply_source;
mod rewrite;
mod rollout;
mod tcp;
mod template;
mod truncation;
mod wire_path;
