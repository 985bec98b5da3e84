//! A short wrk run through the proxy: no errors, no non-2xx.

use shardgate_testkit::{each_driver, handlers, tools, Driver, Gateway, Origin};

fn wrk_one_second_twenty_connections(driver: Driver) {
    let origin = Origin::start(handlers::fixed(
        200,
        &[("content-type", "text/plain")],
        b"hello from the origin\n",
    ))
    .unwrap();
    let gw = Gateway::builder(
        r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
path_prefix = "/static"
respond = { status = 200, body = "static\n" }

[[route]]
proxy = "origin"

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#,
    )
    .var("UP", origin.addr())
    .driver(driver)
    .start()
    .unwrap();
    let report = tools::wrk(&gw.url("public", "/"), 1, 20, 2).unwrap();
    assert!(report.requests > 100, "{}", report.output);
    assert_eq!(report.non_2xx_3xx, 0, "{}", report.output);
    assert_eq!(report.socket_errors, [0, 0, 0, 0], "{}", report.output);
    // Every proxied request reached the origin over pooled connections.
    assert!(
        origin.requests() as u64 >= report.requests,
        "{} < {}",
        origin.requests(),
        report.requests
    );
    assert!(
        origin.connections() <= 20,
        "{} upstream connections for 20 clients",
        origin.connections()
    );
}

each_driver!(wrk_one_second_twenty_connections,);
