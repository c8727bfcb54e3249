//! Connections per client address, for the MLLP and HTTP listeners: one address may hold
//! at most `limit` connections at once, so a client that opens and parks sockets cannot
//! take every slot of a listener and shut the others out. A slot is given back when its
//! [`Slot`] is dropped; an address with no connection left is forgotten, so the table
//! holds only the addresses connected now.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The connections each address holds now.
#[derive(Debug)]
pub struct PerAddress {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in its address's count.
#[derive(Debug)]
pub struct Slot {
    table: Arc<PerAddress>,
    address: IpAddr,
}

impl PerAddress {
    /// At most `limit` connections per address (0 is taken as 1).
    pub fn new(limit: usize) -> Arc<PerAddress> {
        Arc::new(PerAddress {
            limit: limit.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection from `address`, unless it holds `limit` already.
    pub fn enter(self: &Arc<Self>, address: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().ok()?;
        let n = open.entry(address).or_insert(0);
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(Slot {
            table: self.clone(),
            address,
        })
    }

    /// How many connections `address` holds now.
    pub fn held(&self, address: IpAddr) -> usize {
        self.open
            .lock()
            .map(|o| o.get(&address).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.table.open.lock() {
            if let Some(n) = open.get_mut(&self.address) {
                *n -= 1;
                if *n == 0 {
                    open.remove(&self.address);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_one_address_cannot_take_every_slot() {
        let table = PerAddress::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = table.enter(a).unwrap();
        let _second = table.enter(a).unwrap();
        assert!(table.enter(a).is_none(), "a third from the same address");
        assert!(table.enter(b).is_some(), "another address still gets in");
        drop(first);
        assert_eq!(table.held(a), 1);
        assert!(
            table.enter(a).is_some(),
            "a closed connection gives its slot back"
        );
        assert_eq!(
            table.open.lock().unwrap().len(),
            1,
            "b's slot was dropped: forgotten"
        );
    }
}
