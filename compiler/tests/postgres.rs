//! The journal on a real PostgreSQL server (`cargo test -- postgres`): the example
//! production run with `[journal] url`, its password from a secret, acknowledging only
//! what PostgreSQL committed, answering duplicates with the first ACK, delivering what it
//! queued after a kill -9, storing records, and the operator's commands (`status`,
//! `messages`, `trace`, `dead-letters`) reading the same database by URL; a node with
//! another lane count or lane placement refused; and PostgreSQL stopped for 20 s under the load of two
//! nodes, which answer AE meanwhile and lose nothing they acknowledged.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::postgres::{JournalAt, Postgres, PASSWORD};
use support::*;

fn adt(control: &str, mrn: u32) -> String {
    format!(
        "MSH|^~\\&|TRAKCARE|LOTHIAN|HUB|LOTHIAN|20261122090000||ADT^A01^ADT_A01|{control}|P|2.4\r\
         EVN|A01|20261122085900\rPID|1||{mrn}^^^PAS^MR||DOE^JANE||19800101|F\rPV1|1|I\r"
    )
}

/// The example's configuration with its journal on `pg`, the password in a file.
fn config_on(pg: &Postgres, dir: &Path, ports: [u16; 4], peers: [u16; 3]) -> std::path::PathBuf {
    let config = example_config(dir, ports, peers);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&pg.journal_toml(dir));
    std::fs::write(&config, text).unwrap();
    config
}

/// Runs a production command against the journal at `pg` and returns its output.
fn command(bin: &Path, pg: &Postgres, args: &[&str]) -> String {
    let url = pg.url();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--journal", &url]);
    let o = Command::new(bin)
        .args(&all)
        .env("ACCORD_JOURNAL_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{}: {out}", args.join(" "));
    out
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < Duration::from_secs(30), "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn postgres_journal_runs_the_example_production_and_its_operator_commands() {
    let dir = fresh_dir("postgres-journal");
    let pg = Postgres::start(&dir.join("pg"));
    let bin = build("examples/trakcare-lab");
    let (pharmacy, results) = (Peer::start(|_, _| "CA"), Peer::start(|_, _| "AA"));
    // WinPath is down at first: what the production acknowledges waits in its queue.
    let winpath_port = free_port();
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let config = config_on(
        &pg,
        &dir,
        ports,
        [winpath_port, pharmacy.port, results.port],
    );
    let store = dir.join("var");
    std::fs::create_dir_all(&store).unwrap();
    let mut prod = start(&bin, &config, &store, ports[3]);

    // Twenty patients, each acknowledged once PostgreSQL has committed it.
    let acks: Vec<String> = (1..=20)
        .map(|n| send_msa(ports[0], &adt(&format!("PG{n:03}"), 700000 + n)))
        .collect();
    assert!(acks.iter().all(|a| a == "AA"), "{acks:?}");

    // Killed, restarted, and WinPath back: every acknowledged message is delivered, once.
    prod.child.kill().unwrap();
    prod.child.wait().unwrap();
    // WinPath refuses one patient (AR): that message becomes a dead letter.
    let winpath = Peer::start_on(winpath_port, |m, _| {
        if m.contains("|700013^") {
            "AR"
        } else {
            "AA"
        }
    });
    let _again = start(&bin, &config, &store, ports[3]);
    // A node that would run another lane count on the same journal is refused at once
    // (nodes share the lanes); the first goes on.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let other_config = config_on(
        &pg,
        &other,
        [free_port(), free_port(), free_port(), free_port()],
        [winpath_port, pharmacy.port, results.port],
    );
    let mut text = std::fs::read_to_string(&other_config).unwrap();
    text.push_str("[limits]\nlanes = 3\n");
    std::fs::write(&other_config, text).unwrap();
    let out = refused_run(&bin, &other_config, &other.join("var"));
    assert!(
        out.contains("runs 4 lanes per operation") && out.contains("help:"),
        "{out}"
    );
    // So is one that would place the lanes otherwise (nodes would hand them to each
    // other in turn).
    let text = std::fs::read_to_string(&other_config)
        .unwrap()
        .replace("[limits]\nlanes = 3\n", "")
        .replace(
            "[journal]\n",
            "[journal]\nlane_placement = \"with-processor\"\n",
        );
    std::fs::write(&other_config, text).unwrap();
    let out = refused_run(&bin, &other_config, &other.join("var"));
    assert!(
        out.contains("places the lanes `spread`")
            && out.contains("this node `with-processor`")
            && out.contains("help:"),
        "{out}"
    );
    wait_until("WinPath receives the twenty", || {
        let got = winpath.patients();
        (1..=20).all(|n| got.contains(&format!("{}", 700000 + n)))
    });
    // A resend is a duplicate: the first ACK, nothing delivered again. Each is a
    // transaction of one statement, which takes two round trips to the server: its
    // `BEGIN` goes with the statement and its `COMMIT` with the events held for it (one at
    // a time, they took four).
    let journal_counts = || {
        let metrics = http_get(ports[3], "/metrics").unwrap_or_default();
        let counter = |name: &str| -> f64 {
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in /metrics:\n{metrics}"))
        };
        (
            counter("accord_journal_round_trips_total"),
            counter("accord_journal_transactions_total"),
        )
    };
    let (trips, transactions) = journal_counts();
    for n in 1..=20 {
        assert_eq!(
            send_msa(ports[0], &adt(&format!("PG{n:03}"), 700000 + n)),
            "AA"
        );
    }
    let (trips, transactions) = {
        let (t, x) = journal_counts();
        (t - trips, x - transactions)
    };
    assert!(
        transactions >= 20.0 && trips / transactions <= 2.5,
        "{trips} round trips in {transactions} transactions"
    );
    std::thread::sleep(Duration::from_millis(500));
    let got = winpath.patients();
    assert_eq!(got.iter().filter(|p| *p == "700001").count(), 1, "{got:?}");

    // A burst from many senders at once: a writer stores its batch's receipts in one call
    // (`accord_store_many`). Among them, resends of stored messages, and each of ten new
    // messages from two senders at once: every one acknowledged, and delivered once. (45
    // senders: a service takes at most 64 connections from one address.)
    let journal = JournalAt::Postgres(pg.url());
    journal.rows("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    journal.count("SELECT COUNT(*) FROM (SELECT pg_stat_statements_reset()) r");
    let burst: Vec<u32> = (21..=50).chain(1..=5).chain(41..=50).collect();
    let start_together = std::sync::Arc::new(std::sync::Barrier::new(burst.len()));
    let senders: Vec<_> = burst
        .iter()
        .map(|&n| {
            let start_together = start_together.clone();
            let port = ports[0];
            std::thread::spawn(move || {
                start_together.wait();
                send_msa(port, &adt(&format!("PG{n:03}"), 700000 + n))
            })
        })
        .collect();
    let acks: Vec<String> = senders.into_iter().map(|s| s.join().unwrap()).collect();
    assert!(acks.iter().all(|a| a == "AA"), "{acks:?}");
    wait_until("WinPath receives the burst's thirty", || {
        let got = winpath.patients();
        (21..=50).all(|n| got.contains(&format!("{}", 700000 + n)))
    });
    std::thread::sleep(Duration::from_millis(500));
    let got = winpath.patients();
    for n in (1..=5).chain(21..=50) {
        let patient = format!("{}", 700000 + n);
        assert_eq!(
            got.iter().filter(|p| **p == patient).count(),
            1,
            "{n}: {got:?}"
        );
    }
    let firsts = journal.rows(
        "SELECT control_id, COUNT(*) FILTER (WHERE state <> 'duplicate') FROM messages
         WHERE direction = 'in' AND control_id LIKE 'PG%' GROUP BY control_id HAVING
           COUNT(*) FILTER (WHERE state <> 'duplicate') <> 1",
    );
    assert!(firsts.is_empty(), "not stored once: {firsts:?}");
    let together = journal.count(
        "SELECT COALESCE(SUM(calls), 0)::bigint FROM pg_stat_statements
         WHERE query LIKE '%accord_store_many%' AND toplevel",
    );
    assert!(together >= 1, "no receipts were stored together");

    // Called directly: a receipt whose key was stored before is a duplicate of the first,
    // whose ACK it gets; another is new (stored as rejected, so nothing processes it).
    let first = &journal.rows(
        "SELECT id::text, interface, idem_key, control_id FROM messages
         WHERE control_id = 'PG001' AND direction = 'in' ORDER BY id LIMIT 1",
    )[0];
    let stored = &journal.rows(&format!(
        "SELECT ids::text, first_ids::text, (first_acks[1] IS NOT NULL)::text
         FROM accord_store_many(ARRAY[NULL, NULL], ARRAY['{iface}', '{iface}'],
           ARRAY['{key}', 'direct-new'], ARRAY['{control}', NULL], ARRAY['c1', 'c2'],
           ARRAY['1', '1'], ARRAY['received', 'rejected'], ARRAY[NULL, NULL],
           ARRAY['{control}', 'direct-new'], ARRAY[NULL, NULL], ARRAY[NULL, NULL],
           ARRAY['p', 'p'], ARRAY[1, 2]::bigint[], ARRAY[NULL, NULL], ARRAY[NULL, NULL]::bytea[],
           ARRAY[NULL, NULL], ARRAY[NULL, NULL], ARRAY['x', 'y']::bytea[], ARRAY[1, 0]::bigint[])",
        iface = first[1],
        key = first[2],
        control = first[3],
    ))[0];
    assert_eq!(stored[1], format!("{{{},NULL}}", first[0]), "{stored:?}");
    assert_eq!(stored[2], "true", "the first's ACK: {stored:?}");
    let states = journal.rows(&format!(
        "SELECT state, COALESCE(detail, '') FROM messages WHERE id = ANY('{}'::bigint[]) ORDER BY id",
        stored[0]
    ));
    assert_eq!(
        states,
        vec![
            vec![
                "duplicate".to_string(),
                format!("same idempotency key as message {}", first[0])
            ],
            vec!["rejected".to_string(), String::new()],
        ]
    );

    // The functions plan each statement once per connection and keep the plan: left to
    // choose, the server planned `accord_store_many`'s statements afresh at every call,
    // a tenth of its CPU under load (book: Performance, "The functions' statements
    // planned once"). Eight calls on one session, its own statements counted.
    let mut session = pg.session();
    session
        .batch_execute("SET pg_stat_statements.track = 'all'; SELECT pg_stat_statements_reset()")
        .unwrap();
    for n in 1..=8 {
        session
            .execute(
                &format!(
                    "SELECT * FROM accord_store_many(ARRAY[NULL], ARRAY['{iface}'],
                       ARRAY['planned-{n}'], ARRAY[NULL], ARRAY['c'], ARRAY['1'],
                       ARRAY['rejected'], ARRAY[NULL], ARRAY['planned-{n}'], ARRAY[NULL],
                       ARRAY[NULL], ARRAY['p'], ARRAY[3]::bigint[], ARRAY[NULL],
                       ARRAY[NULL]::bytea[], ARRAY[NULL], ARRAY[NULL], ARRAY['z']::bytea[],
                       ARRAY[0]::bigint[])",
                    iface = first[1]
                ),
                &[],
            )
            .unwrap();
    }
    let planned = session
        .query_one(
            "SELECT calls, plans FROM pg_stat_statements
             WHERE NOT toplevel AND query LIKE 'INSERT INTO messages (id, correlation%'",
            &[],
        )
        .unwrap();
    let (calls, plans): (i64, i64) = (planned.get(0), planned.get(1));
    // (Without migration 9 it was planned nine times in the eight calls; with it, once.
    // An analyze of `messages` by autovacuum meanwhile would make it two.)
    assert!(
        calls == 8 && plans <= 2,
        "the receipts' INSERT was planned {plans} times in {calls} calls"
    );
    // Every function of the journal that runs statements keeps its plans, also after a
    // later migration redefines it (which drops the settings it does not name again).
    let replanned = journal.rows(
        "SELECT p.proname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
         WHERE l.lanname = 'plpgsql' AND p.proname LIKE 'accord\\_%' AND p.proname <> 'accord_lane'
           AND NOT COALESCE(p.proconfig @> ARRAY['plan_cache_mode=force_generic_plan'], false)
         ORDER BY 1",
    );
    assert!(replanned.is_empty(), "planned at each call: {replanned:?}");
    let kept = journal.count(
        "SELECT COUNT(*) FROM pg_proc WHERE proconfig @> ARRAY['plan_cache_mode=force_generic_plan']",
    );
    assert_eq!(kept, 4, "the functions that keep their plans");

    // The operator's commands read the same journal by URL.
    let status = command(&bin, &pg, &["status"]);
    assert!(status.contains("adt_to_lims"), "{status}");
    let trace = command(&bin, &pg, &["trace", "PG002"]);
    assert!(trace.contains("correlation"), "{trace}");
    assert!(
        trace.contains("winpath") || trace.contains("adt_to_lims"),
        "{trace}"
    );
    let found = command(&bin, &pg, &["messages", "--patient", "700003"]);
    assert!(found.contains("PG003"), "{found}");
    let dead = command(&bin, &pg, &["dead-letters", "list"]);
    assert!(dead.contains("adt_to_lims"), "{dead}");

    // Resent by an operator: queued again and sent (WinPath refuses it again: dead again).
    let before = winpath.patients().iter().filter(|p| *p == "700013").count();
    let resent = command(
        &bin,
        &pg,
        &[
            "dead-letters",
            "resend",
            "--all",
            "--interface",
            "adt_to_lims",
            "--by",
            "ops",
        ],
    );
    assert!(
        resent.contains("resent") || resent.contains("queued"),
        "{resent}"
    );
    wait_until("the resent message reaches WinPath", || {
        winpath.patients().iter().filter(|p| *p == "700013").count() > before
    });
    // A replay, counted first, then made: WinPath receives the patient again.
    let counted = command(
        &bin,
        &pg,
        &["replay", "adt_to_lims", "--key", "700002", "--dry-run"],
    );
    assert!(counted.contains("would replay 1 message"), "{counted}");
    let replayed = command(
        &bin,
        &pg,
        &[
            "replay",
            "adt_to_lims",
            "--key",
            "700002",
            "--why",
            "lab lost a day",
            "--by",
            "ops",
        ],
    );
    assert!(replayed.contains("replayed 1 message"), "{replayed}");
    wait_until("the replay reaches WinPath", || {
        winpath.patients().iter().filter(|p| *p == "700002").count() == 2
    });
    let audit = command(&bin, &pg, &["audit"]);
    assert!(
        audit.contains("resend") && audit.contains("replay"),
        "{audit}"
    );

    // A lane's read is planned once on its connection, not at each call: left to choose,
    // the server planned it afresh at nearly every call under load, and planning cost
    // more than running it (book: Performance, "A lane's read is planned once"). Counted
    // over four seconds of the idle lanes looking at their queues each second.
    journal.count("SELECT COUNT(*) FROM (SELECT pg_stat_statements_reset()) r");
    std::thread::sleep(Duration::from_secs(4));
    let (calls, plans) = journal
        .rows(
            "SELECT calls, plans FROM pg_stat_statements
             WHERE query LIKE 'SELECT m.id, m.order_key, m.next_at, EXISTS%'",
        )
        .iter()
        .fold((0, 0), |(c, p), r| {
            (
                c + r[0].parse::<i64>().unwrap(),
                p + r[1].parse::<i64>().unwrap(),
            )
        });
    // (Planned at each call, 12 of 32 calls were; planned once, none were. A plan made
    // again after an autovacuum's analyze is one per connection.)
    assert!(
        calls >= 8 && plans * 4 <= calls,
        "the lanes' reads were planned {plans} times in {calls} calls"
    );

    // Outcomes and settled states are set by one update a call; an id given twice takes
    // the values given last, as the loop of single-row updates before it did.
    let delivery = journal.count("SELECT MAX(id) FROM messages WHERE direction = 'out'");
    journal.rows(&format!(
        "SELECT accord_outcomes(ARRAY[{delivery}, {delivery}], ARRAY['retrying', 'completed'],
           ARRAY[7, 8]::bigint[], ARRAY[0, 0]::bigint[], ARRAY['AE', 'AA'],
           ARRAY[NULL, NULL]::bytea[], ARRAY['first', 'last'], ARRAY['', ''], ARRAY[1, 2]::bigint[])"
    ));
    let received = journal.count("SELECT MAX(id) FROM messages WHERE direction = 'in'");
    let state = &journal.rows(&format!("SELECT state FROM messages WHERE id = {received}"))[0][0];
    journal.rows(&format!(
        "SELECT accord_settle(ARRAY[{received}, {received}], ARRAY['review', '{state}'],
           ARRAY['first', 'last'], ARRAY['', ''], 3)"
    ));
    let rows = journal.rows(&format!(
        "SELECT id, state, reason, attempts FROM messages WHERE id IN ({delivery}, {received})
         ORDER BY direction DESC"
    ));
    assert_eq!(
        rows,
        vec![
            vec![
                delivery.to_string(),
                "completed".into(),
                "last".into(),
                "8".into()
            ],
            vec![
                received.to_string(),
                state.clone(),
                "last".into(),
                "0".into()
            ],
        ]
    );
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn postgres_stopped_for_20_s_under_load_two_nodes_lose_nothing_acknowledged() {
    let dir = fresh_dir("postgres-outage");
    let pg = Postgres::start(&dir.join("pg"));
    let bin = build("examples/trakcare-lab");
    let (winpath, pharmacy, results) = example_peers();
    // Two nodes of the production on the one journal.
    let mut nodes = vec![];
    let mut inbound = vec![];
    for name in ["a", "b"] {
        let at = dir.join(name);
        std::fs::create_dir_all(at.join("var")).unwrap();
        let ports = [free_port(), free_port(), free_port(), free_port()];
        let config = config_on(&pg, &at, ports, [winpath.port, pharmacy.port, results.port]);
        nodes.push(start(&bin, &config, &at.join("var"), ports[3]));
        inbound.push(ports[0]);
    }

    // A sender as an HL7 system is: each message sent until it is acknowledged AA, to the
    // other node when one does not acknowledge it.
    let sender = std::thread::spawn(move || {
        let mut refused = 0;
        let mut node = 0;
        for n in 1..=150u32 {
            let m = adt(&format!("OUT{n:03}"), 800000 + n);
            let t = Instant::now();
            loop {
                let port = inbound[node];
                let code = std::net::TcpStream::connect(("127.0.0.1", port))
                    .ok()
                    .map(|_| send_msa(port, &m))
                    .unwrap_or_default();
                if code == "AA" {
                    break;
                }
                refused += 1;
                node = (node + 1) % inbound.len();
                assert!(
                    t.elapsed() < Duration::from_secs(60),
                    "OUT{n:03} never acknowledged"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        refused
    });
    // PostgreSQL goes away under load, for twenty seconds, as a crash would take it: the
    // nodes' leases run out meanwhile, and are taken again when it is back.
    std::thread::sleep(Duration::from_millis(800));
    pg.stop();
    std::thread::sleep(Duration::from_secs(20));
    pg.start_again();
    let refused = sender.join().unwrap();
    assert!(
        refused > 0,
        "the production acknowledged nothing while PostgreSQL was down"
    );

    // Every patient reaches WinPath.
    let t = Instant::now();
    loop {
        let got = winpath.patients();
        let missing: Vec<u32> = (1..=150)
            .filter(|n| !got.contains(&format!("{}", 800000 + n)))
            .collect();
        if missing.is_empty() {
            break;
        }
        if t.elapsed() > Duration::from_secs(30) {
            let status = command(&bin, &pg, &["status"]);
            let first = command(&bin, &pg, &["trace", &format!("OUT{:03}", missing[0])]);
            panic!("acknowledged, never delivered: {missing:?}\n{status}\n{first}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // A delivery sent while its outcome could not be recorded is sent again (at least
    // once): under its first control id, so the peer discards it, and at most one per
    // lane (4 by default) for the outage.
    std::thread::sleep(Duration::from_millis(500));
    let mut sent: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for m in winpath.messages() {
        let patient = field(&m, "PID", 3)
            .split('^')
            .next()
            .unwrap_or("")
            .to_string();
        sent.entry(patient).or_default().push(field(&m, "MSH", 10));
    }
    let again: Vec<(&String, &Vec<String>)> = sent.iter().filter(|(_, c)| c.len() > 1).collect();
    assert!(again.len() <= 4, "sent again: {again:?}");
    for (patient, controls) in &again {
        assert!(
            controls.iter().all(|c| *c == controls[0]),
            "{patient} was sent again under another control id: {controls:?}"
        );
    }
    drop(nodes);
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn postgres_journal_over_tls_verifies_the_server_against_the_configured_ca() {
    let dir = fresh_dir("postgres-tls");
    let ca = support::pki::Ca::new(&dir, "db");
    let pg = Postgres::start_tls(&dir.join("pg"), &ca);
    let bin = build("examples/trakcare-lab");
    let (winpath, pharmacy, results) = example_peers();
    let peers = [winpath.port, pharmacy.port, results.port];
    // `ca` names the CA that signed the server's certificate; sslmode=require asks for TLS.
    let with = |name: &str, query: &str, ca_line: &str| {
        let d = dir.join(name);
        std::fs::create_dir_all(d.join("var")).unwrap();
        let ports = [free_port(), free_port(), free_port(), free_port()];
        let config = config_on(&pg, &d, ports, peers);
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace("/postgres\"", &format!("/postgres{query}\"\n{ca_line}"));
        std::fs::write(&config, text).unwrap();
        (config, d.join("var"), ports)
    };
    let ca_line = format!("ca = \"{}\"", dir.join("db-ca.pem").display());
    let (config, store, ports) = with("tls", "?sslmode=require", &ca_line);
    let prod = start(&bin, &config, &store, ports[3]);
    assert_eq!(send_msa(ports[0], &adt("TLS001", 900001)), "AA");
    wait_until("WinPath receives the message", || {
        winpath.patients().contains(&"900001".to_string())
    });
    drop(prod);

    // Refused, each with its reason, before the production listens anywhere.
    // A server whose certificate another CA signed (here: the system's roots).
    let (config, store, _) = with("no-ca", "?sslmode=require", "");
    let out = refused_run(&bin, &config, &store);
    assert!(out.contains("cannot connect to the journal"), "{out}");
    assert!(out.to_lowercase().contains("certificate"), "{out}");
    // In the clear, which this server refuses.
    let (config, store, _) = with("clear", "?sslmode=disable", "");
    let out = refused_run(&bin, &config, &store);
    assert!(out.contains("cannot connect to the journal"), "{out}");
    assert!(
        out.contains("no encryption") || out.contains("pg_hba"),
        "{out}"
    );
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
}
