//! Code generation from a checked [`FunctionModel`], following the SDK contract: the user's
//! function unchanged, plus an invoker and an `inventory` registration in an anonymous const.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{LitStr, ReturnType};

use crate::model::{FunctionModel, ParamRole};

/// The user's function followed by its invoker and registration.
pub fn expand(model: &FunctionModel) -> TokenStream {
    let item = &model.item;
    let sig = &item.sig;
    let fn_ident = &sig.ident;
    let invocation = format_ident!("__fnwire_invocation");

    // Durable triggers change how the trigger parameter is filled and the result is sent; the
    // kind is the trigger's binding type, as the host sees it.
    let durable = DurableRole::of(model);

    let mut extractions = Vec::new();
    let mut trigger_checks = Vec::new();
    let mut invocation_params = 0;
    // The argument expressions, in order; the durable context parameter is made by the SDK.
    let mut call_args = Vec::new();
    for (index, param) in model.params.iter().enumerate() {
        let arg = format_ident!("__fnwire_arg{index}");
        let ty = &param.ty;
        let is_trigger = matches!(&param.role, ParamRole::Input { binding } if Some(binding.as_str()) == model.trigger_name());
        // Spanned at the parameter's type so an unsupported type is reported there, with the
        // trait's `on_unimplemented` message.
        let extraction = match (&param.role, durable) {
            (ParamRole::Input { binding }, DurableRole::Orchestrator | DurableRole::Entity) if is_trigger => {
                let param_trait = match durable {
                    DurableRole::Orchestrator => quote!(OrchestrationParam),
                    _ => quote!(EntityParam),
                };
                let _ = binding;
                call_args.push(quote_spanned! {ty.span()=>
                    <#ty as ::fnwire::__private::#param_trait>::from_context(__fnwire_context)
                });
                continue;
            }
            (ParamRole::Input { binding }, DurableRole::Activity) if is_trigger => {
                let binding = LitStr::new(binding, Span::call_site());
                quote_spanned! {ty.span()=>
                    let #arg = <#ty as ::fnwire::__private::ActivityInput>::from_activity_input(&mut #invocation, #binding)?;
                }
            }
            (ParamRole::Input { binding }, _) => {
                if is_trigger {
                    trigger_checks.push(trigger_param_check(model, &param.ident, ty));
                }
                let binding = LitStr::new(binding, Span::call_site());
                quote_spanned! {ty.span()=>
                    let #arg = <#ty as ::fnwire::__private::FromInput>::from_input(&mut #invocation, #binding)?;
                }
            }
            (ParamRole::Output { binding }, _) => {
                let binding = LitStr::new(binding, Span::call_site());
                quote_spanned! {ty.span()=>
                    let #arg = <#ty as ::fnwire::__private::OutputParam>::bind_output(&mut #invocation, #binding);
                }
            }
            (ParamRole::Invocation, _) => quote_spanned! {ty.span()=>
                let #arg = <#ty as ::fnwire::__private::FromInvocation>::from_invocation(&#invocation)?;
            },
        };
        // Parameters read from the invocation (extractors such as `Json<T>` that look at the
        // HTTP request) go first, before a binding parameter takes its input out.
        match &param.role {
            ParamRole::Invocation => extractions.insert(invocation_params, extraction),
            _ => extractions.push(extraction),
        }
        if matches!(param.role, ParamRole::Invocation) {
            invocation_params += 1;
        }
        // An entity function runs once per operation, so its other arguments are cloned each time.
        call_args.push(match durable {
            DurableRole::Entity => quote_spanned! {ty.span()=> ::core::clone::Clone::clone(&#arg)},
            _ => quote!(#arg),
        });
    }

    let needs_mut =
        durable != DurableRole::None || model.params.iter().any(|p| !matches!(p.role, ParamRole::Invocation));
    let invocation_binding = if needs_mut { quote!(mut #invocation) } else { quote!(#invocation) };

    // Spanned at the return type so a type that cannot be returned is reported there.
    let return_span = match &sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => fn_ident.span(),
    };
    let into_return = match durable {
        DurableRole::Activity => quote_spanned! {return_span=>
            let __fnwire_value = ::fnwire::__private::ActivityReturn::into_activity_output(__fnwire_returned)?;
        },
        _ => quote_spanned! {return_span=>
            let __fnwire_value = ::fnwire::__private::IntoReturn::into_return(__fnwire_returned)?;
        },
    };

    let name = LitStr::new(&model.metadata.name, fn_ident.span());
    let bindings: Vec<LitStr> =
        model.raw_bindings().iter().map(|json| LitStr::new(json, Span::call_site())).collect();
    let line = quote_spanned! {fn_ident.span()=> ::core::line!()};
    let stacked_uses = mention_stacked_attributes(&model.stacked_paths);
    let context_binding = LitStr::new(model.trigger_name().unwrap_or_default(), Span::call_site());
    // Where a failure with an HTTP status (a rejected extractor, `Error::bad_request`) is answered.
    let http_output = match model
        .metadata
        .bindings
        .iter()
        .find(|b| b.binding_type == "http" && b.direction == fnwire_metadata::Direction::Out)
    {
        Some(binding) => {
            let name = LitStr::new(&binding.name, Span::call_site());
            quote!(::core::option::Option::Some(#name))
        }
        None => quote!(::core::option::Option::None),
    };

    // An `async fn` is polled as a task; a plain `fn` may block, so the runtime runs its whole
    // invocation (inputs, call, outputs) on a blocking-pool thread. An orchestrator is replayed
    // synchronously by the SDK (its future never leaves the replay), an entity runs once per
    // operation of its batch.
    // Spanned at the return type so an orchestrator's unsupported return type is reported there.
    let run_orchestrator = quote_spanned! {return_span=> ::fnwire::__private::run_orchestrator};
    let (invoker, invoke) = match (durable, sig.asyncness.is_some()) {
        (DurableRole::Orchestrator, _) => {
            let invoker = quote! {
                fn __fnwire_invoke(
                    #invocation_binding: ::fnwire::__private::Invocation,
                ) -> ::fnwire::__private::BoxFuture<'static, ::fnwire::__private::InvocationResult> {
                    ::std::boxed::Box::pin(async move {
                        #(#extractions)*
                        #run_orchestrator(#invocation, #context_binding, move |__fnwire_context| {
                            #fn_ident(#(#call_args),*)
                        })
                    })
                }
            };
            (invoker, quote!(::fnwire::__private::Invoke::Async(__fnwire_invoke)))
        }
        (DurableRole::Entity, true) => {
            let invoker = quote! {
                fn __fnwire_invoke(
                    #invocation_binding: ::fnwire::__private::Invocation,
                ) -> ::fnwire::__private::BoxFuture<'static, ::fnwire::__private::InvocationResult> {
                    ::std::boxed::Box::pin(async move {
                        #(#extractions)*
                        ::fnwire::__private::run_entity_async(#invocation, #context_binding, move |__fnwire_context| {
                            #fn_ident(#(#call_args),*)
                        }).await
                    })
                }
            };
            (invoker, quote!(::fnwire::__private::Invoke::Async(__fnwire_invoke)))
        }
        (DurableRole::Entity, false) => {
            let invoker = quote! {
                fn __fnwire_invoke(
                    #invocation_binding: ::fnwire::__private::Invocation,
                ) -> ::fnwire::__private::InvocationResult {
                    #(#extractions)*
                    ::fnwire::__private::run_entity(#invocation, #context_binding, move |__fnwire_context| {
                        #fn_ident(#(#call_args),*)
                    })
                }
            };
            (invoker, quote!(::fnwire::__private::Invoke::Blocking(__fnwire_invoke)))
        }
        (_, true) => {
            let invoker = quote! {
                fn __fnwire_invoke(
                    #invocation_binding: ::fnwire::__private::Invocation,
                ) -> ::fnwire::__private::BoxFuture<'static, ::fnwire::__private::InvocationResult> {
                    ::std::boxed::Box::pin(async move {
                        let __fnwire_result: ::fnwire::__private::InvocationResult = async move {
                            #(#extractions)*
                            let __fnwire_returned = #fn_ident(#(#call_args),*).await;
                            #into_return
                            ::fnwire::__private::finish(#invocation, __fnwire_value)
                        }.await;
                        ::fnwire::__private::answer_http_errors(__fnwire_result, #http_output)
                    })
                }
            };
            (invoker, quote!(::fnwire::__private::Invoke::Async(__fnwire_invoke)))
        }
        (_, false) => {
            let invoker = quote! {
                fn __fnwire_invoke(
                    #invocation: ::fnwire::__private::Invocation,
                ) -> ::fnwire::__private::InvocationResult {
                    ::fnwire::__private::answer_http_errors(__fnwire_run(#invocation), #http_output)
                }

                fn __fnwire_run(
                    #invocation_binding: ::fnwire::__private::Invocation,
                ) -> ::fnwire::__private::InvocationResult {
                    #(#extractions)*
                    let __fnwire_returned = #fn_ident(#(#call_args),*);
                    #into_return
                    ::fnwire::__private::finish(#invocation, __fnwire_value)
                }
            };
            (invoker, quote!(::fnwire::__private::Invoke::Blocking(__fnwire_invoke)))
        }
    };
    quote! {
        #item

        const _: () = {
            #stacked_uses
            #(#trigger_checks)*
            #invoker
            ::fnwire::__private::inventory::submit! {
                ::fnwire::__private::Registration {
                    name: #name,
                    bindings: &[#(#bindings),*],
                    invoke: #invoke,
                    location: ::core::concat!(::core::file!(), ":", #line),
                }
            }
        };
    }
}

/// A compile-time check that the trigger can fill its parameter's type (an `HttpRequest` from a
/// timer cannot be), reported at the type. The type's kind is a trait constant, so the check is a
/// constant evaluated by the compiler; types that are no input at all are reported by `FromInput`.
fn trigger_param_check(model: &FunctionModel, ident: &syn::Ident, ty: &syn::Type) -> TokenStream {
    let trigger = model.metadata.bindings.first();
    let binding_type = trigger.map(|b| b.binding_type.as_str()).unwrap_or_default();
    let (kind, offers) = match binding_type {
        "httpTrigger" => (
            quote!(Http),
            "an HTTP request: declare it as `HttpRequest` (read a JSON body with a `Json<T>` parameter, the query with `Query<T>`, route parameters with `Path<T>`)",
        ),
        "timerTrigger" => (quote!(Timer), "timer information: declare it as `TimerInfo`"),
        _ => (
            quote!(Data),
            "data, not an HTTP request or timer information: declare it as `String`, `Vec<u8>`, `serde_json::Value`, `Json<T>` or the trigger's own type (e.g. `QueueMessage`)",
        ),
    };
    let type_text = ty.to_token_stream().to_string().replace(' ', "");
    let message = LitStr::new(
        &format!(
            "parameter `{ident}: {type_text}` cannot be filled by this function's `{binding_type}`, which sends {offers}"
        ),
        ty.span(),
    );
    quote_spanned! {ty.span()=>
        const _: () = if !::fnwire::__private::trigger_fills(
            ::fnwire::__private::InputKind::#kind,
            <#ty as ::fnwire::__private::FromInput>::INPUT_KIND,
        ) {
            ::core::panic!(#message)
        };
    }
}

/// What is emitted when checks failed: the user's function as written (minus fnwire
/// attributes), so the rest of the crate and IDEs still see it, and every error.
pub fn expand_errors(item: TokenStream, stacked_paths: &[syn::Path], error: &syn::Error) -> TokenStream {
    let errors = error.to_compile_error();
    let stacked_uses = mention_stacked_attributes(stacked_paths);
    let mut out = item.into_token_stream();
    if !stacked_paths.is_empty() {
        out.extend(quote! { const _: () = { #stacked_uses }; });
    }
    out.extend(errors);
    out
}

/// Stacked attributes are removed before the compiler resolves them, which would leave their
/// imports unused (a warning in every user crate) and a missing import unnoticed. Naming each
/// path in a `use` fixes both; an unresolved path is reported at the user's attribute.
fn mention_stacked_attributes(paths: &[syn::Path]) -> TokenStream {
    paths
        .iter()
        .map(|path| {
            quote_spanned! {path.span()=>
                #[allow(unused_imports)]
                use #path as _;
            }
        })
        .collect()
}

/// What a durable trigger makes of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DurableRole {
    None,
    Orchestrator,
    Activity,
    Entity,
}

impl DurableRole {
    fn of(model: &FunctionModel) -> DurableRole {
        match model.metadata.bindings.first().map(|b| b.binding_type.as_str()) {
            Some(crate::model::ORCHESTRATION_TRIGGER) => DurableRole::Orchestrator,
            Some(crate::model::ACTIVITY_TRIGGER) => DurableRole::Activity,
            Some(crate::model::ENTITY_TRIGGER) => DurableRole::Entity,
            _ => DurableRole::None,
        }
    }
}
