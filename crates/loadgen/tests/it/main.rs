//! The load generator against real HTTP servers on loopback.

mod load;
