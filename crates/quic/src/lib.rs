#![deny(unsafe_code)]
//! QUIC on shardgate's shards.
