//! order-tracking through real gRPC.
