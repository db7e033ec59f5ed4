//! The where clause of the generated impls: the type's own, plus a bound for each field
//! whose type mentions a generic parameter (serde_derive's inferred bounds). Fields with
//! concrete types need no bound: their assertions are checked where the type is declared.

use crate::ast::{Field, Input};
use crate::attr::Kind;
use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::{GenericParam, WhereClause};

/// The type's where clause with the inferred field bounds added.
pub(crate) fn where_clause(input: &Input<'_>, kind: Kind) -> Option<WhereClause> {
    let params: Vec<&Ident> = input
        .generics
        .params
        .iter()
        .filter_map(|p| match p {
            GenericParam::Type(t) => Some(&t.ident),
            GenericParam::Const(c) => Some(&c.ident),
            GenericParam::Lifetime(_) => None,
        })
        .collect();
    let predicates: Vec<TokenStream> = input
        .all_fields()
        .filter(|field| mentions(field.ty.to_token_stream(), &params))
        .filter(|field| !names_itself(input, field))
        .filter_map(|field| bound(field, kind))
        .collect();
    let mut clause = input.generics.where_clause.clone();
    if !predicates.is_empty() {
        let clause = clause.get_or_insert_with(|| syn::parse_quote!(where));
        for predicate in predicates {
            clause.predicates.push(syn::parse_quote!(#predicate));
        }
    }
    clause
}

/// The bound a generic field needs: marked fields must hold resources (counted ones in a
/// counted type: the bound is on the resource type inside `Option`, `Box`, `Vec` or an
/// array), plain fields of a counted type must be `Send + 'static`.
fn bound(field: &Field<'_>, kind: Kind) -> Option<TokenStream> {
    let ty = field.ty;
    let leaf = field.shape().leaf();
    match (kind, field.is_resource()) {
        (Kind::Unique, true) => Some(quote!(#leaf: __guard::Resource)),
        (Kind::Counted, true) => Some(quote!(#leaf: __guard::CountedResource)),
        (Kind::Counted, false) => Some(quote!(#ty: ::core::marker::Send + 'static)),
        (Kind::Unique, false) => None,
    }
}

/// True if the field's type names the type being derived (`Self` or its ident), as in
/// `parent: Option<Counted<Dir<T>>>`. Such a field gets no inferred bound: proving it would
/// need the very impl it bounds, a cycle the compiler reports as E0275 (overflow). The
/// field's assertion in `release` still checks it, at the field. Being on tokens, this also
/// matches another type of the same name, which then merely goes unbounded too.
pub(crate) fn names_itself(input: &Input<'_>, field: &Field<'_>) -> bool {
    let self_ty = Ident::new("Self", Span::call_site());
    mentions(field.ty.to_token_stream(), &[input.ident, &self_ty])
}

/// True if `tokens` name one of `params` (anywhere, including inside groups).
fn mentions(tokens: TokenStream, params: &[&Ident]) -> bool {
    !params.is_empty()
        && tokens.into_iter().any(|tt| match tt {
            TokenTree::Ident(ident) => params.iter().any(|p| **p == ident),
            TokenTree::Group(group) => mentions(group.stream(), params),
            TokenTree::Punct(_) | TokenTree::Literal(_) => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_params_in_nested_types() {
        let t: Ident = syn::parse_quote!(T);
        let n: Ident = syn::parse_quote!(N);
        let params = [&t, &n];
        assert!(mentions(quote!(Vec<Option<T>>), &params));
        assert!(mentions(quote!([u8; N]), &params));
        assert!(mentions(quote!(<T as Tr>::Handle), &params));
        assert!(!mentions(quote!(Vec<Tx>), &params));
        assert!(!mentions(quote!(T), &[]));
    }
}
