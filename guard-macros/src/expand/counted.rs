//! Counted types: released later, on the finalizer thread. Every marked field must itself be
//! counted (checked by its release call), every plain field `Send + 'static` (checked by an
//! assertion) and hold no unique resource that the derive can see (checked by a probe);
//! all are spanned at the field's type, so the error points at the field.

use crate::ast::Input;
use crate::expand::bounds::names_itself;
use crate::expand::hygiene::located_at;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{GenericArgument, PathArguments, Type, TypePath, WhereClause, WherePredicate};

/// Per plain field: a `Send + 'static` assertion spanned at its type, and a probe that fails
/// if it holds a unique resource, spanned at that resource's type (see [`visible`]).
pub(crate) fn assertions(input: &Input<'_>) -> TokenStream {
    let plain = || input.all_fields().filter(|field| !field.is_resource());
    let send: TokenStream = plain()
        .map(|field| {
            let ty = field.ty;
            quote_spanned!(located_at(field.span())=> __guard::assert_send_part::<#ty>();)
        })
        .collect();
    let mut held = Vec::new();
    for field in plain() {
        visible(field.ty, &mut held);
    }
    if held.is_empty() {
        return send;
    }
    let probes = held.iter().map(|ty| {
        quote_spanned!(located_at(ty.span())=> __guard::UniqueProbe::<#ty>::new().assert_not_unique();)
    });
    quote! {
        #send
        {
            #[allow(unused_imports)]
            use __guard::NotUnique as _;
            #(#probes)*
        }
    }
}

/// The types a plain field owns outright that the derive can see: the field's type, and
/// what it holds through `Option`, `Box`, `Vec`, `VecDeque`, arrays, slices and tuples, at
/// any depth. A unique resource among them would be dropped unreleased with the counted
/// value, on the finalizer thread; each is probed (a trait check on the type: a user's
/// wrapper struct that holds one is not seen into, nor are other containers).
fn visible<'a>(ty: &'a Type, out: &mut Vec<&'a Type>) {
    match ty {
        Type::Paren(t) => visible(&t.elem, out),
        Type::Group(t) => visible(&t.elem, out),
        Type::Array(t) => visible(&t.elem, out),
        Type::Slice(t) => visible(&t.elem, out),
        Type::Tuple(t) => t.elems.iter().for_each(|t| visible(t, out)),
        Type::Path(path) => {
            out.push(ty);
            if let Some(inner) = owned_content(path) {
                visible(inner, out);
            }
        }
        _ => {}
    }
}

/// `T` in `Option<T>`, `Box<T>`, `Vec<T>` or `VecDeque<T>` (by the last segment's name).
fn owned_content(path: &TypePath) -> Option<&Type> {
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    let owner = ["Option", "Box", "Vec", "VecDeque"];
    if !owner.iter().any(|name| last.ident == name) {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    types.next()
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

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;
    use syn::parse_quote;

    fn seen(ty: Type) -> Vec<String> {
        let mut out = Vec::new();
        visible(&ty, &mut out);
        out.iter()
            .map(|t| t.to_token_stream().to_string().replace(' ', ""))
            .collect()
    }

    #[test]
    fn sees_through_owning_wrappers_at_any_depth() {
        assert_eq!(seen(parse_quote!(WriteFile)), ["WriteFile"]);
        assert_eq!(
            seen(parse_quote!(Option<Box<(u8, [WriteFile; 2])>>)),
            [
                "Option<Box<(u8,[WriteFile;2])>>",
                "Box<(u8,[WriteFile;2])>",
                "u8",
                "WriteFile"
            ]
        );
        assert_eq!(
            seen(parse_quote!(std::collections::VecDeque<Vec<W>>)),
            ["std::collections::VecDeque<Vec<W>>", "Vec<W>", "W"]
        );
    }

    #[test]
    fn does_not_see_into_other_types() {
        assert_eq!(seen(parse_quote!(Arc<W>)), ["Arc<W>"]);
        assert_eq!(seen(parse_quote!(<T as Tr>::Option)), ["<TasTr>::Option"]);
        assert!(seen(parse_quote!(&'static W)).is_empty());
        assert!(seen(parse_quote!(fn() -> W)).is_empty());
    }
}
