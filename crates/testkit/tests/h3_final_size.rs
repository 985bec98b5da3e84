//! RFC 9000 §4.5: a STREAM frame whose FIN gives a final size below the data
//! already received changes the final size, which an endpoint SHOULD answer
//! with a connection error of type FINAL_SIZE_ERROR. quinn checked it for
//! RESET_STREAM only, and took the smaller size; patched (vendor/quinn-proto,
//! PATCH.md). aioquic on real sockets (`tools/h3finalsize.py`), both drivers.

use shardgate_testkit::{each_driver, h3probe, Driver, TestCert};

each_driver!(a_final_size_below_received_data_is_a_final_size_error);

/// RFC 9000 §20.1.
const FINAL_SIZE_ERROR: u64 = 0x6;

fn a_final_size_below_received_data_is_a_final_size_error(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let name = format!("finalsize-{driver}");
    let gw = h3probe::answering_gateway(driver, &cert, &name).unwrap();
    let r = h3probe::run("h3finalsize.py", gw.addr(&name), &cert, &[]).unwrap();
    assert_eq!(r["server_close"]["code"], FINAL_SIZE_ERROR, "{r}");
    // The listener serves the next client.
    let res = h3probe::new_client_get(gw.addr(&name), &cert).unwrap();
    assert_eq!(res.statuses(), [Some(200)], "{}", res.summary());
}
