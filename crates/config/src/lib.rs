#![forbid(unsafe_code)]
//! Configuration: TOML schema → validation → [`Config`].

mod model;
pub use model::*;
