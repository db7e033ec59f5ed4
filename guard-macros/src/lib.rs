//! Derive macros for guard (filled in by the macros issue).

#![forbid(unsafe_code)]
