//! The checks for exercise 6-2. They fail on the unchanged starter and pass
//! once every message reaches every other member.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use testkit::{Server, timeout};

const SERVER: &str = env!("CARGO_BIN_EXE_ch06-exercise-udp-chat");

/// A member-to-be: a socket on loopback, connected to the server.
struct Member {
    socket: UdpSocket,
    name: String,
}

impl Member {
    fn new(server: SocketAddr) -> Member {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.connect(server).expect("connect");
        socket
            .set_read_timeout(Some(timeout()))
            .expect("read timeout");
        let name = socket.local_addr().expect("local_addr").to_string();
        Member { socket, name }
    }

    /// Sends `message` and checks the server's `OK` for it.
    fn say(&self, message: &str) {
        self.socket.send(message.as_bytes()).expect("send");
        assert_eq!(self.receive(), format!("OK {message}"));
    }

    fn receive(&self) -> String {
        let mut buffer = vec![0u8; 65_536];
        let received = self.socket.recv(&mut buffer).expect("a datagram");
        String::from_utf8_lossy(&buffer[..received]).into_owned()
    }

    /// Whether nothing arrives for a while.
    fn hears_nothing(&self) -> bool {
        self.socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let silent = self.socket.recv(&mut [0u8; 64]).is_err();
        self.socket
            .set_read_timeout(Some(timeout()))
            .expect("read timeout");
        silent
    }
}

#[test]
fn the_first_message_makes_a_member_and_goes_to_the_members_before_it() {
    let server = Server::start(SERVER);
    let ada = Member::new(server.addr());
    let ken = Member::new(server.addr());
    ada.say("hi, I am Ada");
    assert!(
        ken.hears_nothing(),
        "Ken has sent nothing: not a member yet"
    );
    ken.say("hi, I am Ken");
    assert_eq!(ada.receive(), format!("{}: hi, I am Ken", ken.name));
}

#[test]
fn every_message_goes_to_every_other_member_and_not_back_to_its_sender() {
    let server = Server::start(SERVER);
    let members: Vec<Member> =
        (0..3).map(|_| Member::new(server.addr())).collect();
    for (index, member) in members.iter().enumerate() {
        member.say("joining");
        for earlier in &members[..index] {
            assert_eq!(earlier.receive(), format!("{}: joining", member.name));
        }
    }
    members[1].say("hello, both");
    assert_eq!(
        members[0].receive(),
        format!("{}: hello, both", members[1].name)
    );
    assert_eq!(
        members[2].receive(),
        format!("{}: hello, both", members[1].name)
    );
    assert!(members[1].hears_nothing());
}

#[test]
fn a_member_that_leaves_hears_nothing_more_and_its_leave_is_not_passed_on() {
    let server = Server::start(SERVER);
    let ada = Member::new(server.addr());
    let ken = Member::new(server.addr());
    ada.say("hi");
    ken.say("hi");
    assert_eq!(ada.receive(), format!("{}: hi", ken.name));

    ken.say("/leave");
    assert!(ada.hears_nothing());
    ada.say("still there?");
    assert!(ken.hears_nothing());
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
        assert_eq!(ada.receive(), format!("{}: hi", ken.name));

        ken.say(leave);
        ada.say("still there?");
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
    assert_eq!(ada.receive(), format!("{}: hi", ken.name));

    // What another room would pass on to its members, and a reply. Had
    // either been answered or passed on, it would arrive before what
    // answers the last message.
    for datagram in ["127.0.0.1:5000: hello from another room", "OK hi"] {
        ken.socket.send(datagram.as_bytes()).expect("send");
    }
    ken.say("last");
    assert_eq!(ada.receive(), format!("{}: last", ken.name));
}
