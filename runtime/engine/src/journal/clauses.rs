//! The `WHERE` of a query an operator's filters shape (`messages`, dead letters,
//! replays): clauses joined by `AND`, each with its parameter numbered as it is added.

use super::db::Value as Sql;

/// A statement's optional clauses and their parameters, in order.
pub struct Clauses {
    pub sql: String,
    pub args: Vec<Sql>,
}

impl Clauses {
    /// Starts from `sql` (its own `WHERE` and parameters `?1`.. of `args`).
    pub fn new(sql: impl Into<String>, args: Vec<Sql>) -> Clauses {
        Clauses {
            sql: sql.into(),
            args,
        }
    }

    /// Adds ` AND clause` with parameter `v`: the clause ends in its parameter
    /// (`interface =`), or names it `?N` wherever it is used.
    pub fn and(&mut self, clause: &str, v: Sql) -> &mut Clauses {
        self.args.push(v);
        let n = format!("?{}", self.args.len());
        if clause.contains("?N") {
            self.sql
                .push_str(&format!(" AND {}", clause.replace("?N", &n)));
        } else {
            self.sql.push_str(&format!(" AND {clause} {n}"));
        }
        self
    }

    /// Adds ` AND column IN (?a, ?b, ...)`, a parameter for each of `values` (none: a
    /// clause nothing matches).
    pub fn and_in(&mut self, column: &str, values: Vec<Sql>) -> &mut Clauses {
        let mut placed = vec![];
        for v in values {
            self.args.push(v);
            placed.push(format!("?{}", self.args.len()));
        }
        if placed.is_empty() {
            self.sql.push_str(" AND 1 = 0");
        } else {
            self.sql
                .push_str(&format!(" AND {column} IN ({})", placed.join(", ")));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_clause_takes_the_next_parameter() {
        let mut w = Clauses::new(
            "SELECT id FROM messages WHERE interface = ?1",
            vec![Sql::Text("lab".into())],
        );
        w.and("state =", Sql::Text("dead".into()))
            .and("(order_key = ?N OR control_id = ?N)", Sql::Text("K".into()));
        assert_eq!(
            w.sql,
            "SELECT id FROM messages WHERE interface = ?1 AND state = ?2 AND (order_key = ?3 OR control_id = ?3)"
        );
        assert_eq!(w.args.len(), 3);
        w.and_in("id", vec![Sql::Int(4), Sql::Int(9)]);
        assert!(w.sql.ends_with(" AND id IN (?4, ?5)"), "{}", w.sql);
    }
}
