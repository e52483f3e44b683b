//! complaint-desk: complaints and requests (DOMAIN.md CD-1 to CD-10).

#![forbid(unsafe_code)]

pub mod domain;
