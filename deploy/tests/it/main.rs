//! fnwire-deploy: the manifests for each kind of app, checked field by field and validated
//! against the Kubernetes OpenAPI schemas (kubernetes-validate) and KEDA's documented fields.

mod manifests;
mod support;
mod validation;
