//! RFC 9000 §12.4 (Table 3): only a CONNECTION_CLOSE of type 0x1c may appear
//! in Initial and Handshake packets (an application close is sent there as
//! 0x1c with APPLICATION_ERROR, §10.2.3), and a frame in a packet type that
//! does not permit it MUST be a connection error of type PROTOCOL_VIOLATION.
//! quinn drained on an application close (0x1d) in a Handshake packet as on
//! a 0x1c one; patched (vendor/quinn-proto, PATCH.md). aioquic on real
//! sockets (`tools/h3hsclose.py`), both drivers.

use shardgate_testkit::{each_driver, h3probe, Driver, TestCert};

each_driver!(an_application_close_in_a_handshake_packet_is_a_protocol_violation);

/// RFC 9000 §20.1.
const PROTOCOL_VIOLATION: u64 = 0xa;
const APPLICATION_CLOSE: u64 = 0x1d;

fn an_application_close_in_a_handshake_packet_is_a_protocol_violation(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let name = format!("hsclose-{driver}");
    let gw = h3probe::answering_gateway(driver, &cert, &name).unwrap();
    let r = h3probe::run("h3hsclose.py", gw.addr(&name), &cert, &[]).unwrap();
    assert_eq!(r["close"]["code"], PROTOCOL_VIOLATION, "{r}");
    assert_eq!(r["close"]["frame_type"], APPLICATION_CLOSE, "{r}");
    // The listener serves the next client.
    let res = h3probe::new_client_get(gw.addr(&name), &cert).unwrap();
    assert_eq!(res.statuses(), [Some(200)], "{}", res.summary());
}
