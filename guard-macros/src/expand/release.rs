//! The body of the generated `release`: the drop check, the kind's assertions, the user's
//! hook, then every marked field in reverse declaration order, each through the facade's
//! `Release`, which catches panics and collects errors with the field's name.

use crate::ast::{Data, Field, Input, Shape};
use crate::attr::{Hook, Kind, path_text};
use crate::expand::counted;
use crate::expand::hygiene::located_at;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, Type};

/// The statements of `fn release(self)`.
///
/// A unique type has the derive's own `Drop` impl (it reports a value dropped unreleased,
/// see [`unique::drop_impl`](super::unique::drop_impl)), so its release cannot move fields
/// out of `self`: it takes the value apart instead ([`take_apart`]). A counted type has no
/// `Drop` (checked), and its marked fields are moved out of `self`.
pub(crate) fn body(input: &Input<'_>, kind: Kind) -> TokenStream {
    let drop_check = match kind {
        Kind::Counted => drop_check(input.ident),
        // The derive's own `impl Drop` conflicts with a user's (E0119).
        Kind::Unique => TokenStream::new(),
    };
    let assertions = match kind {
        Kind::Counted => counted::assertions(input),
        Kind::Unique => TokenStream::new(),
    };
    if let Data::Enum(variants) = &input.data
        && variants.is_empty()
    {
        return quote! { #drop_check match self {} };
    }
    let hook = input.attrs.release.as_ref().map(hook);
    let marked = input.all_fields().any(Field::is_resource);
    if hook.is_none() && !marked {
        // Nothing to release part by part: the fast path drops the plain fields.
        let parts = match kind {
            Kind::Unique => take_apart(input, kind),
            // `self` drops at the end of `release`.
            Kind::Counted => TokenStream::new(),
        };
        return quote! {
            #drop_check
            #assertions
            #parts
            ::core::result::Result::Ok(())
        };
    }
    let parts = match kind {
        Kind::Unique => take_apart(input, kind),
        Kind::Counted => move_out(input, kind),
    };
    let release = release_ident();
    let kind = match kind {
        Kind::Unique => quote!(__guard::Kind::Unique),
        Kind::Counted => quote!(__guard::Kind::Counted),
    };
    quote! {
        #drop_check
        #assertions
        let mut #release = __guard::Release::new(::core::any::type_name::<Self>(), #kind);
        #hook
        #parts
        #release.finish()
    }
}

/// A counted type (no `Drop`): moves its marked fields out of `self` and releases them;
/// the plain fields drop with the rest of `self`.
fn move_out(input: &Input<'_>, kind: Kind) -> TokenStream {
    match &input.data {
        Data::Struct(fields) => match destructure(quote!(Self), fields, None, kind) {
            Some((pattern, calls)) => quote! { let #pattern = self; #calls },
            None => TokenStream::new(),
        },
        Data::Enum(variants) => {
            let arms = variants.iter().map(|v| {
                let ident = v.ident;
                match destructure(quote!(Self::#ident), &v.fields, Some(ident), kind) {
                    Some((pattern, calls)) => quote! { #pattern => { #calls } },
                    None => quote! { Self::#ident { .. } => {} },
                }
            });
            quote! { match self { #(#arms)* } }
        }
        Data::Union(_) => unreachable!("check rejects unions"),
    }
}

/// A unique type (which has the derive's `Drop`): puts `self` in a `ManuallyDrop` (so its
/// `Drop` does not run: it is being released), reads every field out of it exactly once,
/// releases the marked ones and drops the plain ones, in declaration order, afterwards.
///
/// The reads are the generated code's only `unsafe`. They are sound because each field is
/// read once, from a value that is never dropped nor used again (`ManuallyDrop`), and
/// nothing between the reads can panic; a struct's fields are read through raw pointers,
/// unaligned, so a `#[repr(packed)]` struct is fine too.
fn take_apart(input: &Input<'_>, kind: Kind) -> TokenStream {
    let whole = Ident::new("__whole", Span::mixed_site());
    let plain = Ident::new("__plain", Span::mixed_site());
    let reads = |fields: &[Field<'_>], read: &dyn Fn(usize, &Field<'_>) -> TokenStream| {
        let (mut names, mut values, mut plain_values) = (Vec::new(), Vec::new(), Vec::new());
        for (i, field) in fields.iter().enumerate() {
            if field.is_resource() {
                names.push(field_binding(i));
                values.push(read(i, field));
            } else {
                plain_values.push(read(i, field));
            }
        }
        if fields.is_empty() {
            return TokenStream::new();
        }
        quote! {
            let (#(#names,)* #plain,) = unsafe { (#(#values,)* (#(#plain_values,)*),) };
        }
    };
    let release_calls = |fields: &[Field<'_>], variant: Option<&Ident>| -> TokenStream {
        let calls = fields
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, field)| field.is_resource())
            .map(|(i, field)| release_call(field, variant, kind, &field_binding(i)));
        quote!(#(#calls)*)
    };
    let taken = match &input.data {
        Data::Struct(fields) => {
            let this = Ident::new("__this", Span::mixed_site());
            let read = |_: usize, field: &Field<'_>| {
                let member = &field.member;
                quote!(::core::ptr::read_unaligned(&raw const #this.#member))
            };
            let reads = reads(fields, &read);
            let calls = release_calls(fields, None);
            quote! {
                let #this: &Self = &#whole;
                #reads
                #calls
            }
        }
        Data::Enum(variants) => {
            let arms = variants.iter().map(|v| {
                let ident = v.ident;
                let bindings = v.fields.iter().enumerate().map(|(i, field)| {
                    let member = &field.member;
                    let binding = field_binding(i);
                    quote!(#member: #binding)
                });
                let read = |i: usize, _: &Field<'_>| {
                    let binding = field_binding(i);
                    quote!(::core::ptr::read(#binding))
                };
                let reads = reads(&v.fields, &read);
                let calls = release_calls(&v.fields, Some(ident));
                quote! { Self::#ident { #(#bindings,)* } => { #reads #calls } }
            });
            quote! { match &*#whole { #(#arms)* } }
        }
        Data::Union(_) => unreachable!("check rejects unions"),
    };
    quote! {
        let #whole = ::core::mem::ManuallyDrop::new(self);
        #taken
    }
}

/// The local holding field `i` (of a struct or a variant) once taken out.
fn field_binding(i: usize) -> Ident {
    format_ident!("__field{}", i, span = Span::mixed_site())
}

/// The statements releasing one marked `field`, bound to `binding`.
fn release_call(
    field: &Field<'_>,
    variant: Option<&Ident>,
    kind: Kind,
    binding: &Ident,
) -> TokenStream {
    let name = field.display_name(variant);
    let part = Part {
        name: &name,
        kind,
        indices: Vec::new(),
    };
    part.release(field.ty, &field.shape(), binding)
}

/// The local that collects the outcome of every part.
fn release_ident() -> Ident {
    Ident::new("__release", Span::mixed_site())
}

/// A pattern binding the marked fields of `path` (a struct or a variant) and the calls that
/// release them, last declared first. `None` if no field is marked.
fn destructure(
    path: TokenStream,
    fields: &[Field<'_>],
    variant: Option<&Ident>,
    kind: Kind,
) -> Option<(TokenStream, TokenStream)> {
    let marked: Vec<(usize, &Field<'_>)> = fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.is_resource())
        .collect();
    if marked.is_empty() {
        return None;
    }
    let bindings = marked.iter().map(|&(i, field)| {
        let member = &field.member;
        let binding = field_binding(i);
        quote!(#member: #binding)
    });
    let calls = marked
        .iter()
        .rev()
        .map(|&(i, field)| release_call(field, variant, kind, &field_binding(i)));
    Some((quote!(#path { #(#bindings,)* .. }), quote!(#(#calls)*)))
}

/// Where in a marked field the generated code is: its name, its kind and the indices of
/// the `Vec` and array levels around the current value.
struct Part<'n> {
    name: &'n str,
    kind: Kind,
    indices: Vec<Ident>,
}

impl Part<'_> {
    /// The statements that release `value`, of type `ty` and shaped `shape`: a leaf through
    /// `Release` (spanned at its type, so a leaf that is not a resource is reported there),
    /// `Option` and `Box` unwrapped, `Vec` and arrays element by element, last first. Each
    /// conversion is spanned at its level's type.
    fn release(&self, ty: &Type, shape: &Shape<'_>, value: &Ident) -> TokenStream {
        let at = located_at(ty.span());
        // The value, named where its type is: a type mismatch points at the field.
        let mut value = value.clone();
        value.set_span(at);
        let depth = self.indices.len();
        let inner_value = format_ident!("__part{}", depth, span = Span::mixed_site());
        match shape {
            Shape::Leaf(ty) => self.leaf(ty, &value),
            Shape::Option(inner, shape) => {
                let body = self.release(inner, shape, &inner_value);
                let convert = quote_spanned!(at=> __guard::option_part::<#inner>);
                quote! {
                    if let ::core::option::Option::Some(#inner_value) = #convert(#value) {
                        #body
                    }
                }
            }
            Shape::Box(inner, shape) => {
                let body = self.release(inner, shape, &inner_value);
                let convert = quote_spanned!(at=> __guard::box_part::<#inner>);
                quote! {
                    let #inner_value = #convert(#value);
                    #body
                }
            }
            Shape::Vec(inner, shape) => {
                let convert = quote_spanned!(at=> __guard::vec_parts::<#inner>);
                self.each(convert, inner, shape, value)
            }
            Shape::Array(inner, shape) => {
                let convert = quote_spanned!(at=> __guard::array_parts);
                self.each(convert, inner, shape, value)
            }
            Shape::BoxedSlice(inner, shape) => {
                let convert = quote_spanned!(at=> __guard::boxed_slice_parts::<#inner>);
                self.each(convert, inner, shape, value)
            }
        }
    }

    /// A loop over the elements `convert(value)` yields, with their indices, last first.
    fn each(
        &self,
        convert: TokenStream,
        inner: &Type,
        shape: &Shape<'_>,
        value: Ident,
    ) -> TokenStream {
        let depth = self.indices.len();
        let index = format_ident!("__index{}", depth, span = Span::mixed_site());
        let element = format_ident!("__part{}", depth, span = Span::mixed_site());
        let mut indices = self.indices.clone();
        indices.push(index.clone());
        let nested = Part {
            name: self.name,
            kind: self.kind,
            indices,
        };
        let body = nested.release(inner, shape, &element);
        quote! {
            for (#index, #element) in #convert(#value) {
                #body
            }
        }
    }

    fn leaf(&self, ty: &Type, value: &Ident) -> TokenStream {
        let at = located_at(ty.span());
        let release = release_ident();
        let name = self.name;
        if self.indices.is_empty() {
            let function = match self.kind {
                Kind::Unique => quote_spanned!(at=> __guard::Release::field),
                Kind::Counted => quote_spanned!(at=> __guard::Release::counted_field),
            };
            return quote! { #function::<#ty>(&mut #release, #name, #value); };
        }
        let function = match self.kind {
            Kind::Unique => quote_spanned!(at=> __guard::Release::element),
            Kind::Counted => quote_spanned!(at=> __guard::Release::counted_element),
        };
        let indices = &self.indices;
        quote! { #function::<#ty>(&mut #release, #name, &[#(#indices),*], #value); }
    }
}

/// Runs the user's hook first, with the whole value. The hook is coerced to
/// `fn(&mut Self) -> Result<(), _>` first, so a wrong signature is a type mismatch at the
/// user's path that shows both signatures (the expected one at the `release` key).
fn hook(hook: &Hook) -> TokenStream {
    let path = &hook.path;
    let at_path = located_at(path.span());
    let name = path_text(&path.path);
    let release = release_ident();
    let local = Ident::new("__hook", at_path);
    let expected =
        quote_spanned!(located_at(hook.key)=> fn(&mut Self) -> ::core::result::Result<(), _>);
    let call = quote_spanned!(at_path=> __guard::Release::hook);
    quote! {
        let #local: #expected = #path;
        #call(&mut #release, #name, #local, &mut self);
    }
}

/// A counted type whose release is generated must not implement `Drop` (its release is its
/// destructor, and `release` moves its fields out; a unique type has the derive's own).
/// When `Self: Drop`, the probe's inherent method applies and demands a trait nobody
/// implements, whose message says what to do.
fn drop_check(ident: &Ident) -> TokenStream {
    let probe = quote_spanned!(located_at(ident.span())=> __guard::DropProbe::<Self>::new().assert_no_drop());
    quote! {
        {
            #[allow(unused_imports)]
            use __guard::NotDrop as _;
            #probe;
        }
    }
}
