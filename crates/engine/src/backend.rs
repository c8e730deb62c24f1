//! `Backend`: which database a [`Store`](crate::Store) talks to, for the code that writes SQL
//! or picks a migration text per dialect.

/// Which database a [`Store`](crate::Store) talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}
