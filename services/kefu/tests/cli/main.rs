//! The `kefu` binary as operators and other systems meet it: started as a process, called by
//! clients we did not write, stopped with SIGTERM.

mod lifecycle;
mod operator;
mod process;
mod reflection;
