#!/usr/bin/env python3
"""An independent TLS peer for Accord's TLS tests, on Python's `ssl` module (OpenSSL), so
the production's TLS is checked against an implementation nobody here wrote.

    tls_peer.py send --port P --ca CA.pem [--cert C.pem --key K.pem] MESSAGE_FILE...
        Connects over TLS (verifying the server against CA.pem and the name `localhost`
        or --server-name), sends each message in an MLLP frame and prints the reply's
        MSA-1 per line, or CLOSED when the server closes without a reply. On a failed
        handshake prints `TLS-ERROR: why` and exits 3. `--show-peer` first prints the
        server certificate's serial number as `PEER-SERIAL: N`; `--idle S` waits S
        seconds after the handshake before sending.
    tls_peer.py lab --port P --cert C.pem --key K.pem --client-ca CA.pem --record FILE
        An MLLP server over TLS that requires a client certificate from CLIENT-CA, answers
        every message AA and appends {"peer": subject CN, "message": text} to FILE.
    tls_peer.py https --port P --cert C.pem --key K.pem --record FILE
            [--revoke-after N] [--expires-in S]
        An HTTPS server that appends {"path", "authorization", "content_type", "body",
        "status"} to FILE for every POST. `/token` is an OAuth2 token endpoint: it
        records the form and issues `tok-N` (expiring in S seconds). `/oauth` and `/smart`
        take only a token it issued, and refuse one (401) once it was used N times (as if
        revoked); any other path answers 200.
"""

import argparse
import http.server
import json
import socket
import socketserver
import ssl
import sys
import threading

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"


def read_frame(sock):
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
        end = buf.find(EB + CR)
        if end >= 0:
            start = buf.find(SB)
            return buf[start + 1 : end]


def msa1(reply):
    for seg in reply.decode("utf-8", "replace").split("\r"):
        if seg.startswith("MSA|"):
            return seg.split("|")[1]
    return "NO-MSA"


def send(args):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=args.ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    try:
        conn = ctx.wrap_socket(raw, server_hostname=args.server_name)
    except (ssl.SSLError, OSError) as e:
        print(f"TLS-ERROR: {e}")
        sys.exit(3)
    if args.idle:
        # Silent this long before sending: a listener's timeout closes the connection.
        import time

        time.sleep(args.idle)
    if args.show_peer:
        der = conn.getpeercert(binary_form=True)
        # The serial number, read by OpenSSL through the parsed form.
        print(f"PEER-SERIAL: {conn.getpeercert().get('serialNumber', '?')} ({len(der)} bytes)")
    for path in args.messages:
        with open(path, "rb") as f:
            message = f.read().replace(b"\r\n", b"\r").replace(b"\n", b"\r")
        try:
            conn.sendall(SB + message + EB + CR)
            reply = read_frame(conn)
        except (ssl.SSLError, OSError) as e:
            # TLS 1.3 reports a refused client certificate only when the client next reads.
            print(f"TLS-ERROR: {e}")
            sys.exit(3)
        print("CLOSED" if reply is None else msa1(reply), flush=True)
        if reply is None:
            break
    conn.close()


def lab(args):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=args.client_ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(args.cert, args.key)
    lock = threading.Lock()

    def serve(conn):
        try:
            tls = ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()
            return
        subject = dict(x[0] for x in tls.getpeercert().get("subject", ()))
        while True:
            try:
                frame = read_frame(tls)
            except (ssl.SSLError, OSError):
                break
            if frame is None:
                break
            text = frame.decode("utf-8", "replace")
            with lock, open(args.record, "a") as out:
                out.write(json.dumps({"peer": subject.get("commonName"), "message": text}) + "\n")
            control = text.split("\r")[0].split("|")[9] if text.count("|") >= 9 else ""
            ack = f"MSH|^~\\&|LAB|LAB|HUB|HUB|20261205000000||ACK|L{control}|P|2.5.1\rMSA|AA|{control}\r"
            tls.sendall(SB + ack.encode() + EB + CR)
        tls.close()

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.port))
    server.listen(64)
    print("READY", flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def https(args):
    lock = threading.Lock()
    issued = {}  # token -> times used

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            authorization = self.headers.get("Authorization")
            answer, status = b"", 200
            with lock:
                if self.path == "/token":
                    token = f"tok-{len(issued) + 1}"
                    issued[token] = 0
                    answer = json.dumps(
                        {"access_token": token, "token_type": "bearer", "expires_in": args.expires_in}
                    ).encode()
                elif self.path in ("/oauth", "/smart"):
                    token = (authorization or "").removeprefix("Bearer ")
                    uses = issued.get(token)
                    if uses is None or (args.revoke_after and uses >= args.revoke_after):
                        status = 401
                    else:
                        issued[token] = uses + 1
                record = {
                    "path": self.path,
                    "authorization": authorization,
                    "content_type": self.headers.get("Content-Type"),
                    "body": body.decode("utf-8", "replace"),
                    "status": status,
                }
                with open(args.record, "a") as out:
                    out.write(json.dumps(record) + "\n")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    httpd = Server(("127.0.0.1", args.port), Handler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    print("READY", flush=True)
    httpd.serve_forever()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--ca", required=True)
    s.add_argument("--cert")
    s.add_argument("--key")
    s.add_argument("--server-name", default="localhost")
    s.add_argument("--show-peer", action="store_true")
    s.add_argument("--idle", type=float, default=0)
    s.add_argument("messages", nargs="+")
    l = sub.add_parser("lab")
    l.add_argument("--port", type=int, required=True)
    l.add_argument("--cert", required=True)
    l.add_argument("--key", required=True)
    l.add_argument("--client-ca", required=True)
    l.add_argument("--record", required=True)
    h = sub.add_parser("https")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--cert", required=True)
    h.add_argument("--key", required=True)
    h.add_argument("--record", required=True)
    h.add_argument("--revoke-after", type=int, default=0)
    h.add_argument("--expires-in", type=int, default=3600)
    args = p.parse_args()
    {"send": send, "lab": lab, "https": https}[args.cmd](args)


if __name__ == "__main__":
    main()
