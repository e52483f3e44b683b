//! customer-registry through real gRPC on real sockets, on PostgreSQL and on SQLite.

mod auth;
mod customers;
mod secrecy;
mod support;
