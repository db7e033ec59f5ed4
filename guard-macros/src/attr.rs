//! Attributes: `#[resource(...)]` on the type and `#[resource]` on fields, read into typed
//! values. Every malformed attribute is reported through [`Ctxt`] with its span, and reading
//! goes on, so that all the mistakes of one item show up together.

use crate::ctxt::Ctxt;
use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, ExprPath, LitStr, Meta, Path, Token};

/// The helper attribute's name.
const RESOURCE: &str = "resource";

/// The keys a type's `#[resource(...)]` takes, as the error messages list them.
const CONTAINER_KEYS: &str = "`unique`, `counted`, `release = path`, `crate = path`";

/// How a derived resource is released: the two disciplines of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Released at a precise point, at the end of a scope.
    Unique,
    /// Released later, on the finalizer thread.
    Counted,
}

impl Kind {
    pub(crate) fn key(self) -> &'static str {
        match self {
            Kind::Unique => "unique",
            Kind::Counted => "counted",
        }
    }
}

/// A value set by a key that may appear once per item; a second occurrence is an error at
/// its own span, and the first value is kept.
struct Once<'c, T> {
    cx: &'c Ctxt,
    name: &'static str,
    value: Option<T>,
}

impl<'c, T> Once<'c, T> {
    fn new(cx: &'c Ctxt, name: &'static str) -> Self {
        Once {
            cx,
            name,
            value: None,
        }
    }

    fn set(&mut self, span: Span, value: T) {
        if self.value.is_some() {
            let name = self.name;
            self.cx.error_at(
                span,
                format!("duplicate `{name}` in `#[resource(...)]`: give it once"),
            );
        } else {
            self.value = Some(value);
        }
    }
}

/// `release = path`: the user's release hook.
pub(crate) struct Hook {
    /// The span of the `release` key.
    pub(crate) key: Span,
    /// The path to the hook function.
    pub(crate) path: ExprPath,
}

/// What the type's `#[resource(...)]` attributes say.
pub(crate) struct Container {
    /// The classification, with the span of its key; `None` if missing (or both were given).
    pub(crate) kind: Option<(Kind, Span)>,
    /// Both `unique` and `counted` were given (already reported).
    pub(crate) conflicting: bool,
    /// `release = path`: the user's hook, run before the fields are released.
    pub(crate) release: Option<Hook>,
    /// `crate = path`: where the facade is, for users who renamed the dependency.
    pub(crate) krate: Option<Path>,
    /// `crate = ...` was given but its value is not a path (already reported). Where the
    /// facade is is then unknown, so no stub impl can name it without a cascading error.
    pub(crate) krate_malformed: bool,
    /// Some `#[resource]` attribute on the type was malformed (already reported): a missing
    /// classification is then not reported on top of it.
    pub(crate) malformed: bool,
}

impl Container {
    /// Reads every `#[resource(...)]` among the type's attributes.
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut kinds: Vec<(Kind, Span)> = Vec::new();
        let mut release = Once::new(cx, "release");
        let mut krate = Once::new(cx, "crate");
        let mut malformed = false;
        let mut krate_malformed = false;
        for attr in attrs.iter().filter(|a| a.path().is_ident(RESOURCE)) {
            if let Meta::Path(_) = attr.meta {
                cx.error_spanned_by(
                    attr,
                    "a bare `#[resource]` marks a field; on the type, classify it: \
                     `#[resource(unique)]` or `#[resource(counted)]`",
                );
                malformed = true;
                continue;
            }
            let parsed = attr.parse_nested_meta(|meta| {
                let span = meta.path.span();
                let kind = if meta.path.is_ident("unique") {
                    Some(Kind::Unique)
                } else if meta.path.is_ident("counted") {
                    Some(Kind::Counted)
                } else {
                    None
                };
                if let Some(kind) = kind {
                    no_value(&meta, kind.key())?;
                    classify(cx, &mut kinds, kind, span);
                } else if meta.path.is_ident("release") {
                    release.set(
                        span,
                        Hook {
                            key: span,
                            path: hook_path(cx, &meta)?,
                        },
                    );
                } else if meta.path.is_ident("crate") {
                    let path = crate_path(&meta).inspect_err(|_| krate_malformed = true)?;
                    krate.set(span, path);
                } else {
                    malformed = true;
                    cx.error_spanned_by(&meta.path, unknown_key(&meta.path, CONTAINER_KEYS));
                    skip_value(&meta)?;
                }
                Ok(())
            });
            if let Err(e) = parsed {
                malformed = true;
                cx.syn_error(e);
            }
        }
        let conflicting = kinds.len() > 1;
        let kind = if conflicting {
            None
        } else {
            kinds.first().copied()
        };
        Container {
            kind,
            conflicting,
            release: release.value,
            krate: krate.value,
            krate_malformed,
            malformed,
        }
    }
}

/// Records a classification key; a repeated one is a duplicate, a second different one a
/// conflict (both reported at the later key).
fn classify(cx: &Ctxt, kinds: &mut Vec<(Kind, Span)>, kind: Kind, span: Span) {
    let key = kind.key();
    match kinds.first() {
        None => kinds.push((kind, span)),
        Some(&(first, _)) if first == kind => {
            cx.error_at(
                span,
                format!("duplicate `{key}` in `#[resource(...)]`: give it once"),
            );
        }
        Some(&(first, _)) => {
            if kinds.len() == 1 {
                kinds.push((kind, span));
            }
            cx.error_at(
                span,
                format!(
                    "`{key}` conflicts with `{}`: a resource is either unique (released at a \
                     precise point, at the end of its scope) or counted (released later, on the \
                     finalizer thread), never both; keep one",
                    first.key()
                ),
            );
        }
    }
}

/// What a field's `#[resource]` says: whether the field holds a resource to release, or
/// the value's creation site (`#[resource(site)]`).
pub(crate) struct Field {
    /// The span of the field's `#[resource]`, if it has one.
    pub(crate) resource: Option<Span>,
    /// The span of the `site` in the field's `#[resource(site)]`, if it has one.
    pub(crate) site: Option<Span>,
}

impl Field {
    /// Reads the `#[resource]` among a field's attributes.
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut resource = None;
        let mut site = Once::new(cx, "site");
        for attr in attrs.iter().filter(|a| a.path().is_ident(RESOURCE)) {
            match &attr.meta {
                Meta::Path(_) if resource.is_some() => {
                    cx.error_spanned_by(
                        attr,
                        "duplicate `#[resource]` on this field: give it once",
                    );
                }
                Meta::Path(path) => resource = Some(path.span()),
                Meta::NameValue(nv) => cx.error_spanned_by(
                    &nv.value,
                    "a field takes a bare `#[resource]`, without a value",
                ),
                Meta::List(list) if list.tokens.is_empty() => cx.error_at(
                    list.delimiter.span().join(),
                    "a field takes a bare `#[resource]`, without parentheses",
                ),
                Meta::List(_) => {
                    let parsed = attr.parse_nested_meta(|meta| {
                        if meta.path.is_ident("site") {
                            no_value(&meta, "site")?;
                            site.set(meta.path.span(), meta.path.span());
                            return Ok(());
                        }
                        let message = if meta.path.is_ident("unique")
                            || meta.path.is_ident("counted")
                        {
                            "a field takes a bare `#[resource]`: the classification (`unique` or \
                             `counted`) goes on the type, in `#[resource(...)]` above it"
                                .to_owned()
                        } else {
                            unknown_key(
                                &meta.path,
                                "`site` (`#[resource(site)]`), or a bare `#[resource]`",
                            )
                        };
                        cx.error_spanned_by(&meta.path, message);
                        skip_value(&meta)
                    });
                    if let Err(e) = parsed {
                        cx.syn_error(e);
                    }
                }
            }
        }
        let site = site.value;
        if let (Some(_), Some(at)) = (resource, site) {
            cx.error_at(
                at,
                "a field is either a resource (`#[resource]`) or the creation site \
                 (`#[resource(site)]`), not both",
            );
        }
        Field { resource, site }
    }
}

/// Reports `#[resource]` on an enum variant, which takes none.
pub(crate) fn reject_on_variant(cx: &Ctxt, attrs: &[Attribute]) {
    for attr in attrs.iter().filter(|a| a.path().is_ident(RESOURCE)) {
        cx.error_spanned_by(
            attr,
            "`#[resource]` goes on the fields of a variant that hold resources, not on the variant",
        );
    }
}

/// A classification key takes no value: `unique`, not `unique = true`.
fn no_value(meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<()> {
    if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
        return Err(meta.error(format!(
            "`{key}` takes no value: write `#[resource({key})]`"
        )));
    }
    Ok(())
}

/// `release = path`: a path to a function `fn(&mut Self) -> Result<(), E>`. A call
/// (`Self::flush()`) is reported at its parentheses, which are skipped so that the keys after
/// it are still read.
fn hook_path(cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<ExprPath> {
    let value = meta.value()?;
    if value.peek(LitStr) {
        let lit: LitStr = value.parse()?;
        return Err(syn::Error::new(
            lit.span(),
            "`release` takes a path to a function, without quotes: `release = Self::flush`",
        ));
    }
    let path = value.parse::<ExprPath>().map_err(|e| {
        syn::Error::new(
            e.span(),
            "`release` takes a path to a function `fn(&mut Self) -> Result<(), E>`, \
             like `release = Self::flush`",
        )
    })?;
    if value.peek(syn::token::Paren) {
        let call: proc_macro2::Group = value.parse()?;
        cx.error_at(
            call.span(),
            format!(
                "`release` takes the function's path, not a call: `release = {}`",
                path_text(&path.path)
            ),
        );
    }
    Ok(path)
}

/// `crate = path` (or `crate = "path"`): where the guard facade is.
fn crate_path(meta: &ParseNestedMeta<'_>) -> syn::Result<Path> {
    const EXPECTED: &str = "`crate` takes the path of the guard crate as this crate names it, \
                            like `crate = ::guard` or `crate = my_guard`";
    let value = meta.value()?;
    let path = if value.peek(LitStr) {
        let lit: LitStr = value.parse()?;
        lit.parse_with(Path::parse_mod_style)
            .map_err(|_| syn::Error::new(lit.span(), EXPECTED))?
    } else {
        let start = value.span();
        Path::parse_mod_style(value).map_err(|_| syn::Error::new(start, EXPECTED))?
    };
    Ok(path)
}

/// Skips the value of a key that was already reported, so the next keys are still read.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.input.parse::<Token![=]>()?;
        meta.input.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.input.parse::<proc_macro2::Group>()?;
    }
    Ok(())
}

/// The message for an unknown key, with a suggestion when it is a near miss.
fn unknown_key(path: &Path, expected: &str) -> String {
    let key = path_text(path);
    let hint = ["unique", "counted", "release", "crate", "site"]
        .into_iter()
        .filter(|known| edit_distance(&key, known) <= 2)
        .min_by_key(|known| edit_distance(&key, known))
        .map(|known| format!(" (did you mean `{known}`?)"))
        .unwrap_or_default();
    format!("unknown key `{key}` in `#[resource(...)]`{hint}; expected {expected}")
}

/// A path as the user wrote it, without spaces.
pub(crate) fn path_text(path: &Path) -> String {
    quote::ToTokens::to_token_stream(path)
        .to_string()
        .replace(' ', "")
}

/// Levenshtein distance, for "did you mean" hints on short keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn container(attrs: &[Attribute]) -> (Container, Vec<String>) {
        let cx = Ctxt::new();
        let c = Container::from_attrs(&cx, attrs);
        let errors = match cx.check() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (c, errors)
    }

    #[test]
    fn reads_every_key() {
        let (c, errors) = container(&[
            parse_quote!(#[resource(unique, release = Self::flush)]),
            parse_quote!(#[resource(crate = ::my_guard)]),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(c.kind.map(|(k, _)| k), Some(Kind::Unique));
        assert_eq!(path_text(&c.release.unwrap().path.path), "Self::flush");
        assert_eq!(path_text(&c.krate.unwrap()), "::my_guard");
    }

    #[test]
    fn collects_every_mistake_of_one_item() {
        let (c, errors) = container(&[
            parse_quote!(#[resource(counted, uniqe, release = a, release = b)]),
            parse_quote!(#[resource(color = "red", crate = "my guard")]),
        ]);
        assert_eq!(c.kind.map(|(k, _)| k), Some(Kind::Counted));
        assert!(c.malformed);
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].contains("did you mean `unique`"), "{errors:?}");
        assert!(errors[1].starts_with("duplicate `release`"), "{errors:?}");
        assert!(errors[2].contains("unknown key `color`"), "{errors:?}");
        assert!(errors[3].contains("`crate` takes the path"), "{errors:?}");
        assert!(c.krate.is_none() && c.krate_malformed);
    }

    #[test]
    fn a_called_hook_is_reported_and_the_next_keys_are_read() {
        let (c, errors) = container(&[parse_quote!(#[resource(release = Self::flush(), unique)])]);
        assert_eq!(
            errors,
            ["`release` takes the function's path, not a call: `release = Self::flush`"]
        );
        assert_eq!(c.kind.map(|(k, _)| k), Some(Kind::Unique));
        assert!(!c.krate_malformed);
    }

    #[test]
    fn both_kinds_conflict() {
        let (c, errors) = container(&[parse_quote!(#[resource(unique, counted)])]);
        assert!(c.kind.is_none() && c.conflicting);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("`counted` conflicts with `unique`"),
            "{errors:?}"
        );
    }

    #[test]
    fn field_attrs() {
        let cx = Ctxt::new();
        assert!(
            Field::from_attrs(&cx, &[parse_quote!(#[resource])])
                .resource
                .is_some()
        );
        assert!(
            Field::from_attrs(&cx, &[parse_quote!(#[doc = "x"])])
                .resource
                .is_none()
        );
        let _ = Field::from_attrs(&cx, &[parse_quote!(#[resource(counted)])]);
        let errors: Vec<String> = cx
            .check()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("goes on the type"), "{errors:?}");
    }

    #[test]
    fn empty_parens_on_a_field_are_an_error() {
        let cx = Ctxt::new();
        let field = Field::from_attrs(&cx, &[parse_quote!(#[resource()])]);
        assert!(field.resource.is_none());
        let errors: Vec<String> = cx
            .check()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errors,
            ["a field takes a bare `#[resource]`, without parentheses"]
        );
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("uniqe", "unique"), 1);
        assert_eq!(edit_distance("counted", "counted"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
