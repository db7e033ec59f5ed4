//! The error context: every error found while reading one item is collected here and
//! reported together (serde_derive's `Ctxt`), so a user fixes all of them in one pass.

use proc_macro2::Span;
use quote::ToTokens;
use std::cell::RefCell;
use std::fmt::Display;

/// Collects the errors of one derive invocation. [`Ctxt::check`] must be called before the
/// context is dropped: forgetting it would silently lose errors, so that is a bug in this
/// crate and is caught by a panic in `Drop` (never triggered by user input).
pub(crate) struct Ctxt {
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    pub(crate) fn new() -> Self {
        Ctxt {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// Records an error spanning `tokens` (their first token on stable compilers).
    pub(crate) fn error_spanned_by(&self, tokens: impl ToTokens, message: impl Display) {
        self.syn_error(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    /// Records an error at `span`.
    pub(crate) fn error_at(&self, span: Span, message: impl Display) {
        self.syn_error(syn::Error::new(span, message));
    }

    /// Records an error produced by `syn` (a parse error, say).
    pub(crate) fn syn_error(&self, error: syn::Error) {
        match self.errors.borrow_mut().as_mut() {
            Some(errors) => errors.push(error),
            None => unreachable!("guard-macros bug: Ctxt used after check"),
        }
    }

    /// Consumes the context: `Ok` if no error was recorded, else every error combined into
    /// one `syn::Error` (each keeps its own span).
    pub(crate) fn check(self) -> syn::Result<()> {
        let errors = self.errors.borrow_mut().take().unwrap_or_default();
        let mut errors = errors.into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for rest in errors {
            combined.combine(rest);
        }
        Err(combined)
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !std::thread::panicking() && self.errors.borrow().is_some() {
            panic!("guard-macros bug: Ctxt dropped without being checked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_error_in_order() {
        let cx = Ctxt::new();
        cx.error_at(Span::call_site(), "first");
        cx.error_at(Span::call_site(), "second");
        let err = cx.check().unwrap_err();
        let messages: Vec<String> = err.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages, ["first", "second"]);
    }

    #[test]
    fn clean_context_checks_ok() {
        assert!(Ctxt::new().check().is_ok());
    }
}
