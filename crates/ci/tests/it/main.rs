//! Integration tests of the pure core, through its public API only.

mod corpus;
mod fuzz;
mod gh_corpus;
mod gh_expr;
mod gh_fuzz;
mod gh_matrix;
mod gh_support;
mod inputs;
mod tidy;
