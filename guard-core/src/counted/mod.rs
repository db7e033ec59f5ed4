//! Counted handles and the machinery behind them: the intrusive queue their last drop
//! pushes onto, and the flush markers that let a caller wait for it.

mod handle;
pub(crate) mod marker;
mod pool;
pub(crate) mod queue;

pub use handle::Counted;
