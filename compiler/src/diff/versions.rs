//! Versions against changes: an interface whose changes include a breaking one needs a
//! major bump (a minor one while it is 0.x), an additive change needs at least a minor
//! bump, documentation needs none; a version never goes down. Changes that belong to no
//! surviving interface (a removed interface, a new system) count against the estate's own
//! version by the same rules.

use super::{Change, Class, VersionError};
use crate::ir::Estate;

fn parse(v: &str) -> Option<(u64, u64, u64)> {
    let mut it = v.split(['.', '-', '+']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next().unwrap_or("0").parse().ok()?;
    let patch = it.next().unwrap_or("0").parse().ok()?;
    Some((major, minor, patch))
}

/// The smallest version after `old` that a change of `class` allows.
fn smallest(old: (u64, u64, u64), class: Class) -> (u64, u64, u64) {
    match class {
        Class::Breaking if old.0 > 0 => (old.0 + 1, 0, 0),
        Class::Breaking | Class::Compatible => (old.0, old.1 + 1, 0),
        Class::Documentation => old,
    }
}

fn check_one(
    interface: Option<&str>,
    old: &str,
    new: &str,
    changes: &[&Change],
) -> Option<VersionError> {
    let (Some(o), Some(n)) = (parse(old), parse(new)) else {
        return None; // E0109 rejects a malformed version before the IR exists.
    };
    let needed = changes.iter().map(|c| c.class).max();
    let decreased = n < o;
    let short = needed.is_some_and(|class| n < smallest(o, class));
    if !decreased && !short {
        return None;
    }
    let class = needed.unwrap_or(Class::Documentation);
    let want = smallest(o, class);
    let rules = {
        let mut r: Vec<&'static str> = changes
            .iter()
            .filter(|c| c.class == class)
            .map(|c| c.rule)
            .collect();
        if decreased {
            r.insert(0, "version-decreased");
        }
        let mut seen = std::collections::BTreeSet::new();
        r.retain(|id| seen.insert(*id));
        r
    };
    Some(VersionError {
        interface: interface.map(str::to_string),
        old: old.into(),
        new: new.into(),
        needed: if decreased { Class::Breaking } else { class },
        suggestion: format!(
            "{}.{}.{}",
            want.0,
            want.1,
            want.2.max(if decreased { o.2 } else { 0 })
        ),
        rules,
    })
}

pub fn check(old: &Estate, new: &Estate, changes: &[Change]) -> Vec<VersionError> {
    let mut out = vec![];
    for n in &new.interfaces {
        let Some(o) = old.interfaces.iter().find(|o| o.name == n.name) else {
            continue;
        };
        let mine: Vec<&Change> = changes
            .iter()
            .filter(|c| c.interfaces.iter().any(|i| i == &n.name))
            .collect();
        out.extend(check_one(Some(&n.name), &o.version, &n.version, &mine));
    }
    let estate: Vec<&Change> = changes
        .iter()
        .filter(|c| c.interfaces.is_empty() && c.class != Class::Documentation)
        .collect();
    out.extend(check_one(None, &old.version, &new.version, &estate));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bumps() {
        assert_eq!(smallest((2, 1, 0), Class::Breaking), (3, 0, 0));
        assert_eq!(smallest((0, 4, 2), Class::Breaking), (0, 5, 0));
        assert_eq!(smallest((2, 1, 3), Class::Compatible), (2, 2, 0));
        assert_eq!(parse("1.2.3"), Some((1, 2, 3)));
        assert_eq!(parse("1.2.3-rc.1"), Some((1, 2, 3)));
    }
}
