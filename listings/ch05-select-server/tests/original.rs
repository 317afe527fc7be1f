//! The original's select server, and what its section on `socket_select`
//! says, doing what chapter 5 says they do: each test runs the original PHP.
//!
//! The server is run with two declared edits: it listens on loopback instead
//! of `0.0.0.0`, and on a free port instead of 5000.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{BorrowedFd, IntoRawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use socket2::{Domain, Socket, Type};
use testkit::php::{Original, Php, php};
use testkit::{
    Client, Process, Server, Transcript, kernel, procfs, timeout, unused_port,
    wait_until,
};

/// The original's welcome, byte for byte, trailing spaces included.
const WELCOME: &str = "Welcome to php socket server version 1.0 \n\
                       Enter a message and press enter, and i shall reply back \n";

/// The error that ends the original when a client leaves: it empties the
/// client's slot, then closes what the slot holds, which is null.
const CLOSES_NULL: &str = "PHP Fatal error:  Uncaught TypeError: socket_close(): \
                           Argument #1 ($socket) must be of type Socket, null given";

/// The original's select server, on loopback and `port` instead of
/// `0.0.0.0:5000`. It names 5000 twice: in `$port`, and in `socket_bind()`,
/// which does not use `$port`.
fn original_server(port: u16) -> Original {
    Original::of(&["14-select-server"])
        .edit(r#""0.0.0.0""#, r#""127.0.0.1""#, 1)
        .edit("5000", &port.to_string(), 2)
}

/// The original server, running, and where to reach it.
struct Running {
    process: Process,
    addr: SocketAddr,
    /// The script, when the test wrote it itself; removed after the
    /// process is gone (fields drop in order).
    _script: Option<Script>,
}

impl Running {
    /// Starts the original server and waits for its last progress message.
    fn start(php: &Php) -> Running {
        Running::start_with(|program| (php.spawn(program, &[]), None))
    }

    /// Starts the original server with `spawn` on a free port. Between
    /// `unused_port()` and the server's bind, another program may take the
    /// port: the original binds without `SO_REUSEADDR`, so even a client's
    /// connection from that port is in the way. Then the original says
    /// "Could not bind socket" and exits, and we try another port.
    fn start_with(
        spawn: impl Fn(&Original) -> (Process, Option<Script>),
    ) -> Running {
        for _ in 0..5 {
            let port = unused_port();
            let (mut process, script) = spawn(&original_server(port));
            assert_eq!(process.next_line(), "Socket created ");
            let bound = process.next_line();
            if bound.starts_with("Could not bind socket") {
                continue;
            }
            assert_eq!(bound, "Socket bind OK ");
            process.wait_for_stdout("Waiting for incoming connections... \n");
            return Running {
                process,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                _script: script,
            };
        }
        panic!("five free ports were taken before the original could bind one");
    }

    /// Connects a client and reads the two-line welcome.
    fn welcomed(&self) -> Client {
        let mut client = Client::connect(self.addr);
        assert_eq!(client.read_line() + &client.read_line(), WELCOME);
        client
    }

    /// How many times the server has printed `text` so far.
    fn printed(&self, text: &str) -> usize {
        self.process.stdout().matches(text).count()
    }
}

/// Reads what is left on `stream` until the server's end is gone: closed
/// (end of stream) or reset, which is what a client sees of a server that
/// died with the connection still in its accept queue.
fn rest_of(stream: &TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match (&*stream).read(&mut chunk) {
            Ok(0) => return rest,
            Ok(read) => rest.extend_from_slice(&chunk[..read]),
            Err(err) if err.kind() == ErrorKind::ConnectionReset => {
                return rest;
            }
            Err(err) => {
                panic!("the connection neither closed nor reset: {err}")
            }
        }
    }
}

/// A script of the original written to a folder of its own, for a test that
/// must start PHP itself (to change its descriptors before it runs). The
/// folder is removed on drop.
struct Script {
    folder: PathBuf,
    path: PathBuf,
}

impl Script {
    fn write(program: &Original) -> Script {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let folder = std::env::temp_dir().join(format!(
            "ch05-original-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&folder);
        fs::create_dir_all(&folder).expect("create the script's folder");
        let path = folder.join("select-server.php");
        fs::write(&path, program.source()).expect("write the script");
        Script { folder, path }
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.folder);
    }
}

/// Backs ch05-multiplexing-with-select.md#wrong-disconnect-kills-the-server,
/// and writes the session the chapter shows.
#[test]
fn the_original_dies_when_a_client_leaves_and_takes_the_others_with_it() {
    let Some(php) = php() else { return };
    let server = Running::start(&php);
    let mut first = server.welcomed();
    let mut second = server.welcomed();
    for (client, line) in [
        (&mut first, "hello"),
        (&mut second, "hello from the second"),
    ] {
        client.send_line(line);
        assert_eq!(client.read_line(), format!("OK ... {line}\n"));
    }

    // The first client leaves. The server reads "" from it, unsets its slot,
    // and passes the emptied slot, null, to socket_close().
    drop(first);
    let run = server.process.finish();
    assert_eq!(run.code(), 255, "PHP's exit status on a fatal error");
    assert!(run.stderr.contains(CLOSES_NULL), "{}", run.stderr);
    // The other client loses its connection with the server.
    assert!(rest_of(second.stream()).is_empty());

    // The client ports are ephemeral: show them as two fixed ones.
    let mut output = run.stdout;
    for (line, shown) in output
        .clone()
        .lines()
        .filter(|l| l.starts_with("Client"))
        .zip([41370, 41384])
    {
        let port = line
            .split(" : ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next());
        let port = port.unwrap_or_else(|| panic!("no port in {line:?}"));
        output =
            output.replace(&format!(" : {port} "), &format!(" : {shown} "));
    }
    Transcript::new("transcripts/original-session.console")
        .command("php select-server.php 2> errors.log")
        .output(&output)
        .check();
}

/// Backs ch05-multiplexing-with-select.md#wrong-disconnect-kills-the-server:
/// a reset makes socket_read() fail, and false is null enough for the
/// original's `$input == null`.
#[test]
fn a_client_that_resets_its_connection_kills_the_original_too() {
    let Some(php) = php() else { return };
    let server = Running::start(&php);
    let stays = server.welcomed();
    let leaves = server.welcomed();
    leaves.reset();
    let run = server.process.finish();
    assert_eq!(run.code(), 255);
    for text in [
        "PHP Warning:  socket_read(): unable to read from socket [104]: \
         Connection reset by peer",
        CLOSES_NULL,
    ] {
        assert!(run.stderr.contains(text), "{}", run.stderr);
    }
    assert!(rest_of(stays.stream()).is_empty());
}

/// Backs ch05-multiplexing-with-select.md#wrong-full-server-spins.
#[test]
fn a_full_original_spins_and_never_serves_the_eleventh_client() {
    let Some(php) = php() else { return };
    let server = Running::start(&php);
    let mut clients: Vec<Client> = (0..10).map(|_| server.welcomed()).collect();
    // Ten clients, none speaking: the server sleeps in socket_select().
    kernel::assert_asleep_during(server.process.pid(), Duration::from_secs(1));

    // The eleventh connects. The kernel completes the handshake and queues
    // the connection; with no free slot, the server never accepts it.
    let eleventh = Client::connect(server.addr);
    let pid = server.process.pid();
    let switches = kernel::voluntary_switches(pid).expect("the server runs");
    let used = procfs::cpu_used_during(pid, Duration::from_secs(1));
    let slept =
        kernel::voluntary_switches(pid).expect("the server runs") - switches;
    // It never once waits: socket_select() returns at once, every time.
    // How much CPU that takes depends on what else the machine runs; alone
    // it is the whole second. Asleep, it was next to nothing.
    assert_eq!(slept, 0, "the full server went to sleep {slept} times");
    assert!(
        used >= Duration::from_millis(100),
        "a spinning server used only {used:?} of CPU in one second"
    );

    // A client leaves: the server dies of it (see the test above), and the
    // eleventh, still queued, is never welcomed.
    drop(clients.remove(0));
    let run = server.process.finish();
    assert_eq!(run.code(), 255);
    assert!(run.stderr.contains(CLOSES_NULL), "{}", run.stderr);
    assert!(rest_of(eleventh.stream()).is_empty());
}

/// Backs ch05-multiplexing-with-select.md#wrong-accept-result-unchecked.
#[test]
fn out_of_descriptors_the_original_dies_instead_of_waiting() {
    let Some(php) = php() else { return };
    // RLIMIT_NOFILE bounds the numbers of new descriptors: every one must be
    // below it. PHP holds 0 to 2, its script and its listening socket, so 10
    // leaves room for about five clients: fewer than the ten slots.
    const LIMIT: u64 = 10;
    let server = Running::start_with(|program| {
        let script = Script::write(program);
        let mut command = php.command(&script.path);
        // SAFETY: the closure runs in the child between fork and exec, and
        // only calls getrlimit(2) and setrlimit(2), which are
        // async-signal-safe. It lowers the limit of the server alone, not of
        // this test process.
        unsafe {
            command.pre_exec(|| {
                let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
                setrlimit(Resource::RLIMIT_NOFILE, LIMIT, hard)?;
                Ok(())
            });
        }
        (Process::spawn(command), Some(script))
    });

    // Clients connect until the server is gone; each gets a slot and a
    // welcome until accept() fails with EMFILE.
    let mut welcomed = Vec::new();
    loop {
        assert!(welcomed.len() < 10, "every slot was filled");
        let Ok(mut client) = Client::try_connect(server.addr) else {
            break;
        };
        match client.try_read_line() {
            Ok(Some(line)) => {
                assert_eq!(line + &client.read_line(), WELCOME);
                welcomed.push(client);
            }
            // Closed or reset: the server died with this client queued.
            _ => break,
        }
    }
    // Descriptors 5 to 9 went to five clients; the sixth found none left.
    assert_eq!(welcomed.len(), 5);
    let run = server.process.finish();
    assert_eq!(run.code(), 255);
    for text in [
        "PHP Warning:  socket_accept(): unable to accept incoming connection [24]: \
         Too many open files",
        "PHP Fatal error:  Uncaught TypeError: socket_getpeername(): Argument #1 \
         ($socket) must be of type Socket, bool given",
    ] {
        assert!(run.stderr.contains(text), "{}", run.stderr);
    }
}

/// Backs ch05-multiplexing-with-select.md#wrong-one-client-stalls-all.
#[test]
fn a_client_that_never_reads_stalls_every_other_client_of_the_original() {
    let Some(php) = php() else { return };
    let server = Running::start(&php);
    let mut polite = server.welcomed();

    // The hog's receive buffer is small, so the replies it never reads soon
    // fill it, and then the server's send buffer for it.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket
        .connect_timeout(&server.addr.into(), timeout())
        .expect("connect");
    let mut hog = TcpStream::from(socket);
    // The hog writes until a write waits two seconds in vain: the server has
    // stopped reading from it, stuck in a socket_write() to it.
    hog.set_write_timeout(Some(Duration::from_secs(2)))
        .expect("write timeout");
    let chunk = [b'x'; 65536];
    let mut sent = 0;
    let stuck = loop {
        assert!(sent < 256 << 20, "the server read 256 MB and never stalled");
        match hog.write(&chunk) {
            Ok(written) => sent += written,
            Err(err) => break err,
        }
    };
    assert!(
        matches!(stuck.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{stuck}"
    );

    // The polite client is not answered while the hog does not read.
    polite.send_line("anyone there?");
    assert!(polite.is_silent_for(Duration::from_secs(1)));

    // The hog reads its replies; the server's write goes through, and the
    // polite client gets its answer at last.
    let mut reader = hog.try_clone().expect("clone the hog's stream");
    let drain = thread::spawn(move || {
        let mut sink = [0u8; 65536];
        while matches!(reader.read(&mut sink), Ok(read) if read > 0) {}
    });
    assert_eq!(polite.read_line(), "OK ... anyone there?\n");
    hog.shutdown(Shutdown::Both).expect("shutdown");
    drain.join().expect("the hog's reader");
}

/// Backs ch05-multiplexing-with-select.md#wrong-reads-not-lines.
#[test]
fn the_original_answers_each_read_not_each_line() {
    let Some(php) = php() else { return };
    let server = Running::start(&php);
    let mut client = server.welcomed();

    // Half a line is answered at once, and so is the other half.
    client.send(b"hel");
    assert_eq!(client.read_exact(10), b"OK ... hel");
    client.send(b"lo\n");
    assert_eq!(client.read_line(), "OK ... lo\n");

    // Two lines that arrive together get one reply.
    client.send(b"one\ntwo\n");
    assert_eq!(client.read_line(), "OK ... one\n");
    assert_eq!(client.read_line(), "two\n");
    assert!(client.is_silent_for(Duration::from_millis(200)));
    let replies = || server.printed("Sending output to client \n");
    assert!(wait_until(timeout(), || replies() == 3), "{}", replies());
}

/// Backs ch05-multiplexing-with-select.md#wrong-fd-setsize.
#[test]
fn past_fd_setsize_socket_select_fails_and_the_original_dies() {
    let Some(php) = php() else { return };
    // The server starts with every descriptor from 3 to 1019 taken (copies
    // of its stdin), as a busy process might have them, and a limit that
    // lets it open more: its script and its sockets are numbered 1020 and
    // up, so its third client's is 1024.
    const LIMIT: u64 = 2048;
    let hard = testkit::limits::hard_descriptor_limit();
    if hard < LIMIT {
        testkit::skip(&format!(
            "this test needs a hard RLIMIT_NOFILE of {LIMIT}, not {hard}"
        ));
        return;
    }
    let mut server = Running::start_with(|program| {
        let script = Script::write(program);
        let mut command = php.command(&script.path);
        // SAFETY: the closure runs in the child between fork and exec, and
        // only calls setrlimit(2) and dup2(2), which are async-signal-safe.
        // dup2 replaces whatever a descriptor held (in the child only) with
        // a copy of stdin that stays open through exec; the copies are
        // leaked on purpose.
        unsafe {
            command.pre_exec(move || {
                setrlimit(Resource::RLIMIT_NOFILE, LIMIT, hard)?;
                let stdin = BorrowedFd::borrow_raw(0);
                for descriptor in 3..1020 {
                    let _ =
                        nix::unistd::dup2_raw(stdin, descriptor)?.into_raw_fd();
                }
                Ok(())
            });
        }
        (Process::spawn(command), Some(script))
    });

    // Each client is accepted and welcomed: accept() does not care how
    // large its descriptor is. select() does.
    let mut welcomed = Vec::new();
    while !server.process.has_exited() {
        assert!(welcomed.len() < 10, "every slot was filled");
        let Ok(mut client) = Client::try_connect(server.addr) else {
            break;
        };
        match client.try_read_line() {
            Ok(Some(line)) => {
                assert_eq!(line + &client.read_line(), WELCOME);
                welcomed.push(client);
            }
            _ => break,
        }
    }
    // Clients on 1022 and 1023 were served; the one on 1024 was welcomed,
    // and the next socket_select() failed.
    assert_eq!(welcomed.len(), 3);
    let run = server.process.finish();
    // die() with a message exits with status 0.
    assert_eq!(run.code(), 0);
    assert!(
        run.stdout
            .ends_with("Could not listen on socket : [0] Success \n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(
            "PHP Warning:  socket_select(): You MUST recompile PHP with a larger value \
             of FD_SETSIZE.\nIt is set to 1024, but you have descriptors numbered at \
             least as high as "
        ),
        "{}",
        run.stderr
    );
    for client in &welcomed {
        assert!(rest_of(client.stream()).is_empty());
    }
}

/// Backs ch05-multiplexing-with-select.md#wrong-warning-for-every-empty-slot.
#[test]
fn php_8_warns_about_every_empty_slot_each_time_round_the_loop() {
    let Some(php) = php() else { return };
    // error_reporting(~E_NOTICE) does not hide what PHP 8 says about a
    // missing array key: a warning, not a notice.
    let run = php.eval(
        "error_reporting(~E_NOTICE); $slots = array(); \
         if ($slots[3] == null) { echo 'an empty slot is null'; }",
    );
    assert_eq!(run.stdout, "an empty slot is null");
    assert!(
        run.stderr
            .starts_with("PHP Warning:  Undefined array key 3 in "),
        "{}",
        run.stderr
    );

    // In the server, every empty slot is read twice each time round the
    // loop: before socket_select() (building the read set) and after it
    // (looking for it in the ready set). Each read is a warning on stderr.
    let server = Running::start(&php);
    let warnings = || {
        server
            .process
            .stderr()
            .matches("PHP Warning:  Undefined array key ")
            .count()
    };
    // Ten empty slots before the first socket_select().
    assert!(wait_until(timeout(), || warnings() == 10), "{}", warnings());
    // A client connects: the free slot it takes (one warning), the nine
    // others after socket_select() and again before the next one.
    let mut client = server.welcomed();
    assert!(wait_until(timeout(), || warnings() == 10 + 1 + 2 * 9));
    // One line answered, one more time round the loop: nine slots, twice.
    client.send_line("hello");
    assert_eq!(client.read_line(), "OK ... hello\n");
    assert!(
        wait_until(timeout(), || warnings() == 29 + 2 * 9),
        "{}",
        warnings()
    );
}

/// Backs ch05-multiplexing-with-select.md#wrong-zero-ready-sockets.
#[test]
fn socket_select_returns_0_for_blocking_sockets_when_the_time_is_up() {
    let Some(php) = php() else { return };
    let run = php.eval(
        r#"$listener = socket_create_listen(0);
        socket_getsockname($listener, $address, $port);
        $client = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
        socket_connect($client, "127.0.0.1", $port);
        $server = socket_accept($listener);
        socket_set_block($server);
        $read = array($server); $write = NULL; $except = NULL;
        $start = microtime(true);
        $ready = socket_select($read, $write, $except, 0, 200000);
        $waited = microtime(true) - $start;
        echo $ready, " ready, after ", $waited >= 0.19 ? "the timeout" : "less", "\n";
        // The socket blocks: with nothing to read, a read waits (here for
        // at most 0.2 s, SO_RCVTIMEO) where a non-blocking one would fail
        // at once.
        $limit = array("sec" => 0, "usec" => 200000);
        socket_set_option($server, SOL_SOCKET, SO_RCVTIMEO, $limit);
        $start = microtime(true);
        socket_read($server, 100);
        $waited = microtime(true) - $start;
        echo "a read ", $waited >= 0.19 ? "waited" : "returned at once", "\n";"#,
    );
    assert_eq!(run.stdout, "0 ready, after the timeout\na read waited\n");
}

/// Backs ch05-multiplexing-with-select.md#wrong-socket-access.
#[test]
fn there_is_no_socket_access_only_socket_accept() {
    let Some(php) = php() else { return };
    let run =
        php.eval("var_dump(function_exists('socket_access'), function_exists('socket_accept'));");
    assert_eq!(run.stdout, "bool(false)\nbool(true)\n");
}

/// Backs ch05-multiplexing-with-select.md#wrong-error-check-example.
#[test]
fn the_error_check_example_stops_with_a_value_error() {
    let Some(php) = php() else { return };
    let run = php.run(&Original::of(&["04-select-error-check"]), b"");
    assert_eq!(run.code(), 255);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains(
            "PHP Fatal error:  Uncaught ValueError: socket_select(): \
             At least one array argument must be passed"
        ),
        "{}",
        run.stderr
    );
    // With the arrays filled, as the example means them, it runs: 0 is not
    // an error, so it prints nothing.
    let filled = Original::of(&["04-select-error-check"]).edit(
        "<?php\n",
        "<?php\n$r = array(socket_create_listen(0));\n$w = NULL;\n",
        1,
    );
    let run = php.run(&filled, b"");
    assert_eq!((run.code(), run.stdout.as_str()), (0, ""));
}

/// Backs ch05-multiplexing-with-select.md#wrong-fourth-rule.
#[test]
fn a_ready_socket_may_read_or_write_fewer_bytes_than_asked() {
    let Some(php) = php() else { return };
    let run = php.eval(
        r#"$listener = socket_create_listen(0);
        socket_getsockname($listener, $address, $port);
        $client = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
        socket_connect($client, "127.0.0.1", $port);
        $server = socket_accept($listener);
        // One byte has arrived: reading 1024 gives that one byte.
        socket_write($client, "x");
        $read = array($server); $write = NULL; $except = NULL;
        socket_select($read, $write, $except, 5);
        echo strlen(socket_read($server, 1024)), "\n";
        // The socket is writable, but not for 16 MB at once.
        socket_set_nonblock($client);
        $read = NULL; $write = array($client);
        socket_select($read, $write, $except, 5);
        $written = socket_write($client, str_repeat("x", 16 << 20));
        echo $written > 0 && $written < (16 << 20) ? "part" : $written, "\n";"#,
    );
    assert_eq!(run.stdout, "1\npart\n");
}

/// Backs ch05-multiplexing-with-select.md#wrong-fifth-rule.
#[test]
fn the_except_array_reports_out_of_band_data_and_nothing_else() {
    let Some(php) = php() else { return };
    let run = php.eval(
        r#"$listener = socket_create_listen(0);
        socket_getsockname($listener, $address, $port);
        $client = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
        socket_connect($client, "127.0.0.1", $port);
        $server = socket_accept($listener);
        function exceptional($socket, $usec) {
            $read = NULL; $write = NULL; $except = array($socket);
            return socket_select($read, $write, $except, 0, $usec);
        }
        socket_write($client, "ordinary data\n");
        echo "ordinary data: ", exceptional($server, 200000), "\n";
        socket_send($client, "!", 1, MSG_OOB);
        echo "out-of-band data: ", exceptional($server, 5000000), "\n";
        socket_recv($server, $urgent, 1, MSG_OOB);
        socket_recv($server, $ordinary, 100, 0);
        socket_close($client);
        echo "end of stream: ", exceptional($server, 200000), "\n";"#,
    );
    assert_eq!(
        run.stdout,
        "ordinary data: 0\nout-of-band data: 1\nend of stream: 0\n"
    );
}

/// A client speaking like telnet: lines end with `\r\n`. Both servers
/// greet it with the same words; they differ in the line ending of replies.
#[test]
fn a_telnet_like_client_talks_to_the_original_and_to_listing_5_1() {
    let Some(php) = php() else { return };
    let original = Running::start(&php);
    let ours = Server::start(env!("CARGO_BIN_EXE_ch05-select-server"));
    for (addr, reply) in [
        (original.addr, "OK ... hello\r\n"),
        (ours.addr(), "OK ... hello\n"),
    ] {
        let mut telnet = Client::connect(addr);
        assert_eq!(telnet.read_line() + &telnet.read_line(), WELCOME);
        telnet.send(b"hello\r\n");
        assert_eq!(telnet.read_line(), reply);
    }
}
