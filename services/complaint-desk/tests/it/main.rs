//! complaint-desk through its gRPC API.
