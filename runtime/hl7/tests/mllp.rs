//! MLLP over real TCP sockets on loopback: a listener that ACKs with the runtime's own
//! ACK builder, and the runtime's client; split writes, several frames per write,
//! oversized frames, timeouts, refused connections, idle connections, and TLS.

use accord_hl7::ack::{build_ack, AckCode, AckOptions, ErrDetail, Severity};
use accord_hl7::mllp::{serve, ClientOptions, Frame, MllpClient, MllpError, Reply, ServerOptions};
use accord_hl7::tls::{ClientTls, ServerTls};
use accord_hl7::Message;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn adt(control_id: &str) -> String {
    format!("MSH|^~\\&|TRAK|LOTH|LAB|WP|20260101||ADT^A01|{control_id}|P|2.5\rPID|1||100^^^T^MR||DOE^JOHN\r")
}

/// ACK every message AA; NACK an oversized frame AR with ERR 104 when its MSH can be read.
fn ack_for(frame: Frame) -> Reply {
    let (bytes, code, errors) = match &frame {
        Frame::Message(b) => (b.clone(), AckCode::AA, vec![]),
        Frame::Oversized { head, size } => (
            head.clone(),
            AckCode::AR,
            vec![ErrDetail {
                code: 104,
                severity: Severity::Error,
                location: None,
                message: format!("frame of {size} bytes over the limit"),
            }],
        ),
    };
    let msh_only: Vec<u8> = bytes.split(|&b| b == b'\r').next().unwrap_or(&[]).to_vec();
    match Message::parse(&msh_only) {
        Ok(m) => Reply::Frame(
            build_ack(
                &m,
                &AckOptions {
                    code,
                    text: None,
                    errors,
                    control_id: "ACK",
                    timestamp: "20260101",
                },
            )
            .into_bytes(),
        ),
        Err(_) => Reply::Nothing,
    }
}

async fn start(opts: ServerOptions) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(serve(listener, opts, |frame, _peer| async move {
        ack_for(frame)
    }));
    addr
}

fn msa(reply: &[u8]) -> (String, String) {
    let m = Message::parse(reply).unwrap();
    (
        m.get_text("MSA-1").unwrap().unwrap_or_default(),
        m.get_text("MSA-2").unwrap().unwrap_or_default(),
    )
}

#[tokio::test]
async fn client_and_listener_exchange_acks_in_order() {
    let addr = start(ServerOptions::default()).await;
    let mut client = MllpClient::connect(&addr, ClientOptions::default())
        .await
        .unwrap();
    for id in ["M1", "M2", "M3"] {
        let reply = client.send(adt(id).as_bytes()).await.unwrap();
        assert_eq!(msa(&reply), ("AA".to_string(), id.to_string()));
    }
}

#[tokio::test]
async fn several_frames_in_one_write_and_byte_by_byte_writes() {
    let addr = start(ServerOptions::default()).await;
    let mut raw = TcpStream::connect(&addr).await.unwrap();
    let mut burst = Vec::new();
    for id in ["B1", "B2", "B3"] {
        burst.extend_from_slice(b"\x0b");
        burst.extend_from_slice(adt(id).as_bytes());
        burst.extend_from_slice(b"\x1c\r");
    }
    raw.write_all(&burst).await.unwrap();
    let mut slow = b"\r\n".to_vec();
    slow.extend_from_slice(b"\x0b");
    slow.extend_from_slice(adt("S1").as_bytes());
    slow.extend_from_slice(b"\x1c\r");
    for b in slow {
        raw.write_all(&[b]).await.unwrap();
        raw.flush().await.unwrap();
    }
    let mut seen = vec![];
    let mut buf = Vec::new();
    while seen.len() < 4 {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "connection closed early");
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = buf.windows(2).position(|w| w == b"\x1c\r") {
            let frame: Vec<u8> = buf.drain(..end + 2).collect();
            seen.push(msa(&frame[1..end]).1);
        }
    }
    assert_eq!(seen, ["B1", "B2", "B3", "S1"]);
}

#[tokio::test]
async fn oversized_frames_are_nacked_and_the_connection_goes_on() {
    let addr = start(ServerOptions {
        max_frame: 1024,
        ..ServerOptions::default()
    })
    .await;
    let mut client = MllpClient::connect(&addr, ClientOptions::default())
        .await
        .unwrap();
    let big = adt("BIG") + &format!("NTE|1||{}\r", "X".repeat(10_000));
    let reply = client.send(big.as_bytes()).await.unwrap();
    assert_eq!(msa(&reply), ("AR".to_string(), "BIG".to_string()));
    let m = Message::parse(&reply).unwrap();
    assert_eq!(m.get_text("ERR-3.1").unwrap().as_deref(), Some("104"));
    let reply = client.send(adt("AFTER").as_bytes()).await.unwrap();
    assert_eq!(msa(&reply), ("AA".to_string(), "AFTER".to_string()));
}

#[tokio::test]
async fn a_silent_peer_times_out_and_a_closed_port_is_refused() {
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (_sock, _) = silent.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let opts = ClientOptions {
        read_timeout: Duration::from_millis(200),
        ..ClientOptions::default()
    };
    let mut client = MllpClient::connect(&addr, opts).await.unwrap();
    assert!(matches!(
        client.send(adt("T").as_bytes()).await,
        Err(MllpError::ReplyTimeout { after_ms: 200 })
    ));

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let e = MllpClient::connect(&closed_addr, ClientOptions::default())
        .await
        .err()
        .expect("refused");
    assert!(matches!(e, MllpError::Connect { .. }), "{e}");
    assert!(e.to_string().contains(&closed_addr));
}

#[tokio::test]
async fn idle_connections_are_closed_by_the_listener() {
    let addr = start(ServerOptions {
        idle_timeout: Duration::from_millis(150),
        ..ServerOptions::default()
    })
    .await;
    let mut raw = TcpStream::connect(&addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut buf))
        .await
        .expect("closed before 5 s")
        .unwrap();
    assert_eq!(n, 0, "the listener closes the idle connection");
}

#[tokio::test]
async fn tls_round_trip_and_plain_clients_are_refused() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
    let tls = ServerTls::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(serve(
        listener,
        ServerOptions {
            tls: Some(tls),
            ..ServerOptions::default()
        },
        |f, _| async move { ack_for(f) },
    ));
    let client_tls = ClientTls::from_ca_pem(cert_pem.as_bytes()).unwrap();
    let opts = ClientOptions {
        tls: Some(client_tls),
        ..ClientOptions::default()
    };
    let mut client = MllpClient::connect(&format!("localhost:{port}"), opts)
        .await
        .unwrap();
    let reply = client.send(adt("TLS1").as_bytes()).await.unwrap();
    assert_eq!(msa(&reply), ("AA".to_string(), "TLS1".to_string()));

    let plain = ClientOptions {
        read_timeout: Duration::from_millis(500),
        ..ClientOptions::default()
    };
    let mut plain_client = MllpClient::connect(&format!("127.0.0.1:{port}"), plain)
        .await
        .unwrap();
    assert!(
        plain_client.send(adt("PLAIN").as_bytes()).await.is_err(),
        "a plain client gets no ACK from a TLS listener"
    );
}
