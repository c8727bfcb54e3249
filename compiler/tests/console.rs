//! The operations console on the example production's admin listener, over real sockets:
//! logins against argon2id hashes made by the production's own `console hash-password`,
//! sessions, CSRF, roles enforced on the server (a viewer is refused a resend and sees no
//! button), patient data masked for a viewer, a dead letter resent from the console and
//! received again by the peer, throttled logins, logout, and every action in the audit
//! trail with its operator and reason. `cargo test -- console` selects these.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// An HTTP/1.1 exchange: the status, the headers (lowercased names) and the body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The session cookie a login set (`accord_console=...`).
    fn cookie(&self) -> String {
        let set = self.header("set-cookie").expect("a Set-Cookie header");
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        set.split(';').next().unwrap().to_string()
    }

    /// The CSRF token of the page's forms.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form with its CSRF token")
            + "name=\"csrf\" value=\"".len();
        self.body[at..].split('"').next().unwrap().to_string()
    }
}

fn http(port: u16, method: &str, path: &str, cookie: &str, form: &str) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let cookie = if cookie.is_empty() {
        String::new()
    } else {
        format!("Cookie: {cookie}\r\n")
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{cookie}\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// `name`'s session: logged in with `password`.
fn login(port: u16, name: &str, password: &str) -> String {
    let r = http(
        port,
        "POST",
        "/console/login",
        "",
        &format!("name={name}&password={}", password.replace(' ', "+")),
    );
    assert_eq!(r.status, 303, "{name} logs in: {}", r.body);
    r.cookie()
}

/// The id of the dead letter the dead-letter page lists first, once there is one.
fn wait_for_dead(admin: u16, session: &str) -> String {
    let started = Instant::now();
    loop {
        let r = http(admin, "GET", "/console/dead-letters", session, "");
        assert_eq!(r.status, 200);
        if let Some(at) = r.body.find("<td><a href=\"/console/messages/") {
            return r.body[at + "<td><a href=\"/console/messages/".len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no dead letter"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// HTML text as written: the escapes the templates make undone.
fn unescape(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

/// `text` as a form value.
fn urlencoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The argon2id hash the production makes of `password`.
fn hash(bin: &std::path::Path, password: &str) -> String {
    let mut child = Command::new(bin)
        .args(["console", "hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The example production with a console of three operators (ana the operator, vic the
/// viewer, ada the admin), with WinPath refusing (AR) the first copy of every message, and
/// one admission sent: it waits in the dead letter. The production, its admin port and
/// WinPath (the other peers live as long as it does).
struct Running {
    _prod: Production,
    admin: u16,
    adt_in: u16,
    winpath: Peer,
    _peers: (Peer, Peer),
}

fn running(name: &str, bin: &std::path::Path) -> Running {
    running_with(name, bin, |_, _| String::new())
}

/// As [`running`], with `more` (given the admin port and the run's folder) added to the
/// configuration after the operators.
fn running_with(
    name: &str,
    bin: &std::path::Path,
    more: impl FnOnce(u16, &std::path::Path) -> String,
) -> Running {
    let winpath = Peer::start(|_, seen| if seen == 1 { "AR" } else { "AA" });
    let pharmacy = Peer::start(|_, _| "CA");
    let results = Peer::start(|_, _| "AA");
    let (adt_in, lab_in, mpi_in, admin) = (free_port(), free_port(), free_port(), free_port());
    let dir = fresh_dir(name);
    let config = example_config(
        &dir,
        [adt_in, lab_in, mpi_in, admin],
        [winpath.port, pharmacy.port, results.port],
    );
    let mut section = String::from("[console]\nidle_minutes = 5\n");
    for (name, role, password) in OPERATORS {
        let file = dir.join(format!("{name}.hash"));
        std::fs::write(&file, hash(bin, password)).unwrap();
        section.push_str(&format!(
            "[console.operators.{name}]\nrole = \"{role}\"\npassword = {{ file = \"{}\" }}\n",
            file.display()
        ));
    }
    section.push_str(&more(admin, &dir));
    let mut text_of = std::fs::read_to_string(&config).unwrap();
    text_of.push_str(&section);
    std::fs::write(&config, text_of).unwrap();
    let prod = start(bin, &config, &dir.join("var"), admin);
    assert_eq!(send_msa(adt_in, &sample("adt_a01.hl7")), "AA");
    winpath.wait_for(1);
    Running {
        _prod: prod,
        admin,
        adt_in,
        winpath,
        _peers: (pharmacy, results),
    }
}

/// node-oidc-provider on loopback, as `tests/browser/idp.mjs` starts it, for as long as
/// this lives.
struct Provider {
    child: std::process::Child,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The provider on `port`, once it listens, with one client: `accord-console`, whose
/// secret is `secret` and whose callback is the console's on `admin`.
fn provider(port: u16, secret: &str, admin: u16) -> Provider {
    use std::io::BufRead;
    let mut child = Command::new("node")
        .arg(root().join("tests/browser/idp.mjs"))
        .arg(port.to_string())
        .arg("accord-console")
        .arg(secret)
        .arg(format!("http://127.0.0.1:{admin}/console/oidc/callback"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs (bash .ci/run installs it with oidc-provider)");
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(
        line.contains("idp listening"),
        "the provider did not start: {line}"
    );
    // What it says later is read and dropped, so it never writes to a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Provider { child }
}

const OPERATORS: [(&str, &str, &str); 3] = [
    ("ana", "operator", "ana's long passphrase"),
    ("vic", "viewer", "vic's long passphrase"),
    ("ada", "admin", "ada's long passphrase"),
];

#[test]
fn console_operators_log_in_act_by_role_and_every_action_is_audited() {
    let bin = build("examples/trakcare-lab");
    // A short password is refused before it is hashed.
    let o = Command::new(&bin)
        .args(["console", "hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            writeln!(c.stdin.take().unwrap(), "short")?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let run = running("console", &bin);
    let (admin, winpath) = (run.admin, &run.winpath);

    // A message WinPath refused waits in the dead letter.
    // No session: the way to the login page. A wrong password: refused, and audited.
    let r = http(admin, "GET", "/console/", "", "");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/console/login"));
    let r = http(
        admin,
        "POST",
        "/console/login",
        "",
        "name=ana&password=wrong+guess",
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("unknown operator or wrong password"));

    // The viewer sees the dead letter, masked, without a button, and is refused a
    // resend on the server even with a valid form.
    let vic = login(admin, "vic", "vic's long passphrase");
    let dead_id = {
        let started = Instant::now();
        loop {
            let r = http(admin, "GET", "/console/dead-letters", &vic, "");
            assert_eq!(r.status, 200);
            if let Some(at) = r.body.find("/console/messages/") {
                let id: String = r.body[at + "/console/messages/".len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                assert!(!r.body.contains(">Resend<"), "no button for a viewer");
                break id;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no dead letter"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let page = http(
        admin,
        "GET",
        &format!("/console/messages/{dead_id}"),
        &vic,
        "",
    );
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Patient Name") || page.body.contains("PID-5"));
    // The patient's name and NHS number, nowhere on the page.
    for phi in ["EVERYWOMAN", "9434765919"] {
        assert!(!page.body.contains(phi), "the viewer sees {phi}");
    }
    assert!(
        page.body.contains("<h2>Lineage</h2>"),
        "the viewer sees the lineage, masked"
    );
    // The received message beside what was made from it, the deliveries: masked for the
    // viewer, shown to the operator.
    let made_from = "<th scope=\"row\">Made from</th><td><a href=\"/console/messages/";
    let at = page.body.find(made_from).expect("the dead letter's parent") + made_from.len();
    let parent: String = page.body[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let received = format!("/console/messages/{parent}");
    let side = |session: &str| {
        let body = http(admin, "GET", &received, session, "").body;
        let at = body
            .find("<h2>Side by side</h2>")
            .expect("a side-by-side view");
        body[at..].split("<h2>Raw</h2>").next().unwrap().to_string()
    };
    let masked = side(&vic);
    assert!(
        masked.contains("This message: Received on trakcare_adt_in")
            && masked.contains("Sent on adt_to_lims (dead)")
            && masked.contains("Sent on adt_to_pharmacy"),
        "{masked}"
    );
    assert!(
        !masked.contains("EVERYWOMAN") && masked.contains("••••"),
        "{masked}"
    );
    let csrf = page.csrf();
    let r = http(
        admin,
        "POST",
        &format!("/console/messages/{dead_id}/resend"),
        &vic,
        &format!("csrf={csrf}&reason=try"),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("needs the operator role"), "{}", r.body);

    // The operator: no CSRF token, refused; no reason, refused; both, resent, and
    // WinPath receives the message again.
    let ana = login(admin, "ana", "ana's long passphrase");
    let page = http(
        admin,
        "GET",
        &format!("/console/messages/{dead_id}"),
        &ana,
        "",
    );
    assert!(page.body.contains(">Resend<"), "{}", page.body);
    assert!(
        page.body.contains("EVERYWOMAN"),
        "an operator sees the patient"
    );
    let shown = side(&ana);
    assert!(
        shown.matches("EVERYWOMAN").count() >= 3,
        "the operator sees the patient received, in the record and sent: {shown}"
    );
    // Field-level lineage: WinPath's PID-5.1 was written by patient_to_winpath from the
    // record's family_name, which trakcare_adt_to_patient read from the received PID-5.
    let lineage = &page.body[page.body.find("<h2>Lineage</h2>").expect("a lineage")..];
    let row = lineage
        .split("<tr>")
        .find(|r| r.starts_with("<td><code>PID-5.1</code>"))
        .expect("PID-5.1's lineage");
    for said in [
        "EVERYWOMAN",
        "<code>family_name</code> at <code>mappings.accord:28</code>",
        "<code>PID-5[1].1</code> = <code>EVERYWOMAN</code> via <code>family_name</code> read at <code>mappings.accord:7</code>",
    ] {
        assert!(row.contains(said), "{said} in {row}");
    }
    let csrf = page.csrf();
    let r = http(
        admin,
        "POST",
        &format!("/console/messages/{dead_id}/resend"),
        &ana,
        "reason=no+token",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("CSRF"));
    let r = http(
        admin,
        "POST",
        &format!("/console/messages/{dead_id}/resend"),
        &ana,
        &format!("csrf={csrf}&reason=+"),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(winpath.messages().len(), 1, "nothing was resent yet");
    let r = http(
        admin,
        "POST",
        &format!("/console/messages/{dead_id}/resend"),
        &ana,
        &format!("csrf={csrf}&reason=WinPath+fixed+its+mapping"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("queued on adt_to_lims"), "{}", r.body);
    assert_eq!(winpath.wait_for(2).len(), 2, "WinPath gets it again");
    // Only an admin reads the audit trail.
    assert_eq!(http(admin, "GET", "/console/audit", &ana, "").status, 403);

    // Edit and resend: a second admission, refused; the operator changes the family
    // name, sees the edit as a diff, confirms, and WinPath receives the edited message.
    let second = sample("adt_a01.hl7").replace("MSG00001", "MSG00002");
    assert_eq!(send_msa(run.adt_in, &second), "AA");
    winpath.wait_for(3);
    let edited_id = wait_for_dead(admin, &ana);
    assert_ne!(edited_id, dead_id);
    let page = http(
        admin,
        "GET",
        &format!("/console/messages/{edited_id}"),
        &ana,
        "",
    );
    let csrf = page.csrf();
    let text = unescape(
        page.body
            .split("name=\"message\" rows=\"10\" cols=\"100\">")
            .nth(1)
            .and_then(|t| t.split("</textarea>").next())
            .expect("the edit form"),
    );
    assert!(text.contains("EVERYWOMAN"), "{text}");
    let changed = text.replace("EVERYWOMAN", "EDITWOMAN");
    let form = format!(
        "csrf={csrf}&reason=spelling+fixed+by+the+ward&message={}",
        urlencoded(&changed)
    );
    let preview = http(
        admin,
        "POST",
        &format!("/console/messages/{edited_id}/edit"),
        &ana,
        &form,
    );
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert!(
        preview.body.contains("<del><code>PID|") && preview.body.contains("EDITWOMAN"),
        "{}",
        preview.body
    );
    assert_eq!(
        winpath.messages().len(),
        3,
        "nothing sent before the edit is confirmed"
    );
    let done = http(
        admin,
        "POST",
        &format!("/console/messages/{edited_id}/edit"),
        &ana,
        &format!("{form}&confirm=yes"),
    );
    assert_eq!(done.status, 200, "{}", done.body);
    let got = winpath.wait_for(4);
    assert!(got.len() == 4 && got[3].contains("EDITWOMAN"), "{got:?}");

    // The trace of the first message: every hop with its decisions.
    let trace = http(admin, "GET", &format!("/console/trace/{dead_id}"), &ana, "");
    assert_eq!(trace.status, 200);
    for said in [
        "trakcare_adt_in",
        "adt_to_lims",
        "adt_to_pharmacy",
        "AR (alert lab-oncall)",
        "<td>resend</td>",
        "completed",
    ] {
        assert!(
            trace.body.contains(said),
            "the trace has {said}: {}",
            trace.body
        );
    }

    // A replay is an admin's: the operator is refused; the review queue is open to all.
    let csrf = http(admin, "GET", "/console/review", &ana, "").csrf();
    let r = http(
        admin,
        "POST",
        "/console/replay",
        &ana,
        &format!("csrf={csrf}&interface=adt_to_lims&reason=x"),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = http(
        admin,
        "POST",
        &format!("/console/review/{dead_id}/approve"),
        &ana,
        &format!("csrf={csrf}&reason=x"),
    );
    assert_eq!(r.status, 409, "not held for review: {}", r.body);

    // The search finds the message by its control id.
    let control = field(&sample("adt_a01.hl7"), "MSH", 10);
    let r = http(
        admin,
        "GET",
        &format!("/console/messages?control={control}"),
        &ana,
        "",
    );
    // It finds the message received; its page links the delivery made from it.
    let at = r
        .body
        .find("<td><a href=\"/console/messages/")
        .expect("a message found")
        + "<td><a href=\"/console/messages/".len();
    let received: String = r.body[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert_ne!(received, dead_id);
    let page = http(
        admin,
        "GET",
        &format!("/console/messages/{received}"),
        &ana,
        "",
    );
    assert!(
        page.body.contains(&format!("/console/messages/{dead_id}")),
        "{}",
        page.body
    );

    // Logging out ends the session.
    let dashboard = http(admin, "GET", "/console/", &ana, "");
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    assert!(dashboard.body.contains("adt_to_lims"), "{}", dashboard.body);
    // WinPath's endpoint is up, with its last ACK; the certificates have their table.
    assert!(
        dashboard.body.contains("winpath_mllp: up, last ACK"),
        "{}",
        dashboard.body
    );
    assert!(dashboard.body.contains("<h2>Certificates</h2>"));
    // The interface page charts its traffic.
    let page = http(admin, "GET", "/console/interfaces/adt_to_lims", &ana, "");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<svg class=\"chart\"") && page.body.contains("<rect"),
        "{}",
        page.body
    );
    let csrf = dashboard.csrf();
    let r = http(
        admin,
        "POST",
        "/console/logout",
        &ana,
        &format!("csrf={csrf}"),
    );
    assert_eq!(r.status, 303);
    assert_eq!(http(admin, "GET", "/console/", &ana, "").status, 303);

    // The admin reads the trail: the failed login, the refusal, the resend with its reason.
    let ada = login(admin, "ada", "ada's long passphrase");
    let audit = http(admin, "GET", "/console/audit", &ada, "");
    assert_eq!(audit.status, 200);
    for said in [
        "console-login-failed",
        "console-refused",
        "WinPath fixed its mapping",
        "console-logout",
    ] {
        assert!(
            audit.body.contains(said),
            "the audit has {said}: {}",
            audit.body
        );
    }

    // The admin's replay: a dry run counts, and nothing is sent until it is confirmed.
    let csrf = audit.csrf();
    let dry = http(
        admin,
        "POST",
        "/console/replay",
        &ada,
        &format!("csrf={csrf}&interface=adt_to_lims&reason=lab+lost+a+day"),
    );
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert!(
        dry.body.contains("would replay 2 message(s)"),
        "{}",
        dry.body
    );
    assert_eq!(winpath.messages().len(), 4);
    let replayed = http(
        admin,
        "POST",
        "/console/replay",
        &ada,
        &format!("csrf={csrf}&interface=adt_to_lims&reason=lab+lost+a+day&confirm=yes"),
    );
    assert_eq!(replayed.status, 200, "{}", replayed.body);
    assert_eq!(
        winpath.wait_for(6).len(),
        6,
        "the two deliveries sent again"
    );

    // Five failed logins for an account, and the sixth is turned away unchecked.
    for _ in 0..5 {
        let r = http(
            admin,
            "POST",
            "/console/login",
            "",
            "name=ada&password=nope",
        );
        assert_eq!(r.status, 401);
    }
    let r = http(
        admin,
        "POST",
        "/console/login",
        "",
        "name=ada&password=ada's+long+passphrase",
    );
    assert_eq!(r.status, 429, "{}", r.body);
}

#[test]
fn console_in_chromium_a_viewer_is_refused_an_operator_edits_and_resends_an_admin_counts_a_replay()
{
    let root = root();
    assert!(
        root.join("tests/browser/node_modules/playwright-core")
            .is_dir(),
        "playwright-core is not installed: run `npm ci --prefix tests/browser` (bash .ci/run does)"
    );
    let bin = build("examples/trakcare-lab");
    let run = running("console-browser", &bin);
    let shots = target().join("test-artifacts/console");
    let control = field(&sample("adt_a01.hl7"), "MSH", 10);
    let o = Command::new("node")
        .arg(root.join("tests/browser/console.mjs"))
        .arg(format!("http://127.0.0.1:{}", run.admin))
        .arg(&shots)
        .arg(format!("vic:{}", OPERATORS[1].2))
        .arg(format!("ana:{}", OPERATORS[0].2))
        .arg(format!("ada:{}", OPERATORS[2].2))
        .arg(&control)
        .output()
        .expect("node runs (bash .ci/run installs Chromium and playwright-core)");
    let said = text(&o);
    assert!(o.status.success() && !said.contains("FAILED"), "{said}");
    let got = run.winpath.wait_for(2);
    assert!(
        got.len() == 2 && got[1].contains("EDITWOMAN"),
        "WinPath gets the edited message: {got:?}"
    );
    for shot in [
        "dashboard.png",
        "message-viewer.png",
        "search.png",
        "lineage.png",
        "side-by-side.png",
        "edit.png",
        "resent.png",
        "trace.png",
        "interface.png",
        "replay.png",
    ] {
        let len = std::fs::metadata(shots.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 10_000, "screenshot {shot} is missing or empty");
    }
}

#[test]
fn console_signs_in_through_openid_connect_in_chromium_with_the_role_the_provider_grants() {
    let root = root();
    assert!(
        root.join("tests/browser/node_modules/oidc-provider")
            .is_dir(),
        "oidc-provider is not installed: run `npm ci --prefix tests/browser` (bash .ci/run does)"
    );
    let bin = build("examples/trakcare-lab");
    let idp_port = free_port();
    let idp_base = format!("http://localhost:{idp_port}");
    let secret = "a client secret: with reserved characters & more";
    let mut idp = None;
    let run = running_with("console-oidc", &bin, |admin, dir| {
        idp = Some(provider(idp_port, secret, admin));
        let file = dir.join("oidc-client.secret");
        std::fs::write(&file, secret).unwrap();
        format!(
            "[console.oidc]\nissuer = \"{idp_base}\"\nclient_id = \"accord-console\"\n\
             client_secret = {{ file = \"{}\" }}\n\
             redirect_url = \"http://127.0.0.1:{admin}/console/oidc/callback\"\n\
             label = \"Hospital login\"\nscopes = [\"openid\", \"profile\", \"groups\"]\n\
             roles_claim = \"groups\"\n\
             [console.oidc.roles]\n\"accord-viewers\" = \"viewer\"\n\
             \"accord-operators\" = \"operator\"\n\"accord-admins\" = \"admin\"\n",
            file.display()
        )
    });
    let shots = target().join("test-artifacts/console");
    let o = Command::new("node")
        .arg(root.join("tests/browser/oidc.mjs"))
        .arg(format!("http://127.0.0.1:{}", run.admin))
        .arg(&idp_base)
        .arg(&shots)
        .output()
        .expect("node runs (bash .ci/run installs Chromium and playwright-core)");
    let said = text(&o);
    assert!(o.status.success() && !said.contains("FAILED"), "{said}");
    // An answer this browser did not ask for, and the provider's refusal, over plain HTTP.
    let forged = http(
        run.admin,
        "GET",
        "/console/oidc/callback?code=stolen&state=forged",
        "",
        "",
    );
    assert_eq!(forged.status, 401, "{}", forged.body);
    assert!(
        forged.body.contains("did not start this sign-in"),
        "{}",
        forged.body
    );
    assert!(forged
        .header("set-cookie")
        .is_none_or(|c| !c.contains("accord_console=")));
    let crossed = http(
        run.admin,
        "GET",
        "/console/oidc/callback?code=stolen&state=forged",
        "accord_oidc=another",
        "",
    );
    assert!(
        crossed.body.contains("is not this browser"),
        "{}",
        crossed.body
    );
    let denied = http(
        run.admin,
        "GET",
        "/console/oidc/callback?error=access_denied&error_description=end-user+aborted",
        "",
        "",
    );
    assert!(
        unescape(&denied.body).contains("refused the sign-in: access_denied (end-user aborted)"),
        "{}",
        denied.body
    );
    // The audit trail names who came in through the provider, and who was turned away.
    let ada = login(run.admin, "ada", OPERATORS[2].2);
    let audit = unescape(&http(run.admin, "GET", "/console/audit", &ada, "").body);
    for seen in [
        "through OpenID Connect",
        "sub olivia), as operator",
        "sub vera), as viewer",
        "mallory has no console role",
        "ada is also a local operator",
        "already used",
    ] {
        assert!(
            audit.contains(seen),
            "the audit trail shows {seen:?}:\n{audit}"
        );
    }
    drop(idp);
    for shot in [
        "login-sso.png",
        "provider-login.png",
        "signed-in.png",
        "sso-refused.png",
    ] {
        let len = std::fs::metadata(shots.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 5_000, "screenshot {shot} is missing or empty");
    }
}
