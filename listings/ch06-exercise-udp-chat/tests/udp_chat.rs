//! The checks for exercise 6-2. They fail on the unchanged starter and pass
//! once every message reaches every other member.
//!
//! No check waits to see whether a datagram comes. The room handles one
//! datagram at a time, and loopback delivers the datagrams it sends in the
//! order it sends them; so once the room has answered a later datagram,
//! whatever it sent for the earlier ones has arrived. `settle`
//! sends that later datagram: `/leave` from an address that is no member,
//! which the room answers and passes on to nobody.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use testkit::{Server, timeout};

const SERVER: &str = env!("CARGO_BIN_EXE_ch06-exercise-udp-chat");

/// A member-to-be: a socket on loopback, connected to the server.
struct Member {
    socket: UdpSocket,
    name: String,
    server: SocketAddr,
}

impl Member {
    fn new(server: SocketAddr) -> Member {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.connect(server).expect("connect");
        socket
            .set_read_timeout(Some(timeout()))
            .expect("read timeout");
        let name = socket.local_addr().expect("local_addr").to_string();
        Member {
            socket,
            name,
            server,
        }
    }

    /// Sends `message` and checks the server's `OK` for it.
    #[track_caller]
    fn say(&self, message: &str) {
        self.socket.send(message.as_bytes()).expect("send");
        assert_eq!(self.receive(), format!("OK {message}"));
    }

    fn receive(&self) -> String {
        let mut buffer = vec![0u8; 65_536];
        let received = self.socket.recv(&mut buffer).expect("a datagram");
        String::from_utf8_lossy(&buffer[..received]).into_owned()
    }

    /// The next datagram that has arrived already, if any: call it after
    /// `settle`.
    fn heard(&self) -> Option<String> {
        self.socket.set_nonblocking(true).expect("non-blocking");
        let mut buffer = vec![0u8; 65_536];
        let heard = match self.socket.recv(&mut buffer) {
            Ok(received) => {
                Some(String::from_utf8_lossy(&buffer[..received]).into_owned())
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => None,
            Err(err) => panic!("could not receive: {err}"),
        };
        self.socket.set_nonblocking(false).expect("blocking");
        heard
    }

    /// Checks that the next datagram that has arrived is `expected`. Should
    /// the kernel be slow to deliver it (under load it may pass datagrams on
    /// later, from another thread), asks again after another `settle`, for
    /// at most a second.
    #[track_caller]
    fn assert_heard(&self, expected: &str) {
        let deadline = Instant::now() + timeout().min(Duration::from_secs(1));
        let heard = loop {
            match self.heard() {
                None if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(5));
                    settle(self.server);
                }
                heard => break heard,
            }
        };
        assert_eq!(
            heard.as_deref(),
            Some(expected),
            "what {} heard",
            self.name
        );
    }

    /// Whether nothing has arrived: call it after `settle`.
    fn hears_nothing(&self) -> bool {
        self.heard().is_none()
    }
}

/// Returns once the room has done all it will do for every datagram sent
/// to it so far: see the top of this file.
fn settle(server: SocketAddr) {
    let probe = Member::new(server);
    probe.say("/leave");
}

#[test]
fn the_first_message_makes_a_member_and_goes_to_the_members_before_it() {
    let server = Server::start(SERVER);
    let ada = Member::new(server.addr());
    let ken = Member::new(server.addr());
    ada.say("hi, I am Ada");
    settle(server.addr());
    assert!(
        ken.hears_nothing(),
        "Ken has sent nothing: not a member yet"
    );
    ken.say("hi, I am Ken");
    settle(server.addr());
    ada.assert_heard(&format!("{}: hi, I am Ken", ken.name));
}

#[test]
fn every_message_goes_to_every_other_member_and_not_back_to_its_sender() {
    let server = Server::start(SERVER);
    let members: Vec<Member> =
        (0..3).map(|_| Member::new(server.addr())).collect();
    for (index, member) in members.iter().enumerate() {
        member.say("joining");
        settle(server.addr());
        for earlier in &members[..index] {
            earlier.assert_heard(&format!("{}: joining", member.name));
        }
    }
    members[1].say("hello, both");
    settle(server.addr());
    members[0].assert_heard(&format!("{}: hello, both", members[1].name));
    members[2].assert_heard(&format!("{}: hello, both", members[1].name));
    assert!(
        members[1].hears_nothing(),
        "the sender heard its own message"
    );
}

#[test]
fn a_member_that_leaves_hears_nothing_more_and_its_leave_is_not_passed_on() {
    let server = Server::start(SERVER);
    let ada = Member::new(server.addr());
    let ken = Member::new(server.addr());
    ada.say("hi");
    ken.say("hi");
    settle(server.addr());
    ada.assert_heard(&format!("{}: hi", ken.name));

    ken.say("/leave");
    settle(server.addr());
    assert!(ada.hears_nothing(), "Ken's /leave was passed on");
    ada.say("still there?");
    settle(server.addr());
    assert!(ken.hears_nothing(), "Ken left, and still hears the room");
}

#[test]
fn leave_is_understood_with_the_line_ending_nc_sends() {
    // `nc -u` sends a line with its `\n`; `nc -u -C` with `\r\n`.
    for leave in ["/leave\n", "/leave\r\n"] {
        let server = Server::start(SERVER);
        let ada = Member::new(server.addr());
        let ken = Member::new(server.addr());
        ada.say("hi");
        ken.say("hi");
        settle(server.addr());
        ada.assert_heard(&format!("{}: hi", ken.name));

        ken.say(leave);
        ada.say("still there?");
        settle(server.addr());
        assert!(ken.hears_nothing(), "{leave:?} was not understood");
    }
}

#[test]
fn what_a_room_sends_its_members_is_neither_answered_nor_passed_on() {
    let server = Server::start(SERVER);
    let ada = Member::new(server.addr());
    let ken = Member::new(server.addr());
    ada.say("hi");
    ken.say("hi");
    settle(server.addr());
    ada.assert_heard(&format!("{}: hi", ken.name));

    // What another room would pass on to its members, and a reply. Had
    // either been answered or passed on, it would arrive before what
    // answers the last message.
    for datagram in ["127.0.0.1:5000: hello from another room", "OK hi"] {
        ken.socket.send(datagram.as_bytes()).expect("send");
    }
    ken.say("last");
    settle(server.addr());
    ada.assert_heard(&format!("{}: last", ken.name));
}
