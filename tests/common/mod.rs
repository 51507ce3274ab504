//! Helpers shared by the Lambda tests: a moto launcher, AWS resources, event builders, and a
//! Lambda Runtime API emulator. Each test binary uses a subset.
#![allow(dead_code)]

pub mod aws;
pub mod events;
pub mod fakes;
pub mod moto;
pub mod runtime_api;
