#![forbid(unsafe_code)]
//! A fixed-size, lock-free table of connection slots (filled in by the table work).
