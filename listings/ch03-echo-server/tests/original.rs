//! What the original's walkthrough (the nine steps that Listing 3-4 ports)
//! says of PHP's functions, checked by running them. Its server.php is
//! missing from our copy of the tutorial, so these run the functions the
//! steps name, on a TCP connection over loopback.

use testkit::Finished;
use testkit::php::php;

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

/// The note on step 7: with `PHP_NORMAL_READ`, input that ends without a
/// `\n` makes `socket_read()` fail, and PHP reports a reset that never
/// happened. While the connection is open, it waits instead.
#[test]
fn php_normal_read_fails_when_the_input_ends_without_a_newline() {
    let Some(run) = eval(
        r#"socket_write($client, "no newline");
        socket_close($client);
        var_dump(socket_read($server, 100, PHP_NORMAL_READ));"#,
    ) else {
        return;
    };
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
