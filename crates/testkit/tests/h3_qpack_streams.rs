//! What a client may put on its QPACK encoder and decoder streams and its
//! control stream, and what it may not (RFC 9204 §4.2–§4.5, RFC 7541 §5.2,
//! RFC 9114 §6.2.1, §7.2.3 and §7.2.7), from a raw aioquic probe on real sockets,
//! both drivers. The gateway's dynamic table has capacity 0, so nearly
//! every instruction is a connection error; what stays legal keeps the
//! connection serving. Each case is a new connection and ends with a GET.

use shardgate_testkit::{each_driver, Driver, TestCert};

each_driver!(qpack_and_control_stream_violations_close_the_connection);

const H3_CLOSED_CRITICAL_STREAM: u64 = 0x104;
const H3_ID_ERROR: u64 = 0x108;
const H3_MISSING_SETTINGS: u64 = 0x10a;
const QPACK_DECOMPRESSION_FAILED: u64 = 0x200;
const QPACK_ENCODER_STREAM_ERROR: u64 = 0x201;
const QPACK_DECODER_STREAM_ERROR: u64 = 0x202;

fn probe(addr: std::net::SocketAddr, cert: &TestCert, case: &str) -> serde_json::Value {
    shardgate_testkit::h3probe::run("h3qpack.py", addr, cert, &[case]).unwrap()
}

fn qpack_and_control_stream_violations_close_the_connection(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let name = format!("qpack-{driver}");
    // Every request is answered by the gateway (the probe's GET is /static).
    let gw = shardgate_testkit::h3probe::answering_gateway(driver, &cert, &name).unwrap();
    let addr = gw.addr(&name);
    for legal in [
        "plain",
        "encoder_zero",
        "decoder_cancel",
        "max_push_id_up",
        "control_unknown_after",
    ] {
        let r = probe(addr, &cert, legal);
        assert_eq!(r["get_status"], 200, "{legal}: {r}");
        assert_eq!(r["close_code"], serde_json::Value::Null, "{legal}: {r}");
    }
    for (case, code) in [
        ("encoder_capacity", QPACK_ENCODER_STREAM_ERROR),
        ("encoder_insert", QPACK_ENCODER_STREAM_ERROR),
        ("encoder_fin", H3_CLOSED_CRITICAL_STREAM),
        ("decoder_ack", QPACK_DECODER_STREAM_ERROR),
        ("decoder_increment", QPACK_DECODER_STREAM_ERROR),
        ("decoder_reset", H3_CLOSED_CRITICAL_STREAM),
        ("prefix_insert_count", QPACK_DECOMPRESSION_FAILED),
        ("prefix_negative_base", QPACK_DECOMPRESSION_FAILED),
        ("huffman_padding", QPACK_DECOMPRESSION_FAILED),
        ("huffman_eos", QPACK_DECOMPRESSION_FAILED),
        ("max_push_id_down", H3_ID_ERROR),
        ("cancel_push", H3_ID_ERROR),
        ("control_unknown_first", H3_MISSING_SETTINGS),
    ] {
        let r = probe(addr, &cert, case);
        assert_eq!(r["close_code"], code, "{case}: {r}");
        assert_eq!(r["get_status"], serde_json::Value::Null, "{case}: {r}");
    }
}
