//! Counted types: released later, on the finalizer thread. Every marked field must itself be
//! counted (checked by its release call) and every plain field `Send + 'static` (checked by
//! an assertion); both are spanned at the field's type, so the error points at the field.

use crate::ast::Input;
use crate::expand::bounds::names_itself;
use crate::expand::hygiene::located_at;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{WhereClause, WherePredicate};

/// One `Send + 'static` assertion per plain field, spanned at its type.
pub(crate) fn assertions(input: &Input<'_>) -> TokenStream {
    input
        .all_fields()
        .filter(|field| !field.is_resource())
        .map(|field| {
            let ty = field.ty;
            quote_spanned!(located_at(field.span())=> __guard::assert_send_part::<#ty>();)
        })
        .collect()
}

/// `impl CountedResource`, with the `Resource` impl's bounds and [`send_bound`].
pub(crate) fn marker(input: &Input<'_>, where_clause: &Option<WhereClause>) -> TokenStream {
    let ident = input.ident;
    let (impl_generics, ty_generics, _) = input.generics.split_for_impl();
    let mut where_clause = where_clause
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(where));
    where_clause.predicates.extend(send_bound(input));
    quote! {
        #[automatically_derived]
        impl #impl_generics __guard::CountedResource for #ident #ty_generics #where_clause {}
    }
}

/// `for<'__guard> Self: Send + 'static`, for the `CountedResource` impl. `CountedResource`
/// requires `Send + 'static`; under the binder the compiler does not check that where the
/// impl is declared (where it would repeat, at the derive, what the field assertions already
/// say at the field), only where a handle is created.
///
/// `None` when a field's type names the type itself (`Self` or its ident), as a directory
/// holding `Option<Counted<Dir>>` to keep its parent open: there the bound is a cycle the
/// compiler cannot close (`Dir: Send` needs `Counted<Dir>: Send`, which needs
/// `Dir: CountedResource`, which needs `Dir: Send` again) and fails with E0275 (overflow),
/// while without it the cycle goes only through `Send`, an auto trait, and holds. The
/// trade-off: in such a type a plain field that is not `Send` is not reported at the field
/// alone, but also at the derive and at the field that holds the type itself. The test is on
/// tokens, so it errs on the safe side: another type of the same name also drops the bound
/// (the cost is those extra errors, never a wrong impl: the compiler still checks the
/// supertraits), and a type alias that hides the recursion is not seen (E0275 again: name
/// the type itself). See [`names_itself`], which also keeps such a field out of the inferred
/// generic bounds.
pub(crate) fn send_bound(input: &Input<'_>) -> Option<WherePredicate> {
    let holds_itself = input.all_fields().any(|field| names_itself(input, field));
    (!holds_itself).then(|| syn::parse_quote!(for<'__guard> Self: ::core::marker::Send + 'static))
}
