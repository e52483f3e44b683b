//! Kefu's gRPC contracts: one module per proto package, plus the descriptor set for reflection.

#![allow(missing_docs, unreachable_pub, missing_debug_implementations)]
#![allow(clippy::all, clippy::unwrap_used, clippy::expect_used)]

/// Every Kefu proto file and its imports, encoded, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/kefu_descriptor.bin"));

pub mod kefu {
    pub mod common {
        pub mod v1 {
            tonic::include_proto!("kefu.common.v1");
        }
    }
    pub mod customer {
        pub mod v1 {
            tonic::include_proto!("kefu.customer.v1");
        }
    }
    pub mod order {
        pub mod v1 {
            tonic::include_proto!("kefu.order.v1");
        }
    }
    pub mod complaint {
        pub mod v1 {
            tonic::include_proto!("kefu.complaint.v1");
        }
    }
    pub mod survey {
        pub mod v1 {
            tonic::include_proto!("kefu.survey.v1");
        }
    }
    pub mod staff {
        pub mod v1 {
            tonic::include_proto!("kefu.staff.v1");
        }
    }
}

pub use kefu::common::v1 as common;
pub use kefu::complaint::v1 as complaint;
pub use kefu::customer::v1 as customer;
pub use kefu::order::v1 as order;
pub use kefu::staff::v1 as staff;
pub use kefu::survey::v1 as survey;
