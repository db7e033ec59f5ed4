//! How generated code names things: the facade's hidden module imported once as `__guard`
//! ([`wrap`]), and spans that resolve like the macro's own code but point at the user's
//! tokens in errors ([`located_at`]).

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Path;

/// Puts `items` in an anonymous `const` that imports the facade's hidden module as
/// `__guard`. A wrong `crate = path` is then one unresolved import, at the user's path.
pub(crate) fn wrap(krate: Option<&Path>, items: TokenStream) -> TokenStream {
    let krate = krate.map_or_else(|| quote!(::guard), |path| quote!(#path));
    quote! {
        const _: () = {
            use #krate::__private as __guard;
            #items
        };
    }
}

/// A span that resolves names like the macro's own code but points at `span` in errors.
pub(crate) fn located_at(span: Span) -> Span {
    Span::mixed_site().located_at(span)
}
