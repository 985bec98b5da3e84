//! RFC 9000 §8.1: before a client's address is validated the gateway sends
//! it at most three times the bytes it received from that address — during
//! the handshake (a client that sends one Initial and never answers) and on
//! a path a client migrated to (a NAT rebinding, or an attacker spoofing a
//! victim's address with packets of its own connection). quinn allowed one
//! more full datagram whenever any budget was left: 4,160 bytes for a
//! 1,200-byte Initial, and a 1,200-byte PATH_CHALLENGE for a 46-byte packet
//! (26x); vendor/quinn-proto/PATCH.md. Real sockets, aioquic
//! (`tools/h3amplify.py`), both drivers.

use serde_json::Value;
use shardgate_testkit::{each_driver, Driver, Gateway, TestCert};

each_driver!(handshake_answers_within_three_times_the_initial);
each_driver!(a_migrated_path_is_answered_within_three_times_and_still_works);

fn start(driver: Driver, cert: &TestCert, name: &str) -> Gateway {
    shardgate_testkit::h3probe::answering_gateway(driver, cert, name).unwrap()
}

fn bytes(r: &Value, key: &str) -> u64 {
    r[key].as_u64().unwrap_or_else(|| panic!("no {key}: {r}"))
}

fn handshake_answers_within_three_times_the_initial(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let name = format!("amp-hs-{driver}");
    let gw = start(driver, &cert, &name);
    let r = shardgate_testkit::h3probe::run("h3amplify.py", gw.addr(&name), &cert, &["handshake"])
        .unwrap();
    let (client, server) = (bytes(&r, "client_bytes"), bytes(&r, "server_bytes"));
    assert_eq!(client, 1200, "one padded Initial: {r}");
    // The first flight (ServerHello, certificate) went out, and at least one
    // loss probe after it: the limit was reached, not avoided by silence.
    assert!(server >= 2 * 1200, "the server answered and probed: {r}");
    assert!(
        server <= 3 * client,
        "RFC 9000 §8.1: {server} > 3 x {client}: {r}"
    );
}

fn a_migrated_path_is_answered_within_three_times_and_still_works(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let name = format!("amp-mig-{driver}");
    let gw = start(driver, &cert, &name);
    // 0: one short packet (a 46-byte GET); 30 and 400: larger ones. Each
    // budget is below a full datagram, so the challenge goes out unpadded
    // (RFC 9000 §8.2.1 allows it) and the migration completes once the
    // client answers it.
    for pad in ["0", "30", "400"] {
        let r = shardgate_testkit::h3probe::run(
            "h3amplify.py",
            gw.addr(&name),
            &cert,
            &["migrate", pad],
        )
        .unwrap();
        let (client, server) = (bytes(&r, "client_bytes"), bytes(&r, "server_bytes"));
        assert!(client > 0 && client < 1200 / 3, "pad {pad}: {r}");
        assert!(server > 0, "pad {pad}: the new path was challenged: {r}");
        assert!(
            server <= 3 * client,
            "pad {pad}: RFC 9000 §8.1: {server} > 3 x {client}: {r}"
        );
        assert_eq!(
            r["status"], 200,
            "pad {pad}: the request on the new path: {r}"
        );
    }
}
