//! `floor-uring`'s pieces. Only `sys` holds `unsafe` (allowed there; the
//! crate root denies it everywhere else).

pub mod conn;
pub mod http;
pub mod proxy;
#[allow(unsafe_code)]
pub mod sys;
pub mod token;
