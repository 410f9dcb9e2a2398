//! Integration tests of the pure core, through its public API only.

mod corpus;
mod fuzz;
mod tidy;
