//! What the original's walkthrough (the nine steps that Listing 3-4 ports)
//! says of PHP's functions, checked by running them. Its server.php is
//! missing from our copy of the tutorial, so these run the functions the
//! steps name, on a TCP connection over loopback.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use testkit::php::php;
use testkit::tcp_queues::queues;
use testkit::{Finished, Process, kernel, timeout, wait_until};

/// PHP that sets up `$client` and `$server`, the two ends of a TCP
/// connection on 127.0.0.1, then runs `code`.
fn on_a_connection(code: &str) -> String {
    format!(
        r#"$listener = socket_create(AF_INET, SOCK_STREAM, 0);
        socket_bind($listener, "127.0.0.1", 0);
        socket_listen($listener, 1);
        socket_getsockname($listener, $address, $port);
        $client = socket_create(AF_INET, SOCK_STREAM, 0);
        socket_connect($client, $address, $port);
        $server = socket_accept($listener);
        {code}"#
    )
}

/// A fresh folder for a script, removed when the test ends.
struct Folder(PathBuf);

impl Folder {
    fn new(name: &str) -> Folder {
        let path = std::env::temp_dir()
            .join(format!("ch03-{name}-{}", std::process::id()));
        fs::create_dir_all(&path).expect("create a folder for the script");
        Folder(path)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn eval(code: &str) -> Option<Finished> {
    let php = php()?;
    let run = php.eval(&on_a_connection(code));
    assert_eq!(run.code(), 0, "{run:?}");
    Some(run)
}

/// Backs ch03-tcp-clients-and-servers.md#wrong-socket-read-stops: by
/// default (`PHP_BINARY_READ`) `socket_read()` stops at no character;
/// `PHP_NORMAL_READ` stops after a `\n` or a `\r`, never at a tab or a NUL
/// byte.
#[test]
fn socket_read_stops_at_no_tab_or_nul_byte() {
    let Some(run) = eval(
        r#"$sent = "a\tb\0c\nd\re";
        socket_write($client, $sent);
        echo bin2hex(socket_read($server, 100)), "\n";
        socket_write($client, $sent);
        echo bin2hex(socket_read($server, 100, PHP_NORMAL_READ)), "\n";
        echo bin2hex(socket_read($server, 100, PHP_NORMAL_READ)), "\n";"#,
    ) else {
        return;
    };
    // a \t b \0 c \n d \r e, all of it; then up to the \n; then up to the \r.
    assert_eq!(run.stdout, "61096200630a640d65\n61096200630a\n640d\n");
}

/// Step 7: the length bounds what one `socket_read()` takes from the client.
#[test]
fn socket_read_takes_no_more_than_its_length() {
    let Some(run) = eval(
        r#"socket_write($client, "0123456789\n");
        var_dump(socket_read($server, 4));
        var_dump(socket_read($server, 4, PHP_NORMAL_READ));"#,
    ) else {
        return;
    };
    assert_eq!(run.stdout, "string(4) \"0123\"\nstring(4) \"4567\"\n");
}

/// The note on step 7: with `PHP_NORMAL_READ`, `socket_read()` waits for a
/// newline while the connection is open; when the input ends without one,
/// it fails, and PHP reports a reset that never happened.
#[test]
fn php_normal_read_waits_for_a_newline_and_fails_if_the_input_ends_first() {
    let Some(php) = php() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local_addr").port();
    let folder = Folder::new("normal-read");
    let script = folder.0.join("normal-read.php");
    fs::write(
        &script,
        format!(
            r#"<?php
            $socket = socket_create(AF_INET, SOCK_STREAM, 0);
            socket_connect($socket, "127.0.0.1", {port});
            var_dump(socket_read($socket, 100, PHP_NORMAL_READ));"#
        ),
    )
    .expect("write the script");
    let mut process = Process::spawn(php.command(&script));
    process.close_stdin();
    let (mut stream, peer) = testkit::accept(&listener);
    stream.write_all(b"no newline").expect("write");
    let local = stream.local_addr().expect("local_addr");
    assert!(wait_until(timeout(), || {
        queues(local, peer).is_some_and(|queues| queues.send == 0)
    }));
    kernel::assert_asleep_during(process.pid(), Duration::from_millis(300));
    assert_eq!(process.stdout(), "");

    drop(stream);
    let run = process.finish();
    assert_eq!(run.stdout, "bool(false)\n");
    assert!(
        run.stderr
            .contains("socket_read(): unable to read from socket [104]: Connection reset by peer"),
        "{}",
        run.stderr
    );
}

/// Backs ch03-tcp-clients-and-servers.md#wrong-set-time-out: there is no
/// `set_time_out()`; `set_time_limit()` is the function, and the command
/// line has no time limit to lift.
#[test]
fn set_time_out_does_not_exist_and_the_command_line_has_no_time_limit() {
    let Some(php) = php() else { return };
    let run = php.eval("set_time_out(0);");
    assert_eq!(run.code(), 255, "{run:?}");
    assert!(
        run.stderr
            .contains("Call to undefined function set_time_out()"),
        "{}",
        run.stderr
    );
    let run = php.eval(
        r#"var_dump(function_exists("set_time_limit"));
        var_dump(ini_get("max_execution_time"));"#,
    );
    assert_eq!(run.stdout, "bool(true)\nstring(1) \"0\"\n");
}

/// Step 5: `socket_listen()` with the walkthrough's backlog of 3 lets four
/// finished connections wait for `accept()`; the SYN of a fifth is dropped,
/// so its `connect()` gets no answer (here, within 300 ms).
#[test]
fn a_backlog_of_3_lets_four_connections_wait() {
    let Some(php) = php() else { return };
    let run = php.eval(
        r#"$listener = socket_create(AF_INET, SOCK_STREAM, 0);
        socket_bind($listener, "127.0.0.1", 0);
        socket_listen($listener, 3);
        socket_getsockname($listener, $address, $port);
        $clients = [];
        for ($i = 1; $i <= 5; $i++) {
            $client = socket_create(AF_INET, SOCK_STREAM, 0);
            socket_set_nonblock($client);
            @socket_connect($client, $address, $port);
            $read = null; $write = [$client]; $except = null;
            $connected = socket_select($read, $write, $except, 0, 300000);
            echo "client $i: ", $connected ? "connected" : "no answer", "\n";
            $clients[] = $client;
        }"#,
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "client 1: connected\nclient 2: connected\nclient 3: connected\n\
         client 4: connected\nclient 5: no answer\n"
    );
}
