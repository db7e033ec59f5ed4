//! Files: [`ReadFile`] (counted: closing a read-only fd only gives a number back) and
//! [`WriteFile`] (unique: closing reports write-back errors, so it happens at a precise
//! point and every error is returned; std's `File` ignores close errors, this does not).

mod read;
mod write;

pub use read::ReadFile;
pub use write::WriteFile;
