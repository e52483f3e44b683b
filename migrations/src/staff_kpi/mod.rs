//! staff-kpi's own tables.

pub(crate) mod m0001_staff;
