//! HTTP-level tests of the fake API server: a plain hyper client over loopback
//! checks the wire protocol a kube-rs reflector depends on, plus the test hooks.
#![allow(clippy::unwrap_used)]

mod admin;
mod hooks;
mod list;
mod support;
mod watch;
