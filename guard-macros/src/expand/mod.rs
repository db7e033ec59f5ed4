//! Code generation: reads the checked model and writes the impls. Nothing here reports
//! errors; rules that depend on types are spanned assertions the compiler checks.

mod bounds;
mod counted;
mod created;
mod hygiene;
mod item;
mod release;
mod unique;

pub(crate) use counted::send_bound;
pub(crate) use hygiene::wrap;
pub(crate) use item::derive;
