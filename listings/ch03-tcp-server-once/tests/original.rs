//! The original's TCP server (its steps "create and bind", "listen",
//! "accept" and "read and write", run as one program), doing what chapter 3
//! says it does.

use testkit::php::{Original, php};
use testkit::{Client, timeout, unused_port, wait_until};

/// The original's server, on loopback and a free port instead of 5000.
fn original_server(port: u16) -> Original {
    Original::of(&[
        "09-tcp-server-create-bind",
        "10-tcp-server-listen",
        "11-tcp-server-accept",
        "12-tcp-server-read-write",
    ])
    .edit("5000", &port.to_string(), 1)
}

/// Backs ch03-tcp-clients-and-servers.md#wrong-reply-twice.
#[test]
fn the_original_writes_its_reply_twice() {
    let Some(php) = php() else { return };
    let port = unused_port();
    let mut server = php.spawn(&original_server(port), &[]);
    server.wait_for_stdout("Waiting for incoming connections");
    let mut client = Client::connect(([127, 0, 0, 1], port).into());
    client.send(b"hello\n");
    let reply = String::from_utf8_lossy(&client.read_to_end()).into_owned();
    assert_eq!(reply, "OK .. hello\nOK .. hello\n");
    assert!(wait_until(timeout(), || server.has_exited()));
}
