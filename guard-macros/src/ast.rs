//! The model of the derive input: the type, its variants and fields, each with its typed
//! attributes and the spans of the user's tokens. Built once; checks and codegen only read.

use crate::attr;
use crate::ctxt::Ctxt;
use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{DeriveInput, GenericArgument, Generics, Ident, Member, PathArguments, Type};

/// A type deriving `Resource`.
pub(crate) struct Input<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) generics: &'a Generics,
    pub(crate) attrs: attr::Container,
    pub(crate) data: Data<'a>,
    /// `#[repr(packed)]`: its fields cannot be borrowed, only read unaligned.
    pub(crate) packed: bool,
}

/// The shape of the type.
pub(crate) enum Data<'a> {
    Struct(Vec<Field<'a>>),
    Enum(Vec<Variant<'a>>),
    /// Unions are rejected (check); the span is their `union` keyword.
    Union(Span),
}

/// One enum variant.
pub(crate) struct Variant<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) fields: Vec<Field<'a>>,
}

/// One field of a struct or variant.
pub(crate) struct Field<'a> {
    /// Its name, or its index in a tuple struct or variant.
    pub(crate) member: Member,
    pub(crate) ty: &'a Type,
    pub(crate) attrs: attr::Field,
}

impl<'a> Input<'a> {
    /// Builds the model, reporting malformed attributes through `cx`.
    pub(crate) fn from_syn(cx: &Ctxt, input: &'a DeriveInput) -> Self {
        let attrs = attr::Container::from_attrs(cx, &input.attrs);
        let data = match &input.data {
            syn::Data::Struct(data) => Data::Struct(fields(cx, &data.fields)),
            syn::Data::Enum(data) => Data::Enum(
                data.variants
                    .iter()
                    .map(|v| {
                        attr::reject_on_variant(cx, &v.attrs);
                        Variant {
                            ident: &v.ident,
                            fields: fields(cx, &v.fields),
                        }
                    })
                    .collect(),
            ),
            syn::Data::Union(data) => {
                // Field attributes are still read, so that their mistakes are reported too.
                for field in &data.fields.named {
                    let _ = attr::Field::from_attrs(cx, &field.attrs);
                }
                Data::Union(data.union_token.span)
            }
        };
        Input {
            ident: &input.ident,
            generics: &input.generics,
            attrs,
            data,
            packed: is_packed(&input.attrs),
        }
    }

    /// The fields of each struct or variant, with the variant's name (`None` for a struct).
    pub(crate) fn field_lists(&self) -> Vec<(Option<&'a Ident>, &[Field<'a>])> {
        match &self.data {
            Data::Struct(fields) => vec![(None, fields.as_slice())],
            Data::Enum(variants) => variants
                .iter()
                .map(|v| (Some(v.ident), v.fields.as_slice()))
                .collect(),
            Data::Union(_) => Vec::new(),
        }
    }

    /// Every field of every variant, in declaration order.
    pub(crate) fn all_fields(&self) -> impl Iterator<Item = &Field<'a>> {
        let (one, many): (&[Field<'a>], &[Variant<'a>]) = match &self.data {
            Data::Struct(fields) => (fields, &[]),
            Data::Enum(variants) => (&[], variants),
            Data::Union(_) => (&[], &[]),
        };
        one.iter().chain(many.iter().flat_map(|v| v.fields.iter()))
    }
}

impl<'a> Field<'a> {
    /// True if the field is marked `#[resource]`: it is released, not merely dropped.
    pub(crate) fn is_resource(&self) -> bool {
        self.attrs.resource.is_some()
    }

    /// True if the field is marked `#[resource(site)]`: it holds the value's creation site.
    pub(crate) fn is_site(&self) -> bool {
        self.attrs.site.is_some()
    }

    /// How the field holds its resources, if it is marked `#[resource]`.
    pub(crate) fn shape(&self) -> Shape<'a> {
        Shape::of(self.ty)
    }

    /// Where errors about this field point: its type.
    pub(crate) fn span(&self) -> Span {
        self.ty.span()
    }

    /// The field's name as errors and `ReleaseErrors` show it (`file`, `0`), prefixed with
    /// the variant for enums (`Open.file`).
    pub(crate) fn display_name(&self, variant: Option<&Ident>) -> String {
        let own = match &self.member {
            Member::Named(ident) => ident.to_string().trim_start_matches("r#").to_owned(),
            Member::Unnamed(index) => index.index.to_string(),
        };
        match variant {
            Some(v) => format!("{}.{own}", v.to_string().trim_start_matches("r#")),
            None => own,
        }
    }
}

/// How a `#[resource]` field holds its resources: one directly, or through `Option`, `Box`,
/// `Vec`, an array or a boxed slice (recognised by name, the last path segment; the generated code then
/// converts to the std type at the field's span, so another type of that name is a type
/// mismatch there), nested at any depth. Anything else is a leaf: it must be a resource.
pub(crate) enum Shape<'a> {
    /// The resource itself.
    Leaf(&'a Type),
    /// `Option<T>`: `None` releases nothing.
    Option(&'a Type, Box<Shape<'a>>),
    /// `Box<T>`: the boxed value is released.
    Box(&'a Type, Box<Shape<'a>>),
    /// `Vec<T>`: each element, last first.
    Vec(&'a Type, Box<Shape<'a>>),
    /// `[T; N]`: each element, last first.
    Array(&'a Type, Box<Shape<'a>>),
    /// `Box<[T]>`: each element, last first.
    BoxedSlice(&'a Type, Box<Shape<'a>>),
}

impl<'a> Shape<'a> {
    fn of(ty: &'a Type) -> Self {
        match ty {
            Type::Paren(t) => Shape::of(&t.elem),
            Type::Group(t) => Shape::of(&t.elem),
            Type::Array(t) => Shape::Array(&t.elem, Box::new(Shape::of(&t.elem))),
            Type::Path(path) if path.qself.is_none() => {
                let Some(last) = path.path.segments.last() else {
                    return Shape::Leaf(ty);
                };
                let PathArguments::AngleBracketed(args) = &last.arguments else {
                    return Shape::Leaf(ty);
                };
                let mut types = args.args.iter().filter_map(|arg| match arg {
                    GenericArgument::Type(ty) => Some(ty),
                    _ => None,
                });
                let (Some(inner), None) = (types.next(), types.next()) else {
                    return Shape::Leaf(ty);
                };
                let wrap: fn(&'a Type, Box<Shape<'a>>) -> Shape<'a> = if last.ident == "Option" {
                    Shape::Option
                } else if last.ident == "Box" {
                    match inner {
                        Type::Slice(slice) => {
                            return Shape::BoxedSlice(
                                &slice.elem,
                                Box::new(Shape::of(&slice.elem)),
                            );
                        }
                        // Unsized: `Box<dyn Trait>` is a leaf, and reported as one.
                        Type::TraitObject(_) | Type::ImplTrait(_) => return Shape::Leaf(ty),
                        Type::Path(p) if p.path.is_ident("str") => return Shape::Leaf(ty),
                        _ => Shape::Box,
                    }
                } else if last.ident == "Vec" {
                    Shape::Vec
                } else {
                    return Shape::Leaf(ty);
                };
                wrap(inner, Box::new(Shape::of(inner)))
            }
            _ => Shape::Leaf(ty),
        }
    }

    /// The resource type at the bottom, which must implement `Resource`.
    pub(crate) fn leaf(&self) -> &'a Type {
        match self {
            Shape::Leaf(ty) => ty,
            Shape::Option(_, s)
            | Shape::Box(_, s)
            | Shape::Vec(_, s)
            | Shape::Array(_, s)
            | Shape::BoxedSlice(_, s) => s.leaf(),
        }
    }
}

fn fields<'a>(cx: &Ctxt, fields: &'a syn::Fields) -> Vec<Field<'a>> {
    fields
        .iter()
        .zip(fields.members())
        .map(|(field, member)| Field {
            member,
            ty: &field.ty,
            attrs: attr::Field::from_attrs(cx, &field.attrs),
        })
        .collect()
}

/// True if a `#[repr(..)]` among `attrs` says `packed` (or `packed(N)`).
fn is_packed(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().filter(|a| a.path().is_ident("repr")).any(|a| {
        let mut packed = false;
        let _ = a.parse_nested_meta(|meta| {
            packed |= meta.path.is_ident("packed");
            if meta.input.peek(syn::token::Paren) {
                meta.input.parse::<proc_macro2::Group>()?;
            }
            Ok(())
        });
        packed
    })
}
