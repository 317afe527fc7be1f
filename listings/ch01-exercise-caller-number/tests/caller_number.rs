//! The checks for exercise 1-1. They fail on the unchanged starter and pass
//! once every caller is told its number.

use testkit::Server;

const SERVER: &str = env!("CARGO_BIN_EXE_ch01-exercise-caller-number");

#[test]
fn callers_are_numbered_from_one() {
    let server = Server::start(SERVER);
    for number in 1..=3 {
        let mut client = server.connect();
        let greeting =
            String::from_utf8_lossy(&client.read_to_end()).into_owned();
        let expected = format!(
            "Hello {}, you are caller number {number}. Goodbye!\n",
            client.local_addr()
        );
        assert_eq!(greeting, expected);
    }
}

#[test]
fn the_server_logs_each_call_with_its_number() {
    let mut server = Server::start(SERVER);
    for number in 1..=3 {
        let mut client = server.connect();
        client.read_to_end();
        assert_eq!(
            server.next_line(),
            format!("call {number} from {}", client.local_addr())
        );
    }
}

#[test]
fn a_caller_who_hangs_up_at_once_still_counts() {
    // The server picked up (accept returned), so that was a call, even if the
    // caller was gone before the greeting.
    let mut server = Server::start(SERVER);
    let rude = server.connect();
    rude.reset();
    assert!(server.next_line().starts_with("call 1 from "));

    let mut polite = server.connect();
    assert!(polite.read_line().contains("you are caller number 2."));
}
